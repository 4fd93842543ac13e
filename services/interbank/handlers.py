"""Interbank-stage handlers: plain functions of (message, deps)."""

from __future__ import annotations

from typing import Any

import structlog

from shared.bootstrap import Deps
from shared.clearing import ISO_REJECT_REASONS, ClearingResult
from shared.content import check_content
from shared.domain import Action, PaymentStatus, next_status
from shared.errors import ReasonCode, Refusal, TransientError
from shared.guard import (
    UNKNOWN_PAYMENT,
    Attempt,
    Outcome,
    decode,
    load_payment,
    raw_id,
    refuse,
)
from shared.messages import Handoff
from shared.signing import check_authorization, check_handoff
from shared.store import Actor, Payment, Step

STAGE = "interbank"
log = structlog.get_logger()


class SettlementPending(TransientError):
    """Raised when clearing accepted the payment but has not settled it yet; retried."""


def _failed(payment: Payment, result: ClearingResult) -> Step:
    return Step(
        next_status(payment.status, Action.FAIL, STAGE),
        result.reason_code or ReasonCode.CLEARING_REJECTED.value,
        "rejected by clearing: "
        + ISO_REJECT_REASONS.get(result.reason_code or "", "no reason given"),
    )


def _settle_or_fail(deps: Deps, payment: Payment, actor: Actor) -> Payment:
    """Ask clearing how the submitted payment ended and record it."""
    result = deps.clearing.status(payment.fields["end_to_end_id"])
    if result.state == "settled":
        step = Step(next_status(payment.status, Action.SETTLE, STAGE))
        return deps.store.transition(payment, [step], actor, None)
    if result.state == "rejected":
        return deps.store.transition(payment, [_failed(payment, result)], actor, None)
    raise SettlementPending(f"{payment.payment_id} is {result.state} at clearing")


def _submit(deps: Deps, payment: Payment, actor: Actor) -> Payment:
    """Submit unless clearing already knows the end-to-end id (a crash or a timeout after
    submitting): an ambiguous outcome is resolved by asking, never by resubmitting."""
    e2e = payment.fields["end_to_end_id"]
    known = deps.clearing.status(e2e)
    if known.state == "unknown":
        known = deps.clearing.submit(
            e2e,
            payment.fields["amount"],
            payment.fields["currency"],
            payment.fields["payee_account"],
            payment.fields["payee_bank_code"],
        )
        deps.faults.point("interbank.after_submit")
    if known.state == "rejected":
        return deps.store.transition(payment, [_failed(payment, known)], actor, None)
    step = Step(next_status(payment.status, Action.SUBMIT, STAGE))
    return deps.store.transition(payment, [step], actor, None)


def handle_submission(raw: Any, deps: Deps) -> Outcome:
    """authorized -> submitted -> settled | failed. Before submitting, clearing is asked for
    the end-to-end id, so a redelivered message never submits the same payment twice."""
    attempt = Attempt(STAGE, raw_id(raw, "payment_id") or UNKNOWN_PAYMENT, None, Actor(STAGE))
    try:
        handoff = decode(Handoff, raw)
        payment = load_payment(deps, attempt, handoff.payment_id, "hand-off for an unknown payment")
        # Before anything else: only what the authorize stage signed (and no other stage),
        # for this stored state.
        check_handoff(deps.signer, handoff, "authorize", payment)
        if payment.status not in (PaymentStatus.AUTHORIZED, PaymentStatus.SUBMITTED):
            if payment.status in (PaymentStatus.SETTLED, PaymentStatus.FAILED):
                return Outcome("ignored", payment.payment_id, payment.status.value)
            raise Refusal(
                ReasonCode.ILLEGAL_TRANSITION, f"payment is {payment.status.value}, not authorized"
            )
        check_content(payment, handoff.content_hash)
        # The stored authorization must be the authorize stage's too: it binds the
        # authorizer and the end-to-end id clearing knows the payment by.
        check_authorization(deps.signer, payment)
        e2e = payment.fields["end_to_end_id"]
        # One worker at a time per end-to-end id: two deliveries of one hand-off must not
        # both find "unknown" at clearing and both submit. The loser is retried and then
        # finds the payment submitted.
        with deps.leases.hold(f"clearing:{e2e}", deps.settings.clearing_lease_ms):
            current = deps.store.get(payment.payment_id)
            assert current is not None
            payment = current
            if payment.status == PaymentStatus.AUTHORIZED:
                payment = _submit(deps, payment, attempt.actor)
            if payment.status == PaymentStatus.SUBMITTED:
                payment = _settle_or_fail(deps, payment, attempt.actor)
        return Outcome("accepted", payment.payment_id, payment.status.value)
    except Refusal as refusal:
        return refuse(deps, attempt, refusal)
