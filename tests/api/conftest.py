"""API fixtures: the stages as separate worker processes on the real test Redis (as in
:mod:`tests.e2e.conftest`), ``b2bpay serve`` as a real uvicorn process on a free port, and a
world of people seeded in-process (:mod:`shared.testing`)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import redis

from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.domain.parties import Role
from shared.testing import World
from tests.conftest import _free_port, _started

STAGES = ("apply", "review", "authorize", "interbank", "query", "audit", "webhooks")
E1, E2 = "ACME-01", "OTHER-02"
ACC1, ACC2 = "62166001000011", "62166001000022"
#: name -> (role, enterprise)
ROSTER: dict[str, tuple[Role, str]] = {
    **{f"app{i}": ("applicant", E1) for i in range(1, 10)},
    "rev1": ("reviewer", E1),
    "auth1": ("authorizer", E1),
    "app_b": ("applicant", E2),
    "rev_b": ("reviewer", E2),
    "throttled": ("applicant", E1),
}


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # polling the system under test, bounded by the deadline
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Stack:
    """The workers, the server and the people, on one prefix."""

    env: dict[str, str]
    prefix: str
    base_url: str
    workdir: Path
    world: World
    passwords: dict[str, str]
    redis: redis.Redis
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, IO[str]] = field(default_factory=dict)

    def start(self, stage: str) -> None:
        if stage not in self.logs:
            self.logs[stage] = open(self.workdir / f"{stage}.log", "a+")  # noqa: SIM115
        self.workers[stage] = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "worker", stage, "--threads", "2"],
            env=self.env,
            stdout=self.logs[stage],
            stderr=subprocess.STDOUT,
        )

    def stop(self, stage: str) -> int:
        proc = self.workers.pop(stage)
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=60)

    def http(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, **{"timeout": 30, **kw})

    def login(self, name: str) -> str:
        with self.http() as c:
            r = c.post("/v1/sessions", json={"username": name, "password": self.passwords[name]})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def all_logs(self) -> str:
        return "".join(f.read_text() for f in self.workdir.glob("*.log"))


@contextmanager
def running_stack(
    redis_url: str,
    workdir: Path,
    roster: dict[str, tuple[Role, str]],
    extra_env: dict[str, str] | None = None,
    prefix_tag: str = "api",
) -> Iterator[Stack]:
    """The stages as worker processes and ``b2bpay serve``, with ``roster``'s people enrolled
    in two enterprises (E1, E2) banking with BOC; everything stopped and deleted after."""
    prefix = f"b2bpay-test-{prefix_tag}-{secrets.token_hex(4)}:"
    port = _free_port()
    env = {
        **os.environ,
        "B2BPAY_REDIS_URL": redis_url,
        "B2BPAY_PREFIX": prefix,
        "B2BPAY_DATABASE_URL": f"sqlite:///{workdir / 'read.db'}",
        "B2BPAY_SESSION_SECRET": secrets.token_hex(32),
        "B2BPAY_LOG_FORMAT": "json",
        "B2BPAY_DEV_MODE": "1",
        "B2BPAY_HTTP_WAIT_SECONDS": "8",
        # Every test logs in from 127.0.0.1: only the per-username limit is under test.
        "B2BPAY_LOGIN_CLIENT_MAX_FAILURES": "1000",
        **(extra_env or {}),
    }
    client = redis.Redis.from_url(redis_url)
    settings = Settings(
        redis_url=redis_url,
        prefix=prefix,
        session_secret=env["B2BPAY_SESSION_SECRET"],
        dev_mode=True,
    )
    world = World(bootstrap(settings, client))
    world.bank("BOC", "Bank of China")
    world.enterprise(E1, "Acme", ["BOC"], [ACC1])
    world.enterprise(E2, "Other", ["BOC"], [ACC2])
    passwords = {name: secrets.token_urlsafe(12) for name in roster}
    for name, (role, enterprise) in roster.items():
        world.enrol(name, enterprise, role, passwords[name])
    stack = Stack(env, prefix, f"http://127.0.0.1:{port}", workdir, world, passwords, client)
    for stage in STAGES:
        stack.start(stage)
    server_log = open(workdir / "server.log", "w+")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )

    def healthy() -> bool:
        try:
            return httpx.get(f"{stack.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for("the server to answer", healthy)
        # And every stage consuming: a first command is otherwise answered 202 on a loaded
        # machine, its stage still starting.
        wait_for("every stage to start", lambda: _started(workdir, STAGES), 60)
        yield stack
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        codes = {stage: stack.stop(stage) for stage in list(stack.workers)}
        stem = prefix.rstrip(":")
        for key in client.scan_iter(match=f"{stem}*", count=1000):
            client.delete(key)
        client.close()
        for f in [*stack.logs.values(), server_log]:
            f.close()
    assert set(codes.values()) <= {0}, f"workers did not stop cleanly: {codes}"
    logs = stack.all_logs()
    assert "Traceback" not in logs, logs[-3000:]


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(redis_url, tmp_path_factory.mktemp("api"), ROSTER) as running:
        yield running
