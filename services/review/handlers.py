"""Review-stage handlers: plain functions of (message, deps)."""

from __future__ import annotations

from typing import Any

import structlog

from shared.deps import Deps
from shared.domain.content import check_content
from shared.domain.contracts import Handoff, ReviewDecision
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.stages import Stage
from shared.domain.states import Action, PaymentStatus, check_segregation, next_status
from shared.messaging.guard import (
    UNKNOWN_PAYMENT,
    Attempt,
    Outcome,
    admit,
    decode,
    identify,
    load_own_payment,
    load_payment,
    raw_id,
    redelivered,
    refuse,
)
from shared.redis.expiry import refuse_if_overdue, transition_before_deadline
from shared.redis.store import Actor, DeadlinePassed, Step
from shared.security.signing import check_application, check_handoff, review_approval_fields

STAGE = Stage.REVIEW
log = structlog.get_logger()


def handle_intake(raw: Any, deps: Deps) -> Outcome:
    """otp_verified -> pending_review. A repeated hand-off, or one for a payment that has
    moved on, changes nothing."""
    attempt = Attempt(STAGE, raw_id(raw, "payment_id") or UNKNOWN_PAYMENT, None, Actor(STAGE))
    try:
        handoff = decode(Handoff, raw)
        payment = load_payment(deps, attempt, handoff.payment_id, "hand-off for an unknown payment")
        # Before anything else: only what the apply stage signed, for this stored state.
        check_handoff(deps.signer, handoff, Stage.APPLY, payment)
        if payment.status != PaymentStatus.OTP_VERIFIED:
            return Outcome("ignored", payment.payment_id, payment.status.value)
        check_content(payment, handoff.content_hash)
        target = next_status(payment.status, Action.INTAKE, STAGE)
        try:
            updated = transition_before_deadline(deps, payment, [Step(target)], attempt.actor, None)
        except DeadlinePassed:
            # Nobody is refused: the payment simply expired before it was taken in.
            return Outcome("ignored", payment.payment_id, PaymentStatus.EXPIRED.value)
        return Outcome("accepted", updated.payment_id, updated.status.value)
    except Refusal as refusal:
        return refuse(deps, attempt, refusal)


def handle_review_decision(raw: Any, deps: Deps) -> Outcome:
    """pending_review -> pending_auth (approve) or rejected (reject, reason required)."""
    attempt = Attempt(
        STAGE, raw_id(raw, "payment_id") or UNKNOWN_PAYMENT, raw_id(raw, "command_id"), Actor(STAGE)
    )
    try:
        decision = decode(ReviewDecision, raw)
        # Who asks comes first: only a person of the payer learns anything of the payment.
        try:
            person = identify(deps, decision.session.get_secret_value(), attempt)
        except Refusal:
            again = redelivered(deps, decision.payment_id, decision.command_id)
            if again is None:
                raise
            return Outcome("duplicate", again.payment_id, again.status.value)
        payment = load_own_payment(deps, attempt, decision.payment_id, person)
        if payment.applied(decision.command_id):
            return Outcome("duplicate", payment.payment_id, payment.status.value)
        person.check_role("reviewer")
        user = person.user
        action = Action.APPROVE_REVIEW if decision.approve else Action.REJECT_REVIEW
        check_segregation(action, user.username, payment.fields["applicant_id"], None)
        if not decision.approve and not decision.reason:
            raise Refusal(ReasonCode.REASON_REQUIRED, "a rejection needs a reason")
        steps: list[Step] = []
        current = payment.status
        if current == PaymentStatus.OTP_VERIFIED:
            # The reviewer was faster than the intake hand-off: take it in now, in the same
            # atomic write; the intake message that follows will find nothing to do.
            current = next_status(current, Action.INTAKE, STAGE)
            steps.append(Step(current))
        target = next_status(current, action, STAGE)
        check_content(payment)
        check_application(deps.signer, payment)
        refuse_if_overdue(deps, payment)
        deps.faults.point("review.decide")
        admit(deps, person)
        if decision.approve:
            steps.append(Step(target))
        else:
            steps.append(Step(target, "rejected_by_reviewer", decision.reason))
        # An approval is signed by this stage; the authorize stage checks it
        # (shared.security.signing).
        recorded = (
            review_approval_fields(deps.signer, payment, user.username)
            if decision.approve
            else {"reviewer_id": user.username}
        )
        updated = transition_before_deadline(
            deps, payment, steps, attempt.actor, decision.command_id, recorded
        )
        return Outcome("accepted", updated.payment_id, updated.status.value)
    except Refusal as refusal:
        return refuse(deps, attempt, refusal)
