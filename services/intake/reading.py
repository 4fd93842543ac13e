"""What the AMQP intake makes of one message, without any I/O but the platform lookup it is
given: a payment request to forward (v2 in the name of the platform the broker vouched
for, or v1 with its applicant's credentials), or the reason it is unusable and what of it
may be kept in a dead letter (never a secret, never bytes that could not be stripped).

Who publishes a v2 request is the RabbitMQ user of the publisher's connection: the message's
``user_id`` property, which RabbitMQ refuses to deliver unless it equals that user (only a
user tagged ``impersonator`` may set another; give no platform that tag). A request whose
``platform_id`` is not the platform registered for that user is refused
``platform_mismatch``; no or an unregistered ``user_id``, ``platform_unknown``.

The intake answers with its own broker rights, so it answers only where the publisher may
read: a ``reply_to`` must be ``reply-<user_id>`` (the queue of the user RabbitMQ vouched for).
Any other (another platform's reply queue, a queue of b2bpay's, or no ``user_id`` to vouch)
is ``reply_to_invalid``: dead-lettered, never forwarded, never answered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.app.guard import describe_validation_error
from shared.domain.contracts import PaymentRequest, PaymentRequestV2
from shared.domain.errors import Refusal
from shared.domain.parties import Platform
from shared.redis.deadletter import MAX_KEPT_BYTES, strip_secrets
from shared.redis.platforms import REPLY_QUEUE_PREFIX

#: The largest body the intake reads; a larger one is dead-lettered unread (RabbitMQ's own
#: ``max_message_size`` should be set near it: see docker-compose.yml).
MAX_BODY_BYTES = 64 * 1024
V1 = "b2bpay.payment_request.v1"
V2 = "b2bpay.payment_request.v2"
ACCEPTED_ENCODINGS = frozenset({"utf-8", "utf8"})


class DeadReason(StrEnum):
    """Why the intake dead-letters a message: the ``x-b2bpay-reason`` header."""

    #: The body is larger than :data:`MAX_BODY_BYTES`.
    TOO_LARGE = "too_large"
    #: No ``content_type``, another than ``application/json``, or a content encoding or
    #: charset other than UTF-8.
    CONTENT_TYPE = "content_type_invalid"
    #: The body is not UTF-8 JSON.
    NOT_JSON = "not_json"
    #: JSON, but not a payment request v1 or v2 by the contract (the detail says where).
    INVALID_REQUEST = "invalid_request"
    #: A v2 request with no ``user_id``, or a user registered for no platform.
    PLATFORM_UNKNOWN = "platform_unknown"
    #: A v2 request naming another platform than the publisher's.
    PLATFORM_MISMATCH = "platform_mismatch"
    #: A ``reply_to`` that is not ``reply-<user_id>`` (or one without a ``user_id``).
    REPLY_TO_INVALID = "reply_to_invalid"


class Unusable(Exception):
    """Raised when a message cannot be forwarded: why, where (never echoing the input), and
    the body as a dead letter may keep it."""

    def __init__(self, reason: DeadReason, detail: str, kept: Any) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        #: JSON-able: the request with every secret-named field removed, or only the size
        #: and SHA-256 of a body that is not a JSON object.
        self.kept = kept


@dataclass(frozen=True)
class Envelope:
    """The AMQP properties the intake reads."""

    content_type: str | None
    content_encoding: str | None = None
    #: Set by the publisher and checked by RabbitMQ against the connection's user.
    user_id: str | None = None
    #: Where the publisher asks for the verdict.
    reply_to: str | None = None

    def may_reply(self) -> bool:
        """Whether the intake may answer where asked (see the module's docstring)."""
        return self.reply_to is not None and reply_allowed(self.reply_to, self.user_id)


def reply_allowed(reply_to: str, user_id: str | None) -> bool:
    """Only the queue of the user RabbitMQ vouched for: exact, no prefix match (user names
    may hold ``.`` and ``-``, so ``reply-a.b`` must not pass for user ``a``)."""
    return bool(user_id) and reply_to == f"{REPLY_QUEUE_PREFIX}{user_id}"


@dataclass(frozen=True)
class Read:
    """A request ready for the apply stage, and who sent it."""

    request: PaymentRequest | PaymentRequestV2
    platform: Platform | None = None


def fingerprint(body: bytes) -> dict[str, Any]:
    """What a dead letter keeps of a body it cannot strip: never a byte of it."""
    return {"undecodable": True, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def kept_form(payload: dict[str, Any], body: bytes) -> Any:
    stripped = strip_secrets(payload)
    if len(json.dumps(stripped, default=str)) > MAX_KEPT_BYTES:
        return fingerprint(body)
    return stripped


def _json_media_type(envelope: Envelope) -> bool:
    if envelope.content_type is None:
        return False
    media, _, parameters = envelope.content_type.partition(";")
    if media.strip().casefold() != "application/json":
        return False
    for parameter in filter(None, (p.strip() for p in parameters.split(";"))):
        name, _, value = parameter.partition("=")
        if name.strip().casefold() == "charset" and value.strip().strip('"').casefold() not in (
            ACCEPTED_ENCODINGS
        ):
            return False
    encoding = envelope.content_encoding
    return encoding is None or encoding.casefold() in ACCEPTED_ENCODINGS


def read_request(body: bytes, envelope: Envelope, platform_of: Callable[[str], Platform]) -> Read:
    """The payment request a message carries, or :class:`Unusable`. ``platform_of`` maps a
    RabbitMQ user to its registered platform, raising a :class:`Refusal` for none."""
    if len(body) > MAX_BODY_BYTES:
        raise Unusable(
            DeadReason.TOO_LARGE, f"{len(body)} bytes (limit {MAX_BODY_BYTES})", fingerprint(body)
        )
    if not _json_media_type(envelope):
        raise Unusable(
            DeadReason.CONTENT_TYPE,
            "content_type must be application/json (UTF-8)",
            fingerprint(body),
        )
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Unusable(
            DeadReason.NOT_JSON, "the body is not UTF-8 JSON", fingerprint(body)
        ) from None
    if not isinstance(payload, dict):
        raise Unusable(
            DeadReason.INVALID_REQUEST, "message: a JSON object is expected", fingerprint(body)
        )
    kept = kept_form(payload, body)

    def invalid(detail: str) -> Unusable:
        return Unusable(DeadReason.INVALID_REQUEST, detail, kept)

    if "command_id" in payload:
        # The intake names each attempt; the publisher matches replies by correlation_id.
        raise invalid("command_id: chosen by b2bpay; match replies by correlation_id")
    schema = payload.get("schema")
    if schema == V1:
        read = Read(_validated(PaymentRequest, payload, invalid))
    elif schema != V2:
        raise invalid(f"schema: must be {V2!r} (or {V1!r})")
    else:
        platform = _publisher(envelope, platform_of, kept)
        named = payload.get("platform_id", platform.platform_id)
        if named != platform.platform_id:
            raise Unusable(
                DeadReason.PLATFORM_MISMATCH,
                "platform_id: not the platform this AMQP user publishes for",
                kept,
            )
        fields = {**payload, "platform_id": platform.platform_id}
        read = Read(_validated(PaymentRequestV2, fields, invalid), platform)
    if envelope.reply_to is not None and not envelope.may_reply():
        raise Unusable(
            DeadReason.REPLY_TO_INVALID,
            f"reply_to: only {REPLY_QUEUE_PREFIX}<user_id>, with user_id set, is answered",
            kept,
        )
    return read


def _publisher(envelope: Envelope, platform_of: Callable[[str], Platform], kept: Any) -> Platform:
    if not envelope.user_id:
        raise Unusable(
            DeadReason.PLATFORM_UNKNOWN,
            "user_id: a v2 request must carry the publisher's RabbitMQ user",
            kept,
        )
    try:
        return platform_of(envelope.user_id)
    except Refusal:
        raise Unusable(
            DeadReason.PLATFORM_UNKNOWN, "user_id: no registered platform publishes as it", kept
        ) from None


R = TypeVar("R", PaymentRequest, PaymentRequestV2)


def _validated(
    contract: type[R], fields: Mapping[str, Any], invalid: Callable[[str], Unusable]
) -> R:
    try:
        return contract.model_validate(fields)
    except ValidationError as e:
        raise invalid(describe_validation_error(e)) from None
