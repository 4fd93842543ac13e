"""``b2bpay serve``'s ``/metrics`` on the real Redis (and who may read it), the RabbitMQ
queue probe on the machine's RabbitMQ, and a Redis that never answers reported down within
the scrape's deadline."""

from __future__ import annotations

import secrets
import socket
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu import Connection, Producer
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from services.api.app import build
from shared.config import Settings
from shared.messaging import routes
from shared.metrics.collectors import SystemCollector, new_registry
from shared.metrics.exporter import queue_probe, system_reader
from shared.metrics.rabbitmq_queues import RabbitQueueProbe
from shared.metrics.system import RedisQueueProbe

with warnings.catch_warnings():
    # Starlette's test client asks for a fork of httpx (httpx2); it works as it is with httpx
    # (as in tests/unit/cli_api.py).
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.integration

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _values(text: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def test_serve_s_metrics_show_queues_readers_dead_letters_and_payments(settings: Settings) -> None:
    with TestClient(build(settings)) as http:
        answer = http.get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    values = _values(answer.text)
    assert [s.value for s in values["b2bpay_redis_up"]] == [1]
    assert [s.value for s in values["b2bpay_read_model_up"]] == [1]
    queues = {s.labels["queue"] for s in values["b2bpay_queue_messages"]}
    assert queues == set(routes.QUEUES)
    assert {s.labels["status"] for s in values["b2bpay_payments"]} >= {"settled", "pending_auth"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Basic Zm9vOmJhcg==", "Bearer "],
    ids=["none", "wrong", "basic", "empty"],
)
def test_with_a_metrics_token_serve_s_metrics_refuse_anyone_without_it(
    settings: Settings, authorization: str | None
) -> None:
    token = secrets.token_urlsafe(24)
    guarded = settings.model_copy(update={"metrics_token": SecretStr(token)})
    headers = {"Authorization": authorization} if authorization else {}
    with TestClient(build(guarded)) as http:
        refused = http.get("/metrics", headers=headers)
        admitted = http.get("/metrics", headers={"Authorization": f"Bearer {token}"})

    assert refused.status_code == 401
    assert refused.json()["reason_code"] == "authentication_failed"
    assert "b2bpay_" not in refused.text
    assert token not in refused.text
    assert admitted.status_code == 200
    assert "b2bpay_queue_messages" in admitted.text


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A port that takes connections and never answers: a hung Redis."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_a_redis_that_never_answers_is_reported_down_within_the_scrape_deadline(
    settings: Settings, silent_redis: str
) -> None:
    hung = settings.model_copy(update={"redis_url": silent_redis})
    registry = new_registry(SystemCollector(system_reader(hung), timeout=1.0))

    started = time.monotonic()
    values = _values(generate_latest(registry).decode())
    took = time.monotonic() - started

    assert took < 3
    assert [s.value for s in values["b2bpay_redis_up"]] == [0]
    assert "b2bpay_queue_messages" not in values


@pytest.fixture
def amqp_queues() -> Iterator[tuple[Connection, str]]:
    """A queue name of this test's own (and its delay queue), deleted afterwards."""
    name = f"b2bpay-test-probe-{secrets.token_hex(4)}"
    with Connection(AMQP_URL) as conn:
        channel = conn.channel()
        for queue in (name, f"{name}.DQ"):
            channel.queue_declare(queue=queue, durable=False, auto_delete=False)
        try:
            yield conn, name
        finally:
            for queue in (name, f"{name}.DQ"):
                channel.queue_delete(queue)


def test_the_rabbitmq_probe_counts_ready_and_delayed_messages_without_creating_queues(
    amqp_queues: tuple[Connection, str],
) -> None:
    conn, name = amqp_queues
    producer = Producer(conn.channel())
    for _ in range(3):
        producer.publish("{}", routing_key=name)
    producer.publish("{}", routing_key=f"{name}.DQ")
    missing = f"b2bpay-test-missing-{secrets.token_hex(4)}"

    probe = RabbitQueueProbe(AMQP_URL, timeout=2.0)
    states = {s.queue: s for s in probe.read([name, missing])}

    assert (states[name].ready, states[name].delayed) == (3, 1)
    assert states[name].oldest_age_seconds is None and states[name].in_flight is None
    assert (states[missing].ready, states[missing].delayed) == (0, 0)
    # The passive declare created nothing.
    channel = conn.channel()
    with pytest.raises(conn.channel_errors):
        channel.queue_declare(queue=missing, passive=True)


def test_the_queue_probe_follows_the_broker_url_scheme(
    settings: Settings, redis_client: redis.Redis
) -> None:
    on_rabbit = settings.model_copy(update={"broker_url": AMQP_URL})
    assert isinstance(queue_probe(on_rabbit, redis_client), RabbitQueueProbe)
    assert isinstance(queue_probe(settings, redis_client), RedisQueueProbe)
