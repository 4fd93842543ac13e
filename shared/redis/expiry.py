"""Expiry of payments nobody acted on in time (DESIGN §5): shared by the sweeper and by the
stages, which expire an overdue payment themselves rather than act on it."""

from __future__ import annotations

from shared.deps import Deps
from shared.domain.errors import ConcurrentUpdate, IllegalTransition, ReasonCode, Refusal
from shared.domain.states import Action, PaymentStatus, next_status
from shared.redis.store import Actor, DeadlinePassed, Payment, Step

SWEEPER = Actor("sweeper")


def is_overdue(payment: Payment, now: float) -> bool:
    deadline_at = payment.fields.get("deadline_at")
    return deadline_at is not None and now * 1000 >= float(deadline_at)


def expire_if_overdue(deps: Deps, payment: Payment, now: float | None = None) -> Payment:
    """Expire ``payment`` if its deadline has passed. Racing a decision, exactly one of the
    two wins the atomic transition; the loser finds the payment moved on."""
    if not is_overdue(payment, deps.store.now() if now is None else now):
        return payment
    try:
        target = next_status(payment.status, Action.EXPIRE, SWEEPER.stage)
        step = Step(target, "deadline_passed", f"not acted on in {payment.status.value} in time")
        return deps.store.transition(payment, [step], SWEEPER, None)
    except (IllegalTransition, ConcurrentUpdate):
        fresh = deps.store.get(payment.payment_id)
        assert fresh is not None
        return fresh


def sweep(deps: Deps, now: float | None = None, limit: int = 200) -> int:
    """Expire every overdue payment; returns how many were expired."""
    moment = deps.store.now() if now is None else now
    expired = 0
    for payment_id in deps.store.overdue(moment, limit):
        payment = deps.store.get(payment_id)
        if payment is None:
            continue
        after = expire_if_overdue(deps, payment, moment)
        if after.status == PaymentStatus.EXPIRED and payment.status != PaymentStatus.EXPIRED:
            expired += 1
    return expired


def refuse_if_overdue(deps: Deps, payment: Payment) -> None:
    """A person's command on an overdue payment: expire it, and refuse the command."""
    if is_overdue(payment, deps.store.now()):
        expire_if_overdue(deps, payment)
        raise Refusal(ReasonCode.DEADLINE_PASSED, "the payment's deadline has passed")


def transition_before_deadline(
    deps: Deps,
    payment: Payment,
    steps: list[Step],
    actor: Actor,
    command_id: str | None,
    set_fields: dict[str, str] | None = None,
) -> Payment:
    """The atomic transition, refused if the deadline passed between check and write."""
    try:
        return deps.store.transition(
            payment, steps, actor, command_id, set_fields, enforce_deadline=True
        )
    except DeadlinePassed:
        fresh = deps.store.get(payment.payment_id)
        if fresh is not None:
            expire_if_overdue(deps, fresh)
        raise
