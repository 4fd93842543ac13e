"""What a process exports on ``/metrics``, assembled from its settings by its composition root
(``b2bpay worker``, ``b2bpay serve``):

- every stage worker: its messages (:mod:`shared.metrics.messages`);
- the sweeper worker and ``serve``: the installation's queues, stream readers and dead
  letters (:mod:`shared.metrics.system`), read at each scrape. They are the same numbers
  wherever they are read, so only these two serve them rather than every worker; a stopped
  stage's growing queue stays visible because the stage's own worker does not report it;
- the query worker and ``serve``: payments by status from the read model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from wsgiref.simple_server import WSGIServer

import dramatiq
import redis
from dramatiq.middleware import Retries
from prometheus_client import start_http_server
from prometheus_client.registry import CollectorRegistry

from shared.config import Settings
from shared.messaging.routes import QUEUES, routes_of
from shared.metrics.collectors import (
    READ_TIMEOUT_SECONDS,
    PaymentsCollector,
    StatusCount,
    SystemCollector,
)
from shared.metrics.messages import CountMessages, MessageMetrics
from shared.metrics.system import QueueProbe, RedisQueueProbe, SystemSnapshot, read_system
from shared.redis.keys import Keys

#: The statuses that wait on someone, with the setting that bounds the wait.
WAITING_STATUSES = ("requested", "otp_verified", "pending_review", "pending_auth")


def count_messages(
    broker: dramatiq.Broker, registry: CollectorRegistry, stages: Iterable[str] = ()
) -> MessageMetrics:
    """Count and time every message ``broker``'s workers process, on ``registry``; the
    actors of ``stages`` are shown from the start."""
    metrics = MessageMetrics(registry)
    for stage in stages:
        for route in routes_of(stage):
            metrics.expect(route.stage.value, route.actor)
    # Before Retries in the list: "after" hooks run in reverse, so this one sees whether
    # Retries gave a failed message up for good.
    broker.add_middleware(CountMessages(metrics), before=Retries)
    return metrics


def metrics_redis(url: str, timeout: float = READ_TIMEOUT_SECONDS) -> redis.Redis:
    """A Redis client of the metrics' own, with short timeouts: a slow Redis must fail a
    scrape's read rather than hold it (and never block the process's own clients)."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def queue_probe(settings: Settings, client: redis.Redis) -> QueueProbe:
    """The queues' probe for the broker the settings name: RabbitMQ for an ``amqp://`` URL,
    else dramatiq's layout on Redis (``client`` when the queues share the state's Redis)."""
    url = settings.effective_broker_url()
    if url.startswith(("amqp://", "amqps://")):
        from shared.metrics.rabbitmq_queues import RabbitQueueProbe

        return RabbitQueueProbe(url, timeout=READ_TIMEOUT_SECONDS)
    broker_client = client if not settings.broker_url else metrics_redis(url)
    return RedisQueueProbe(broker_client, settings.queue_namespace())


def system_reader(settings: Settings) -> Callable[[], SystemSnapshot]:
    """Reads the installation's snapshot on clients of its own."""
    client = metrics_redis(settings.redis_url)
    probe = queue_probe(settings, client)
    keys = Keys(settings.prefix)
    return lambda: read_system(client, keys, probe, QUEUES)


def system_collector(settings: Settings) -> SystemCollector:
    return SystemCollector(system_reader(settings))


def payments_collector(
    settings: Settings, read: Callable[[], Mapping[str, StatusCount]]
) -> PaymentsCollector:
    """Payments by status from ``read`` (the read model's grouped count)."""
    deadlines = {
        status: float(getattr(settings, f"deadline_{status}_seconds"))
        for status in WAITING_STATUSES
    }
    return PaymentsCollector(read, deadlines, time.time)


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    """Serve ``registry`` as Prometheus text on ``http://host:port/metrics`` from a daemon
    thread; ``shutdown()`` the returned server to stop."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
