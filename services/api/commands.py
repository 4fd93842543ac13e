"""A command's answer over HTTP: the stage's verdict, or 202 and the command's URL when none
came in time; and ``GET /v1/commands/{command_id}``, which answers the verdict once there.

Decided: until the verdict comes, the command's URL answers 200 ``{"outcome": "queued"}``;
it answers 404 to anyone but the session's user who sent it, and once the verdict has expired.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.api.dependencies import Api, Principal, api, principal, sender_of
from services.api.problems import ApiCode, Problem, refused
from shared.app import client, paylink
from shared.redis.replies import as_text
from shared.redis.store import VERDICT_TTL_SECONDS

router = APIRouter(prefix="/v1/commands", tags=["commands"])


class CommandAnswer(BaseModel):
    """A stage's verdict on a command (or that it is still queued)."""

    command_id: str
    payment_id: str | None
    outcome: Literal["accepted", "duplicate", "queued"]
    status: str | None = None
    #: Where the platform sends its buyer: the pay page of a payment it created (awaiting the
    #: applicant's bank choice, login and one-time code).
    pay_url: str | None = None


def answer(
    a: Api, sent: client.Sent, who: Principal, created: bool = False, pay_url: bool = False
) -> JSONResponse:
    """The stage's verdict as the HTTP answer: 200 (201 for a new payment), a problem for a
    refusal, or 202 with the command's URL when no verdict came in time."""
    verdict = sent.verdict
    if verdict is None:
        # Only the sender may ask later; kept as long as the verdict would be.
        a.deps.redis.set(
            a.deps.keys.api_sender(sent.command_id), sender_of(who), ex=VERDICT_TTL_SECONDS
        )
        location = f"/v1/commands/{sent.command_id}"
        body = CommandAnswer(
            command_id=sent.command_id, payment_id=sent.payment_id, outcome="queued"
        )
        return JSONResponse(body.model_dump(), 202, {"Location": location})
    if verdict.outcome == "refused":
        raise refused(verdict.reason_code, verdict.reason, sent.payment_id, sent.command_id)
    body = CommandAnswer(
        command_id=verdict.command_id,
        payment_id=verdict.payment_id,
        outcome=verdict.outcome,
        status=verdict.status,
        pay_url=paylink.pay_url(a.deps, verdict.payment_id)
        if pay_url and verdict.payment_id
        else None,
    )
    status = 201 if created and verdict.outcome == "accepted" else 200
    headers = {"Location": f"/v1/payments/{verdict.payment_id}"} if created else {}
    return JSONResponse(body.model_dump(), status, headers)


@router.get(
    "/{command_id}",
    response_model=CommandAnswer,
    responses={404: {"description": "not this session's command, or expired"}},
)
def command(
    command_id: Annotated[str, Path(max_length=64)],
    a: Annotated[Api, Depends(api)],
    who: Annotated[Principal, Depends(principal)],
) -> CommandAnswer:
    """The verdict on a command this session's user (or this platform) sent and got 202 for."""
    sender = a.deps.redis.get(a.deps.keys.api_sender(command_id))
    if sender is None or as_text(sender) != sender_of(who):
        raise Problem(ApiCode.NOT_FOUND, "no such command of yours", command_id=command_id)
    verdict = client.verdict_of(a.deps, command_id)
    if verdict is None:
        return CommandAnswer(command_id=command_id, payment_id=None, outcome="queued")
    if verdict.outcome == "refused":
        raise refused(verdict.reason_code, verdict.reason, verdict.payment_id, command_id)
    return CommandAnswer(
        command_id=command_id,
        payment_id=verdict.payment_id,
        outcome=verdict.outcome,
        status=verdict.status,
    )
