"""Apply-stage actors on the ``apply`` queue."""

from __future__ import annotations

import dramatiq

from services.apply import handlers
from shared.deps import Deps
from shared.messaging import broker as q
from shared.messaging.actor import StageActor, stage_actor


def register(broker: dramatiq.Broker, deps: Deps) -> list[StageActor]:
    return [
        stage_actor(broker, deps, handlers.handle_payment_request, q.APPLY, q.APPLY_PAYMENT),
        stage_actor(broker, deps, handlers.handle_cancel, q.APPLY, q.CANCEL_PAYMENT),
    ]
