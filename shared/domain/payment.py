"""The payment: a frozen, typed domain object, and its rules (no I/O).

Each rule is written once, here or in :mod:`shared.domain.states` (the state machine), and
returns the change to make — the :class:`Step` s and what to record with them — or raises a
:class:`~shared.domain.errors.Refusal`. The store (:mod:`shared.redis.store`) maps the
payment to and from its Redis hash and writes a change atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum

from shared.domain.content import StoredContent
from shared.domain.contracts import StatusEvent
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.states import (
    INTERBANK_ONLY,
    Action,
    PaymentStatus,
    check_segregation,
    next_status,
)

#: The actor role recorded for a refusal decided while authenticating: the user a genuine
#: (MAC-verified) token names, who may not be the one who sent it.
UNVERIFIED = "unverified"


class EndReason(StrEnum):
    """Why a payment ended where it did: the ``reason_code`` of its last transition.

    A payment that failed at clearing ends with the clearing system's ISO 20022 reason code
    (such as ``AC04``) when it gave one, else :attr:`CLEARING_REJECTED`."""

    #: The reviewer rejected it, with a reason (``rejected``).
    REJECTED_BY_REVIEWER = "rejected_by_reviewer"
    #: The authorizer rejected it, with a reason (``rejected``).
    REJECTED_BY_AUTHORIZER = "rejected_by_authorizer"
    #: Its own applicant withdrew it before authorization (``cancelled``).
    CANCELLED_BY_APPLICANT = "cancelled_by_applicant"
    #: The platform that created it withdrew it before its applicant took it up
    #: (``cancelled``).
    CANCELLED_BY_PLATFORM = "cancelled_by_platform"
    #: Nobody acted on it in time (``expired``).
    DEADLINE_PASSED = "deadline_passed"
    #: The clearing system rejected it without a reason code (``failed``).
    CLEARING_REJECTED = "clearing_rejected"


@dataclass(frozen=True)
class Actor:
    """Who performs a change: a person (with role) or a stage acting on its own."""

    stage: str
    role: str | None = None
    user_id: str | None = None

    @property
    def verified_person(self) -> bool:
        """A person who passed authentication (not a stage, not an unverified claim)."""
        return bool(self.role) and self.role != UNVERIFIED


@dataclass(frozen=True)
class Step:
    """One transition: the status it leads to, and why (for an ending)."""

    status: PaymentStatus
    reason_code: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Record:
    """Who decided, and the deciding stage's signature over it, recorded with a change.
    ``None`` leaves a field as it is."""

    reviewer_id: str | None = None
    review_signature: str | None = None
    authorizer_id: str | None = None
    authorize_signature: str | None = None
    #: Recorded when the applicant confirms a platform's request: the complete content (with
    #: the bank, and its hash), the applicant, the end-to-end id and the apply signature.
    content: StoredContent | None = None
    applicant_id: str | None = None
    end_to_end_id: str | None = None
    apply_signature: str | None = None


@dataclass(frozen=True)
class Change:
    """What a rule decided: the steps to take, and what to record with them."""

    steps: tuple[Step, ...]
    record: Record = Record()

    def recording(self, record: Record) -> Change:
        return replace(self, record=record)


@dataclass(frozen=True)
class Application:
    """A new payment, as the apply stage records it: the content the applicant confirmed,
    and (for a request not seen before) the applicant, the end-to-end id clearing will know
    it by, and the apply stage's signature over them."""

    payment_id: str
    request_id: str
    content: StoredContent
    applicant_id: str | None = None
    end_to_end_id: str | None = None
    apply_signature: str | None = None
    #: The registered platform that created it (PaymentRequest v2), if one did.
    platform_id: str | None = None

    def confirmed_by(self, applicant_id: str) -> Application:
        """A new request confirmed by its applicant: it gets the end-to-end id clearing will
        know it by (and then needs the apply stage's signature)."""
        return replace(
            self, applicant_id=applicant_id, end_to_end_id=end_to_end_id_for(self.payment_id)
        )


def end_to_end_id_for(payment_id: str) -> str:
    """The end-to-end id clearing knows a payment by: stable, so a resubmission is found."""
    return "E2E" + payment_id[4:].upper()


def require_reason(approve: bool, reason: str | None) -> None:
    """A rejection needs a reason."""
    if not approve and not reason:
        raise Refusal(ReasonCode.REASON_REQUIRED, "a rejection needs a reason")


@dataclass(frozen=True)
class Payment:
    """A payment as stored: its status and version, content, people and signatures."""

    payment_id: str
    status: PaymentStatus
    version: int
    content: StoredContent
    request_id: str | None = None
    applicant_id: str | None = None
    reviewer_id: str | None = None
    authorizer_id: str | None = None
    end_to_end_id: str | None = None
    apply_signature: str | None = None
    review_signature: str | None = None
    authorize_signature: str | None = None
    #: The registered platform that created it (PaymentRequest v2): the only platform that
    #: sees it. ``None`` for a payment its applicant started (v1).
    platform_id: str | None = None
    #: When the current status lapses, in milliseconds since the epoch, if it does.
    deadline_ms: float | None = None
    updated_at: str | None = None
    updated_by: str | None = None
    #: The commands that changed the payment, each with the status it left it at.
    commands: Mapping[str, str] = field(default_factory=dict)
    history: list[StatusEvent] = field(default_factory=list)

    def applied(self, command_id: str) -> bool:
        """Whether this command already changed the payment (a redelivery)."""
        return command_id in self.commands

    def summary(self) -> dict[str, str | None]:
        """What every event about the payment repeats of it."""
        return self.content.summary()

    def is_overdue(self, now: float) -> bool:
        return self.deadline_ms is not None and now * 1000 >= self.deadline_ms

    def recorded(self, record: Record) -> Payment:
        """The payment with ``record`` written into it."""
        given = {f.name: getattr(record, f.name) for f in fields(record)}
        return replace(self, **{k: v for k, v in given.items() if v is not None})

    # -- the rules ---------------------------------------------------------------------

    def take_in(self, stage: str) -> Change:
        """otp_verified -> pending_review."""
        return Change((Step(next_status(self.status, Action.INTAKE, stage)),))

    def review(self, stage: str, reviewer_id: str, approve: bool, reason: str | None) -> Change:
        """pending_review -> pending_auth, or rejected with a reason; the reviewer is never
        the applicant. A payment not yet taken in is taken in by the same change."""
        action = Action.APPROVE_REVIEW if approve else Action.REJECT_REVIEW
        check_segregation(action, reviewer_id, self.applicant_id, None)
        require_reason(approve, reason)
        steps: list[Step] = []
        current = self.status
        if current == PaymentStatus.OTP_VERIFIED:
            # The reviewer was faster than the intake hand-off: take it in now, in the same
            # atomic write; the intake message that follows will find nothing to do.
            current = next_status(current, Action.INTAKE, stage)
            steps.append(Step(current))
        target = next_status(current, action, stage)
        steps.append(
            Step(target) if approve else Step(target, EndReason.REJECTED_BY_REVIEWER, reason)
        )
        return Change(tuple(steps), Record(reviewer_id=reviewer_id))

    def authorize(
        self, stage: str, authorizer_id: str, approve: bool, reason: str | None
    ) -> Change:
        """pending_auth -> authorized, or rejected with a reason; the authorizer is neither
        the applicant nor the reviewer."""
        action = Action.APPROVE_AUTH if approve else Action.REJECT_AUTH
        check_segregation(action, authorizer_id, self.applicant_id, self.reviewer_id)
        target = next_status(self.status, action, stage)
        require_reason(approve, reason)
        step = Step(target) if approve else Step(target, EndReason.REJECTED_BY_AUTHORIZER, reason)
        return Change((step,), Record(authorizer_id=authorizer_id))

    def cancel(self, stage: str, applicant_id: str, reason: str | None) -> Change:
        """Withdrawn before authorization, by its own applicant only."""
        if self.applicant_id != applicant_id:
            raise Refusal(ReasonCode.WRONG_USER, "only the payment's own applicant may cancel it")
        target = next_status(self.status, Action.CANCEL, stage)
        why = reason or "cancelled by the applicant"
        return Change((Step(target, EndReason.CANCELLED_BY_APPLICANT, why),))

    def cancel_for_platform(self, stage: str, platform_id: str, reason: str | None) -> Change:
        """Withdrawn by the platform that created it, only while its applicant has not taken
        it up (``requested``)."""
        if self.platform_id != platform_id:
            raise Refusal(ReasonCode.WRONG_USER, "only the creating platform may cancel it")
        if self.status != PaymentStatus.REQUESTED:
            raise Refusal(
                ReasonCode.ILLEGAL_TRANSITION,
                f"a platform may cancel only a requested payment, not one {self.status.value}",
            )
        target = next_status(self.status, Action.CANCEL, stage)
        why = reason or "cancelled by the platform"
        return Change((Step(target, EndReason.CANCELLED_BY_PLATFORM, why),))

    def bank_to_confirm(self, stage: str, bank: str | None) -> str:
        """A platform's request taken up by its applicant (``requested -> otp_verified``):
        the bank it will be paid through — the request's, or the one the applicant chose
        if the request named none."""
        next_status(self.status, Action.VERIFY_OTP, stage)
        if self.platform_id is None:
            # A v1 payment is never left in requested: it moves on in the write that made it.
            raise Refusal(ReasonCode.ILLEGAL_TRANSITION, "not a platform's request")
        requested = self.content.bank
        if requested and bank and bank != requested:
            raise Refusal(ReasonCode.BANK_MISMATCH, f"the request names bank {requested}")
        chosen = requested or bank
        if not chosen:
            raise Refusal(ReasonCode.BANK_REQUIRED, "the request names no bank: choose one")
        return chosen

    def expire(self, stage: str) -> Change:
        """Nobody acted in time (a platform's request: its applicant never took it up)."""
        action = Action.LAPSE if self.status == PaymentStatus.REQUESTED else Action.EXPIRE
        target = next_status(self.status, action, stage)
        reason = f"not acted on in {self.status.value} in time"
        return Change((Step(target, EndReason.DEADLINE_PASSED, reason),))

    def at_clearing(self) -> bool:
        """Whether the interbank stage has this payment to submit or settle (``True``), or
        clearing has finished with it (``False``); any other status is refused."""
        if self.status in INTERBANK_ONLY:
            return True
        if self.status in (PaymentStatus.SETTLED, PaymentStatus.FAILED):
            return False
        raise Refusal(
            ReasonCode.ILLEGAL_TRANSITION, f"payment is {self.status.value}, not authorized"
        )

    def submit(self, stage: str) -> Step:
        return Step(next_status(self.status, Action.SUBMIT, stage))

    def settle(self, stage: str) -> Step:
        return Step(next_status(self.status, Action.SETTLE, stage))

    def fail(self, stage: str, reason_code: str | None, reason: str) -> Step:
        """Failed at clearing: with clearing's reason code, else ``clearing_rejected``."""
        return Step(
            next_status(self.status, Action.FAIL, stage),
            reason_code or EndReason.CLEARING_REJECTED,
            reason,
        )
