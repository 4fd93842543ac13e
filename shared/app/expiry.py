"""Expiry of payments nobody acted on in time (DESIGN §5): shared by the sweeper and by the
stages, which expire an overdue payment themselves rather than act on it."""

from __future__ import annotations

from shared.app.deps import Deps
from shared.domain.errors import ConcurrentUpdate, IllegalTransition, ReasonCode, Refusal
from shared.domain.payment import Actor, Change, Payment
from shared.redis.sessions import SessionUse
from shared.redis.store import DeadlinePassed

SWEEPER = Actor("sweeper")


def expire_if_overdue(deps: Deps, payment: Payment, now: float | None = None) -> Payment:
    """Expire ``payment`` if its deadline has passed. Racing a decision, exactly one of the
    two wins the atomic transition; the loser finds the payment moved on."""
    if not payment.is_overdue(deps.store.now() if now is None else now):
        return payment
    try:
        change = payment.expire(SWEEPER.stage)
        return deps.store.transition(payment, change.steps, SWEEPER, None)
    except (IllegalTransition, ConcurrentUpdate):
        fresh = deps.store.get(payment.payment_id)
        assert fresh is not None
        return fresh


def refuse_if_overdue(deps: Deps, payment: Payment) -> None:
    """A person's command on an overdue payment: expire it, and refuse the command."""
    if payment.is_overdue(deps.store.now()):
        expire_if_overdue(deps, payment)
        raise Refusal(ReasonCode.DEADLINE_PASSED, "the payment's deadline has passed")


def transition_before_deadline(
    deps: Deps,
    payment: Payment,
    change: Change,
    actor: Actor,
    command_id: str | None,
    session: SessionUse | None = None,
) -> Payment:
    """The atomic transition, refused if the deadline passed between check and write (with
    ``session``: or if the person's session ended; see :meth:`PaymentStore.transition`)."""
    try:
        return deps.store.transition(
            payment,
            change.steps,
            actor,
            command_id,
            change.record,
            enforce_deadline=True,
            session=session,
        )
    except DeadlinePassed:
        fresh = deps.store.get(payment.payment_id)
        if fresh is not None:
            expire_if_overdue(deps, fresh)
        raise
