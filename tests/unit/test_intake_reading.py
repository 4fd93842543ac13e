"""What the AMQP intake makes of a message (:mod:`services.intake.reading`) and who may publish
in a platform's name (the platform's sealed ``amqp_user``), on fakeredis."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.intake.reading import (
    MAX_BODY_BYTES,
    DeadReason,
    Envelope,
    Unusable,
    read_request,
)
from shared.app.deps import Deps, platforms_of
from shared.domain.contracts import PaymentRequest, PaymentRequestV2
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.parties import Platform
from shared.redis.directory import DirectoryError
from shared.redis.platforms import Platforms

JSON = Envelope("application/json", None, "amqp-liandong")


def _platforms(deps: Deps) -> Platforms:
    platforms = platforms_of(deps)
    platforms.add("liandong", "Liandong", ["ACME"], lambda e: True)
    platforms.add("other", "Other", ["OTHER"], lambda e: True)
    platforms.set_amqp_user("liandong", "amqp-liandong")
    platforms.set_amqp_user("other", "amqp-other")
    return platforms


def _request(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "schema": "b2bpay.payment_request.v2",
        "request_id": "R-1",
        "order_id": "O-1",
        "payer": {"enterprise_id": "ACME", "account": "62166001", "name": "Acme"},
        "payee": {"bank_code": "ICBC", "account": "62220200", "name": "Supplier"},
        "amount": "10.00",
        "currency": "CNY",
    }
    request.update(overrides)
    return request


def _read(deps: Deps, body: bytes | dict[str, Any], envelope: Envelope = JSON) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return read_request(raw, envelope, _platforms(deps).by_amqp_user)


def _refused(deps: Deps, body: bytes | dict[str, Any], envelope: Envelope = JSON) -> Unusable:
    with pytest.raises(Unusable) as refused:
        _read(deps, body, envelope)
    return refused.value


def test_a_v2_request_is_read_in_the_name_of_the_publishers_platform(deps: Deps) -> None:
    read = _read(deps, _request())
    assert isinstance(read.request, PaymentRequestV2)
    assert read.request.platform_id == "liandong" == read.platform.platform_id


def test_a_v2_request_naming_another_platform_is_platform_mismatch(deps: Deps) -> None:
    refused = _refused(deps, _request(platform_id="other"))
    assert refused.reason is DeadReason.PLATFORM_MISMATCH


@pytest.mark.parametrize("user_id", [None, "", "amqp-nobody"])
def test_a_v2_request_without_a_registered_publisher_is_platform_unknown(
    deps: Deps, user_id: str | None
) -> None:
    refused = _refused(deps, _request(), Envelope("application/json", None, user_id))
    assert refused.reason is DeadReason.PLATFORM_UNKNOWN


def test_an_amqp_user_index_pointed_at_another_platform_in_redis_is_refused(
    deps: Deps,
) -> None:
    platforms = _platforms(deps)
    # A Redis writer points A's user at B: B's sealed record names another user.
    deps.redis.set(deps.keys.platform_amqp_user("amqp-liandong"), "other")
    with pytest.raises(Refusal) as refused:
        platforms.by_amqp_user("amqp-liandong")
    assert refused.value.reason_code is ReasonCode.PLATFORM_INVALID
    # ... or plants the user on B's record without the key: the record no longer verifies.
    deps.redis.hset(deps.keys.platform("other"), "amqp_user", "amqp-liandong")
    with pytest.raises(Refusal):
        platforms.get("other")


def test_an_amqp_user_belongs_to_one_platform_and_can_be_moved(deps: Deps) -> None:
    platforms = _platforms(deps)
    with pytest.raises(DirectoryError):
        platforms.set_amqp_user("other", "amqp-liandong")
    platforms.set_amqp_user("liandong", "amqp-liandong-2")
    assert platforms.by_amqp_user("amqp-liandong-2").platform_id == "liandong"
    with pytest.raises(Refusal):
        platforms.by_amqp_user("amqp-liandong")


def test_a_platform_record_without_amqp_user_keeps_its_seal(deps: Deps) -> None:
    platforms = platforms_of(deps)
    platforms.add("old", "Old", ["ACME"], lambda e: True)
    assert platforms.get("old") == Platform("old", "Old", frozenset({"ACME"}), None)


def test_a_v1_request_is_read_with_its_applicants_credentials(deps: Deps) -> None:
    fields = _request(schema="b2bpay.payment_request.v1", bank="BOC", session="tok", otp="123456")
    read = _read(deps, fields, Envelope("application/json; charset=utf-8", "utf-8", None))
    assert isinstance(read.request, PaymentRequest) and read.platform is None


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [(None, None), ("text/plain", None), ("application/json", "gzip"),
     ("application/json; charset=latin-1", None), ("application/x-python-serialize", None)],
)  # fmt: skip
def test_a_message_that_is_not_declared_utf8_json_is_content_type_invalid(
    deps: Deps, content_type: str | None, encoding: str | None
) -> None:
    refused = _refused(deps, _request(), Envelope(content_type, encoding, "amqp-liandong"))
    assert refused.reason is DeadReason.CONTENT_TYPE
    assert refused.kept["undecodable"] is True


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b""])
def test_a_body_that_is_not_json_is_kept_only_as_size_and_hash(deps: Deps, body: bytes) -> None:
    refused = _refused(deps, body)
    assert refused.reason is DeadReason.NOT_JSON
    assert set(refused.kept) == {"undecodable", "size", "sha256"}


def test_a_body_over_the_limit_is_not_read(deps: Deps) -> None:
    refused = _refused(deps, b"{" + b" " * MAX_BODY_BYTES + b"}")
    assert refused.reason is DeadReason.TOO_LARGE


@pytest.mark.parametrize(
    "fields",
    [
        [1, 2],
        _request(schema=None),
        _request(schema="b2bpay.payment_request.v9"),
        _request(amount="1.005"),
        _request(command_id="chosen-by-the-publisher"),
        _request(session="tok", otp="123456"),
    ],
)
def test_json_that_is_no_payment_request_is_invalid_request(deps: Deps, fields: Any) -> None:
    refused = _refused(deps, json.dumps(fields).encode())
    assert refused.reason is DeadReason.INVALID_REQUEST


def test_an_invalid_v1_request_is_kept_without_its_session_and_code(deps: Deps) -> None:
    fields = _request(schema="b2bpay.payment_request.v1", amount="-1", session="tok-X", otp="999")
    refused = _refused(deps, fields)
    assert refused.reason is DeadReason.INVALID_REQUEST
    assert "tok-X" not in json.dumps(refused.kept) and "999" not in json.dumps(refused.kept)
    assert "tok-X" not in refused.detail and "-1" not in refused.detail


@pytest.mark.parametrize(
    ("reply_to", "user_id"),
    [
        ("reply-amqp-other", "amqp-liandong"),  # another platform's reply queue
        ("b2bpay.requests.dead", "amqp-liandong"),  # a queue of b2bpay's
        ("apply", "amqp-liandong"),
        ("reply-amqp-liandong.x", "amqp-liandong"),  # no prefix match: user a vs a.x
        ("reply-amqp-liandong", None),  # no user_id: nothing vouches for the queue
        ("reply-AMQP-LIANDONG", "amqp-liandong"),  # queue names are case-sensitive
    ],
)
def test_a_reply_to_not_the_publishers_own_queue_is_refused(
    deps: Deps, reply_to: str, user_id: str | None
) -> None:
    v1 = _request(schema="b2bpay.payment_request.v1", bank="BOC", session="tok", otp="123456")
    fields = _request() if user_id else v1
    refused = _refused(deps, fields, Envelope("application/json", None, user_id, reply_to))
    assert refused.reason is DeadReason.REPLY_TO_INVALID
    assert reply_to not in refused.detail


def test_the_publishers_own_reply_queue_is_answered(deps: Deps) -> None:
    envelope = Envelope("application/json", None, "amqp-liandong", "reply-amqp-liandong")
    assert _read(deps, _request(), envelope).platform.platform_id == "liandong"
    assert envelope.may_reply()
