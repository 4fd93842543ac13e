"""Fixtures of the integration layer: a seeded bank world and in-thread stage workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dramatiq
import pytest
import redis

from services.runtime.consumers import start_stages
from shared.app.deps import Deps
from tests.integration.support import World, seed_world


@pytest.fixture
def world(deps: Deps) -> World:
    return seed_world(deps)


@pytest.fixture
def client_factory(redis_url: str) -> Iterator[Callable[[], redis.Redis]]:
    """Separate Redis clients (own connection pools), as separate worker processes have."""
    made: list[redis.Redis] = []

    def make() -> redis.Redis:
        client = redis.Redis.from_url(redis_url)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def stages(deps: Deps) -> Iterator[Callable[..., dramatiq.Worker]]:
    """Start a dramatiq worker in this process for some stages; stopped after the test."""
    workers: list[dramatiq.Worker] = []

    def start(*names: str, threads: int = 2) -> dramatiq.Worker:
        worker = start_stages(deps, list(names), threads=threads)
        assert worker is not None, f"no dramatiq stage among {names}"
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
