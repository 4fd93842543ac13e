"""The Lua transition on a real Redis, with many callers racing for the same payment."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from shared.app.deps import Deps
from shared.domain.contracts import payment_id_for
from shared.domain.errors import ConcurrentUpdate, ReasonCode, Refusal
from shared.domain.payment import Actor, Payment, Record, Step
from shared.domain.states import PaymentStatus
from shared.redis.keys import Keys
from shared.redis.store import PaymentStore
from tests.integration.support import (
    APPLY_ACTOR,
    application,
    events_of,
    must_get,
    requested_steps,
    run_in_threads,
    transitions_of,
)

pytestmark = pytest.mark.integration

CONTENDERS = 16
REVIEW = Actor("review")


def _new_payment(deps: Deps, request_id: str = "req-race", order_id: str = "ord-race") -> Payment:
    payment_id = payment_id_for("ent-1", request_id)
    result = deps.store.create(
        application(request_id, order_id),
        requested_steps(),
        APPLY_ACTOR,
        f"cmd-{request_id}",
    )
    assert result.outcome == "created"
    return must_get(deps, payment_id)


def test_exactly_one_of_sixteen_concurrent_transitions_wins_and_the_rest_are_told_to_retry(
    deps: Deps, prefix: str, client_factory: Callable[[], redis.Redis]
) -> None:
    payment = _new_payment(deps)
    assert (payment.status, payment.version) == (PaymentStatus.OTP_VERIFIED, 2)
    history_before = len(payment.history)
    transitions_before = len(transitions_of(deps, payment.payment_id))
    stores = [PaymentStore(client_factory(), Keys(prefix)) for _ in range(CONTENDERS)]

    def contend(i: int) -> Payment:
        # Every contender read the payment at the same status and version.
        return stores[i].transition(payment, [Step(PaymentStatus.PENDING_REVIEW)], REVIEW, None)

    results = run_in_threads(CONTENDERS, contend)

    winners = [r for r in results if isinstance(r, Payment)]
    losers = [r for r in results if not isinstance(r, Payment)]
    assert len(winners) == 1
    assert len(losers) == CONTENDERS - 1
    assert all(isinstance(e, ConcurrentUpdate) for e in losers), [repr(e) for e in losers]
    after = must_get(deps, payment.payment_id)
    assert after.status == PaymentStatus.PENDING_REVIEW
    assert after.version == payment.version + 1
    assert len(after.history) == history_before + 1
    assert after.history[-1].status == PaymentStatus.PENDING_REVIEW
    assert after.history[-1].previous_status == PaymentStatus.OTP_VERIFIED
    new_transitions = transitions_of(deps, payment.payment_id)[transitions_before:]
    assert [(e.previous_status, e.status) for e in new_transitions] == [
        ("otp_verified", "pending_review")
    ]


def test_a_transition_from_a_stale_read_is_refused_and_changes_nothing(deps: Deps) -> None:
    stale = _new_payment(deps)
    deps.store.transition(stale, [Step(PaymentStatus.PENDING_REVIEW)], REVIEW, None)
    moved = must_get(deps, stale.payment_id)
    events_before = events_of(deps, stale.payment_id)

    with pytest.raises(ConcurrentUpdate):
        deps.store.transition(stale, [Step(PaymentStatus.PENDING_REVIEW)], REVIEW, None)

    assert must_get(deps, stale.payment_id) == moved
    assert events_of(deps, stale.payment_id) == events_before


def test_a_transition_of_an_unknown_payment_is_refused_as_not_found(deps: Deps) -> None:
    # As read by a stage just before someone deleted it (a stale read of a real payment).
    ghost = Payment(
        "pay_" + "0" * 24,
        PaymentStatus.OTP_VERIFIED,
        2,
        application("req-gone", "ord-gone").content,
        request_id="req-gone",
        applicant_id="alice",
    )

    with pytest.raises(Refusal) as refused:
        deps.store.transition(ghost, [Step(PaymentStatus.PENDING_REVIEW)], REVIEW, None)

    assert refused.value.reason_code == ReasonCode.PAYMENT_NOT_FOUND
    assert deps.store.get(ghost.payment_id) is None
    assert events_of(deps, ghost.payment_id) == []


def test_per_payment_event_seq_is_gapless_and_in_order_across_transitions_refusals_and_conflicts(
    deps: Deps,
) -> None:
    payment = _new_payment(deps)
    other = _new_payment(deps, "req-other", "ord-other")  # interleaves on the same stream
    reviewer = Actor("review", "reviewer", "bob")

    deps.store.refuse(
        payment.payment_id, reviewer, Refusal(ReasonCode.WRONG_ROLE), "cmd-r1", payment.summary()
    )
    payment = deps.store.transition(payment, [Step(PaymentStatus.PENDING_REVIEW)], REVIEW, None)
    deps.store.transition(other, [Step(PaymentStatus.PENDING_REVIEW)], REVIEW, None)
    with pytest.raises(ConcurrentUpdate):  # a conflict publishes nothing, so leaves no gap
        deps.store.transition(other, [Step(PaymentStatus.PENDING_REVIEW)], REVIEW, None)
    deps.store.refuse(
        payment.payment_id, reviewer, Refusal(ReasonCode.SAME_PERSON), "cmd-r2", payment.summary()
    )
    payment = deps.store.transition(
        payment, [Step(PaymentStatus.PENDING_AUTH)], reviewer, "cmd-ok", Record(reviewer_id="bob")
    )
    payment = deps.store.transition(
        payment,
        [Step(PaymentStatus.REJECTED, "rejected_by_authorizer", "no")],
        Actor("authorize"),
        "cmd-no",
    )

    events = events_of(deps, payment.payment_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.event_id for e in events] == [
        f"{payment.payment_id}:{n}" for n in range(1, len(events) + 1)
    ]
    assert [(e.kind, e.status) for e in events] == [
        ("transition", "requested"),
        ("transition", "otp_verified"),
        ("refusal", "otp_verified"),
        ("transition", "pending_review"),
        ("refusal", "pending_review"),
        ("transition", "pending_auth"),
        ("transition", "rejected"),
    ]
    assert [e.reason_code for e in events if e.kind == "refusal"] == ["wrong_role", "same_person"]
    # History holds the transitions only, with their own seq from the same counter.
    assert [h.seq for h in payment.history] == [e.seq for e in events if e.kind == "transition"]
    assert payment.version == len(payment.history)
    other_events = events_of(deps, other.payment_id)
    assert [e.seq for e in other_events] == [1, 2, 3]


def test_a_refusal_for_a_payment_that_never_exists_lets_its_counter_expire(deps: Deps) -> None:
    """Garbage naming made-up payments must not grow Redis for ever; a real payment's
    counter, started by a refusal before it was created, is kept for good."""
    deps.store.refuse("pay_madeup", REVIEW, Refusal(ReasonCode.PAYMENT_NOT_FOUND), None)
    assert 0 < deps.redis.ttl(deps.keys.event_seq("pay_madeup")) <= 7 * 86400

    early = payment_id_for("ent-1", "req-later")
    deps.store.refuse(early, REVIEW, Refusal(ReasonCode.OTP_INVALID), None)
    assert deps.redis.ttl(deps.keys.event_seq(early)) > 0
    created = _new_payment(deps, "req-later", "ord-later")
    assert created.payment_id == early
    assert deps.redis.ttl(deps.keys.event_seq(early)) == -1
    seqs = [e.seq for _sid, e in deps.store.read_events() if e.payment_id == early]
    assert seqs == [1, 2, 3]
