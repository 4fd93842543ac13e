"""Review-stage handlers: plain functions of (message, deps)."""

from __future__ import annotations

from typing import Any

from shared.app.commands import (
    Checked,
    HandedOn,
    accepted,
    commit,
    person_command,
    stage_handoff,
)
from shared.app.deps import Deps
from shared.app.expiry import refuse_if_overdue, transition_before_deadline
from shared.app.guard import Outcome
from shared.domain.content import check_content
from shared.domain.contracts import ReviewDecision
from shared.domain.stages import Stage
from shared.domain.states import PaymentStatus
from shared.redis.store import DeadlinePassed
from shared.security.stage_signatures import check_application, review_approval

STAGE = Stage.REVIEW


def handle_intake(raw: Any, deps: Deps) -> Outcome:
    """otp_verified -> pending_review. A repeated hand-off, or one for a payment that has
    moved on, changes nothing."""
    return stage_handoff(raw, deps, STAGE, Stage.APPLY, _take_in)


def _take_in(deps: Deps, handed: HandedOn) -> Outcome:
    payment = handed.payment
    if payment.status != PaymentStatus.OTP_VERIFIED:
        return Outcome("ignored", payment.payment_id, payment.status.value)
    check_content(payment, handed.handoff.content_hash)
    change = payment.take_in(STAGE)
    try:
        updated = transition_before_deadline(deps, payment, change, handed.attempt.actor, None)
    except DeadlinePassed:
        # Nobody is refused: the payment simply expired before it was taken in.
        return Outcome("ignored", payment.payment_id, PaymentStatus.EXPIRED.value)
    return Outcome("accepted", updated.payment_id, updated.status.value)


def handle_review_decision(raw: Any, deps: Deps) -> Outcome:
    """pending_review -> pending_auth (approve) or rejected (reason required)."""
    return person_command(raw, deps, STAGE, ReviewDecision, "reviewer", _decide)


def _decide(deps: Deps, checked: Checked[ReviewDecision]) -> Outcome:
    payment, decision = checked.payment, checked.command
    change = payment.review(STAGE, checked.user_id, decision.approve, decision.reason)
    check_content(payment)
    check_application(deps.signer, payment)
    refuse_if_overdue(deps, payment)
    deps.faults.point("review.decide")
    if decision.approve:
        # An approval is signed by this stage; the authorize stage checks it
        # (shared.security.stage_signatures).
        change = change.recording(review_approval(deps.signer, payment, checked.user_id))
    return accepted(commit(deps, checked, change))
