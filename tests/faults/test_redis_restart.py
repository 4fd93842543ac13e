"""Redis restarted (append-only file on) while payments are in flight: none lost, none
duplicated. The test runs its own redis-server on a free port, never the shared one."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.domain.status_events import decode_status_event
from shared.redis.replies import stream_entries
from tests.faults.conftest import Cluster, make_cluster
from tests.happy_path import FULL_HISTORY
from tests.stack import delete_keys, free_port, wait_until

# Redis only: the stages' queues are on the Redis restarted here (the default broker), and the
# test is about that Redis (its AOF, dramatiq's Redis consumers taking a new identity after
# a reconnect); on RabbitMQ the queues do not restart with Redis.
pytestmark = pytest.mark.faults

PAYMENTS = 200


class OwnRedis:
    """A redis-server of this test's own, configured as docker-compose.yml configures
    production: append-only file, fsync every second."""

    def __init__(self, workdir: Path) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail(
                "redis-server is not installed (apt-get install redis-server)", pytrace=False
            )
        self.server = server
        self.dir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until("redis-server to answer", self._answers, timeout=15)

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def restart(self) -> float:
        """Shut down cleanly (the AOF is flushed and fsynced) and start again; returns how
        long Redis was away."""
        assert self.proc is not None
        began = time.monotonic()
        # The server closes the connection as it goes.
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(self.url).shutdown()
        self.proc.wait(timeout=30)
        self.start()
        return time.monotonic() - began

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _retrying(call, what: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    """Run ``call`` until it gets through Redis (the driver rides out the restart too)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # Redis is restarting; bounded by the deadline


@pytest.mark.timeout(300)
def test_a_redis_restart_with_the_append_only_file_loses_and_repeats_nothing(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    cluster, client = make_cluster(own_redis.url, tmp_path)
    try:
        _drive_through_restart(cluster, own_redis)
    finally:
        cluster.stop_all()
        delete_keys(client, cluster.settings.prefix)


def _drive_through_restart(cluster: Cluster, server: OwnRedis) -> None:
    for i in range(PAYMENTS):
        cluster.enrol(f"applicant-{i}", "applicant")
        cluster.enrol(f"authorizer-{i}", "authorizer")
    for i in range(4):
        cluster.enrol(f"reviewer-{i}", "reviewer")
    cluster.start_all()
    index: dict[str, int] = {}
    for i in range(PAYMENTS):
        index[cluster.submit(i, f"applicant-{i}")] = i

    # The people react to status events, as in the bank's work lists; halfway, Redis restarts.
    seen: dict[str, str] = {}
    last = "0"
    restarted = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        reply = _retrying(
            lambda last=last: cluster.deps.redis.xread(
                {cluster.deps.keys.events: last}, block=200, count=500
            ),
            "read events",
        )
        for sid, body in stream_entries(reply):
            last = sid
            event = decode_status_event(body or b"")
            if event.kind != "transition" or event.payment_id not in index:
                continue
            seen[event.payment_id] = event.status or ""
            i = index[event.payment_id]
            if event.status == "pending_review":
                _retrying(
                    lambda pid=event.payment_id, i=i: cluster.review(pid, f"reviewer-{i % 4}"),
                    "review",
                )
            elif event.status == "pending_auth":
                _retrying(
                    lambda pid=event.payment_id, i=i: cluster.authorize(pid, f"authorizer-{i}"),
                    "authorize",
                )
        settled = sum(1 for s in seen.values() if s == "settled")
        if not restarted and settled >= PAYMENTS // 4:
            away = server.restart()
            restarted = True
            assert away < 20
        if restarted and settled == PAYMENTS:
            break
    assert restarted, "the payments finished before Redis could be restarted"
    statuses = {pid: cluster.status(pid) for pid in index}
    assert sorted(set(statuses.values())) == ["settled"], {
        s: sum(1 for v in statuses.values() if v == s) for s in set(statuses.values())
    }
    for pid in index:
        assert cluster.history(pid) == FULL_HISTORY, pid
    e2e = sorted(cluster.deps.store.get(pid).end_to_end_id for pid in index)  # type: ignore[union-attr]
    assert sorted(cluster.deps.clearing.submissions()) == e2e  # type: ignore[attr-defined]
    by_payment: dict[str, list[int]] = {}
    for _sid, event in cluster.deps.store.read_events(count=100_000):
        by_payment.setdefault(event.payment_id, []).append(event.seq)
    for pid in index:
        assert by_payment[pid] == list(range(1, len(by_payment[pid]) + 1)), pid
