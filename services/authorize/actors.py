"""Authorize-stage actor on the ``pending-auth`` queue."""

from __future__ import annotations

import dramatiq

from services.authorize import handlers
from shared.deps import Deps
from shared.messaging import broker as q
from shared.messaging.actor import StageActor, stage_actor


def register(broker: dramatiq.Broker, deps: Deps) -> list[StageActor]:
    return [
        stage_actor(
            broker, deps, handlers.handle_auth_decision, q.PENDING_AUTH, q.DECIDE_AUTHORIZATION
        )
    ]
