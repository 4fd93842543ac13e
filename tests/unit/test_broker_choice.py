"""Which broker ``B2BPAY_BROKER_URL`` builds, and that RabbitMQ's gets everything Redis's does:
the same middleware (transient faults only retried, log context, current message, failed
messages kept without secrets), the same queues, dead letters for undecodable bodies —
plus publisher confirms, the XQ's TTL and heartbeats from the settings. Building connects to
nothing (no network I/O in this layer)."""

from __future__ import annotations

import fakeredis
import pytest
import redis
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import Retries

from shared.bootstrap import bootstrap
from shared.config import Settings, SettingsError
from shared.messaging import broker as queues
from shared.messaging.rabbitmq import GuardedRabbitmqBroker
from shared.messaging.routes import QUEUES

PASSWORD = "pw-never-shown-4711"


def _settings(settings: Settings, broker_url: str, **more: object) -> Settings:
    return settings.model_copy(update={"broker_url": broker_url, **more})


def test_an_amqp_url_builds_the_rabbitmq_broker_with_what_the_redis_broker_has(
    settings: Settings, redis_client: fakeredis.FakeRedis
) -> None:
    on_redis = bootstrap(settings, redis_client).broker
    amqp = f"amqp://guest:{PASSWORD}@127.0.0.1:5672/b2bpay"
    on_rabbitmq = bootstrap(
        _settings(settings, amqp, dead_message_ttl_ms=5_000, heartbeat_timeout_ms=9_000),
        redis_client,
    ).broker

    assert isinstance(on_rabbitmq, GuardedRabbitmqBroker)
    assert [type(m) for m in on_rabbitmq.middleware] == [type(m) for m in on_redis.middleware]
    retries = next(m for m in on_rabbitmq.middleware if isinstance(m, Retries))
    assert retries.retry_when is queues._retry_when
    assert on_rabbitmq.get_declared_queues() == set(QUEUES)
    assert on_rabbitmq.on_undecodable is not None, "undecodable bodies go to our dead letters"
    assert on_rabbitmq.confirm_delivery is True
    assert on_rabbitmq.dead_message_ttl == 5_000
    assert on_rabbitmq.parameters.heartbeat == 9
    assert on_rabbitmq.parameters.virtual_host == "b2bpay"
    assert PASSWORD not in on_rabbitmq.where()
    assert on_rabbitmq.where() == "RabbitMQ at 127.0.0.1:5672, vhost 'b2bpay'"


def test_a_heartbeat_in_the_url_wins_over_the_setting(settings: Settings) -> None:
    url = "amqps://guest:guest@rabbit.example:5671/%2F?heartbeat=30"
    broker = queues.build_broker(_settings(settings, url))
    assert isinstance(broker, GuardedRabbitmqBroker)
    assert broker.parameters.heartbeat == 30
    assert broker.where() == "RabbitMQ at rabbit.example:5671, vhost '/'"
    without_port = queues.build_broker(_settings(settings, "amqps://rabbit.example/b2bpay"))
    assert without_port.where() == "RabbitMQ at rabbit.example:5671, vhost 'b2bpay'"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "named"),
    [
        (f"kafka://guest:{PASSWORD}@127.0.0.1:9092", "'kafka'"),
        (f"guest:{PASSWORD}@127.0.0.1:5672", "?"),
        (f"amqp+ssl://guest:{PASSWORD}@h", "?"),
    ],
)
def test_another_scheme_is_refused_naming_it_and_never_the_rest(
    settings: Settings, url: str, named: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        queues.build_broker(_settings(settings, url))
    told = str(refused.value)
    assert told.startswith(f"B2BPAY_BROKER_URL: unsupported scheme {named};")
    assert "amqp://" in told and "redis://" in told
    assert PASSWORD not in told


@pytest.mark.parametrize(
    "error",
    [ConnectionClosed("gone"), redis.ConnectionError("gone"), redis.TimeoutError("slow")],
)
def test_a_broker_or_redis_connection_failure_is_transient_and_retried(error: Exception) -> None:
    assert queues._retry_when(0, error)
    assert not queues._retry_when(20, error)


def test_a_bug_is_not_retried() -> None:
    assert not queues._retry_when(0, RuntimeError("a bug"))
