"""The relay against the real RabbitMQ (127.0.0.1:5672, a vhost of this test run's own,
deleted afterwards) and the real Redis: what a subscriber of the topic ``b2bpay.events``
gets, in order, persistent, and nothing lost while the broker is unreachable."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
from kombu import Connection, Exchange, Queue

from services.relay.relay import EXCHANGE, Relay
from shared.domain.states import PaymentStatus
from shared.messaging import routes as q
from tests.integration.support import World, transitions_of
from tests.stack import wait_until

AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672
SETTLED_FLOW = [
    "payment.requested",
    "payment.otp_verified",
    "payment.pending_review",
    "payment.pending_auth",
    "payment.authorized",
    "payment.submitted",
    "payment.settled",
]
Stages = Callable[..., dramatiq.Worker]


def _answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    """A vhost of this test run's own on the machine's RabbitMQ, deleted afterwards."""
    if not _answers(AMQP_HOST, AMQP_PORT):
        pytest.fail(
            f"RabbitMQ is not answering on {AMQP_HOST}:{AMQP_PORT}: start it "
            "(`rabbitmq-server -detached`; .ci/run does) — the relay tests need a real broker"
        )
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl not found: the relay tests make a vhost of their own with it")
    vhost = f"b2bpay-test-{secrets.token_hex(4)}"
    _ctl("add_vhost", vhost)
    try:
        _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{vhost}"
    finally:
        _ctl("delete_vhost", vhost)


class Subscriber:
    """A queue of its own bound to the exchange with ``pattern``, as any platform would."""

    def __init__(self, url: str, pattern: str) -> None:
        self._connection = Connection(url)
        exchange = Exchange(EXCHANGE, type="topic", durable=True)
        self._queue = Queue(
            f"sub-{secrets.token_hex(4)}", exchange, routing_key=pattern, exclusive=True
        )
        self._bound = self._queue(self._connection.channel())
        self._bound.declare()
        self.messages: list[Any] = []

    def poll(self) -> list[Any]:
        while (message := self._bound.get(no_ack=False)) is not None:
            message.ack()
            self.messages.append(message)
        return self.messages

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in self.poll()]

    def close(self) -> None:
        self._connection.release()


@pytest.fixture
def subscribe(amqp_url: str) -> Iterator[Callable[[str], Subscriber]]:
    made: list[Subscriber] = []

    def make(pattern: str) -> Subscriber:
        made.append(Subscriber(amqp_url, pattern))
        return made[-1]

    yield make
    for subscriber in made:
        subscriber.close()


@pytest.fixture
def relay_running(world: World) -> Iterator[Callable[[str], Relay]]:
    """Start a relay thread on the test's events stream; stopped after the test."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(url: str) -> Relay:
        relay = Relay(world.deps.redis, world.deps.keys, url, connect_timeout=2)
        threads.append(threading.Thread(target=relay.run, args=(stop,), name="relay"))
        threads[-1].start()
        return relay

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "the relay did not stop"


def _declare(url: str) -> None:
    """The exchange exists before subscribers bind (the relay declares it too)."""
    with Connection(url) as connection:
        Exchange(EXCHANGE, type="topic", durable=True)(connection.channel()).declare()


def _settle(world: World) -> str:
    deps = world.deps
    # An applicant and an authorizer of its own per payment: a one-time code is taken once.
    world.applicant, world.authorizer = (
        world.enrol(f"{role}-{secrets.token_hex(3)}", world.enterprise_id, role, "pw pw pw pw")
        for role in ("applicant", "authorizer")
    )
    request = world.payment_request()
    deps.dispatch(q.APPLY, q.APPLY_PAYMENT, request.to_wire())
    verdict = deps.store.wait_verdict(request.command_id, 4.0)
    assert verdict is not None and verdict.outcome == "accepted", verdict
    payment_id = verdict.payment_id
    _reaches(world, payment_id, PaymentStatus.PENDING_REVIEW)
    deps.dispatch(q.PENDING_REVIEW, q.DECIDE_REVIEW, world.review(payment_id).to_wire())
    _reaches(world, payment_id, PaymentStatus.PENDING_AUTH)
    deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, world.authorize(payment_id).to_wire())
    _reaches(world, payment_id, PaymentStatus.SETTLED)
    return payment_id


def _reaches(world: World, payment_id: str, status: PaymentStatus) -> None:
    wait_until(
        f"{payment_id} to reach {status.value}",
        lambda: (p := world.deps.store.get(payment_id)) is not None and p.status == status,
        15,
    )


def test_a_payment_star_subscriber_gets_every_transition_through_settled_in_order(
    world: World,
    stages: Stages,
    amqp_url: str,
    subscribe: Callable[[str], Subscriber],
    relay_running: Callable[[str], Relay],
) -> None:
    _declare(amqp_url)
    subscriber = subscribe("payment.*")
    stages("apply", "review", "authorize", "interbank")
    relay_running(amqp_url)

    payment_id = _settle(world)

    expected = transitions_of(world.deps, payment_id)
    wait_until("every transition", lambda: len(subscriber.poll()) >= len(expected), 15)
    messages = subscriber.poll()
    assert [m.delivery_info["routing_key"] for m in messages] == SETTLED_FLOW
    assert [m.properties["message_id"] for m in messages] == [e.event_id for e in expected]
    assert all(m.properties["delivery_mode"] == 2 for m in messages)
    assert all(m.content_type == "application/json" for m in messages)
    bodies = [json.loads(m.body) for m in messages]
    assert [(b["payment_id"], b["event_id"]) for b in bodies] == [
        (payment_id, e.event_id) for e in expected
    ]


def test_a_payment_settled_subscriber_gets_only_settlements(
    world: World,
    stages: Stages,
    amqp_url: str,
    subscribe: Callable[[str], Subscriber],
    relay_running: Callable[[str], Relay],
) -> None:
    _declare(amqp_url)
    settled = subscribe("payment.settled")
    everything = subscribe("#")
    stages("apply", "review", "authorize", "interbank")
    relay = relay_running(amqp_url)

    first, second = _settle(world), _settle(world)

    # Once everything relayed has arrived at the catch-all queue, the settled queue is complete.
    total = sum(len(transitions_of(world.deps, p)) for p in (first, second))
    wait_until("both payments relayed", lambda: relay.published >= total, 15)
    wait_until("the catch-all queue", lambda: len(everything.poll()) >= relay.published, 15)
    events = settled.events()
    assert [(e["payment_id"], e["status"]) for e in events] == [
        (first, "settled"),
        (second, "settled"),
    ]


def test_a_relay_that_cannot_reach_the_broker_loses_nothing_once_it_can(
    world: World,
    stages: Stages,
    amqp_url: str,
    subscribe: Callable[[str], Subscriber],
    relay_running: Callable[[str], Relay],
) -> None:
    _declare(amqp_url)
    subscriber = subscribe("payment.*")
    stages("apply", "review", "authorize", "interbank")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        relay = relay_running(amqp_url.replace(f":{AMQP_PORT}/", f":{port}/"))

        payment_ids = [_settle(world), _settle(world)]
        wait_until("the relay to fail to connect", lambda: relay.failures >= 2, 15)
        assert subscriber.poll() == []

    relay.amqp_url = amqp_url  # the broker is reachable again
    expected = [e.event_id for p in payment_ids for e in transitions_of(world.deps, p)]
    wait_until(
        "every event after the outage",
        lambda: {json.loads(m.body)["event_id"] for m in subscriber.poll()} >= set(expected),
        60,
    )
    # At-least-once: duplicates only with the same event_id; first arrivals in stream order.
    seen: list[str] = []
    for message in subscriber.poll():
        if message.properties["message_id"] not in seen:
            seen.append(message.properties["message_id"])
    assert seen == expected
