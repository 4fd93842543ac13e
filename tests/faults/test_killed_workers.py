"""A worker SIGKILLed in the middle of a message: another worker finishes the payment within
30 s, clearing sees one submission, and no event is missing."""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.conftest import (
    BROKERS,
    HELD_IN_EACH_STAGE,
    Cluster,
    enrol_four,
    finish_and_check_once_each,
    hold_one_in_each_stage,
)

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
    enrol_four(cluster)
    workers = cluster.start_all()
    p1, p2, p3, p4 = held = hold_one_in_each_stage(cluster)

    # The fresh workers are up before the old ones die: the budget is for redelivery, not
    # for processes starting on a loaded machine.
    for stage in ("apply", "review", "authorize", "interbank"):
        cluster.start(stage, ready=True)
    killed_at = time.monotonic()
    for stage in ("apply", "review", "authorize", "interbank"):
        workers[stage].send_signal(signal.SIGKILL)
        workers[stage].wait(timeout=10)
    for point in HELD_IN_EACH_STAGE:
        cluster.release(point)

    budget = REDELIVERY_BUDGET_SECONDS
    cluster.wait_status(p4, "settled", timeout=budget)
    cluster.wait_status(p3, "settled", timeout=budget - (time.monotonic() - killed_at))
    cluster.wait_status(p2, "pending_auth", timeout=budget - (time.monotonic() - killed_at))
    cluster.wait_status(p1, "pending_review", timeout=budget - (time.monotonic() - killed_at))
    assert time.monotonic() - killed_at < budget

    # The redelivered payments go on normally to the end.
    finish_and_check_once_each(cluster, held)
