"""The fault-injection suite's cluster: stage workers as real processes on a real Redis,
which a test can kill, hold at a fault point, or cut off from Redis, while it drives
payments from the test process."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import redis
from argon2 import PasswordHasher
from pydantic import SecretStr

from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.deps import Deps
from shared.domain.contracts import AuthDecision, PaymentRequest, ReviewDecision, payment_id_for
from shared.messaging import routes as q
from shared.redis.directory import Directory, User
from shared.redis.keys import Keys
from shared.security.linking import authorizer_code
from shared.security.otp import code_for

ENTERPRISE = "FAULT-01"
ACCOUNT = "62166001000077"
FULL_HISTORY = [
    "requested",
    "otp_verified",
    "pending_review",
    "pending_auth",
    "authorized",
    "submitted",
    "settled",
]
STAGE_PROCESSES = ("apply", "review", "authorize", "interbank", "query")


def linked_code(deps: Deps, payment_id: str, secret: str) -> str:
    """What an authorizer's token shows for this payment now: the code linked to its
    challenge (the payment must exist), or a plain code in totp mode."""
    payment = deps.store.get(payment_id)
    assert payment is not None, f"{payment_id} does not exist yet"
    return authorizer_code(deps.settings.authorizer_otp, secret, payment)


def wait_until(what: str, condition: Callable[[], Any], timeout: float) -> Any:
    """Poll ``condition`` until truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)  # polling real processes, bounded by the deadline


@dataclass
class Cluster:
    settings: Settings
    env: dict[str, str]
    workdir: Path
    deps: Deps
    people: dict[str, User] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)

    # -- processes ---------------------------------------------------------------------
    def start(self, *stages: str, threads: int = 2) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{'-'.join(stages)}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        self.logs.append(log)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli.main",
                "worker",
                *stages,
                "--threads",
                str(threads),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(proc)
        return proc

    def start_all(self) -> dict[str, subprocess.Popen[bytes]]:
        return {stage: self.start(stage) for stage in STAGE_PROCESSES}

    def stop_all(self) -> dict[int, int]:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {proc.pid: proc.wait(timeout=60) for proc in self.processes}
        for log in self.logs:
            log.close()
        return codes

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.workdir.glob("*.log"))

    # -- people ------------------------------------------------------------------------
    def enrol(self, name: str, role: str) -> User:
        user, _uri = self.deps.directory.add_user(name, ENTERPRISE, role, "fault-suite-pw")  # type: ignore[arg-type]
        self.people[name] = user
        return user

    def token(self, name: str) -> str:
        user = self.people[name]
        return self.deps.sessions.issue(user.username, user.enterprise_id, user.role)[0]

    def code(self, name: str) -> str:
        return code_for(self.people[name].totp_secret)

    def auth_code(self, payment_id: str, name: str) -> str:
        return linked_code(self.deps, payment_id, self.people[name].totp_secret)

    # -- driving -----------------------------------------------------------------------
    def request(self, n: int, applicant: str) -> PaymentRequest:
        return PaymentRequest.model_validate(
            {
                "request_id": f"fault-req-{n}",
                "order_id": f"fault-order-{n}",
                "payer": {"enterprise_id": ENTERPRISE, "account": ACCOUNT, "name": "Fault Co"},
                "payee": {"bank_code": "ICBC", "account": f"6222020{n:07d}", "name": "Supplier"},
                "amount": f"{100 + n}.00",
                "currency": "CNY",
                "bank": "BOC",
                "session": self.token(applicant),
                "otp": self.code(applicant),
            }
        )

    def submit(self, n: int, applicant: str) -> str:
        request = self.request(n, applicant)
        self.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, request.to_wire())
        return payment_id_for(request.payer.enterprise_id, request.request_id)

    def review(self, payment_id: str, reviewer: str) -> ReviewDecision:
        decision = ReviewDecision(
            payment_id=payment_id, approve=True, session=SecretStr(self.token(reviewer))
        )
        self.deps.dispatch(q.PENDING_REVIEW, q.DECIDE_REVIEW, decision.to_wire())
        return decision

    def authorize(self, payment_id: str, authorizer: str) -> AuthDecision:
        decision = AuthDecision(
            payment_id=payment_id,
            approve=True,
            session=SecretStr(self.token(authorizer)),
            otp=SecretStr(self.auth_code(payment_id, authorizer)),
        )
        self.deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, decision.to_wire())
        return decision

    def status(self, payment_id: str) -> str | None:
        payment = self.deps.store.get(payment_id)
        return payment.status.value if payment else None

    def wait_status(self, payment_id: str, *statuses: str, timeout: float = 30) -> str:
        found: str = wait_until(
            f"{payment_id} to reach {statuses}",
            lambda: (s := self.status(payment_id)) in statuses and s,
            timeout,
        )
        return found

    def history(self, payment_id: str) -> list[str]:
        payment = self.deps.store.get(payment_id)
        assert payment is not None
        return [e.status or "" for e in payment.history]

    # -- fault points ------------------------------------------------------------------
    def hold(self, point: str) -> None:
        self.deps.faults.hold(point)

    def wait_held(self, point: str, timeout: float = 30) -> None:
        if not self.deps.faults.wait_held(point, timeout):
            pytest.fail(f"no worker reached {point} within {timeout} s")

    def release(self, point: str) -> None:
        self.deps.faults.release(point)


def cleanup(client: redis.Redis, prefix: str) -> None:
    stem = prefix.rstrip(":")
    for key in client.scan_iter(match=f"{stem}*", count=1000):
        client.delete(key)


def make_cluster(redis_url: str, workdir: Path, **overrides: Any) -> tuple[Cluster, redis.Redis]:
    prefix = f"b2bpay-test-faults-{secrets.token_hex(4)}:"
    settings = Settings(
        redis_url=redis_url,
        prefix=prefix,
        database_url=f"sqlite:///{workdir / 'read.db'}",
        session_secret=SecretStr(secrets.token_hex(32)),
        fault_hooks=True,
        log_format="json",
        dev_mode=True,
        **overrides,
    )
    env = {
        **os.environ,
        "B2BPAY_REDIS_URL": redis_url,
        "B2BPAY_PREFIX": prefix,
        "B2BPAY_DATABASE_URL": settings.database_url,
        "B2BPAY_SESSION_SECRET": settings.session_secret.get_secret_value(),  # type: ignore[union-attr]
        "B2BPAY_FAULT_HOOKS": "1",
        "B2BPAY_LOG_FORMAT": "json",
        "B2BPAY_DEV_MODE": "1",
        **{f"B2BPAY_{k.upper()}": str(v) for k, v in overrides.items()},
    }
    client = redis.Redis.from_url(redis_url)
    cheap = Directory(
        client, Keys(prefix), PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    deps = bootstrap(settings, client, cheap)
    deps.directory.add_bank("BOC", "Bank of China", True)
    deps.directory.add_enterprise(ENTERPRISE, "Fault Co", ["BOC"], [ACCOUNT], True)
    return Cluster(settings, env, workdir, deps), client


@pytest.fixture
def cluster(redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    made, client = make_cluster(redis_url, tmp_path)
    try:
        yield made
    finally:
        made.stop_all()
        cleanup(client, made.settings.prefix)
        client.close()


__all__ = ["FULL_HISTORY", "Cluster", "cleanup", "make_cluster", "replace", "wait_until"]
