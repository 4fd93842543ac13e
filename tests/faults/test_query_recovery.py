"""The query service killed between writing and acknowledging: its successor takes over the
unacknowledged events, nothing is lost, and a rebuild from the stream equals the live model."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services.query.readmodel import ReadModel, make_engine
from tests.faults.conftest import Cluster, make_cluster
from tests.stack import delete_keys, wait_until

# Redis only: the query service reads the events stream on Redis, whichever broker carries
# the stages' messages.
pytestmark = pytest.mark.faults


@pytest.fixture
def quick_claim(redis_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    made, client = make_cluster(redis_url, tmp_path, query_claim_idle_ms=1000)
    try:
        yield made
    finally:
        made.stop_all()
        delete_keys(client, made.settings.prefix)
        client.close()


def _projected(cluster: Cluster, model: ReadModel) -> int:
    return model.count_events()


def test_a_killed_query_service_loses_nothing_and_a_rebuild_equals_the_live_model(
    quick_claim: Cluster, tmp_path: Path
) -> None:
    cluster = quick_claim
    cluster.enrol("reviewer", "reviewer")
    for i in range(6):
        cluster.enrol(f"applicant-{i}", "applicant")
        cluster.enrol(f"authorizer-{i}", "authorizer")
    for stage in ("apply", "review", "authorize", "interbank"):
        cluster.start(stage)
    live = ReadModel(make_engine(cluster.settings.database_url))

    # The query service writes a batch, and is killed before it acknowledges it.
    cluster.hold("query.before_ack")
    query = cluster.start("query")
    first = [cluster.submit(i, f"applicant-{i}") for i in range(3)]
    cluster.wait_held("query.before_ack")
    query.send_signal(signal.SIGKILL)
    query.wait(timeout=10)
    cluster.release("query.before_ack")
    pending = cluster.deps.redis.xpending(cluster.deps.keys.events, "query")["pending"]
    assert pending > 0, "the killed service left no unacknowledged events"

    # While it is down, payments go on.
    for pid in first:
        cluster.wait_status(pid, "pending_review")
        cluster.review(pid, "reviewer")
    later = [cluster.submit(i, f"applicant-{i}") for i in range(3, 6)]
    for n, pid in enumerate(first):
        cluster.wait_status(pid, "pending_auth")
        cluster.authorize(pid, f"authorizer-{n}")
    for pid in first:
        cluster.wait_status(pid, "settled")
    for pid in later:
        cluster.wait_status(pid, "pending_review")

    cluster.start("query")
    total = cluster.deps.redis.xlen(cluster.deps.keys.events)
    wait_until("the read model to catch up", lambda: live.count_events() == total, timeout=30)
    wait_until(
        "every event to be acknowledged",
        lambda: cluster.deps.redis.xpending(cluster.deps.keys.events, "query")["pending"] == 0,
        timeout=30,
    )
    for pid in first:
        assert live.payment(pid).status == "settled"  # type: ignore[union-attr]
    for pid in later:
        assert live.payment(pid).status == "pending_review"  # type: ignore[union-attr]

    rebuilt_url = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "query", "rebuild", "--json"],
        env={**cluster.env, "B2BPAY_DATABASE_URL": rebuilt_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f'"events": {total}' in result.stdout
    rebuilt = ReadModel(make_engine(rebuilt_url))
    assert rebuilt.snapshot() == live.snapshot()
