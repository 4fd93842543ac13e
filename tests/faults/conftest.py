"""The fault-injection suite's cluster: stage workers as real processes on a real Redis,
which a test can kill, hold at a fault point, or cut off from Redis, while it drives
payments from the test process.

The stages' queues are on that Redis, or — for a test parametrized with the ``broker``
fixture (``@pytest.mark.parametrize("broker", BROKERS, indirect=True)``) — on the machine's
RabbitMQ, in a vhost of the test's own; the state, events and sessions stay on Redis."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from shared.app import client as app_client
from shared.app.deps import Deps
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.domain.contracts import AuthDecision, PaymentRequest, ReviewDecision
from shared.domain.parties import User
from shared.messaging.broker import declare_up_front
from shared.redis.directory import Directory
from shared.redis.keys import Keys
from shared.security.linking import authorizer_code
from shared.testing import World, cheap_hasher
from tests.rabbitmq import BROKERS, AmqpQueues, fresh_vhost

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


def linked_code(deps: Deps, payment_id: str, secret: str, at: float | None = None) -> str:
    """What an authorizer's token shows for this payment now (or at ``at``): the code linked
    to its challenge (the payment must exist), or a plain code in totp mode."""
    payment = deps.store.get(payment_id)
    assert payment is not None, f"{payment_id} does not exist yet"
    return authorizer_code(deps.settings.authorizer_otp, secret, payment, at)


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
    world: World
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)
    #: A plain AMQP client on the cluster's vhost when its broker is RabbitMQ.
    amqp: AmqpQueues | None = None

    # -- the broker, as anyone who can write to it sees it -------------------------------
    def send_raw(self, queue: str, body: bytes) -> None:
        """Put ``body`` on ``queue`` as it is, no dramatiq envelope around it."""
        if self.amqp is not None:
            self.amqp.publish(queue, body)
            return
        namespace = self.settings.queue_namespace()
        message_id = str(uuid.uuid4())
        self.deps.redis.hset(f"{namespace}:{queue}.msgs", message_id, body)
        self.deps.redis.rpush(f"{namespace}:{queue}", message_id)

    def waiting(self, queue: str) -> int:
        """Messages waiting in ``queue`` for a worker."""
        if self.amqp is not None:
            return self.amqp.waiting(queue)
        return int(self.deps.redis.llen(f"{self.settings.queue_namespace()}:{queue}"))

    def unacknowledged(self, queue: str) -> int:
        """Messages of ``queue`` handed to a worker and not acknowledged. On RabbitMQ those of
        a worker that is gone are waiting again: call this once the worker exited."""
        if self.amqp is not None:
            return self.amqp.waiting(queue)
        return int(self.deps.redis.hlen(f"{self.settings.queue_namespace()}:{queue}.msgs"))

    def in_broker_dead_letters(self, queue: str) -> int:
        """Messages dramatiq itself set aside for ``queue`` (its XQ), secrets and all."""
        if self.amqp is not None:
            return self.amqp.waiting(f"{queue}.XQ")
        return int(self.deps.redis.zcard(f"{self.settings.queue_namespace()}:{queue}.XQ"))

    # -- processes ---------------------------------------------------------------------
    def start(self, *stages: str, threads: int = 2, ready: bool = False) -> subprocess.Popen[bytes]:
        """Start a worker of ``stages``; with ``ready``, return once it consumes (its log says
        "worker started"), so a test's time budget does not include a process starting on a
        loaded machine."""
        path = self.workdir / f"{'-'.join(stages)}-{len(self.processes)}.log"
        log = open(path, "wb")  # noqa: SIM115
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
        if ready:
            wait_until(
                f"the {'+'.join(stages)} worker to start",
                lambda: proc.poll() is not None or b"worker started" in path.read_bytes(),
                timeout=60,
            )
            assert proc.poll() is None, path.read_text(errors="replace")
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
        if self.amqp is not None:
            self.amqp.close()
            self.deps.broker.close()
        return codes

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.workdir.glob("*.log"))

    # -- people ------------------------------------------------------------------------
    @property
    def people(self) -> dict[str, User]:
        return self.world.people

    def enrol(self, name: str, role: str) -> User:
        return self.world.enrol(name, ENTERPRISE, role, "fault-suite-pw")

    def token(self, name: str) -> str:
        return self.world.session(name)

    def code(self, name: str) -> str:
        return self.world.code(name)

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
        return app_client.send(self.deps, self.request(n, applicant)).payment_id

    def review(self, payment_id: str, reviewer: str) -> ReviewDecision:
        decision = ReviewDecision(
            payment_id=payment_id, approve=True, session=SecretStr(self.token(reviewer))
        )
        app_client.send(self.deps, decision)
        return decision

    def authorize(self, payment_id: str, authorizer: str) -> AuthDecision:
        decision = AuthDecision(
            payment_id=payment_id,
            approve=True,
            session=SecretStr(self.token(authorizer)),
            otp=SecretStr(self.auth_code(payment_id, authorizer)),
        )
        app_client.send(self.deps, decision)
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


#: Where :func:`hold_one_in_each_stage` holds a message, one per stage.
HELD_IN_EACH_STAGE = (
    "apply.after_otp",
    "review.decide",
    "authorize.after_transition",
    "interbank.after_submit",
)


def enrol_four(cluster: Cluster) -> None:
    """Four applicants and authorizers (one code each per step) and a reviewer."""
    for i in range(1, 5):
        cluster.enrol(f"applicant-{i}", "applicant")
        cluster.enrol(f"authorizer-{i}", "authorizer")
    cluster.enrol("reviewer", "reviewer")


def hold_one_in_each_stage(cluster: Cluster) -> tuple[str, str, str, str]:
    """With every stage running and :func:`enrol_four` done: one payment held inside each
    stage, unacknowledged, at the worst moment for it. Returns them: p1 in apply, p2 in
    review, p3 in authorize, p4 in interbank."""
    p2, p3, p4 = (cluster.submit(i, f"applicant-{i}") for i in (2, 3, 4))
    for pid in (p2, p3, p4):
        cluster.wait_status(pid, "pending_review")
    for pid in (p3, p4):
        cluster.review(pid, "reviewer")
        cluster.wait_status(pid, "pending_auth")
    cluster.hold("interbank.after_submit")  # submitted to clearing, not yet recorded
    cluster.authorize(p4, "authorizer-4")
    cluster.wait_held("interbank.after_submit")
    cluster.hold("authorize.after_transition")  # authorized, not yet handed to interbank
    cluster.authorize(p3, "authorizer-3")
    cluster.wait_held("authorize.after_transition")
    cluster.hold("review.decide")  # decision checked, not yet written
    cluster.review(p2, "reviewer")
    cluster.wait_held("review.decide")
    cluster.hold("apply.after_otp")  # the applicant's code spent, payment not yet created
    p1 = cluster.submit(1, "applicant-1")
    cluster.wait_held("apply.after_otp")
    return p1, p2, p3, p4


def finish_and_check_once_each(
    cluster: Cluster, pids: tuple[str, str, str, str], timeout: float = 30
) -> None:
    """After :func:`hold_one_in_each_stage` and a fault: take p1 and p2 (back in review and
    authorization) to the end, then check that all four settled with their full history,
    clearing saw each once, and no payment's events have a gap."""
    p1, p2, _p3, _p4 = pids
    cluster.authorize(p2, "authorizer-2")
    cluster.review(p1, "reviewer")
    cluster.wait_status(p1, "pending_auth", timeout=timeout)
    cluster.authorize(p1, "authorizer-1")
    for pid in pids:
        cluster.wait_status(pid, "settled", timeout=timeout)
        assert cluster.history(pid) == FULL_HISTORY, pid
    e2e_ids = [cluster.deps.store.get(pid).end_to_end_id for pid in pids]  # type: ignore[union-attr]
    submissions = cluster.deps.clearing.submissions()  # type: ignore[attr-defined]
    assert sorted(submissions) == sorted(e2e_ids), "clearing must see each payment exactly once"
    for pid in pids:
        seqs = [e.seq for _sid, e in cluster.deps.store.read_events() if e.payment_id == pid]
        assert seqs == list(range(1, len(seqs) + 1)), f"events of {pid} have a gap: {seqs}"


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
    deps = bootstrap(settings, client, Directory(client, Keys(prefix), cheap_hasher()))
    world = World(deps)
    world.bank("BOC", "Bank of China", True)
    world.enterprise(ENTERPRISE, "Fault Co", ["BOC"], [ACCOUNT], True)
    amqp = None
    if settings.broker_url.startswith("amqp"):
        declare_up_front(deps.broker)  # as a worker does: the queues exist before any starts
        amqp = AmqpQueues(settings.broker_url)
    return Cluster(settings, env, workdir, deps, world, amqp=amqp), client


@contextmanager
def queues_on(broker: str) -> Iterator[dict[str, str]]:
    """The settings that put the stages' queues on ``broker``: none for Redis (the queues
    live beside the state), a vhost of this test's own for RabbitMQ."""
    if broker == "redis":
        yield {}
        return
    with fresh_vhost("faults") as url:
        yield {"broker_url": url}


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> str:
    """The broker the stages' queues run on: Redis unless a test is parametrized with it."""
    chosen: str = getattr(request, "param", "redis")
    assert chosen in BROKERS, chosen
    return chosen


@pytest.fixture
def cluster(redis_url: str, tmp_path: Path, broker: str) -> Iterator[Cluster]:
    with queues_on(broker) as on_broker:
        made, client = make_cluster(redis_url, tmp_path, **on_broker)
        try:
            yield made
        finally:
            made.stop_all()
            cleanup(client, made.settings.prefix)
            client.close()


__all__ = [
    "BROKERS",
    "FULL_HISTORY",
    "Cluster",
    "cleanup",
    "make_cluster",
    "queues_on",
    "replace",
    "wait_until",
]
