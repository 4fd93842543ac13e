"""The process's ``/metrics``, served when ``B2BPAY_METRICS_PORT`` is set (see
:mod:`shared.metrics.exporter` for which process serves what)."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client.registry import CollectorRegistry

from services.runtime.followers import followers_of
from shared.app.deps import Deps
from shared.messaging.routes import routes_of
from shared.metrics.exporter import count_messages, serve_metrics

log = structlog.get_logger()


def start_metrics(deps: Deps, stages: list[str]) -> WSGIServer | None:
    """Serve the messages the queue stages handle and what each follower adds; None when
    no port is configured."""
    settings = deps.settings
    if settings.metrics_port is None:
        return None
    registry = CollectorRegistry()
    if any(routes_of(stage) for stage in stages):
        count_messages(deps.broker, registry, stages)
    for follower in followers_of(stages):
        if follower.collector is not None:
            registry.register(follower.collector(deps, settings))
    server = serve_metrics(registry, settings.metrics_host, settings.metrics_port)
    log.info("metrics served", host=settings.metrics_host, port=settings.metrics_port)
    return server
