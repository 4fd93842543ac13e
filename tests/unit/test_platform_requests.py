"""A platform's request (PaymentRequest v2), taken up by its applicant (ApplicantConfirmation),
and platforms as principals: the apply handlers, the platform records and the client's
platform views, on fakeredis with the real Lua."""

from __future__ import annotations

from typing import Any

import pytest

from services.apply.handlers import (
    handle_cancel,
    handle_confirmation,
    handle_platform_cancel,
    handle_platform_request,
)
from shared.app import client, platform_client
from shared.app.deps import platforms_of
from shared.app.expiry import expire_if_overdue
from shared.domain.contracts import payment_id_for
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.parties import Platform
from shared.domain.views import PaymentView
from shared.messaging import routes as q
from tests.unit.support import (
    B2B_BANK,
    OTHER_ENTERPRISE,
    PAYER,
    PAYER_ACCOUNT,
    UNCONTRACTED_BANK,
    Clock,
    World,
    queued,
    wrong_code,
)

PID = payment_id_for(PAYER, "preq-1", "liandong")


def _platform(world: World, platform_id: str = "liandong", *enterprises: str) -> Platform:
    platform, _key = platforms_of(world.deps).add(
        platform_id, "Liandong", enterprises or (PAYER,), lambda e: True
    )
    return platform


def _request(world: World, **overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "schema": "b2bpay.payment_request.v2",
        "request_id": "preq-1",
        "platform_id": "liandong",
        "order_id": "ORD-P1",
        "payer": {"enterprise_id": PAYER, "account": PAYER_ACCOUNT, "name": "Acme Ltd"},
        "payee": {"bank_code": "PAYEEBK", "account": "DE0012345678", "name": "Globex Supplies"},
        "amount": "990.00",
        "currency": "EUR",
        "purpose": "order P1",
        "command_id": world.command_id("request"),
    }
    message.update(overrides)
    return {k: v for k, v in message.items() if v is not None}


def _confirmation(world: World, **overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "payment_id": PID,
        "bank": B2B_BANK,
        "session": world.session(world.applicant),
        "otp": world.code(world.applicant),
        "command_id": world.command_id("confirm"),
    }
    message.update(overrides)
    return {k: v for k, v in message.items() if v is not None}


@pytest.fixture
def requested(world: World) -> World:
    _platform(world)
    outcome = handle_platform_request(_request(world), world.deps)
    assert (outcome.outcome, outcome.status) == ("accepted", "requested"), outcome
    return world


def test_a_platforms_request_waits_in_requested_with_its_deadline_and_nothing_handed_on(
    requested: World,
) -> None:
    payment = requested.deps.store.get(PID)
    assert payment is not None
    assert payment.status.value == "requested"
    assert payment.platform_id == "liandong"
    assert payment.applicant_id is None and payment.apply_signature is None
    assert payment.content.bank is None
    assert payment.deadline_ms is not None
    left = payment.deadline_ms - requested.deps.store.now() * 1000
    assert 86_400_000 - 60_000 < left <= 86_400_000
    assert queued(requested.deps, q.OTP_VERIFIED) == []


def test_the_same_platform_request_twice_is_one_payment(requested: World) -> None:
    again = handle_platform_request(_request(requested), requested.deps)
    assert (again.outcome, again.payment_id, again.status) == ("duplicate", PID, "requested")


def test_the_same_request_id_with_other_content_is_an_idempotency_conflict(
    requested: World,
) -> None:
    again = handle_platform_request(_request(requested, amount="991.00"), requested.deps)
    assert again.reason_code == ReasonCode.IDEMPOTENCY_CONFLICT


def test_a_platform_cannot_create_a_payment_for_a_payer_not_registered_with_it(
    world: World,
) -> None:
    _platform(world, "liandong", OTHER_ENTERPRISE)
    outcome = handle_platform_request(_request(world), world.deps)
    assert outcome.reason_code == ReasonCode.PAYER_NOT_REGISTERED
    assert world.deps.store.get(PID) is None


def test_an_unregistered_platform_cannot_create_a_payment(world: World) -> None:
    outcome = handle_platform_request(_request(world), world.deps)
    assert outcome.reason_code == ReasonCode.PLATFORM_INVALID
    assert world.deps.store.get(PID) is None


def test_a_platform_record_given_another_payer_in_redis_is_refused(world: World) -> None:
    _platform(world, "liandong", OTHER_ENTERPRISE)
    key = world.deps.keys.platform("liandong")
    world.deps.redis.hset(key, "enterprises", f'["{OTHER_ENTERPRISE}","{PAYER}"]')
    outcome = handle_platform_request(_request(world), world.deps)
    assert outcome.reason_code == ReasonCode.PLATFORM_INVALID
    assert world.deps.store.get(PID) is None


@pytest.mark.parametrize("secret", ["session", "otp"])
def test_a_platform_request_carrying_a_persons_credential_is_refused_as_invalid(
    world: World, secret: str
) -> None:
    _platform(world)
    outcome = handle_platform_request(_request(world, **{secret: "123456"}), world.deps)
    assert outcome.reason_code == ReasonCode.INVALID_REQUEST
    assert world.deps.store.get(PID) is None


def test_the_applicant_confirms_with_a_bank_and_it_is_handed_to_review_with_the_final_hash(
    requested: World,
) -> None:
    outcome = handle_confirmation(_confirmation(requested), requested.deps)
    assert (outcome.outcome, outcome.status) == ("accepted", "otp_verified"), outcome
    payment = requested.deps.store.get(PID)
    assert payment is not None
    assert payment.applicant_id == "alice" and payment.content.bank == B2B_BANK
    assert payment.content.check().content_hash() == payment.content.content_hash
    [handoff] = queued(requested.deps, q.OTP_VERIFIED)
    assert handoff["content_hash"] == payment.content.content_hash
    requested.intake_all()
    requested.assert_status(PID, "pending_review")
    assert requested.review(PID).outcome == "accepted"
    assert requested.authorize(PID).outcome == "accepted"
    requested.submit_all()
    requested.assert_status(PID, "settled")


def test_a_confirmation_without_a_bank_when_the_request_named_none_is_refused(
    requested: World,
) -> None:
    outcome = handle_confirmation(_confirmation(requested, bank=None), requested.deps)
    assert outcome.reason_code == ReasonCode.BANK_REQUIRED
    requested.assert_status(PID, "requested")


def test_a_confirmation_choosing_a_bank_the_payer_has_no_contract_with_is_refused(
    requested: World,
) -> None:
    outcome = handle_confirmation(_confirmation(requested, bank=UNCONTRACTED_BANK), requested.deps)
    assert outcome.reason_code == ReasonCode.NO_B2B_CONTRACT
    requested.assert_status(PID, "requested")


def test_a_confirmation_naming_another_bank_than_the_request_is_refused(world: World) -> None:
    _platform(world)
    handle_platform_request(_request(world, bank=B2B_BANK), world.deps)
    outcome = handle_confirmation(_confirmation(world, bank=UNCONTRACTED_BANK), world.deps)
    assert outcome.reason_code == ReasonCode.BANK_MISMATCH
    confirmed = handle_confirmation(_confirmation(world, bank=None), world.deps)
    assert confirmed.status == "otp_verified"


def test_a_wrong_code_leaves_the_payment_requested(requested: World, clock: Clock) -> None:
    secret = requested.applicant.totp_secret
    outcome = handle_confirmation(
        _confirmation(requested, otp=wrong_code(secret, clock.now)), requested.deps
    )
    assert outcome.reason_code == ReasonCode.OTP_INVALID
    requested.assert_status(PID, "requested")


def test_an_outsider_confirming_learns_nothing_and_changes_nothing(requested: World) -> None:
    outsider = requested.enrol("gina", OTHER_ENTERPRISE, "applicant", "gina-password")
    outcome = handle_confirmation(
        _confirmation(requested, session=requested.session(outsider), otp=requested.code(outsider)),
        requested.deps,
    )
    assert outcome.reason_code == ReasonCode.PAYMENT_NOT_FOUND
    requested.assert_status(PID, "requested")


def test_a_reviewer_of_the_payer_cannot_confirm(requested: World) -> None:
    outcome = handle_confirmation(
        _confirmation(
            requested,
            session=requested.session(requested.reviewer),
            otp=requested.code(requested.reviewer),
        ),
        requested.deps,
    )
    assert outcome.reason_code == ReasonCode.WRONG_ROLE
    requested.assert_status(PID, "requested")


def test_confirming_a_payment_that_is_not_requested_is_an_illegal_transition(
    requested: World, clock: Clock
) -> None:
    assert handle_confirmation(_confirmation(requested), requested.deps).status == "otp_verified"
    clock.advance(30)
    again = handle_confirmation(_confirmation(requested), requested.deps)
    assert again.reason_code == ReasonCode.ILLEGAL_TRANSITION


def test_confirming_a_v1_payment_is_an_illegal_transition(world: World, clock: Clock) -> None:
    world.apply(request_id="preq-1")
    v1_payment = payment_id_for(PAYER, "preq-1")
    world.assert_status(v1_payment, "otp_verified")
    clock.advance(30)
    outcome = handle_confirmation(_confirmation(world, payment_id=v1_payment), world.deps)
    assert outcome.reason_code == ReasonCode.ILLEGAL_TRANSITION


def test_a_redelivered_confirmation_is_a_duplicate_and_hands_on_again(requested: World) -> None:
    message = _confirmation(requested)
    handle_confirmation(message, requested.deps)
    again = handle_confirmation(message, requested.deps)
    assert (again.outcome, again.status) == ("duplicate", "otp_verified")
    assert len(queued(requested.deps, q.OTP_VERIFIED)) == 2


def test_a_requested_payment_lapses_after_its_deadline(requested: World) -> None:
    payment = requested.deps.store.get(PID)
    assert payment is not None
    late = requested.deps.store.now() + 86_401
    assert expire_if_overdue(requested.deps, payment, now=late).status.value == "expired"


def test_the_creating_platform_may_cancel_while_requested(requested: World) -> None:
    message = {"payment_id": PID, "platform_id": "liandong", "command_id": "c-1"}
    outcome = handle_platform_cancel(message, requested.deps)
    assert outcome.status == "cancelled"
    payment = requested.deps.store.get(PID)
    assert payment is not None
    assert payment.history[-1].reason_code == "cancelled_by_platform"


def test_another_platform_cancelling_is_told_the_payment_is_not_found(requested: World) -> None:
    _platform(requested, "other", PAYER)
    message = {"payment_id": PID, "platform_id": "other", "command_id": "c-1"}
    outcome = handle_platform_cancel(message, requested.deps)
    assert outcome.reason_code == ReasonCode.PAYMENT_NOT_FOUND
    requested.assert_status(PID, "requested")


def test_the_platform_cannot_cancel_once_the_applicant_confirmed(requested: World) -> None:
    handle_confirmation(_confirmation(requested), requested.deps)
    message = {"payment_id": PID, "platform_id": "liandong", "command_id": "c-1"}
    outcome = handle_platform_cancel(message, requested.deps)
    assert outcome.reason_code == ReasonCode.ILLEGAL_TRANSITION
    requested.assert_status(PID, "otp_verified")


def test_an_applicant_cannot_cancel_a_request_they_have_not_taken_up(requested: World) -> None:
    message = {
        "payment_id": PID,
        "session": requested.session(requested.applicant),
        "command_id": "c-1",
    }
    assert handle_cancel(message, requested.deps).reason_code == ReasonCode.WRONG_USER


# -- platforms as principals ---------------------------------------------------------------


def test_a_platforms_api_key_is_shown_once_and_stored_only_as_a_digest(world: World) -> None:
    platform, api_key = platforms_of(world.deps).add(
        "liandong", "Liandong", [PAYER], lambda e: True
    )
    assert api_key.startswith("b2bp_") and len(api_key) > 40
    stored = b"".join(
        b"".join(world.deps.redis.hgetall(k).values())
        if world.deps.redis.type(k) == b"hash"
        else (world.deps.redis.get(k) or b"")
        for k in world.deps.redis.keys("*platform*")
    )
    assert api_key.encode() not in stored
    assert platform_client.authenticate_platform(world.deps, api_key) == platform


@pytest.mark.parametrize("api_key", ["b2bp_wrong", "", "x" * 300])
def test_a_wrong_api_key_is_refused_as_platform_invalid(world: World, api_key: str) -> None:
    _platform(world)
    with pytest.raises(Refusal) as refused:
        platform_client.authenticate_platform(world.deps, api_key)
    assert refused.value.reason_code == ReasonCode.PLATFORM_INVALID


def test_a_platform_key_pointed_at_another_platform_in_redis_is_refused(world: World) -> None:
    platforms = platforms_of(world.deps)
    _, key_a = platforms.add("a", "A", [PAYER], lambda e: True)
    platforms.add("b", "B", [OTHER_ENTERPRISE], lambda e: True)
    from shared.redis.platforms import key_digest

    world.deps.redis.set(world.deps.keys.platform_key(key_digest(key_a)), "b")
    with pytest.raises(Refusal):
        platform_client.authenticate_platform(world.deps, key_a)


class _Views:
    def __init__(self, rows: list[PaymentView]) -> None:
        self.rows = rows

    def payment(self, payment_id: str) -> PaymentView | None:
        return next((r for r in self.rows if r.payment_id == payment_id), None)

    def list(
        self, status: str | None = None, enterprise_id: str | None = None, limit: int = 1000
    ) -> list[PaymentView]:
        return [r for r in self.rows if r.enterprise_id == enterprise_id]


def _view(payment_id: str) -> PaymentView:
    at = "2026-12-01T00:00:00.000Z"
    return PaymentView(
        payment_id=payment_id,
        status="requested",
        order_id="o-1",
        enterprise_id=PAYER,
        amount="1.00",
        currency="EUR",
        seq=1,
        created_at=at,
        updated_at=at,
        history=(),
        refusals=(),
    )


def test_a_platform_reading_another_platforms_payment_is_told_it_is_not_found(
    requested: World,
) -> None:
    other = _platform(requested, "other", PAYER)
    mine = platforms_of(requested.deps).get("liandong")
    views = _Views([_view(PID), _view(payment_id_for(PAYER, "req-1"))])
    requested.apply()
    with pytest.raises(client.PaymentNotFound):
        platform_client.platform_status(requested.deps, lambda: views, PID, other)
    assert platform_client.platform_status(requested.deps, lambda: views, PID, mine).payment_id
    assert platform_client.platform_list(requested.deps, lambda: views, other) == []
    assert [
        r.payment_id for r in platform_client.platform_list(requested.deps, lambda: views, mine)
    ] == [PID]
