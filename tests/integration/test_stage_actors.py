"""Each stage's dramatiq actor on the real Redis broker, with a worker running in this process.

Commands are sent by name (queue, actor) as any publisher would; the test waits for the
stage's verdict (a blocking pop) or polls the payment with a deadline.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import dramatiq
import pytest
import redis

from services.interbank.handlers import handle_submission
from shared.app.deps import Deps
from shared.app.guard import Outcome
from shared.domain.contracts import Verdict, payment_id_for
from shared.domain.errors import TransientError
from shared.domain.payment import Payment
from shared.domain.states import PaymentStatus
from shared.messaging import routes as q
from shared.redis.clearing import ClearingResult, SimulatedClearing
from shared.redis.keys import Keys
from shared.security.stage_signatures import signed_handoff
from tests.happy_path import FULL_HISTORY
from tests.integration.support import World, events_of, must_get, run_in_threads, wrong_code
from tests.stack import wait_until

pytestmark = pytest.mark.integration

Stages = Callable[..., dramatiq.Worker]
# Below redis-py's default socket timeout of 5 s: see the wait_verdict test at the end.
VERDICT_TIMEOUT = 4.0
DRAIN_TIMEOUT_MS = 15_000


def _verdict(deps: Deps, command_id: str) -> Verdict:
    verdict = deps.store.wait_verdict(command_id, VERDICT_TIMEOUT)
    assert verdict is not None, f"no verdict for command {command_id} within {VERDICT_TIMEOUT}s"
    return verdict


def _reaches(deps: Deps, payment_id: str, status: PaymentStatus) -> Payment:
    def reached() -> Payment | None:
        payment = deps.store.get(payment_id)
        return payment if payment is not None and payment.status == status else None

    return wait_until(f"{payment_id} to reach {status.value}", reached, 15)


def _drained(deps: Deps, *queues: str) -> None:
    """Every message on these queues has been processed and acknowledged."""
    for queue in queues:
        deps.broker.join(queue, timeout=DRAIN_TIMEOUT_MS)


def _submissions(deps: Deps) -> list[str]:
    assert isinstance(deps.clearing, SimulatedClearing)
    return deps.clearing.submissions()


def _apply(world: World) -> str:
    request = world.payment_request()
    world.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, request.to_wire())
    verdict = _verdict(world.deps, request.command_id)
    assert (verdict.outcome, verdict.status) == ("accepted", "otp_verified")
    return verdict.payment_id


def _to_pending_auth(world: World) -> str:
    payment_id = _apply(world)
    _reaches(world.deps, payment_id, PaymentStatus.PENDING_REVIEW)
    decision = world.review(payment_id)
    world.deps.dispatch(q.PENDING_REVIEW, q.DECIDE_REVIEW, decision.to_wire())
    verdict = _verdict(world.deps, decision.command_id)
    assert (verdict.outcome, verdict.status) == ("accepted", "pending_auth")
    return payment_id


def test_the_apply_actor_verifies_a_valid_request_and_review_takes_it_in(
    world: World, stages: Stages
) -> None:
    stages("apply", "review")
    request = world.payment_request()

    world.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, request.to_wire())

    verdict = _verdict(world.deps, request.command_id)
    assert verdict.outcome == "accepted"
    assert verdict.status == "otp_verified"
    assert verdict.payment_id == payment_id_for(request.payer.enterprise_id, request.request_id)
    payment = _reaches(world.deps, verdict.payment_id, PaymentStatus.PENDING_REVIEW)
    assert [h.status for h in payment.history] == ["requested", "otp_verified", "pending_review"]
    assert payment.history[1].actor_id == world.applicant.username
    assert payment.history[2].stage == "review"
    assert payment.applicant_id == world.applicant.username
    assert payment.content.content_hash == request.content().content_hash()


def test_the_apply_actor_refuses_a_request_with_a_wrong_code_and_creates_nothing(
    world: World, stages: Stages
) -> None:
    stages("apply")
    request = world.payment_request(otp=wrong_code(world.applicant.totp_secret))

    world.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, request.to_wire())

    verdict = _verdict(world.deps, request.command_id)
    assert (verdict.outcome, verdict.reason_code, verdict.status) == (
        "refused",
        "otp_invalid",
        None,
    )
    payment_id = payment_id_for(request.payer.enterprise_id, request.request_id)
    assert world.deps.store.get(payment_id) is None
    events = events_of(world.deps, payment_id)
    assert [(e.kind, e.reason_code, e.actor_id) for e in events] == [
        ("refusal", "otp_invalid", world.applicant.username)
    ]


@pytest.mark.parametrize(
    ("approve", "reason", "status", "reason_code"),
    [
        (True, "", "pending_auth", None),
        (False, "payee not on the approved list", "rejected", "rejected_by_reviewer"),
    ],
    ids=["approve", "reject"],
)
def test_the_review_actor_applies_the_reviewers_decision(
    world: World, stages: Stages, approve: bool, reason: str, status: str, reason_code: str | None
) -> None:
    stages("apply", "review")
    payment_id = _apply(world)
    before = _reaches(world.deps, payment_id, PaymentStatus.PENDING_REVIEW)
    decision = world.review(payment_id, approve=approve, reason=reason)

    world.deps.dispatch(q.PENDING_REVIEW, q.DECIDE_REVIEW, decision.to_wire())

    verdict = _verdict(world.deps, decision.command_id)
    assert (verdict.outcome, verdict.status) == ("accepted", status)
    after = must_get(world.deps, payment_id)
    assert after.status == status
    assert after.version == before.version + 1
    last = after.history[-1]
    assert (last.previous_status, last.status) == ("pending_review", status)
    assert (last.actor_role, last.actor_id) == ("reviewer", world.reviewer.username)
    assert last.reason_code == reason_code
    assert after.reviewer_id == world.reviewer.username


def test_the_authorize_actor_authorizes_and_interbank_settles_the_payment_once(
    world: World, stages: Stages
) -> None:
    stages("apply", "review", "authorize", "interbank")
    payment_id = _to_pending_auth(world)
    decision = world.authorize(payment_id)

    world.deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, decision.to_wire())

    verdict = _verdict(world.deps, decision.command_id)
    assert (verdict.outcome, verdict.status) == ("accepted", "authorized")
    payment = _reaches(world.deps, payment_id, PaymentStatus.SETTLED)
    assert [h.status for h in payment.history] == FULL_HISTORY
    assert payment.history[4].actor_id == world.authorizer.username
    assert payment.authorizer_id == world.authorizer.username
    _drained(world.deps, q.INTERBANK)
    assert _submissions(world.deps) == [payment.end_to_end_id]


def test_an_authorization_with_a_wrong_code_is_refused_and_leaves_the_payment_as_it_was(
    world: World, stages: Stages
) -> None:
    stages("apply", "review", "authorize", "interbank")
    payment_id = _to_pending_auth(world)
    before = must_get(world.deps, payment_id)
    decision = world.authorize(payment_id, otp=wrong_code(world.authorizer.totp_secret))

    world.deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, decision.to_wire())

    verdict = _verdict(world.deps, decision.command_id)
    assert (verdict.outcome, verdict.status, verdict.reason_code) == (
        "refused",
        "pending_auth",
        "otp_invalid",
    )
    _drained(world.deps, q.PENDING_AUTH, q.INTERBANK)
    assert must_get(world.deps, payment_id) == before
    refusal = events_of(world.deps, payment_id)[-1]
    assert refusal.kind == "refusal"
    assert refusal.reason_code == "otp_invalid"
    assert refusal.command_id == decision.command_id
    assert (refusal.stage, refusal.actor_role, refusal.actor_id) == (
        "authorize",
        "authorizer",
        world.authorizer.username,
    )
    assert (refusal.status, refusal.previous_status) == ("pending_auth", "pending_auth")
    assert _submissions(world.deps) == []


def test_an_authorization_redelivered_after_settlement_changes_nothing(
    world: World, stages: Stages
) -> None:
    stages("apply", "review", "authorize", "interbank")
    payment_id = _to_pending_auth(world)
    wire = world.authorize(payment_id).to_wire()
    world.deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, wire)
    assert _verdict(world.deps, wire["command_id"]).outcome == "accepted"
    settled = _reaches(world.deps, payment_id, PaymentStatus.SETTLED)
    _drained(world.deps, q.INTERBANK)

    world.deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, dict(wire))

    _drained(world.deps, q.PENDING_AUTH, q.INTERBANK)
    assert must_get(world.deps, payment_id) == settled
    assert _submissions(world.deps) == [settled.end_to_end_id]


def test_an_authorization_redelivered_before_interbank_ran_adds_no_history_and_no_second_submission(
    world: World, stages: Stages
) -> None:
    # Interbank is not running yet, so the redelivery finds the payment still authorized
    # and hands it on a second time: two hand-offs wait for interbank.
    stages("apply", "review", "authorize")
    payment_id = _to_pending_auth(world)
    wire = world.authorize(payment_id).to_wire()
    world.deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, wire)
    first = _verdict(world.deps, wire["command_id"])
    assert (first.outcome, first.status) == ("accepted", "authorized")

    world.deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, dict(wire))

    _drained(world.deps, q.PENDING_AUTH)
    authorized = must_get(world.deps, payment_id)
    assert [h.status for h in authorized.history].count("authorized") == 1
    # One interbank thread takes the two hand-offs one after the other; the same two handled
    # at the same moment are the lockstep test below.
    stages("interbank", threads=1)
    settled = _reaches(world.deps, payment_id, PaymentStatus.SETTLED)
    _drained(world.deps, q.INTERBANK)
    assert [h.status for h in must_get(world.deps, payment_id).history] == FULL_HISTORY
    assert _submissions(world.deps) == [settled.end_to_end_id]


class _LockstepClearing(SimulatedClearing):
    """The simulator, except that the first status checks of ``parties`` callers all return
    before any of them goes on: the interleaving two redelivered hand-offs can have."""

    def __init__(self, client: redis.Redis, keys: Keys, parties: int) -> None:
        super().__init__(client, keys)
        self._barrier = threading.Barrier(parties)
        self._seen = threading.local()

    def status(self, end_to_end_id: str) -> ClearingResult:
        result = super().status(end_to_end_id)
        if not getattr(self._seen, "done", False):
            self._seen.done = True
            # A handler that no longer checks twice may never bring a second caller here.
            with contextlib.suppress(threading.BrokenBarrierError):
                self._barrier.wait(timeout=2)
        return result


def test_two_deliveries_of_one_interbank_hand_off_handled_at_once_submit_to_clearing_once(
    world: World, stages: Stages
) -> None:
    stages("apply", "review", "authorize")
    payment_id = _to_pending_auth(world)
    decision = world.authorize(payment_id)
    world.deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, decision.to_wire())
    assert _verdict(world.deps, decision.command_id).status == "authorized"
    authorized = must_get(world.deps, payment_id)
    handoff: dict[str, Any] = signed_handoff(
        world.deps.signer, authorized, "authorize", decision.command_id
    ).to_wire()
    world.deps.clearing = _LockstepClearing(world.deps.redis, world.deps.keys, parties=2)

    results = run_in_threads(2, lambda _i: handle_submission(dict(handoff), world.deps))

    for result in results:
        if isinstance(result, TransientError):
            # What dramatiq does with a transient fault (a lost race, a held lease):
            # deliver the message again.
            result = handle_submission(dict(handoff), world.deps)
        assert isinstance(result, Outcome), repr(result)
    final = must_get(world.deps, payment_id)
    assert final.status == PaymentStatus.SETTLED
    assert _submissions(world.deps) == [final.end_to_end_id]


def test_waiting_for_a_verdict_that_never_comes_returns_none_after_the_timeout(deps: Deps) -> None:
    # Longer than redis-py's default socket timeout (5 s), as the CLI's default wait (10 s) is.
    assert deps.store.wait_verdict("cmd-nobody-answers", timeout=6.0) is None
