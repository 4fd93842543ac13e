"""The AMQP intake when the stages' broker (``B2BPAY_BROKER_URL=amqp://…``) fails a hand-off
(dramatiq's ``BrokerConnectionError``: RabbitMQ closed the channel, a publish unconfirmed):
waited out like any outage, the message delivered again, never the intake thread lost
(which stopped the whole worker)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import amqp
import pytest
from dramatiq.errors import ConnectionClosed

from services.intake.intake import QUEUE, Intake
from shared.app.deps import Deps, platforms_of
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration


@pytest.fixture
def amqp_url() -> Iterator[str]:
    with fresh_vhost("intake-outage") as url:
        yield url


def test_a_failed_hand_off_to_the_stages_broker_is_retried_not_fatal(
    deps: Deps, amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    platforms = platforms_of(deps)
    platforms.add("plat-out", "Out", ["OUT-01"], lambda e: True)
    platforms.set_amqp_user("plat-out", "guest")
    sent: list[str] = []
    real = deps.dispatch

    def flaky(queue: str, actor_name: str, payload: dict[str, Any]) -> str:
        sent.append(queue)
        if len(sent) == 1:
            raise ConnectionClosed(OSError("the stages' broker closed the channel"))
        return real(queue, actor_name, payload)

    monkeypatch.setattr(deps, "dispatch", flaky)
    intake = Intake(deps, amqp_url, wait_seconds=0.1)
    stop = threading.Event()
    running = threading.Thread(target=intake.run, args=(stop,), name="intake-test", daemon=True)
    running.start()
    try:
        vhost = amqp_url.rsplit("/", 1)[1]
        publisher = amqp.Connection(
            "127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost
        )
        publisher.connect()
        channel = publisher.channel()
        request = {
            "schema": "b2bpay.payment_request.v2",
            "request_id": "out-1",
            "order_id": "OUT-ORDER-1",
            "payer": {"enterprise_id": "OUT-01", "account": "62166001000011", "name": "Outage"},
            "payee": {"bank_code": "ICBC", "account": "62220200001234", "name": "Supplier"},
            "amount": "10.00",
            "currency": "CNY",
        }
        # Declared as the intake declares them, so the publish is routed whoever comes first.
        channel.exchange_declare(QUEUE, "direct", durable=True, auto_delete=False)
        channel.queue_declare(QUEUE, durable=True, auto_delete=False)
        channel.queue_bind(QUEUE, QUEUE, QUEUE)
        channel.basic_publish(
            amqp.Message(
                json.dumps(request).encode(),
                content_type="application/json",
                user_id="guest",
                delivery_mode=2,
            ),
            exchange=QUEUE,
            routing_key=QUEUE,
        )
        deadline = time.monotonic() + 20
        while intake.forwarded == 0:
            assert running.is_alive(), "the intake thread died on a failed hand-off"
            assert time.monotonic() < deadline, (
                f"not forwarded: {sent}, {intake.failures}, {intake.dead_lettered}"
            )
            threading.Event().wait(0.05)  # polling the intake's counter, bounded above
        assert intake.failures >= 1 and len(sent) == 2
        publisher.collect()
    finally:
        stop.set()
        running.join(timeout=10)
