"""The queue stages of a process: each route's handler registered as its dramatiq actor, and
one dramatiq worker consuming the stages' queues (:data:`shared.messaging.routes.ROUTES`)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

import dramatiq

from shared.app.actor import Handler, stage_actor
from shared.app.deps import Deps
from shared.messaging.routes import ROUTES, Route


def handler_of(route: Route) -> Handler:
    """The function a route names (``module:function``): the routes table lives in
    ``shared/``, which never imports ``services/``, so the runtime looks the handler up."""
    module, _, name = route.handler.partition(":")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


def start_stages(deps: Deps, stages: Iterable[str], threads: int) -> dramatiq.Worker | None:
    """Register the stages' actors and start one dramatiq worker for their queues; None when
    none of ``stages`` consumes a queue."""
    wanted = set(stages)
    queues: set[str] = set()
    for route in ROUTES:
        if route.stage in wanted:
            stage_actor(deps.broker, deps, handler_of(route), route.queue, route.actor)
            queues.add(route.queue)
    if not queues:
        return None
    worker = dramatiq.Worker(deps.broker, queues=queues, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker
