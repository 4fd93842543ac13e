"""Apply-stage handlers: plain functions of (message, deps)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import structlog

from shared.deps import Deps
from shared.domain.content import StoredContent
from shared.domain.contracts import CancelPayment, PaymentRequest, payment_id_for
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.payment import Actor, Application, Step
from shared.domain.stages import Stage
from shared.domain.states import Action, PaymentStatus, next_status
from shared.messaging import routes as q
from shared.messaging.commands import Checked, accepted, commit, person_command, run_command
from shared.messaging.guard import (
    UNKNOWN_PAYMENT,
    Attempt,
    Outcome,
    admit,
    decode,
    identify,
    raw_id,
)
from shared.redis.expiry import refuse_if_overdue
from shared.security.stage_signatures import application_signature, signed_handoff

STAGE = Stage.APPLY


def _hand_to_review(deps: Deps, payment_id: str, command_id: str) -> None:
    """Hand the payment on as stored now (status, version, content hash), signed."""
    payment = deps.store.get(payment_id)
    assert payment is not None, "a payment just created or found is never gone"
    handoff = signed_handoff(deps.signer, payment, STAGE, command_id)
    deps.dispatch(q.OTP_VERIFIED, q.TAKE_IN, handoff.to_wire())


def check_eligibility(deps: Deps, request: PaymentRequest) -> None:
    """Seed steps 1 and 3: the payer may pay online, through a B2B bank it has a contract with,
    from one of its own accounts."""
    enterprise = deps.directory.enterprise(request.payer.enterprise_id)
    if enterprise is None:
        raise Refusal(ReasonCode.UNKNOWN_ENTERPRISE, "payer enterprise is not registered")
    if not enterprise.eligible:
        raise Refusal(ReasonCode.PAYER_NOT_ELIGIBLE, "payer enterprise may not pay online")
    bank = deps.directory.bank(request.bank)
    if bank is None:
        raise Refusal(ReasonCode.UNKNOWN_BANK, f"bank {request.bank} is not registered")
    if not bank.b2b_enabled:
        raise Refusal(ReasonCode.BANK_NOT_B2B, f"bank {request.bank} has no B2B payment")
    if request.bank not in enterprise.banks:
        raise Refusal(ReasonCode.NO_B2B_CONTRACT, f"payer has no B2B contract at {request.bank}")
    if request.payer.account not in enterprise.accounts:
        raise Refusal(ReasonCode.ACCOUNT_NOT_OWNED, "payer account does not belong to the payer")


def handle_payment_request(raw: Any, deps: Deps) -> Outcome:
    request_id = raw_id(raw, "request_id")
    payer_id = raw_id(raw.get("payer") if isinstance(raw, dict) else None, "enterprise_id")
    attempt = Attempt(
        STAGE,
        payment_id_for(payer_id, request_id) if request_id and payer_id else UNKNOWN_PAYMENT,
        raw_id(raw, "command_id"),
        Actor(STAGE),
    )
    return run_command(deps, attempt, lambda: _apply(raw, deps, attempt))


def _apply(raw: Any, deps: Deps, attempt: Attempt) -> Outcome:
    request = decode(PaymentRequest, raw)
    attempt.command_id = request.command_id
    structlog.contextvars.bind_contextvars(payment_id=attempt.payment_id)
    application = Application(
        attempt.payment_id, request.request_id, StoredContent.of(request.content())
    )
    # Who asks comes first: nothing about the payer (its accounts, contracts, or a known
    # request) is told to anyone but a live applicant session of that payer, and only
    # such a person's refusals are recorded on the payment (with what they asked for).
    person = identify(deps, request.session.get_secret_value(), attempt)
    person.check_enterprise(request.payer.enterprise_id)
    attempt.attached = True
    attempt.summary = {
        "order_id": request.order_id,
        "enterprise_id": request.payer.enterprise_id,
        "amount": request.amount,
        "currency": request.currency,
    }
    person.check_role("applicant")
    user = person.user
    existing = deps.store.get(attempt.payment_id)
    if existing is None:
        # Only a new request costs a one-time code; a repeat is answered from the record.
        check_eligibility(deps, request)
        # Checked again atomically at create; checked here so that a refused request
        # does not spend the applicant's code.
        deps.store.check_order_free(
            request.payer.enterprise_id, request.order_id, attempt.payment_id
        )
        deps.otp.verify(
            user.username,
            user.totp_secret,
            request.otp.get_secret_value(),
            purpose=f"apply:{request.request_id}:{application.content.content_hash}",
        )
        deps.faults.point("apply.after_otp")
        application = application.confirmed_by(user.username)
        application = replace(
            application, apply_signature=application_signature(deps.signer, application)
        )
    admit(deps, person)
    result = deps.store.create(
        application,
        [
            Step(PaymentStatus.REQUESTED),
            Step(next_status(PaymentStatus.REQUESTED, Action.VERIFY_OTP, STAGE)),
        ],
        attempt.actor,
        request.command_id,
    )
    if result.status == PaymentStatus.OTP_VERIFIED:
        # Also on a duplicate: the first hand-off may have been lost in a crash; the
        # review intake ignores a second one.
        _hand_to_review(deps, result.payment_id, request.command_id)
    outcome = "accepted" if result.outcome == "created" else "duplicate"
    return Outcome(outcome, result.payment_id, result.status.value if result.status else None)


def handle_cancel(raw: Any, deps: Deps) -> Outcome:
    """Withdraw a payment before authorization: only its own applicant may."""
    return person_command(raw, deps, STAGE, CancelPayment, "applicant", _cancel)


def _cancel(deps: Deps, checked: Checked[CancelPayment]) -> Outcome:
    payment = checked.payment
    change = payment.cancel(STAGE, checked.user_id, checked.command.reason)
    refuse_if_overdue(deps, payment)
    return accepted(commit(deps, checked, change))
