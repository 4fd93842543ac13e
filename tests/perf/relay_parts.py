"""The parts of the relay measurement (:mod:`tests.perf.relay_throughput`): a vhost of its own,
a subscriber in a process of its own, a writer of real payments' transitions, and a sampler
of a process's CPU time from ``/proc``."""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from typing import Any

from kombu import Connection, Exchange, Queue

from services.relay.relay import EXCHANGE
from shared.domain.content import StoredContent
from shared.domain.contracts import PaymentContent, payment_id_for
from shared.domain.payment import Actor, Application, Payment, Step
from shared.domain.states import Action, PaymentStatus, next_status
from shared.redis.store import PaymentStore

AMQP = "guest:guest@127.0.0.1:5672"
ENTERPRISE, ACCOUNT, BANK = "PERF-BUYER", "6216600100001234", "BOC"
APPLICANT, REVIEWER, AUTHORIZER = "perf-applicant", "perf-reviewer", "perf-authorizer"


@contextmanager
def fresh_vhost() -> Iterator[str]:
    """A vhost of this run's own on the machine's RabbitMQ, deleted on the way out."""
    vhost = f"b2bpay-perf-{secrets.token_hex(4)}"

    def ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)

    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://{AMQP}/{vhost}"
    finally:
        ctl("delete_vhost", vhost)


# -- the subscriber ----------------------------------------------------------------------------
def subscribe(url: str, pattern: str, pipe: Pipe) -> None:
    """A platform's subscriber, run as a process of its own: a queue bound to the exchange
    with ``pattern``; each message's id and the moment it arrived (``time.time()``) are kept.
    Answers on ``pipe``: ``"count"`` -> how many arrived, ``"dump"`` -> all of them,
    ``"stop"`` -> ends. Says ``"ready"`` once the queue is bound."""
    received: list[tuple[str, float]] = []

    def on_message(body: Any, message: Any) -> None:
        received.append((str(message.properties.get("message_id")), time.time()))

    with Connection(url) as connection:
        exchange = Exchange(EXCHANGE, type="topic", durable=True)
        queue = Queue(f"perf-sub-{secrets.token_hex(4)}", exchange, routing_key=pattern)
        queue.exclusive = True
        channel = connection.channel()
        exchange(channel).declare()
        queue(channel).declare()
        with connection.Consumer([queue], channel, callbacks=[on_message], no_ack=True) as c:
            c.qos(prefetch_count=0)
            pipe.send("ready")
            while True:
                with suppress(TimeoutError):
                    connection.drain_events(timeout=0.05)
                while pipe.poll():
                    command = pipe.recv()
                    if command == "count":
                        pipe.send(len(received))
                    elif command == "dump":
                        pipe.send(received)
                    else:
                        return


# -- CPU of a process --------------------------------------------------------------------------
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        after_name = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of the line (utime, stime); after the name, the third field is 1.
    return (int(after_name[11]) + int(after_name[12])) / TICK


class CpuSampler:
    """Samples a process's CPU time every ``every`` seconds, for reading it at any moment."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self._pid, self._every = pid, every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.time(), cpu_seconds(self._pid)))
            except OSError:
                return
            self._stop.wait(self._every)

    def at(self, moment: float) -> float:
        """The CPU time at ``moment`` (the last sample at or before it)."""
        before = [cpu for t, cpu in self.samples if t <= moment]
        return before[-1] if before else self.samples[0][1]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# -- the writer --------------------------------------------------------------------------------
@dataclass
class Flow:
    """One payment on its way to settled: how far it got."""

    payment: Payment | None
    index: int
    step: int = 0


@dataclass
class Writer:
    """Real payments' transitions through the store's one atomic write (``transition.lua``),
    step by step as the stages make them, so the events on the stream are exactly the
    pipeline's: apply (requested + otp_verified in one write), review intake
    (pending_review), reviewer (pending_auth), authorizer (authorized), interbank
    (submitted, then settled) — seven events in six writes per settled payment."""

    store: PaymentStore
    label: str
    written: int = 0
    payment_ids: list[str] = field(default_factory=list)

    #: Writes per payment, and the events they make.
    WRITES = 6
    EVENTS = 7

    def start(self, index: int) -> Flow:
        request_id = f"PERF-{self.label}-{index:06d}"
        content = PaymentContent.model_validate(
            {
                "order_id": f"ORD-{self.label}-{index:06d}",
                "payer": {"enterprise_id": ENTERPRISE, "account": ACCOUNT, "name": "Perf Buyer"},
                "payee": {"bank_code": BANK, "account": f"62220200{index:08d}", "name": "Supp"},
                "amount": "1250.00",
                "currency": "CNY",
                "bank": BANK,
            }
        )
        pid = payment_id_for(ENTERPRISE, request_id)
        application = Application(pid, request_id, StoredContent.of(content))
        application = application.confirmed_by(APPLICANT)
        steps = [
            Step(PaymentStatus.REQUESTED),
            Step(next_status(PaymentStatus.REQUESTED, Action.VERIFY_OTP, "apply")),
        ]
        actor = Actor("apply", "applicant", APPLICANT)
        self.store.create(application, steps, actor, f"cmd-{self.label}-{index:06d}")
        self.written += 2
        self.payment_ids.append(pid)
        return Flow(self.store.get(pid), index, 1)

    def advance(self, flow: Flow) -> bool:
        """The payment's next write; ``False`` once it is settled."""
        payment = flow.payment
        assert payment is not None
        if flow.step == 1:
            change = payment.take_in("review")
            steps, actor, record = change.steps, Actor("review"), None
        elif flow.step == 2:
            change = payment.review("review", REVIEWER, True, None)
            steps, record = change.steps, change.record
            actor = Actor("review", "reviewer", REVIEWER)
        elif flow.step == 3:
            change = payment.authorize("authorize", AUTHORIZER, True, None)
            steps, record = change.steps, change.record
            actor = Actor("authorize", "authorizer", AUTHORIZER)
        elif flow.step == 4:
            steps, actor, record = (payment.submit("interbank"),), Actor("interbank"), None
        elif flow.step == 5:
            steps, actor, record = (payment.settle("interbank"),), Actor("interbank"), None
        else:
            return False
        flow.payment = self.store.transition(payment, steps, actor, None, record)
        flow.step += 1
        self.written += len(steps)
        return flow.step <= 5

    def settle(self, index: int) -> None:
        flow = self.start(index)
        while self.advance(flow):
            pass
