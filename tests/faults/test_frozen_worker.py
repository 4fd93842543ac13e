"""A worker frozen in the middle of a message (SIGSTOP: its connections stay open, but it
says nothing more — a hung host, a VM paused) loses the message to a live worker once its
heartbeat is missed (``B2BPAY_HEARTBEAT_TIMEOUT_MS``): on Redis dramatiq's maintenance hands
it out again, on RabbitMQ the server closes the silent connection and returns the message."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import BROKERS, Cluster, make_cluster, queues_on
from tests.stack import delete_keys

pytestmark = [
    pytest.mark.faults,
    pytest.mark.parametrize("broker", BROKERS, indirect=True),
]

HEARTBEAT_TIMEOUT_MS = 3_000


@pytest.fixture
def quick_heartbeat(redis_url: str, tmp_path: Path, broker: str) -> Iterator[Cluster]:
    with queues_on(broker) as on_broker:
        made, client = make_cluster(
            redis_url, tmp_path, heartbeat_timeout_ms=HEARTBEAT_TIMEOUT_MS, **on_broker
        )
        try:
            yield made
        finally:
            for proc in made.processes:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGCONT)
            made.stop_all()
            delete_keys(client, made.settings.prefix)
            client.close()


def test_a_frozen_workers_message_is_finished_by_a_live_one_after_its_heartbeat_is_missed(
    quick_heartbeat: Cluster,
) -> None:
    cluster = quick_heartbeat
    cluster.enrol("applicant", "applicant")
    cluster.enrol("reviewer", "reviewer")
    cluster.start("apply")
    frozen = cluster.start("review")
    pid = cluster.submit(1, "applicant")
    cluster.wait_status(pid, "pending_review")

    cluster.hold("review.decide")  # the decision checked, not yet written
    cluster.review(pid, "reviewer")
    cluster.wait_held("review.decide")
    frozen.send_signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    cluster.release("review.decide")
    cluster.start("review")

    cluster.wait_status(pid, "pending_auth", timeout=30)
    waited = time.monotonic() - frozen_at
    assert cluster.history(pid)[-1] == "pending_auth"
    assert cluster.history(pid).count("pending_auth") == 1
    # Not before the heartbeat was missed: the frozen worker still held the message.
    assert waited >= HEARTBEAT_TIMEOUT_MS / 1000 * 0.9, waited
    frozen.send_signal(signal.SIGKILL)
    frozen.wait(timeout=10)
