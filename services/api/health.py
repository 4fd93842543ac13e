"""``/healthz`` (the process answers) and ``/readyz`` (Redis answers; the stages' queues)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from services.api.dependencies import Api, api
from services.api.problems import ApiCode, Problem
from shared.messaging import routes
from shared.messaging.broker import broker_answers

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(a: Annotated[Api, Depends(api)]) -> dict[str, Any]:
    """Redis answers, and RabbitMQ when it is the broker (503 otherwise); the queues commands
    are sent on."""
    try:
        a.deps.redis.ping()
    except Exception as e:  # any failure to reach Redis means not ready
        raise Problem(ApiCode.SERVICE_UNAVAILABLE, f"Redis: {type(e).__name__}") from None
    if not broker_answers(a.deps.broker):  # RabbitMQ (B2BPAY_BROKER_URL=amqp://…)
        raise Problem(ApiCode.SERVICE_UNAVAILABLE, "the message broker does not answer")
    return {"status": "ready", "queues": list(routes.QUEUES)}
