"""Webhooks against a local receiver (real sockets), with the apply and review stages making
real events on the real Redis: what a platform receives, signed, retried, in order."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator

import dramatiq
import pytest
from structlog.testing import capture_logs

from services.webhooks.dispatcher import Dispatcher
from services.webhooks.follower import WebhookFollower
from services.webhooks.signature import verify
from shared.domain.contracts import ReviewDecision, payment_id_for
from shared.domain.states import PaymentStatus
from shared.messaging import routes as q
from shared.redis.webhooks import DeliveryStatus, Webhooks
from tests.integration.receiver import Receiver, refusing_url
from tests.integration.support import World, must_get
from tests.stack import wait_until

PLATFORM = "liandong"
Stages = Callable[..., dramatiq.Worker]
FLOW = ["payment.requested", "payment.otp_verified", "payment.pending_review"]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(*statuses: int, hang: bool = False) -> Receiver:
        made.append(Receiver(*statuses, hang=hang))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hooks(world: World, clock: Clock) -> Webhooks:
    deps = world.deps
    return Webhooks(deps.redis, deps.keys, deps.directory.totp_keys, clock=clock)


def _follower(world: World, hooks: Webhooks) -> WebhookFollower:
    # Every payment is the platform's: the seam the platforms module wires.
    return WebhookFollower(world.deps.redis, world.deps.keys, hooks, lambda _p: PLATFORM)


def _dispatcher(hooks: Webhooks, **overrides: float) -> Dispatcher:
    settings: dict[str, float] = {"timeout": 5, "backoff_seconds": 5, "retry_seconds": 86_400}
    settings.update(overrides)
    return Dispatcher(hooks, rng=random.Random(7), **settings)  # type: ignore[arg-type]


def _pump(dispatcher: Dispatcher) -> int:
    """One round of attempts, waited for; how many were made."""
    started = dispatcher.dispatch_due()
    for attempt in started:
        attempt.result(timeout=30)
    return len(started)


def _pay(world: World, **overrides: str) -> str:
    request = world.payment_request(**overrides)
    world.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, request.to_wire())
    payment_id = payment_id_for(request.payer.enterprise_id, request.request_id)
    wait_until(
        "the payment in review",
        lambda: (p := world.deps.store.get(payment_id)) and p.status == "pending_review",
        15,
    )
    return payment_id


def _keys(receiver: Receiver) -> list[str]:
    return [f"payment.{json.loads(b)['status']}" for b in receiver.bodies()]


def test_each_event_arrives_signed_so_that_the_platform_verifies_it_with_its_secret(
    world: World, stages: Stages, hooks: Webhooks, receivers: Callable[..., Receiver], clock: Clock
) -> None:
    stages("apply", "review")
    receiver = receivers()
    endpoint, secret = hooks.add(PLATFORM, receiver.url)
    payment_id = _pay(world)
    _follower(world, hooks).catch_up()
    dispatcher = _dispatcher(hooks)
    for _ in FLOW:
        assert _pump(dispatcher) == 1

    assert _keys(receiver) == FLOW
    for got in receiver.received:
        event = json.loads(got.body)
        assert got.headers["Content-Type"] == "application/json"
        assert got.headers["B2bpay-Event-Id"] == event["event_id"]
        assert event["payment_id"] == payment_id
        signature = got.headers["B2bpay-Signature"]
        assert verify(secret, signature, got.body, now=clock())
        assert not verify(secret, signature, got.body.replace(b"1250.00", b"9250.00"), clock())
        assert not verify("whsec_" + "x" * 43, signature, got.body, now=clock())
        assert not verify(secret, signature, got.body, now=clock() + 3600)  # a late replay
    assert {d.status for d in hooks.deliveries()} == {DeliveryStatus.DELIVERED}
    assert all(d.endpoint_id == endpoint.endpoint_id for d in hooks.deliveries())


def test_a_receiver_failing_three_times_gets_the_event_once_more_then_the_next_ones_in_order(
    world: World, stages: Stages, hooks: Webhooks, receivers: Callable[..., Receiver], clock: Clock
) -> None:
    stages("apply", "review")
    receiver = receivers(500, 503, 502)
    hooks.add(PLATFORM, receiver.url)
    _pay(world)
    _follower(world, hooks).catch_up()
    dispatcher = _dispatcher(hooks)

    for failures in (1, 2, 3):
        assert _pump(dispatcher) == 1
        assert len(receiver.received) == failures
        # Not due again before its backoff, and the later events wait behind it.
        assert _pump(dispatcher) == 0
        clock.now += 600
    while _pump(dispatcher):
        pass

    first, *_ = receiver.bodies()
    assert receiver.bodies()[:4] == [first] * 4
    assert _keys(receiver) == [FLOW[0]] * 4 + FLOW[1:]
    by_key = {d.routing_key: d for d in hooks.deliveries()}
    assert by_key[FLOW[0]].attempts == 4
    assert by_key[FLOW[0]].last_error == "http 502"
    assert [by_key[k].status for k in FLOW] == [DeliveryStatus.DELIVERED] * 3


def test_an_event_never_accepted_within_the_retry_window_is_kept_as_failed_and_can_be_replayed(
    world: World, stages: Stages, hooks: Webhooks, receivers: Callable[..., Receiver], clock: Clock
) -> None:
    stages("apply", "review")
    receiver = receivers(500, 500)
    hooks.add(PLATFORM, receiver.url)
    _pay(world)
    _follower(world, hooks).catch_up()
    dispatcher = _dispatcher(hooks, retry_seconds=60)

    assert _pump(dispatcher) == 1
    clock.now += 3600
    assert _pump(dispatcher) == 1  # the second failure is past the window: failed for good
    [failed] = hooks.deliveries(failed_only=True)
    assert (failed.routing_key, failed.status, failed.attempts) == (
        FLOW[0],
        DeliveryStatus.FAILED,
        2,
    )
    # The payment's next events are no longer held behind it.
    while _pump(dispatcher):
        pass
    assert _keys(receiver) == [FLOW[0], FLOW[0], *FLOW[1:]]

    replayed = hooks.replay(failed.delivery_id)
    assert replayed.status is DeliveryStatus.PENDING
    assert _pump(dispatcher) == 1
    assert _keys(receiver)[-1] == FLOW[0]
    assert hooks.deliveries(failed_only=True) == []
    assert hooks.delivery(failed.delivery_id).status is DeliveryStatus.DELIVERED  # type: ignore[union-attr]


def test_a_hanging_and_a_refusing_endpoint_delay_neither_another_endpoint_nor_the_payments(
    world: World, stages: Stages, hooks: Webhooks, receivers: Callable[..., Receiver]
) -> None:
    stages("apply", "review")
    hanging, healthy = receivers(hang=True), receivers()
    hooks.add(PLATFORM, hanging.url)
    hooks.add(PLATFORM, refusing_url())
    hooks.add(PLATFORM, healthy.url)
    timeout = 20.0
    stop = threading.Event()
    dispatcher = Dispatcher(
        hooks, timeout=timeout, backoff_seconds=5, retry_seconds=3600, threads=8
    )
    threads = [
        threading.Thread(target=_follower(world, hooks).run, args=(stop, 50)),
        threading.Thread(target=dispatcher.run, args=(stop, 0.05)),
    ]
    for thread in threads:
        thread.start()
    try:
        started = time.monotonic()
        payment_id = _pay(world)
        wait_until("every delivery", lambda: len(healthy.received) == len(FLOW), timeout / 2)
        assert time.monotonic() - started < timeout / 2
        assert _keys(healthy) == FLOW
        assert must_get(world.deps, payment_id).status == PaymentStatus.PENDING_REVIEW
        # The hanging endpoint still holds its first event; the next ones wait behind it.
        assert len(hanging.received) == 1
    finally:
        stop.set()
        hanging.close()
        for thread in threads:
            thread.join(timeout=60)


def test_patterns_choose_the_events_and_unattached_refusals_are_never_sent(
    world: World, stages: Stages, hooks: Webhooks, receivers: Callable[..., Receiver]
) -> None:
    stages("apply", "review")
    reviews, refusals, everything = receivers(), receivers(), receivers()
    hooks.add(PLATFORM, reviews.url, ["payment.pending_review"])
    hooks.add(PLATFORM, refusals.url, ["refusal.#"])
    hooks.add(PLATFORM, everything.url, ["#"])
    payment_id = _pay(world)
    # The applicant may not review: a refusal attached to the payment.
    world.deps.dispatch(
        q.PENDING_REVIEW,
        q.DECIDE_REVIEW,
        ReviewDecision(
            payment_id=payment_id, approve=True, reason="", session=world.session(world.applicant)
        ).to_wire(),
    )
    # A forged session: an outsider's refusal, attached to no payment (seq 0), which this
    # follower (whose every payment is the platform's) still does not send.
    forged = world.payment_request(session="forged." + "A" * 40)
    world.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, forged.to_wire())
    follower = _follower(world, hooks)
    wait_until("records", lambda: follower.catch_up() == 0 and len(hooks.deliveries()) >= 6, 15)
    dispatcher = _dispatcher(hooks)
    while _pump(dispatcher):
        pass

    assert [json.loads(b)["status"] for b in reviews.bodies()] == ["pending_review"]
    assert [json.loads(b)["reason_code"] for b in refusals.bodies()] == ["wrong_role"]
    assert [json.loads(b)["kind"] for b in everything.bodies()] == ["transition"] * 3 + ["refusal"]
    assert all(json.loads(b)["seq"] > 0 for b in everything.bodies())
    unattached = [e for _s, e in world.deps.store.read_events(count=100_000) if e.seq == 0]
    assert [e.reason_code for e in unattached] == ["session_invalid"]


def test_no_secret_is_in_a_log_line_an_event_a_stored_delivery_or_a_webhook_body(
    world: World, stages: Stages, hooks: Webhooks, receivers: Callable[..., Receiver], clock: Clock
) -> None:
    stages("apply", "review")
    receiver = receivers(500)
    with capture_logs() as logs:
        endpoint, secret = hooks.add(PLATFORM, receiver.url)
        request = world.payment_request()
        world.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, request.to_wire())
        payment_id = payment_id_for(request.payer.enterprise_id, request.request_id)
        wait_until(
            "the payment in review",
            lambda: (p := world.deps.store.get(payment_id)) and p.status == "pending_review",
            15,
        )
        _follower(world, hooks).catch_up()
        dispatcher = _dispatcher(hooks)
        while len(receiver.received) < 4:
            assert _pump(dispatcher) <= 1
            clock.now += 600

    secrets = [secret, request.session.get_secret_value(), request.otp.get_secret_value()]
    stored = [
        json.dumps({str(k): str(v) for k, v in world.deps.redis.hgetall(key).items()})
        for key in world.deps.redis.scan_iter(match=f"{world.deps.keys.prefix}*webhook*")
        if world.deps.redis.type(key) == b"hash"
    ]
    events = [str(e) for e in world.deps.redis.xrange(world.deps.keys.events)]
    bodies = [
        b.decode() + json.dumps(r.headers)
        for b, r in zip(receiver.bodies(), receiver.received, strict=True)
    ]
    for text in [*map(str, logs), *stored, *events, *bodies]:
        for secret_value in secrets:
            # A six-digit code counts as a whole number: the same digits inside a timestamp
            # or a stream id are chance, not a leak.
            leak = rf"(?<!\d){secret_value}(?!\d)" if secret_value.isdigit() else None
            assert (re.search(leak, text) is None) if leak else secret_value not in text
    assert any(endpoint.endpoint_id in s for s in stored)
