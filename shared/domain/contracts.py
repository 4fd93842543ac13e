"""The message contracts: every message at every boundary is one of these pydantic models.

Commands (imperative) travel to stages; events (past tense) travel on the status stream.
Secrets (session token, one-time code) are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from shared.domain.currencies import ISO_4217

# Re-exported: they were defined here before the people's CLI needed them without pydantic.
from shared.domain.text import INVISIBLE_CATEGORIES as INVISIBLE_CATEGORIES
from shared.domain.text import INVISIBLE_TEXT as INVISIBLE_TEXT
from shared.domain.text import is_visible_text as is_visible_text

Identifier = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
Name = Annotated[str, Field(min_length=1, max_length=140)]
Account = Annotated[str, Field(min_length=4, max_length=34, pattern=r"^[A-Za-z0-9-]+$")]
BankCode = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Z0-9]+$")]


def _iso_currency(value: str) -> str:
    if value not in ISO_4217:
        raise ValueError("currency must be an ISO 4217 code such as CNY")
    return value


def _six_digits(value: SecretStr) -> SecretStr:
    if not re.fullmatch(r"[0-9]{6}", value.get_secret_value()):
        raise ValueError("a one-time code is 6 digits")
    return value


OtpCode = Annotated[SecretStr, AfterValidator(_six_digits)]

MAX_AMOUNT = Decimal("999999999999.99")


def new_command_id() -> str:
    return uuid.uuid4().hex


class Contract(BaseModel):
    """What b2bpay is sent (commands, hand-offs): strict, immutable, free text stripped.
    ``populate_by_name`` lets a versioned contract be built by ``schema_`` or ``schema``."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, populate_by_name=True
    )

    @field_validator("*", mode="before")
    @classmethod
    def _only_visible_text(cls, value: Any, info: ValidationInfo) -> Any:
        # Every text field of every contract, present and future: before any other check,
        # so the refusal says why (not "does not match the pattern") and whitespace
        # stripping cannot quietly drop a trailing separator. Secrets are left to the stage
        # that checks them (a garbage session is refused as such), and never shown.
        if isinstance(value, str) and info.field_name is not None:
            secret = cls.model_fields[info.field_name].annotation is SecretStr
            if not secret and not is_visible_text(value):
                raise ValueError(INVISIBLE_TEXT)
        return value

    def to_wire(self) -> dict[str, Any]:
        """The message as it goes on the queue: the only place its secrets (session token,
        one-time code) are revealed, for the stage that checks them."""
        data = self.model_dump(mode="json", by_alias=True)
        for name, value in self:
            if isinstance(value, SecretStr):
                data[name] = value.get_secret_value()
        return data


class Payer(Contract):
    enterprise_id: Identifier
    account: Account
    name: Name


class Payee(Contract):
    bank_code: BankCode
    account: Account
    name: Name


class PaymentContent(Contract):
    """What the upstream platform confirmed (seed step 2); its hash is frozen at apply."""

    order_id: Identifier
    payer: Payer
    payee: Payee
    amount: str
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_iso_currency)]
    bank: BankCode
    purpose: Annotated[str, Field(max_length=140)] = ""

    @field_validator("amount")
    @classmethod
    def _amount_is_money(cls, value: str) -> str:
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise ValueError("amount must be a decimal string such as '1250.00'") from None
        if not amount.is_finite() or amount <= 0:
            raise ValueError("amount must be greater than zero")
        if amount > MAX_AMOUNT:
            raise ValueError(f"amount must be at most {MAX_AMOUNT}")
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise ValueError("amount must have at most 2 decimal places")
        return f"{amount:.2f}"

    def content_hash(self) -> str:
        """SHA-256 over the canonical JSON of the content: what every later stage checks."""
        return canonical_hash(
            self.model_dump(mode="json", include=set(PaymentContent.model_fields))
        )


def canonical_hash(content: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of a content's fields."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class RequestedContent(PaymentContent):
    """What an upstream platform asks to be paid (PaymentRequest v2): the content without, or
    with, the bank; the applicant chooses a missing bank when confirming. Its hash (the bank
    ``null`` when missing) is the request's own: the idempotency comparison uses it. With a
    bank it equals the :class:`PaymentContent` hash of the same fields."""

    bank: BankCode | None = None  # type: ignore[assignment]

    def with_bank(self, bank: str) -> PaymentContent:
        """The complete content once the bank is known: what the later stages check."""
        fields = self.model_dump(include=set(PaymentContent.model_fields), mode="json")
        return PaymentContent.model_validate({**fields, "bank": bank})


class PaymentRequest(PaymentContent):
    """PaymentRequest v1: upstream -> ``apply``."""

    schema_: Literal["b2bpay.payment_request.v1"] = Field(
        default="b2bpay.payment_request.v1", alias="schema"
    )
    request_id: Identifier
    session: SecretStr
    otp: OtpCode
    #: Names this attempt so its sender can wait for the verdict; one is made if absent.
    command_id: Identifier = Field(default_factory=new_command_id)

    def content(self) -> PaymentContent:
        return PaymentContent.model_validate(
            self.model_dump(include=set(PaymentContent.model_fields), mode="json")
        )


class PaymentRequestV2(RequestedContent):
    """PaymentRequest v2: an upstream platform -> ``apply``. No person's credentials: the
    payment waits in ``requested`` for its applicant's :class:`ApplicantConfirmation`. A
    session or a code in it is refused as invalid (they belong to the confirmation)."""

    schema_: Literal["b2bpay.payment_request.v2"] = Field(
        default="b2bpay.payment_request.v2", alias="schema"
    )
    request_id: Identifier
    #: The registered platform that creates it (authenticated by the entrypoint that sends it).
    platform_id: Identifier
    command_id: Identifier = Field(default_factory=new_command_id)

    def requested(self) -> RequestedContent:
        return RequestedContent.model_validate(
            self.model_dump(include=set(PaymentContent.model_fields), mode="json")
        )


class ApplicantConfirmation(Contract):
    """The applicant takes up a requested payment (pay page, seed steps 3-6): the bank if
    the request named none, their session and one-time code. CLI/API -> ``apply``."""

    schema_: Literal["b2bpay.applicant_confirmation.v1"] = Field(
        default="b2bpay.applicant_confirmation.v1", alias="schema"
    )
    command_id: Identifier = Field(default_factory=new_command_id)
    payment_id: Identifier
    bank: BankCode | None = None
    session: SecretStr
    otp: OtpCode


class PlatformCancel(Contract):
    """The creating platform withdraws a payment its applicant has not taken up yet
    (``requested``). The platform is authenticated by the entrypoint that sends it."""

    schema_: Literal["b2bpay.platform_cancel.v1"] = Field(
        default="b2bpay.platform_cancel.v1", alias="schema"
    )
    command_id: Identifier = Field(default_factory=new_command_id)
    payment_id: Identifier
    platform_id: Identifier
    reason: Annotated[str, Field(max_length=280)] = ""


class ReviewDecision(Contract):
    """A reviewer's decision: CLI/API -> ``pending-review``."""

    schema_: Literal["b2bpay.review_decision.v1"] = Field(
        default="b2bpay.review_decision.v1", alias="schema"
    )
    command_id: Identifier = Field(default_factory=new_command_id)
    payment_id: Identifier
    approve: bool
    reason: Annotated[str, Field(max_length=280)] = ""
    session: SecretStr


class AuthDecision(Contract):
    """An authorizer's decision with their one-time code: CLI/API -> ``pending-auth``."""

    schema_: Literal["b2bpay.auth_decision.v1"] = Field(
        default="b2bpay.auth_decision.v1", alias="schema"
    )
    command_id: Identifier = Field(default_factory=new_command_id)
    payment_id: Identifier
    approve: bool
    reason: Annotated[str, Field(max_length=280)] = ""
    session: SecretStr
    otp: OtpCode


class CancelPayment(Contract):
    """The applicant withdraws a payment before authorization: CLI/API -> ``apply``."""

    schema_: Literal["b2bpay.cancel_payment.v1"] = Field(
        default="b2bpay.cancel_payment.v1", alias="schema"
    )
    command_id: Identifier = Field(default_factory=new_command_id)
    payment_id: Identifier
    reason: Annotated[str, Field(max_length=280)] = ""
    session: SecretStr


class Handoff(Contract):
    """What a stage hands to the next queue: ids only, never content or secrets, signed by
    the handing stage (:mod:`shared.security.signing`).

    v2 added ``status``, ``version`` and ``signature``; a v1 hand-off is refused as invalid."""

    schema_: Literal["b2bpay.handoff.v2"] = Field(default="b2bpay.handoff.v2", alias="schema")
    payment_id: Identifier
    content_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    from_stage: Literal["apply", "review", "authorize"]
    command_id: Identifier
    #: The payment's status and version when it was handed on: the receiving stage checks
    #: that the stored payment had exactly this status at this version.
    status: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
    version: Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
    #: The handing stage's Ed25519 signature over every other field (base64url). Optional
    #: in the schema so that an unsigned hand-off is refused as ``invalid_signature`` (and
    #: recorded), not dead-lettered as malformed.
    signature: Annotated[str, Field(max_length=128)] | None = None

    def signed_content(self) -> dict[str, Any]:
        """What the signature covers: every field but the signature, as on the wire."""
        return self.model_dump(mode="json", by_alias=True, exclude={"signature"})


class Published(BaseModel):
    """What b2bpay writes for others to read (status events, verdicts): immutable, and read
    tolerantly, so that a field added by a newer writer does not break an older reader."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# Read through shared.domain.status_events.decode_status_event (upcasting older versions).
class StatusEvent(Published):
    """Status event v1, on the shared events stream. ``kind`` tells a transition from a
    refusal; a refusal leaves ``status`` at the payment's unchanged status (or null)."""

    schema_: Literal["b2bpay.status_event.v1"] = Field(
        default="b2bpay.status_event.v1", alias="schema"
    )
    event_id: str
    kind: Literal["transition", "refusal"]
    payment_id: str
    seq: int
    status: str | None
    previous_status: str | None
    stage: str
    actor_role: str | None
    actor_id: str | None
    reason_code: str | None
    reason: str | None
    at: str
    order_id: str | None = None
    enterprise_id: str | None = None
    amount: str | None = None
    currency: str | None = None
    command_id: str | None = None


class Verdict(Published):
    """A stage's answer to one command, for the sender waiting on it."""

    command_id: str
    outcome: Literal["accepted", "refused", "duplicate"]
    payment_id: str
    status: str | None
    reason_code: str | None = None
    reason: str | None = None


def payment_id_for(enterprise_id: str, request_id: str, platform_id: str | None = None) -> str:
    """Payment ids derive from the upstream idempotency key, scoped to the payer: a
    redelivered or repeated request lands on the same payment, and no enterprise can take
    a request id another will use. A platform's request (v2) is scoped to the platform too,
    so that another platform of the same payer cannot take its (often sequential) request
    ids first. (The length prefixes keep the encoding unambiguous.)"""
    scoped = f"b2bpay:{len(enterprise_id)}:{enterprise_id}:{request_id}"
    if platform_id is not None:
        scoped = f"b2bpay-platform:{len(platform_id)}:{platform_id}:{scoped}"
    return "pay_" + hashlib.sha256(scoped.encode()).hexdigest()[:24]


#: The versioned public contracts, by name, for ``b2bpay schema``.
CONTRACTS: dict[str, type[BaseModel]] = {
    "payment_request": PaymentRequest,
    "payment_request_v2": PaymentRequestV2,
    "applicant_confirmation": ApplicantConfirmation,
    "platform_cancel": PlatformCancel,
    "review_decision": ReviewDecision,
    "auth_decision": AuthDecision,
    "cancel_payment": CancelPayment,
    "handoff": Handoff,
    "status_event": StatusEvent,
}
