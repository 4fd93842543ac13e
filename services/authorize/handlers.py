"""Authorize-stage handlers: plain functions of (message, deps)."""

from __future__ import annotations

from typing import Any

import structlog

from shared.deps import Deps
from shared.domain.content import check_content
from shared.domain.contracts import AuthDecision
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.stages import Stage
from shared.domain.states import Action, PaymentStatus, check_segregation, next_status
from shared.messaging import routes as q
from shared.messaging.guard import (
    UNKNOWN_PAYMENT,
    Attempt,
    Outcome,
    admit,
    decode,
    identify,
    load_own_payment,
    raw_id,
    redelivered,
    refuse,
)
from shared.redis.expiry import refuse_if_overdue, transition_before_deadline
from shared.redis.store import Actor, Payment, Step
from shared.security.linking import challenge_of, is_linked
from shared.security.signing import authorization_fields, check_review_approval, signed_handoff

STAGE = Stage.AUTHORIZE
log = structlog.get_logger()


def _hand_to_interbank(deps: Deps, payment: Payment, command_id: str) -> None:
    handoff = signed_handoff(deps.signer, payment, STAGE, command_id)
    deps.dispatch(q.INTERBANK, q.SUBMIT_TO_CLEARING, handoff.to_wire())


def _duplicate(deps: Deps, payment: Payment, command_id: str) -> Outcome:
    """A redelivery: the code was spent already; only make sure interbank heard of it."""
    if payment.status == PaymentStatus.AUTHORIZED:
        _hand_to_interbank(deps, payment, command_id)
    return Outcome("duplicate", payment.payment_id, payment.status.value)


def handle_auth_decision(raw: Any, deps: Deps) -> Outcome:
    """pending_auth -> authorized (approve + one-time code) or rejected (reason required)."""
    attempt = Attempt(
        STAGE, raw_id(raw, "payment_id") or UNKNOWN_PAYMENT, raw_id(raw, "command_id"), Actor(STAGE)
    )
    try:
        decision = decode(AuthDecision, raw)
        # Who asks comes first: only a person of the payer learns anything of the payment.
        try:
            person = identify(deps, decision.session.get_secret_value(), attempt)
        except Refusal:
            again = redelivered(deps, decision.payment_id, decision.command_id)
            if again is None:
                raise
            return _duplicate(deps, again, decision.command_id)
        payment = load_own_payment(deps, attempt, decision.payment_id, person)
        if payment.applied(decision.command_id):
            return _duplicate(deps, payment, decision.command_id)
        person.check_role("authorizer")
        user = person.user
        action = Action.APPROVE_AUTH if decision.approve else Action.REJECT_AUTH
        check_segregation(
            action, user.username, payment.fields["applicant_id"], payment.get("reviewer_id")
        )
        target = next_status(payment.status, action, STAGE)
        if not decision.approve and not decision.reason:
            raise Refusal(ReasonCode.REASON_REQUIRED, "a rejection needs a reason")
        check_content(payment)
        # Only a payment the review stage approved, as stored: its signature covers the
        # content hash and the reviewer (a record written straight into Redis has none).
        check_review_approval(deps.signer, payment)
        refuse_if_overdue(deps, payment)
        # Seed step 13: the authorization is final only with the authorizer's one-time code.
        deps.otp.verify(
            user.username,
            user.totp_secret,
            decision.otp.get_secret_value(),
            # Bound to the payment: one code never authorizes a second payment.
            purpose=f"authorize:{payment.payment_id}:{decision.command_id}",
            # Dynamic linking: the code answers this payment's challenge, which commits to
            # its amount, currency and payee (content hash checked just above).
            challenge=challenge_of(payment) if is_linked(deps.settings.authorizer_otp) else None,
        )
        step = (
            Step(target)
            if decision.approve
            else Step(target, "rejected_by_authorizer", decision.reason)
        )
        admit(deps, person)
        deps.faults.point("authorize.before_transition")
        updated = transition_before_deadline(
            deps,
            payment,
            [step],
            attempt.actor,
            decision.command_id,
            # An approval is signed by this stage; the interbank stage checks it.
            authorization_fields(deps.signer, payment, user.username)
            if decision.approve
            else {"authorizer_id": user.username},
        )
        deps.faults.point("authorize.after_transition")
        if updated.status == PaymentStatus.AUTHORIZED:
            _hand_to_interbank(deps, updated, decision.command_id)
        return Outcome("accepted", updated.payment_id, updated.status.value)
    except Refusal as refusal:
        return refuse(deps, attempt, refusal)
