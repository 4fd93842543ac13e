"""``/v1/payments``: create (with ``Idempotency-Key``), read, list, and the people's decisions
on a payment. Each route parses its input, calls one function of :mod:`shared.app.client` and
renders its answer (:func:`services.api.commands.answer`)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from services.api.commands import CommandAnswer, answer
from services.api.dependencies import (
    Api,
    PlatformCaller,
    Principal,
    SessionHolder,
    api,
    command_wait,
    principal,
    session_holder,
)
from services.api.problems import Problem
from shared.app import client, platform_client
from shared.domain.contracts import RequestedContent
from shared.domain.errors import ReasonCode
from shared.domain.views import PaymentListItem, PaymentView

router = APIRouter(prefix="/v1/payments", tags=["payments"])

PaymentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Holder = Annotated[SessionHolder, Depends(session_holder)]
Wait = Annotated[float | None, Depends(command_wait)]
Deps = Annotated[Api, Depends(api)]
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": CommandAnswer, "description": "no verdict in time; see Location"},
}


class CreatePayment(RequestedContent):
    """A new payment. From a platform (``X-Api-Key``): PaymentRequest v2, the content with the
    bank optional and no code; it waits in ``requested`` for its applicant. From an applicant
    (bearer session): PaymentRequest v1, the content with the bank and the code from their
    token. The request id is the Idempotency-Key."""

    #: The applicant's one-time code (v1 only; a platform sends none).
    otp: SecretStr | None = None


class Confirmation(BaseModel):
    """The applicant takes up a payment a platform asked for (seed steps 3-6)."""

    model_config = ConfigDict(extra="forbid")
    #: The B2B bank to pay through; required if the platform's request named none.
    bank: str | None = Field(default=None, max_length=16)
    otp: SecretStr


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    reason: str = Field(default="", max_length=280)


class Authorization(Decision):
    #: The code answering the payment's challenge (GET .../challenge).
    otp: SecretStr


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=280)


class Page(BaseModel):
    """One page of payments, oldest first."""

    payments: list[PaymentListItem]
    next_cursor: str | None = Field(
        description="Give it as ``cursor`` for the next page; null on the last one."
    )


@router.post(
    "",
    status_code=201,
    response_model=CommandAnswer,
    responses={
        200: {"model": CommandAnswer, "description": "the same request again: its payment"},
        **COMMAND_RESPONSES,
    },
)
def create(
    body: CreatePayment,
    a: Deps,
    who: Annotated[Principal, Depends(principal)],
    idempotency_key: Annotated[str, Header(min_length=1, max_length=64)],
    wait: Wait,
) -> JSONResponse:
    """Start a payment (v1: the applicant's session and code). The same Idempotency-Key and
    body again answer 200 with the same payment; another body, 409 idempotency_conflict."""
    request = body.model_dump(mode="json", exclude={"otp"})
    request["request_id"] = idempotency_key
    if isinstance(who, PlatformCaller):
        if body.otp is not None:
            raise Problem(
                ReasonCode.INVALID_REQUEST, "otp: a platform sends none; the applicant confirms"
            )
        sent = platform_client.create_request(a.deps, request, who.platform, wait=wait)
        return answer(a, sent, who, created=True, pay_url=True)
    if body.otp is None:
        raise Problem(ReasonCode.INVALID_REQUEST, "otp: the applicant's one-time code is required")
    sent = client.submit(
        a.deps,
        request,
        session=who.token,
        otp=body.otp.get_secret_value(),
        wait=wait,
    )
    return answer(a, sent, who, created=True)


@router.get("", response_model=Page)
def list_payments(
    a: Deps,
    who: Annotated[Principal, Depends(principal)],
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page:
    """Your enterprise's payments (a platform: the payments it created), oldest first, a page
    at a time."""
    if isinstance(who, PlatformCaller):
        rows = platform_client.platform_list(a.deps, a.views, who.platform, status=status)
        if cursor:
            start = _decode(cursor)
            rows = [r for r in rows if (r.created_at, r.payment_id) > start]
        rows = sorted(rows, key=lambda r: (r.created_at, r.payment_id))[: limit + 1]
        return _page(rows, limit)
    rows = client.list_payments(
        a.deps,
        a.views,
        session=who.token,
        status=status,
        limit=limit + 1,
        after=_decode(cursor) if cursor else None,
    )
    return _page(rows, limit)


def _page(rows: list[PaymentListItem], limit: int) -> Page:
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return Page(
        payments=rows,
        next_cursor=_encode(last.created_at, last.payment_id) if last else None,
    )


@router.get("/{payment_id}", response_model=PaymentView)
def get(
    payment_id: PaymentId, a: Deps, who: Annotated[Principal, Depends(principal)]
) -> PaymentView:
    """A payment of your enterprise (a platform: one it created): status, content and
    history (404 if not yours)."""
    if isinstance(who, PlatformCaller):
        return platform_client.platform_status(a.deps, a.views, payment_id, who.platform)
    return client.status(a.deps, a.views, payment_id, session=who.token)


@router.get("/{payment_id}/challenge")
def challenge(payment_id: PaymentId, a: Deps, who: Holder) -> dict[str, str | None]:
    """What the authorizer signs: amount, currency, payee, and the challenge to answer."""
    return client.challenge(a.deps, payment_id, session=who.token)


@router.post("/{payment_id}/review", response_model=CommandAnswer, responses=COMMAND_RESPONSES)
def review(payment_id: PaymentId, body: Decision, a: Deps, who: Holder, wait: Wait) -> JSONResponse:
    """Approve or reject as the payment's reviewer (a rejection needs a reason)."""
    sent = client.review(
        a.deps,
        payment_id,
        approve=body.approve,
        reason=body.reason,
        session=who.token,
        wait=wait,
    )
    return answer(a, sent, who)


@router.post(
    "/{payment_id}/authorization", response_model=CommandAnswer, responses=COMMAND_RESPONSES
)
def authorization(
    payment_id: PaymentId, body: Authorization, a: Deps, who: Holder, wait: Wait
) -> JSONResponse:
    """Approve or reject as the payment's authorizer, with the challenge's code."""
    sent = client.authorize(
        a.deps,
        payment_id,
        approve=body.approve,
        reason=body.reason,
        session=who.token,
        otp=body.otp.get_secret_value(),
        wait=wait,
    )
    return answer(a, sent, who)


@router.post(
    "/{payment_id}/cancellation", response_model=CommandAnswer, responses=COMMAND_RESPONSES
)
def cancellation(
    payment_id: PaymentId,
    body: Cancellation,
    a: Deps,
    who: Annotated[Principal, Depends(principal)],
    wait: Wait,
) -> JSONResponse:
    """Withdraw a payment as its applicant (only before authorization), or as the platform
    that created it while it awaits its applicant."""
    if isinstance(who, PlatformCaller):
        sent = platform_client.cancel_for_platform(
            a.deps, payment_id, who.platform, reason=body.reason, wait=wait
        )
        return answer(a, sent, who)
    sent = client.cancel(a.deps, payment_id, reason=body.reason, session=who.token, wait=wait)
    return answer(a, sent, who)


@router.post(
    "/{payment_id}/confirmation", response_model=CommandAnswer, responses=COMMAND_RESPONSES
)
def confirmation(
    payment_id: PaymentId, body: Confirmation, a: Deps, who: Holder, wait: Wait
) -> JSONResponse:
    """Take up a payment a platform asked for, as its payer's applicant: the bank (if the
    request named none) and the one-time code; the payment then goes to review."""
    sent = client.confirm(
        a.deps,
        payment_id,
        session=who.token,
        otp=body.otp.get_secret_value(),
        bank=body.bank,
        wait=wait,
    )
    return answer(a, sent, who)


def _encode(created_at: str, payment_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, payment_id]).encode()).decode()


def _decode(cursor: str) -> tuple[str, str]:
    try:
        created_at, payment_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, TypeError):
        raise Problem(ReasonCode.INVALID_REQUEST, "cursor: not one this API gave") from None
    if not isinstance(created_at, str) or not isinstance(payment_id, str):
        raise Problem(ReasonCode.INVALID_REQUEST, "cursor: not one this API gave")
    return created_at, payment_id
