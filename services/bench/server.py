"""A private ``redis-server`` for one bench run: a free port, no persistence, a temporary
directory; stopped (and its directory removed) at the end. Embedded fakeredis is not a
benchmark."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

STARTUP_SECONDS = 10.0


class RedisServerError(RuntimeError):
    """Raised when the private redis-server cannot be found or does not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    """The URL of a fresh redis-server of our own, for the length of the block."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisServerError("redis-server is not on PATH; install it or pass --redis URL")
    workdir = Path(tempfile.mkdtemp(prefix="b2bpay-bench-redis-"))
    port = free_port()
    argv = [
        binary,
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
        "--logfile",
        str(workdir / "redis.log"),
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RedisServerError(
                        f"redis-server did not start (see {workdir}/redis.log)"
                    ) from None
                time.sleep(0.05)  # polling a starting server, bounded by the deadline
        client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
