"""Operators' side of failure: the sweeper process expires what nobody acted on, and the
dead-letter queue can be listed, shown, retried and purged from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.messaging import routes as q
from tests.faults.conftest import Cluster, make_cluster
from tests.stack import delete_keys

pytestmark = pytest.mark.faults


@pytest.fixture
def short_deadlines(redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    made, client = make_cluster(
        redis_url, tmp_path, deadline_pending_review_seconds=1, sweep_interval_seconds=0.2
    )
    try:
        yield made
    finally:
        made.stop_all()
        delete_keys(client, made.settings.prefix)
        client.close()


def _cli(cluster: Cluster, *args: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args, "--json"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result.returncode, json.loads(lines[-1]) if lines else {}


def test_the_sweeper_process_expires_a_payment_nobody_reviewed_in_time(
    short_deadlines: Cluster,
) -> None:
    cluster = short_deadlines
    cluster.enrol("applicant", "applicant")
    cluster.enrol("reviewer", "reviewer")
    for stage in ("apply", "review", "sweeper"):
        cluster.start(stage)
    pid = cluster.submit(1, "applicant")
    cluster.wait_status(pid, "pending_review", "expired")
    cluster.wait_status(pid, "expired", timeout=15)
    payment = cluster.deps.store.get(pid)
    assert payment is not None
    last = payment.history[-1]
    assert (last.status, last.previous_status, last.stage, last.reason_code) == (
        "expired",
        "pending_review",
        "sweeper",
        "deadline_passed",
    )
    # The order is free again, and a late review is refused without changing anything.
    decision = cluster.review(pid, "reviewer")
    verdict = cluster.deps.store.wait_verdict(decision.command_id, 10)
    assert verdict is not None and verdict.outcome == "refused"
    assert verdict.reason_code == "illegal_transition"
    assert cluster.deps.store.get(pid).version == payment.version  # type: ignore[union-attr]


def test_operators_list_show_retry_and_purge_dead_letters_from_the_cli(cluster: Cluster) -> None:
    cluster.enrol("applicant", "applicant")
    worker = cluster.start("review")
    pid = cluster.submit(1, "applicant")  # nobody runs apply: the payment does not exist yet
    bad = {"payment_id": pid, "from_stage": "apply"}  # a hand-off missing its fields
    cluster.deps.dispatch(q.OTP_VERIFIED, q.TAKE_IN, bad)
    cluster.deps.dispatch(q.OTP_VERIFIED, q.TAKE_IN, {"garbage": True})

    code, listed = _cli(cluster, "dlq", "list")
    for _ in range(100):
        if code == 0 and len(listed.get("dead_letters", [])) == 2:
            break
        code, listed = _cli(cluster, "dlq", "list")
    assert len(listed["dead_letters"]) == 2
    by_payload = {json.dumps(d["payload"], sort_keys=True): d for d in listed["dead_letters"]}
    fixable = by_payload[json.dumps(bad, sort_keys=True)]
    assert fixable["queue"] == q.OTP_VERIFIED and "invalid_request" in fixable["reason"]

    code, shown = _cli(cluster, "dlq", "show", fixable["dead_letter_id"])
    assert (code, shown["payload"]) == (0, bad)
    code, _ = _cli(cluster, "dlq", "show", "no-such-id")
    assert code == 1

    # Retry sends it back to its queue (it is dead-lettered again: it is still invalid).
    code, retried = _cli(cluster, "dlq", "retry", fixable["dead_letter_id"])
    assert code == 0 and retried["queue"] == q.OTP_VERIFIED
    code, _ = _cli(cluster, "dlq", "purge")
    assert code == 2, "purging everything needs --yes"
    for _ in range(100):
        code, listed = _cli(cluster, "dlq", "list")
        if len(listed["dead_letters"]) == 2 and fixable["dead_letter_id"] not in {
            d["dead_letter_id"] for d in listed["dead_letters"]
        }:
            break
    assert len(listed["dead_letters"]) == 2
    code, purged = _cli(cluster, "dlq", "purge", "--yes")
    assert (code, purged["purged"]) == (0, 2)
    assert cluster.deps.deadletters.count() == 0
    assert worker.poll() is None
