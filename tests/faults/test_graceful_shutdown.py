"""SIGTERM lets a worker finish what it holds: nothing half-done, nothing done twice."""

from __future__ import annotations

import signal

import pytest

from tests.faults.conftest import BROKERS, Cluster
from tests.happy_path import FULL_HISTORY

pytestmark = [
    pytest.mark.faults,
    pytest.mark.parametrize("broker", BROKERS, indirect=True),
]


def test_sigterm_in_the_middle_of_a_clearing_submission_finishes_it_and_exits_cleanly(
    cluster: Cluster,
) -> None:
    cluster.enrol("applicant", "applicant")
    cluster.enrol("reviewer", "reviewer")
    cluster.enrol("authorizer", "authorizer")
    workers = cluster.start_all()
    pid = cluster.submit(1, "applicant")
    cluster.wait_status(pid, "pending_review")
    cluster.review(pid, "reviewer")
    cluster.wait_status(pid, "pending_auth")

    cluster.hold("interbank.after_submit")
    cluster.authorize(pid, "authorizer")
    cluster.wait_held("interbank.after_submit")
    interbank = workers["interbank"]
    interbank.send_signal(signal.SIGTERM)
    cluster.release("interbank.after_submit")

    assert interbank.wait(timeout=45) == 0
    # No other interbank worker runs: the stopping one finished the payment itself.
    assert cluster.status(pid) == "settled"
    assert cluster.history(pid) == FULL_HISTORY
    payment = cluster.deps.store.get(pid)
    assert payment is not None
    assert cluster.deps.clearing.submissions() == [payment.end_to_end_id]  # type: ignore[attr-defined]
    assert cluster.waiting("interbank") == 0
    assert cluster.unacknowledged("interbank") == 0, "message not acknowledged"
