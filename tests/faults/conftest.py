"""The fault-injection suite's cluster: stage workers as real processes on a real Redis
(:class:`tests.stack.Stack`), which a test can kill, hold at a fault point, or cut off from
Redis, while it drives payments from the test process.

The stages' queues are on that Redis, or — for a test parametrized with the ``broker``
fixture (``@pytest.mark.parametrize("broker", BROKERS, indirect=True)``) — on the machine's
RabbitMQ, in a vhost of the test's own; the state, events and sessions stay on Redis."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
from tests.happy_path import FULL_HISTORY, Step
from tests.rabbitmq import BROKERS, AmqpQueues, fresh_vhost
from tests.stack import (
    Stack,
    delete_keys,
    new_prefix,
    stack_env,
    wait_until,
    walk_happy_path,
)

ENTERPRISE = "FAULT-01"
ACCOUNT = "62166001000077"
STAGE_PROCESSES = ("apply", "review", "authorize", "interbank", "query")


def linked_code(deps: Deps, payment_id: str, secret: str, at: float | None = None) -> str:
    """What an authorizer's token shows for this payment now (or at ``at``): the code linked
    to its challenge (the payment must exist), or a plain code in totp mode."""
    payment = deps.store.get(payment_id)
    assert payment is not None, f"{payment_id} does not exist yet"
    return authorizer_code(deps.settings.authorizer_otp, secret, payment, at)


@dataclass(kw_only=True)
class Cluster(Stack):
    """A stack without a server whose workers each test starts itself, beside dependencies
    of its own in the test process (fault points, a cheap password hasher)."""

    settings: Settings
    deps: Deps
    world: World
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
    def start_all(self) -> dict[str, subprocess.Popen[bytes]]:
        return {stage: self.start(stage) for stage in STAGE_PROCESSES}

    def stop_all(self) -> dict[int, int]:
        codes = super().stop_all()
        if self.amqp is not None:
            self.amqp.close()
            self.deps.broker.close()
        return codes

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

    def settle(self, authorizers: dict[str, str], reviewer: str = "reviewer") -> None:
        """Take submitted payments (each to its authorizer: a code is accepted once per
        step) along the happy path to settled, all reviewed by ``reviewer``."""
        walk_happy_path(_Deciders(self, reviewer, authorizers), list(authorizers), "review")

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


@dataclass
class _Deciders:
    """The people of a :class:`Cluster` who take its payments along the happy path."""

    cluster: Cluster
    reviewer: str
    authorizers: dict[str, str]

    def act(self, step: Step, payment_id: str) -> object:
        if step.action == "review":
            return self.cluster.review(payment_id, self.reviewer)
        assert step.action == "authorize", step
        return self.cluster.authorize(payment_id, self.authorizers[payment_id])

    def wait_status(self, payment_id: str, status: str) -> str:
        return self.cluster.wait_status(payment_id, status)


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


def make_cluster(redis_url: str, workdir: Path, **overrides: Any) -> tuple[Cluster, redis.Redis]:
    """A cluster on a prefix of its own, no worker started yet; ``overrides`` are settings
    (by field name) given to its processes and its in-process dependencies alike."""
    env = stack_env(
        redis_url,
        new_prefix("faults"),
        workdir,
        B2BPAY_FAULT_HOOKS="1",
        **{f"B2BPAY_{k.upper()}": str(v) for k, v in overrides.items()},
    )
    client = redis.Redis.from_url(redis_url)
    bare = Stack(env=env, workdir=workdir, redis=client)
    settings = bare.settings_like(fault_hooks=True, log_format="json", **overrides)
    deps = bootstrap(settings, client, Directory(client, Keys(settings.prefix), cheap_hasher()))
    world = World(deps)
    world.bank("BOC", "Bank of China", True)
    world.enterprise(ENTERPRISE, "Fault Co", ["BOC"], [ACCOUNT], True)
    amqp = None
    if settings.broker_url.startswith("amqp"):
        declare_up_front(deps.broker)  # as a worker does: the queues exist before any starts
        amqp = AmqpQueues(settings.broker_url)
    cluster = Cluster(
        env=env, workdir=workdir, redis=client, settings=settings, deps=deps, world=world, amqp=amqp
    )
    return cluster, client


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
            delete_keys(client, made.settings.prefix)
            client.close()
