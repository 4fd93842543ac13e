"""Review-stage actors on the ``otp-verified`` and ``pending-review`` queues."""

from __future__ import annotations

import dramatiq

from services.review import handlers
from shared.deps import Deps
from shared.messaging import broker as q
from shared.messaging.actor import StageActor, stage_actor


def register(broker: dramatiq.Broker, deps: Deps) -> list[StageActor]:
    return [
        stage_actor(broker, deps, handlers.handle_intake, q.OTP_VERIFIED, q.TAKE_IN),
        stage_actor(
            broker, deps, handlers.handle_review_decision, q.PENDING_REVIEW, q.DECIDE_REVIEW
        ),
    ]
