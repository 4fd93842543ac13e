"""The interbank stage submits exactly what it verified: attacks that rewrite the payment in
Redis while a genuine hand-off is handled, and a lease lost during the clearing call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.interbank.handlers import SettlementPending, handle_submission
from shared.domain.payment import Payment
from shared.messaging import routes as q
from shared.redis.clearing import ClearingResult, SimulatedClearing
from shared.redis.lease import LeaseLost
from tests.unit.support import World, queued

#: What an attacker who can write Redis (but holds no stage key) puts into the payment.
ROGUE = {
    "amount": "990000.00",
    "payee_account": "XX66ATTACKER",
    "payee_bank_code": "ROGUEBK",
    "end_to_end_id": "e2e-rogue",
}


def _authorized(world: World) -> tuple[str, dict[str, Any], dict[str, str]]:
    """A genuine authorized payment, its interbank hand-off and the verified values."""
    payment_id = world.to_pending_review()
    world.review(payment_id)
    world.authorize(payment_id)
    [handoff] = queued(world.deps, q.INTERBANK)
    payment = world.deps.store.get(payment_id)
    assert payment is not None
    genuine = {
        "amount": payment.content.amount,
        "payee_account": payment.content.payee_account,
        "payee_bank_code": payment.content.payee_bank_code,
        "end_to_end_id": payment.end_to_end_id,
    }
    assert set(genuine) == set(ROGUE)
    return payment_id, handoff, genuine


def _rewrite_after_every_read(world: World, payment_id: str) -> None:
    """The attacker's second process, made deterministic: right after each read of the
    payment it rewrites amount, payee and end-to-end id in the payment's Redis hash."""
    store = world.deps.store
    real_get: Callable[[str], Payment | None] = store.get

    def get_then_rewrite(wanted: str) -> Payment | None:
        payment = real_get(wanted)
        if wanted == payment_id:
            world.deps.redis.hset(world.deps.keys.payment(payment_id), mapping=ROGUE)
        return payment

    store.get = get_then_rewrite  # type: ignore[method-assign]


def _instructions(world: World) -> list[dict[str, str]]:
    clearing = world.deps.clearing
    assert isinstance(clearing, SimulatedClearing)
    return clearing.instructions()


def test_amount_payee_and_end_to_end_id_rewritten_after_the_checks_never_reach_clearing(
    world: World,
) -> None:
    payment_id, handoff, genuine = _authorized(world)
    _rewrite_after_every_read(world, payment_id)

    outcome = handle_submission(handoff, world.deps)

    assert [
        {k: i[k] for k in ("e2e", "amount", "payee_account", "payee_bank")}
        for i in _instructions(world)
    ] == [
        {
            "e2e": genuine["end_to_end_id"],
            "amount": genuine["amount"],
            "payee_account": genuine["payee_account"],
            "payee_bank": genuine["payee_bank_code"],
        }
    ]
    assert (outcome.outcome, outcome.status) == ("accepted", "settled")
    payment = world.deps.store.get(payment_id)
    assert payment is not None
    # The events recorded the verified amount, not the rewritten one.
    assert {e.amount for e in payment.history} == {genuine["amount"]}


def test_a_replayed_handoff_of_a_rewritten_payment_is_refused_and_submits_nothing(
    world: World,
) -> None:
    payment_id, handoff, genuine = _authorized(world)
    world.deps.redis.hset(world.deps.keys.clearing_faults, "settle_after_polls", "5")
    with pytest.raises(SettlementPending):
        handle_submission(handoff, world.deps)
    world.assert_status(payment_id, "submitted")
    world.deps.redis.hset(world.deps.keys.payment(payment_id), mapping=ROGUE)

    replayed = handle_submission(handoff, world.deps)

    assert (replayed.outcome, replayed.reason_code) == ("refused", "content_mismatch")
    assert [i["e2e"] for i in _instructions(world)] == [genuine["end_to_end_id"]]
    assert [i["amount"] for i in _instructions(world)] == [genuine["amount"]]


class _LeaseStolenDuringSubmit(SimulatedClearing):
    """Clearing that takes so long the worker's lease is gone (and taken by another worker)
    when it answers."""

    def __init__(self, world: World, lease_key: str) -> None:
        super().__init__(world.deps.redis, world.deps.keys)
        self._lease_key = lease_key

    def submit(
        self, end_to_end_id: str, amount: str, currency: str, payee_account: str, payee_bank: str
    ) -> ClearingResult:
        result = super().submit(end_to_end_id, amount, currency, payee_account, payee_bank)
        self._redis.set(self._lease_key, "another-worker")
        return result


def test_a_worker_whose_lease_was_lost_during_the_clearing_call_records_nothing(
    world: World,
) -> None:
    payment_id, handoff, genuine = _authorized(world)
    lease_key = f"{world.deps.keys.prefix}lease:clearing:{payment_id}"
    world.deps.clearing = _LeaseStolenDuringSubmit(world, lease_key)

    with pytest.raises(LeaseLost):
        handle_submission(handoff, world.deps)
    world.assert_status(payment_id, "authorized")

    # Once the other worker is gone, the retry asks clearing and never submits again.
    world.deps.redis.delete(lease_key)
    world.deps.clearing = SimulatedClearing(world.deps.redis, world.deps.keys)
    assert handle_submission(handoff, world.deps).status == "settled"
    assert [i["e2e"] for i in _instructions(world)] == [genuine["end_to_end_id"]]


class _SlowClearing(SimulatedClearing):
    """Clearing whose every call outlasts the whole lease; it notes, when it answers,
    whether another worker could take the lease now."""

    def __init__(self, world: World, lease_key: str) -> None:
        super().__init__(world.deps.redis, world.deps.keys)
        self._lease_key = lease_key
        self.free_when_answering: list[bool] = []

    def submit(
        self, end_to_end_id: str, amount: str, currency: str, payee_account: str, payee_bank: str
    ) -> ClearingResult:
        result = super().submit(end_to_end_id, amount, currency, payee_account, payee_bank)
        self.free_when_answering.append(not self._redis.exists(self._lease_key))
        return result


def test_the_lease_is_renewed_for_as_long_as_the_clearing_call_lasts(world: World) -> None:
    payment_id, handoff, _ = _authorized(world)
    world.deps.settings.clearing_lease_ms = 200
    clearing = _SlowClearing(world, f"{world.deps.keys.prefix}lease:clearing:{payment_id}")
    world.deps.clearing = clearing
    world.deps.redis.hset(world.deps.keys.clearing_faults, "delay_ms", "600")

    outcome = handle_submission(handoff, world.deps)

    assert clearing.free_when_answering == [False]
    assert (outcome.outcome, outcome.status) == ("accepted", "settled")
    assert len(_instructions(world)) == 1
