"""Interbank-stage handlers: plain functions of (message, deps)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from shared.app.commands import HandedOn, stage_handoff
from shared.app.deps import Deps
from shared.app.guard import Outcome
from shared.domain.content import check_content
from shared.domain.contracts import Handoff, PaymentContent
from shared.domain.errors import TransientError
from shared.domain.payment import Actor, Payment, Step
from shared.domain.stages import Stage
from shared.domain.states import PaymentStatus
from shared.redis.clearing import ISO_REJECT_REASONS, ClearingAdapter, ClearingResult
from shared.redis.faults import FaultPoints
from shared.redis.lease import Lease
from shared.redis.store import PaymentStore
from shared.security.stage_signatures import check_authorization

STAGE = Stage.INTERBANK


class SettlementPending(TransientError):
    """Raised when clearing accepted the payment but has not settled it yet; retried."""


def _failed(payment: Payment, result: ClearingResult) -> Step:
    return payment.fail(
        STAGE,
        result.reason_code,
        "rejected by clearing: "
        + ISO_REJECT_REASONS.get(result.reason_code or "", "no reason given"),
    )


@dataclass(frozen=True)
class Instruction:
    """What clearing is told, taken once from the read the stage verified (content hash,
    authorization signature) and never from a later read: Redis may change in between.
    Amount, currency and payee are the verified content's canonical values, never the
    stored text."""

    end_to_end_id: str
    amount: str
    currency: str
    payee_account: str
    payee_bank_code: str

    @classmethod
    def of(cls, payment: Payment, content: PaymentContent) -> Instruction:
        # Covered by the authorization signature (checked before this), not by the content.
        assert payment.end_to_end_id is not None, "an authorized payment has one"
        return cls(
            payment.end_to_end_id,
            content.amount,
            content.currency,
            content.payee.account,
            content.payee.bank_code,
        )


def _moved(verified: Payment, fresh: Payment) -> Payment:
    """The payment at its new status and version, with the verified fields kept: the read
    after a transition is not verified, and the next event's amount comes from these."""
    return replace(verified, status=fresh.status, version=fresh.version, history=fresh.history)


def _settle_or_fail(
    clearing: ClearingAdapter,
    store: PaymentStore,
    payment: Payment,
    instruction: Instruction,
    actor: Actor,
    lease: Lease,
) -> Payment:
    """Ask clearing how the submitted payment ended and record it."""
    result = clearing.status(instruction.end_to_end_id)
    # Recorded only if the lease is still ours (checked by the write itself).
    if result.state == "settled":
        return store.transition(payment, [payment.settle(STAGE)], actor, None, lease=lease)
    if result.state == "rejected":
        return store.transition(payment, [_failed(payment, result)], actor, None, lease=lease)
    raise SettlementPending(f"{payment.payment_id} is {result.state} at clearing")


def _submit(
    clearing: ClearingAdapter,
    faults: FaultPoints,
    store: PaymentStore,
    payment: Payment,
    instruction: Instruction,
    actor: Actor,
    lease: Lease,
) -> Payment:
    """Submit unless clearing already knows the end-to-end id (a crash or a timeout after
    submitting): an ambiguous outcome is resolved by asking, never by resubmitting."""
    known = clearing.status(instruction.end_to_end_id)
    if known.state == "unknown":
        known = clearing.submit(
            instruction.end_to_end_id,
            instruction.amount,
            instruction.currency,
            instruction.payee_account,
            instruction.payee_bank_code,
        )
        faults.point("interbank.after_submit")
    # Lost during the call: another worker may have moved the payment on since our read, so
    # nothing is recorded from it (the write checks the lease, atomically with the change);
    # the retry asks clearing and never submits again.
    if known.state == "rejected":
        return store.transition(payment, [_failed(payment, known)], actor, None, lease=lease)
    return store.transition(payment, [payment.submit(STAGE)], actor, None, lease=lease)


def handle_submission(raw: Any, deps: Deps) -> Outcome:
    """authorized -> submitted -> settled | failed. Before submitting, clearing is asked for
    the end-to-end id, so a redelivered message never submits the same payment twice."""
    return stage_handoff(raw, deps, STAGE, Stage.AUTHORIZE, _clear, hold=_one_worker_per_payment)


def _one_worker_per_payment(deps: Deps, handoff: Handoff) -> AbstractContextManager[Lease]:
    """The lease first, keyed by the payment id (a Redis key name, not a field an attacker
    can rewrite): one worker at a time per payment, so two deliveries of one hand-off cannot
    both find "unknown" at clearing and both submit. Then one read, verified under the
    lease, and exactly the verified values go to clearing."""
    return deps.leases.hold(f"clearing:{handoff.payment_id}", deps.settings.clearing_lease_ms)


def _clear(deps: Deps, handed: HandedOn) -> Outcome:
    payment, lease, actor = handed.payment, handed.lease, handed.attempt.actor
    assert lease is not None, "held by _one_worker_per_payment"
    if not payment.at_clearing():
        return Outcome("ignored", payment.payment_id, payment.status.value)
    content = check_content(payment, handed.handoff.content_hash)
    # The stored authorization must be the authorize stage's too: it binds the
    # authorizer and the end-to-end id clearing knows the payment by.
    check_authorization(deps.signer, payment)
    instruction = Instruction.of(payment, content)
    if payment.status == PaymentStatus.AUTHORIZED:
        payment = _moved(
            payment,
            _submit(deps.clearing, deps.faults, deps.store, payment, instruction, actor, lease),
        )
    if payment.status == PaymentStatus.SUBMITTED:
        payment = _settle_or_fail(deps.clearing, deps.store, payment, instruction, actor, lease)
    return Outcome("accepted", payment.payment_id, payment.status.value)
