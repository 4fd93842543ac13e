"""Thin dramatiq adapters: decode, call the stage's handler, log the outcome. Nothing else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import dramatiq
import structlog

from shared.bootstrap import Deps
from shared.errors import Refusal
from shared.guard import Outcome

log = structlog.get_logger()
Handler = Callable[[Any, Deps], Outcome]
StageActor = dramatiq.Actor[[Any], None]


def stage_actor(
    broker: dramatiq.Broker, deps: Deps, handler: Handler, queue: str, name: str
) -> StageActor:
    def run(message: Any) -> None:
        outcome = handler(message, deps)
        log.info("message handled", **asdict(outcome))

    run.__name__ = name
    # Refusals are recorded by the handler and answered; should one ever escape, it is
    # still final: listed in throws, never retried.
    declare = dramatiq.actor(
        broker=broker, queue_name=queue, actor_name=name, throws=(Refusal,), max_retries=20
    )
    return declare(run)
