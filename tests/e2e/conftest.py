"""End-to-end fixtures: the stages as separate ``b2bpay worker`` processes on the real test
Redis, ``b2bpay serve`` (the HTTP API the people's commands speak to), and a helper that runs
the CLI as a user would.

The stages' queues are on that Redis, or, for a module parametrized with the ``broker``
fixture, on the machine's RabbitMQ in a vhost of the module's own (the state, events and
sessions stay on Redis)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import redis

from tests.conftest import _free_port, _started
from tests.rabbitmq import BROKERS, fresh_vhost

STAGES = ("apply", "review", "authorize", "interbank", "query", "audit")


@dataclass
class CliResult:
    code: int
    data: dict[str, Any]
    stdout: str
    stderr: str


@dataclass
class Env:
    vars: dict[str, str]
    prefix: str
    client: redis.Redis
    workdir: Path

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 60) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "services.cli.main", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.vars,
            timeout=timeout,
            check=False,
        )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        data = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
        return CliResult(proc.returncode, data, proc.stdout, proc.stderr)

    def wait_for(self, what: str, condition: Callable[[], Any], timeout: float = 30) -> Any:
        """Poll ``condition`` until it returns something truthy, or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.1)  # polling the system under test, bounded by the deadline
        pytest.fail(f"timed out after {timeout} s waiting for {what}")


def code_of(uri: str, offset_steps: int = 0) -> str:
    totp = pyotp.parse_uri(uri)
    return str(totp.at(time.time(), counter_offset=offset_steps))


@pytest.fixture(scope="module")
def broker(request: pytest.FixtureRequest) -> str:
    """The broker the stages' queues run on: Redis unless a module is parametrized with it
    (``pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)``)."""
    chosen: str = getattr(request, "param", "redis")
    assert chosen in BROKERS, chosen
    return chosen


@pytest.fixture(scope="module")
def e2e(redis_url: str, tmp_path_factory: pytest.TempPathFactory, broker: str) -> Iterator[Env]:
    with ExitStack() as stack:
        on_broker = {"B2BPAY_BROKER_URL": ""}  # the queues beside the state, on Redis
        if broker == "rabbitmq":
            on_broker["B2BPAY_BROKER_URL"] = stack.enter_context(fresh_vhost("e2e"))
        yield from _running(redis_url, tmp_path_factory, on_broker)


def _running(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, on_broker: dict[str, str]
) -> Iterator[Env]:
    prefix = f"b2bpay-test-e2e-{secrets.token_hex(4)}:"
    workdir = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {
        **os.environ,
        **on_broker,
        "B2BPAY_REDIS_URL": redis_url,
        "B2BPAY_PREFIX": prefix,
        "B2BPAY_DATABASE_URL": f"sqlite:///{workdir / 'read.db'}",
        "B2BPAY_SESSION_SECRET": secrets.token_hex(32),
        "B2BPAY_LOG_FORMAT": "json",
        "B2BPAY_DEV_MODE": "1",
        "B2BPAY_WAIT_SECONDS": "20",
        "B2BPAY_API_URL": f"http://127.0.0.1:{port}",
    }
    client = redis.Redis.from_url(redis_url)
    logs = {stage: open(workdir / f"{stage}.log", "w+") for stage in STAGES}  # noqa: SIM115
    workers = {
        stage: subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "worker", stage, "--threads", "2"],
            env=env,
            stdout=logs[stage],
            stderr=subprocess.STDOUT,
        )
        for stage in STAGES
    }
    server_log = open(workdir / "server.log", "w+")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    here = Env(env, prefix, client, workdir)

    def healthy() -> bool:
        try:
            return httpx.get(f"{env['B2BPAY_API_URL']}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        here.wait_for("the API server to answer", healthy)
        here.wait_for("every stage to start", lambda: _started(workdir, STAGES), timeout=60)
        yield here
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        server_log.close()
        for proc in workers.values():
            proc.send_signal(signal.SIGTERM)
        codes = {stage: proc.wait(timeout=60) for stage, proc in workers.items()}
        stem = prefix.rstrip(":")
        for key in client.scan_iter(match=f"{stem}*", count=1000):
            client.delete(key)
        client.close()
        for f in logs.values():
            f.close()
    # Checked after cleanup so a failure here still leaves Redis clean.
    assert codes == dict.fromkeys(STAGES, 0), f"workers did not stop cleanly: {codes}"
    for stage in STAGES:
        text = (workdir / f"{stage}.log").read_text()
        assert "Traceback" not in text, f"{stage} worker logged a traceback:\n{text[-3000:]}"
