"""Interbank-stage actor on the ``interbank`` queue."""

from __future__ import annotations

import dramatiq

from services.interbank import handlers
from shared.deps import Deps
from shared.messaging import broker as q
from shared.messaging.actor import StageActor, stage_actor


def register(broker: dramatiq.Broker, deps: Deps) -> list[StageActor]:
    return [
        stage_actor(broker, deps, handlers.handle_submission, q.INTERBANK, q.SUBMIT_TO_CLEARING)
    ]
