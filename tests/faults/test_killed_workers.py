"""A worker SIGKILLed in the middle of a message: another worker finishes the payment within
30 s, clearing sees one submission, and no event is missing."""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.conftest import BROKERS, FULL_HISTORY, Cluster

pytestmark = [
    pytest.mark.faults,
    # Redis: the dead worker's messages come back once its heartbeat is missed; RabbitMQ:
    # as soon as its connection drops.
    pytest.mark.parametrize("broker", BROKERS, indirect=True),
]

REDELIVERY_BUDGET_SECONDS = 30.0


def test_each_stage_killed_mid_message_is_finished_by_a_fresh_worker_within_30_s(
    cluster: Cluster,
) -> None:
    for i in range(1, 5):
        cluster.enrol(f"applicant-{i}", "applicant")
        cluster.enrol(f"authorizer-{i}", "authorizer")
    cluster.enrol("reviewer", "reviewer")
    workers = cluster.start_all()

    p2, p3, p4 = (cluster.submit(i, f"applicant-{i}") for i in (2, 3, 4))
    for pid in (p2, p3, p4):
        cluster.wait_status(pid, "pending_review")
    for pid in (p3, p4):
        cluster.review(pid, "reviewer")
        cluster.wait_status(pid, "pending_auth")

    # One payment held inside each stage, each at the worst moment for it.
    cluster.hold("interbank.after_submit")  # submitted to clearing, not yet recorded
    cluster.authorize(p4, "authorizer-4")
    cluster.wait_held("interbank.after_submit")
    cluster.hold("authorize.after_transition")  # authorized, not yet handed to interbank
    cluster.authorize(p3, "authorizer-3")
    cluster.wait_held("authorize.after_transition")
    cluster.hold("review.decide")  # decision checked, not yet written
    cluster.review(p2, "reviewer")
    cluster.wait_held("review.decide")
    cluster.hold("apply.after_otp")  # the applicant's code spent, payment not yet created
    p1 = cluster.submit(1, "applicant-1")
    cluster.wait_held("apply.after_otp")

    # The fresh workers are up before the old ones die: the budget is for redelivery, not
    # for processes starting on a loaded machine.
    for stage in ("apply", "review", "authorize", "interbank"):
        cluster.start(stage, ready=True)
    killed_at = time.monotonic()
    for stage in ("apply", "review", "authorize", "interbank"):
        workers[stage].send_signal(signal.SIGKILL)
        workers[stage].wait(timeout=10)
    for point in (
        "apply.after_otp",
        "review.decide",
        "authorize.after_transition",
        "interbank.after_submit",
    ):
        cluster.release(point)

    budget = REDELIVERY_BUDGET_SECONDS
    cluster.wait_status(p4, "settled", timeout=budget)
    cluster.wait_status(p3, "settled", timeout=budget - (time.monotonic() - killed_at))
    cluster.wait_status(p2, "pending_auth", timeout=budget - (time.monotonic() - killed_at))
    cluster.wait_status(p1, "pending_review", timeout=budget - (time.monotonic() - killed_at))
    assert time.monotonic() - killed_at < budget

    # The redelivered payments go on normally to the end.
    cluster.authorize(p2, "authorizer-2")
    cluster.review(p1, "reviewer")
    cluster.wait_status(p1, "pending_auth")
    cluster.authorize(p1, "authorizer-1")
    for pid in (p1, p2, p3, p4):
        cluster.wait_status(pid, "settled")
        assert cluster.history(pid) == FULL_HISTORY, pid

    e2e_ids = [cluster.deps.store.get(pid).end_to_end_id for pid in (p1, p2, p3, p4)]  # type: ignore[union-attr]
    submissions = cluster.deps.clearing.submissions()  # type: ignore[attr-defined]
    assert sorted(submissions) == sorted(e2e_ids), "clearing must see each payment exactly once"
    for pid in (p1, p2, p3, p4):
        seqs = [e.seq for _sid, e in cluster.deps.store.read_events() if e.payment_id == pid]
        assert seqs == list(range(1, len(seqs) + 1)), f"events of {pid} have a gap: {seqs}"
