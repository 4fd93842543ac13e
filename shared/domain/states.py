"""The payment state machine: one pure module, no I/O.

Every legal move is in :data:`TRANSITIONS`; anything else raises :class:`IllegalTransition`.
"""

from __future__ import annotations

from enum import StrEnum

from shared.domain.errors import IllegalTransition, ReasonCode, Refusal
from shared.domain.stages import Stage


class PaymentStatus(StrEnum):
    #: The request passed validation: awaiting the applicant (a platform's request, v2), or
    #: the applicant's code is being checked (v1, which moves on in the same write).
    REQUESTED = "requested"
    #: The applicant's login and one-time code were accepted (seed steps 4-6).
    OTP_VERIFIED = "otp_verified"
    #: Waiting for a reviewer (seed steps 7-9).
    PENDING_REVIEW = "pending_review"
    #: Reviewed; waiting for an authorizer (seed step 10).
    PENDING_AUTH = "pending_auth"
    #: Authorized with a one-time code (seed steps 11-14); only interbank may act now.
    AUTHORIZED = "authorized"
    #: Handed to clearing under its end-to-end id (seed step 15).
    SUBMITTED = "submitted"
    #: Clearing settled it. Terminal.
    SETTLED = "settled"
    #: A reviewer or authorizer said no, with a reason. Terminal.
    REJECTED = "rejected"
    #: Verification or clearing failed, with a reason code. Terminal.
    FAILED = "failed"
    #: Nobody acted in time. Terminal.
    EXPIRED = "expired"
    #: Withdrawn by the applicant before authorization. Terminal.
    CANCELLED = "cancelled"


class Action(StrEnum):
    VERIFY_OTP = "verify_otp"
    INTAKE = "intake"
    APPROVE_REVIEW = "approve_review"
    REJECT_REVIEW = "reject_review"
    APPROVE_AUTH = "approve_auth"
    REJECT_AUTH = "reject_auth"
    SUBMIT = "submit"
    SETTLE = "settle"
    FAIL = "fail"
    EXPIRE = "expire"
    CANCEL = "cancel"
    #: A platform's request its applicant never took up in time (the sweeper).
    LAPSE = "lapse"


S = PaymentStatus
TERMINAL: frozenset[PaymentStatus] = frozenset(
    {S.SETTLED, S.REJECTED, S.FAILED, S.EXPIRED, S.CANCELLED}
)
#: States a person can still withdraw or let lapse: before authorization (seed step 15).
BEFORE_AUTHORIZATION: frozenset[PaymentStatus] = frozenset(
    {S.REQUESTED, S.OTP_VERIFIED, S.PENDING_REVIEW, S.PENDING_AUTH}
)
#: States in which only the interbank stage may act (seed step 15).
INTERBANK_ONLY: frozenset[PaymentStatus] = frozenset({S.AUTHORIZED, S.SUBMITTED})
#: Terminal states that free the order for a new payment (settled keeps it: the order is paid).
RELEASES_ORDER: frozenset[PaymentStatus] = TERMINAL - {S.SETTLED}

TRANSITIONS: dict[tuple[PaymentStatus, Action], PaymentStatus] = {
    (S.REQUESTED, Action.VERIFY_OTP): S.OTP_VERIFIED,
    (S.REQUESTED, Action.FAIL): S.FAILED,
    (S.OTP_VERIFIED, Action.INTAKE): S.PENDING_REVIEW,
    (S.PENDING_REVIEW, Action.APPROVE_REVIEW): S.PENDING_AUTH,
    (S.PENDING_REVIEW, Action.REJECT_REVIEW): S.REJECTED,
    (S.PENDING_AUTH, Action.APPROVE_AUTH): S.AUTHORIZED,
    (S.PENDING_AUTH, Action.REJECT_AUTH): S.REJECTED,
    (S.AUTHORIZED, Action.SUBMIT): S.SUBMITTED,
    (S.AUTHORIZED, Action.FAIL): S.FAILED,
    (S.SUBMITTED, Action.SETTLE): S.SETTLED,
    (S.SUBMITTED, Action.FAIL): S.FAILED,
    **{(s, Action.CANCEL): S.CANCELLED for s in BEFORE_AUTHORIZATION},
    **{(s, Action.EXPIRE): S.EXPIRED for s in BEFORE_AUTHORIZATION - {S.REQUESTED}},
    # Its own action, so that no other expiry reaches a payment before its code was checked.
    (S.REQUESTED, Action.LAPSE): S.EXPIRED,
}

#: Which stage may perform which action (keyed by :class:`Stage`: every queue stage and the
#: sweeper; ``tests/unit/test_routes.py``). After ``authorized`` only interbank acts.
STAGE_ACTIONS: dict[str, frozenset[Action]] = {
    Stage.APPLY: frozenset({Action.VERIFY_OTP, Action.CANCEL}),
    Stage.REVIEW: frozenset({Action.INTAKE, Action.APPROVE_REVIEW, Action.REJECT_REVIEW}),
    Stage.AUTHORIZE: frozenset({Action.APPROVE_AUTH, Action.REJECT_AUTH}),
    Stage.INTERBANK: frozenset({Action.SUBMIT, Action.SETTLE, Action.FAIL}),
    Stage.SWEEPER: frozenset({Action.EXPIRE, Action.LAPSE}),
}

#: The role whose person performs each human action.
ROLE_FOR_ACTION: dict[Action, str] = {
    Action.VERIFY_OTP: "applicant",
    Action.CANCEL: "applicant",
    Action.APPROVE_REVIEW: "reviewer",
    Action.REJECT_REVIEW: "reviewer",
    Action.APPROVE_AUTH: "authorizer",
    Action.REJECT_AUTH: "authorizer",
}


def next_status(current: PaymentStatus, action: Action, stage: str | None = None) -> PaymentStatus:
    """The status after ``action`` by ``stage``; raises :class:`IllegalTransition` if it is not
    allowed. Stages always pass themselves; ``None`` checks the transition table alone."""
    if stage is not None and action not in STAGE_ACTIONS.get(stage, frozenset()):
        raise IllegalTransition(current.value, action.value)
    if stage is not None and current in INTERBANK_ONLY and stage != Stage.INTERBANK:
        # Seed step 15: once authorized, neither the customer nor the platform can affect it.
        raise IllegalTransition(current.value, action.value)
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise IllegalTransition(current.value, action.value) from None


def check_segregation(
    action: Action, actor_id: str, applicant_id: str | None, reviewer_id: str | None
) -> None:
    """Applicant, reviewer and authorizer of one payment must be three different people."""
    role = ROLE_FOR_ACTION.get(action)
    if role == "reviewer" and actor_id == applicant_id:
        raise Refusal(ReasonCode.SAME_PERSON, "the applicant may not review their own payment")
    if role == "authorizer" and actor_id in {applicant_id, reviewer_id}:
        raise Refusal(ReasonCode.SAME_PERSON, "the authorizer must be a third person")
