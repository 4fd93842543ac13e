"""The one launcher of the test stacks: b2bpay as separate processes on the real test Redis
(stage workers, and ``b2bpay serve`` when a layer talks HTTP), the environment they share, and
what every layer needs around them: a free port, a poll with a deadline, the happy path.

Used by the e2e, api, web and fault layers; each adds only its own people and drivers:

- ``launched(...)`` starts the stages (and the server), yields once every process is ready
  and, on the way out, stops them, deletes every key under the stack's prefix, and checks
  each process exited 0 without a traceback;
- ``Stack.start``/``stop`` start and stop one more worker (fault tests kill and restart them);
- ``Stack.cli`` runs ``b2bpay`` as a person would, against the stack.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import httpx
import pytest
import redis

from shared.config import Settings
from shared.testing import World
from tests.happy_path import HAPPY_PATH, Step

T = TypeVar("T")

#: How often :func:`wait_until` looks again: often enough that a test waits no longer than it
#: must, rarely enough that polling costs the processes under test nothing noticeable.
POLL_SECONDS = 0.05


#: How long a process of a stack may take to start: eight of them importing at once on two
#: cores that other work also loads (pytest-xdist's second worker, say) take their time.
STARTUP_SECONDS = 120


def wait_until(what: str, condition: Callable[[], T], timeout: float = 30) -> T:
    """Poll ``condition`` until it returns something truthy and return that, or fail the test
    after ``timeout`` seconds naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_SECONDS)  # a pause between polls, bounded by the deadline above


# -- ports ---------------------------------------------------------------------------------

#: Ports already handed out in this process: never given twice.
_GIVEN: set[int] = set()


def _ephemeral_low() -> int:
    """Where the kernel's range for outgoing connections' local ports starts."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _slice(low: int, high: int) -> tuple[int, int]:
    """This process's share of ``low..high``: under pytest-xdist each worker draws from a
    slice of its own, so two workers never hand out the same port (``_GIVEN`` is per
    process); a session without workers has the whole range."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count < 2:
        return low, high
    index = int(worker[2:]) % count
    width = (high - low) // count
    return low + index * width, low + (index + 1) * width


def free_port(span: int = 1) -> int:
    """A port P on 127.0.0.1 such that P .. P+span-1 are free now, for a server a test starts
    later. Taken below the kernel's range for outgoing connections (a port given by
    ``bind(0)`` lies in it, and any client connection in the meantime, even one already
    closed and in TIME_WAIT, could take it and make the server's bind fail with EADDRINUSE),
    never the same port twice in a session, and from this xdist worker's slice only."""
    high = min(_ephemeral_low(), 32768) - span
    low = max(10_000, high - 12_000)
    if high - low < 1000:
        # A kernel lending nearly every port to outgoing connections: none is safer than
        # another, take what bind(0) gives.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    low, high = _slice(low, high)
    for _ in range(1000):
        port = random.randrange(low, high)
        wanted = set(range(port, port + span))
        if wanted & _GIVEN or not all(_bindable(p) for p in wanted):
            continue
        _GIVEN.update(wanted)
        return port
    raise RuntimeError(f"no {span} consecutive free ports in {low}..{high}")


# -- the environment -----------------------------------------------------------------------


def new_prefix(tag: str) -> str:
    """A key prefix of a stack's own (``b2bpay-test-<tag>-<random>:``)."""
    return f"b2bpay-test-{tag}-{secrets.token_hex(4)}:"


def delete_keys(client: redis.Redis, prefix: str) -> None:
    """Delete every key under ``prefix`` (and its queues, which share the stem)."""
    stem = prefix.rstrip(":")
    for key in client.scan_iter(match=f"{stem}*", count=1000):
        client.delete(key)


def stack_env(redis_url: str, prefix: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of every process of a stack: this machine's, the test Redis under the
    stack's prefix, a read model in ``workdir``, a fresh session secret, JSON logs and
    development mode; ``extra`` (``B2BPAY_*`` names) on top."""
    return {
        **os.environ,
        "B2BPAY_REDIS_URL": redis_url,
        "B2BPAY_PREFIX": prefix,
        "B2BPAY_DATABASE_URL": f"sqlite:///{workdir / 'read.db'}",
        "B2BPAY_SESSION_SECRET": secrets.token_hex(32),
        "B2BPAY_LOG_FORMAT": "json",
        "B2BPAY_DEV_MODE": "1",
        **extra,
    }


# -- the processes ---------------------------------------------------------------------------


@dataclass
class CliResult:
    code: int
    data: dict[str, Any]
    stdout: str
    stderr: str


@dataclass(kw_only=True)
class Stack:
    """b2bpay's processes on one prefix, and what a test reaches them with."""

    env: dict[str, str]
    workdir: Path
    redis: redis.Redis
    #: Where ``b2bpay serve`` answers (empty when the stack has no server).
    base_url: str = ""
    #: The people enrolled in-process (api and web layers), and their passwords.
    world: World | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    #: Every process started, in order; the latest worker of each stage by its name.
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)
    log_paths: dict[int, Path] = field(default_factory=dict)
    server: subprocess.Popen[bytes] | None = None

    @property
    def prefix(self) -> str:
        return self.env["B2BPAY_PREFIX"]

    def settings_like(self, **overrides: Any) -> Settings:
        """Settings like the stack's processes have (its Redis, prefix, read model, secret and
        broker), for a test that acts in-process beside them."""
        values: dict[str, Any] = {
            "redis_url": self.env["B2BPAY_REDIS_URL"],
            "prefix": self.prefix,
            "database_url": self.env["B2BPAY_DATABASE_URL"],
            "session_secret": self.env["B2BPAY_SESSION_SECRET"],
            "dev_mode": True,
        }
        if self.env.get("B2BPAY_BROKER_URL"):
            values["broker_url"] = self.env["B2BPAY_BROKER_URL"]
        return Settings(**{**values, **overrides})

    # -- processes -------------------------------------------------------------------------
    def _log(self, name: str) -> IO[bytes]:
        log = open(self.workdir / f"{name}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        self.logs.append(log)
        return log

    def start(
        self,
        *stages: str,
        threads: int = 2,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        ready: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start ``b2bpay worker STAGES`` (log ``<stages>-<n>.log`` in the workdir); with
        ``ready``, return once it consumes (its log says "worker started"), so a test's time
        budget does not include a process starting on a loaded machine."""
        name = "-".join(stages)
        log = self._log(name)
        argv = [sys.executable, "-m", "services.cli.main", "worker", *stages]
        proc = subprocess.Popen(
            [*argv, "--threads", str(threads), *args],
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(proc)
        self.workers[name] = proc
        self.log_paths[proc.pid] = Path(log.name)
        if ready:
            self.wait_ready(proc)
        return proc

    def wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        """Wait until the worker ``proc`` consumes; fail with its log if it exits first."""
        path = self.log_paths[proc.pid]
        wait_until(
            f"the worker logging to {path.name} to start",
            lambda: proc.poll() is not None or b"worker started" in path.read_bytes(),
            timeout=STARTUP_SECONDS,
        )
        assert proc.poll() is None, path.read_text(errors="replace")

    def stop(self, stage: str) -> int:
        """SIGTERM the latest worker of ``stage`` (a name given to :meth:`start`); its code."""
        proc = self.workers.pop(stage)
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=60)

    def serve(self) -> None:
        """Start ``b2bpay serve`` on a free port (``B2BPAY_API_URL`` for the CLI)."""
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.env["B2BPAY_API_URL"] = self.base_url
        log = open(self.workdir / "server.log", "wb")  # noqa: SIM115
        self.logs.append(log)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "serve", "--port", str(port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop_all(self) -> dict[int, int]:
        """Stop the server (SIGINT) and every worker still running (SIGTERM); each process's
        exit code by pid."""
        codes: dict[int, int] = {}
        if self.server is not None:
            self.server.send_signal(signal.SIGINT)
            codes[self.server.pid] = self.server.wait(timeout=30)
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes.update({proc.pid: proc.wait(timeout=60) for proc in self.processes})
        for log in self.logs:
            log.close()
        return codes

    def all_logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("*.log")))

    # -- talking to it ---------------------------------------------------------------------
    def cli(self, *args: str, stdin: str | None = None, timeout: float = 60) -> CliResult:
        """``b2bpay ARGS`` with the stack's environment; its last JSON line as ``data``."""
        proc = subprocess.run(
            [sys.executable, "-m", "services.cli.main", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        data = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
        return CliResult(proc.returncode, data, proc.stdout, proc.stderr)

    def http(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, **{"timeout": 30, **kw})

    def login(self, name: str) -> str:
        """A session token of ``name`` (one of :attr:`passwords`), over HTTP."""
        with self.http() as c:
            r = c.post("/v1/sessions", json={"username": name, "password": self.passwords[name]})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


@contextmanager
def launched(
    redis_url: str,
    workdir: Path,
    stages: Iterable[str],
    *,
    serve: bool = True,
    tag: str = "stack",
    env: dict[str, str] | None = None,
    before: Callable[[Stack], None] | None = None,
) -> Iterator[Stack]:
    """A stack with a worker process per stage (and ``b2bpay serve``), yielded once the server
    answers and every worker consumes. ``before`` runs first (to enrol people, say). On the way
    out every process stops, the keys under the prefix go, and then each process must have
    exited 0 without logging a traceback."""
    prefix = new_prefix(tag)
    client = redis.Redis.from_url(redis_url)
    stack = Stack(
        env=stack_env(redis_url, prefix, workdir, **(env or {})), workdir=workdir, redis=client
    )
    codes: dict[int, int] = {}
    try:
        if before is not None:
            before(stack)
        # The server first: it imports the most (FastAPI, the screens) and starts slowest.
        if serve:
            stack.serve()
        started = [stack.start(stage) for stage in stages]
        if serve:
            wait_until("the API server to answer", stack.healthy, timeout=STARTUP_SECONDS)
        # And every stage consuming: a first command is otherwise answered 202 on a loaded
        # machine, its stage still starting.
        for proc in started:
            stack.wait_ready(proc)
        yield stack
    finally:
        codes = stack.stop_all()
        delete_keys(client, prefix)
        client.close()
    # Checked after cleanup so a failure here still leaves Redis clean.
    assert set(codes.values()) <= {0}, f"processes did not stop cleanly: {codes}"
    logs = stack.all_logs()
    assert "Traceback" not in logs, logs[-3000:]


# -- the happy path --------------------------------------------------------------------------


class Walker(Protocol):
    """A front end (in-process client, CLI, HTTP, browser) through which people take a
    payment along :data:`HAPPY_PATH`."""

    def act(self, step: Step, payment_id: str) -> object: ...
    def wait_status(self, payment_id: str, status: str) -> object: ...


def walk_happy_path(walker: Walker, payment_ids: Sequence[str], start_at: str = "confirm") -> None:
    """Take every payment of ``payment_ids`` along :data:`HAPPY_PATH` from the step
    ``start_at`` to settled, a step at a time for all of them (each waited for in the status
    of the step before, then acted on), as the people of a bank work through their lists.
    A payment submitted with the applicant's code is already past "confirm": start at
    "review"."""
    first = [s.action for s in HAPPY_PATH].index(start_at)
    for i in range(first, len(HAPPY_PATH)):
        for payment_id in payment_ids:
            if i > 0:
                walker.wait_status(payment_id, HAPPY_PATH[i - 1].reaches)
            walker.act(HAPPY_PATH[i], payment_id)
    for payment_id in payment_ids:
        walker.wait_status(payment_id, HAPPY_PATH[-1].reaches)
