"""The stages that run as loops in threads of the worker process, declared once.

A follower follows something other than b2bpay's own queues (the events stream, a clock, an
AMQP queue of the platforms'), so it is not a dramatiq actor. Each row of :data:`FOLLOWERS`
says everything the runtime needs:

- ``stage``: the name ``b2bpay worker`` runs it by (a :class:`~shared.domain.stages.Stage`);
- ``name``: its thread's name (``name-N`` when it runs one loop per worker thread);
- ``start``: builds its loop from the process's dependencies and settings; the loop runs
  until the ``stop`` event it is given is set, and ending before that is a failure (the
  process stops, exit 1);
- ``needs``: the server keys it uses (:class:`~shared.security.keyneeds.KeyNeed`); the
  process refuses to start without them;
- ``per_thread``: one loop per worker thread (``--threads``) instead of one;
- ``collector``: what it adds to the process's ``/metrics``, if anything.

Adding a follower is one row here (and its :class:`Stage` member); ``tests/unit/
test_runtime.py`` checks that every stage is either a queue stage or a follower.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Protocol

from prometheus_client.registry import Collector

from shared.app.deps import Deps
from shared.config import Settings
from shared.domain.stages import Stage
from shared.metrics.exporter import payments_collector, system_collector
from shared.security.keyneeds import KeyNeed

if TYPE_CHECKING:
    from services.query.readmodel import ReadModel

# Each follower's module is imported by its factory, not here: a worker process imports only
# the followers it runs (an apply worker needs neither SQLAlchemy nor kombu), which saves
# about half a second of CPU at every start. FOLLOWER_MODULES names them all.


class Loop(Protocol):
    """A follower's loop: runs until ``stop`` is set."""

    def __call__(self, stop: threading.Event) -> None: ...


class Start(Protocol):
    """Builds a follower's loop. ``n`` numbers the loops of a follower that runs one per
    worker thread (0 for the others)."""

    def __call__(self, deps: Deps, settings: Settings, n: int) -> Loop: ...


@dataclass(frozen=True)
class Follower:
    """One row of :data:`FOLLOWERS` (the module's docstring says what each field means)."""

    stage: Stage
    name: str
    start: Start
    needs: frozenset[KeyNeed] = frozenset()
    per_thread: bool = False
    collector: Callable[[Deps, Settings], Collector] | None = None


@cache
def _read_model(database_url: str) -> ReadModel:
    # One per process: the projector writes it and /metrics counts its payments.
    from services.query.readmodel import ReadModel, make_engine

    return ReadModel(make_engine(database_url))


def _projector(deps: Deps, settings: Settings, n: int) -> Loop:
    from services.query.projector import Projector

    return Projector(
        deps.redis,
        deps.keys,
        _read_model(settings.database_url),
        claim_idle_ms=settings.query_claim_idle_ms,
        faults=deps.faults,
    ).run


def _payments(deps: Deps, settings: Settings) -> Collector:
    return payments_collector(settings, _read_model(settings.database_url).status_counts)


def _auditor(deps: Deps, settings: Settings, n: int) -> Loop:
    from services.audit.auditor import Auditor, audit_log_of

    return Auditor(
        deps.redis, deps.keys, audit_log_of(deps), claim_idle_ms=settings.audit_claim_idle_ms
    ).run


def _sweeper(deps: Deps, settings: Settings, n: int) -> Loop:
    from services.sweeper.sweeper import sweep_forever

    return lambda stop: sweep_forever(deps, stop)


def _system(deps: Deps, settings: Settings) -> Collector:
    return system_collector(settings)


def _webhooks(deps: Deps, settings: Settings, n: int) -> Loop:
    from services.webhooks.run import run_webhooks

    return lambda stop: run_webhooks(deps, stop)


def _relay(deps: Deps, settings: Settings, n: int) -> Loop:
    from services.relay.relay import Relay

    return Relay(
        deps.redis, deps.keys, settings.amqp_url, claim_idle_ms=settings.relay_claim_idle_ms
    ).run


def _intake(deps: Deps, settings: Settings, n: int) -> Loop:
    from services.intake.intake import Intake

    # Each consumer on a connection of its own, one message at a time.
    return Intake(
        deps,
        settings.amqp_url,
        wait_seconds=settings.intake_wait_seconds,
        name=f"intake-{os.getpid()}-{n}",
    ).run


#: Every follower, in the order a process starts them.
FOLLOWERS: tuple[Follower, ...] = (
    Follower(Stage.QUERY, "projector", _projector, collector=_payments),
    Follower(Stage.AUDIT, "auditor", _auditor, needs=frozenset({KeyNeed.AUDIT})),
    Follower(Stage.SWEEPER, "sweeper", _sweeper, collector=_system),
    # Decrypts the endpoints' signing secrets, sealed with the TOTP key ring.
    Follower(Stage.WEBHOOKS, "webhooks", _webhooks, needs=frozenset({KeyNeed.TOTP})),
    # Publishes the events as they are on the stream; holds no key.
    Follower(Stage.RELAY, "relay", _relay),
    # Checks the platform records (sealed with the TOTP key ring) of AMQP publishers.
    Follower(Stage.INTAKE, "intake", _intake, needs=frozenset({KeyNeed.TOTP}), per_thread=True),
)


#: The module each follower's factory imports (checked by ``tests/unit/test_routes.py``).
FOLLOWER_MODULES: tuple[str, ...] = (
    "services.query.projector",
    "services.audit.auditor",
    "services.sweeper.sweeper",
    "services.webhooks.run",
    "services.relay.relay",
    "services.intake.intake",
)


def followers_of(stages: list[str]) -> tuple[Follower, ...]:
    """The followers among ``stages``, in table order."""
    return tuple(f for f in FOLLOWERS if f.stage in stages)


def loops_of(deps: Deps, stages: list[str], threads: int) -> list[tuple[str, Loop]]:
    """The loops of the followers among ``stages``, each with its thread's name. Every one is
    built before any runs: a follower that cannot be built stops the process first."""
    built: list[tuple[str, Loop]] = []
    for follower in followers_of(stages):
        if follower.per_thread:
            built += [
                (f"{follower.name}-{n}", follower.start(deps, deps.settings, n))
                for n in range(threads)
            ]
        else:
            built.append((follower.name, follower.start(deps, deps.settings, 0)))
    return built
