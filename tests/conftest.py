"""Fixtures shared by every test layer.

Integration and end-to-end tests use a real Redis: ``B2BPAY_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``) or, if none answers, a ``redis-server`` this session starts on
a free port. Every test gets its own key prefix and deletes what it created.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import redis

from shared.app.deps import Deps
from shared.bootstrap import bootstrap
from shared.config import Settings

DEFAULT_TEST_REDIS = "redis://127.0.0.1:6379/15"


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


#: Ports already handed out in this test session: never given twice.
_GIVEN: set[int] = set()


def _ephemeral_low() -> int:
    """Where the kernel's range for outgoing connections' local ports starts."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free_port(span: int = 1) -> int:
    """A port P on 127.0.0.1 such that P .. P+span-1 are free now, for a server a test starts
    later. Taken below the kernel's range for outgoing connections (a port given by
    ``bind(0)`` lies in it, and any client connection in the meantime, even one already
    closed and in TIME_WAIT, could take it and make the server's bind fail with EADDRINUSE),
    and never the same port twice in a session."""
    high = min(_ephemeral_low(), 32768) - span
    low = max(10_000, high - 12_000)
    if high - low < 1000:
        # A kernel lending nearly every port to outgoing connections: none is safer than
        # another, take what bind(0) gives.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    for _ in range(1000):
        port = random.randrange(low, high)
        wanted = set(range(port, port + span))
        if wanted & _GIVEN or not all(_bindable(p) for p in wanted):
            continue
        _GIVEN.update(wanted)
        return port
    raise RuntimeError(f"no {span} consecutive free ports in {low}..{high}")


def _started(workdir: Path, stages: Iterable[str]) -> bool:
    """Whether the worker log ``<stage>.log`` in ``workdir`` of each of ``stages`` says it
    started consuming."""
    return all(b"worker started" in (workdir / f"{stage}.log").read_bytes() for stage in stages)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("B2BPAY_TEST_REDIS_URL", DEFAULT_TEST_REDIS)
    if _answers(url):
        yield url
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(
            f"no Redis answers at {url} and redis-server is not installed: "
            "install it (apt-get install redis-server) or set B2BPAY_TEST_REDIS_URL",
            pytrace=False,
        )
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/15"
    deadline = time.monotonic() + 10
    while not _answers(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"redis-server did not start on port {port}", pytrace=False)
        time.sleep(0.05)  # polling a starting server, bounded by the deadline above
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; every key under it (and its queues) is deleted after."""
    value = f"b2bpay-test-{secrets.token_hex(4)}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    stem = value.rstrip(":")
    for key in client.scan_iter(match=f"{stem}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def settings(redis_url: str, prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        prefix=prefix,
        database_url=f"sqlite:///{tmp_path / 'read.db'}",
        session_secret=secrets.token_hex(32),
        log_format="json",
        dev_mode=True,
    )


@pytest.fixture
def deps(settings: Settings, redis_client: redis.Redis) -> Deps:
    """Real dependencies on the real test Redis."""
    return bootstrap(settings, redis_client)
