"""Authorize-stage handlers: plain functions of (message, deps)."""

from __future__ import annotations

from typing import Any

from shared.app.commands import Checked, accepted, commit, person_command
from shared.app.deps import Deps
from shared.app.expiry import refuse_if_overdue
from shared.app.guard import Outcome
from shared.domain.content import check_content
from shared.domain.contracts import AuthDecision
from shared.domain.payment import Payment
from shared.domain.stages import Stage
from shared.domain.states import PaymentStatus
from shared.messaging import routes as q
from shared.security.linking import challenge_of, is_linked
from shared.security.stage_signatures import authorization, check_review_approval, signed_handoff

STAGE = Stage.AUTHORIZE


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
    return person_command(
        raw, deps, STAGE, AuthDecision, "authorizer", _decide, duplicate=_duplicate
    )


def _decide(deps: Deps, checked: Checked[AuthDecision]) -> Outcome:
    payment, decision, user = checked.payment, checked.command, checked.person.user
    change = payment.authorize(STAGE, user.username, decision.approve, decision.reason)
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
    if decision.approve:
        # An approval is signed by this stage; the interbank stage checks it.
        change = change.recording(authorization(deps.signer, payment, user.username))
    updated = commit(deps, checked, change, fault_point="authorize.before_transition")
    deps.faults.point("authorize.after_transition")
    if updated.status == PaymentStatus.AUTHORIZED:
        _hand_to_interbank(deps, updated, decision.command_id)
    return accepted(updated)
