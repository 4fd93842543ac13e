"""Refusals as RFC 9457 problem details: one table from reason code to HTTP status, and the
exception handlers that render every error the API can meet as ``application/problem+json``.

Never echoed: the request's input. FastAPI's own 422 handler returns each invalid field's
``input``, which may be a password, a session token or a one-time code; ours names the field
and what is wrong with it, nothing more.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import redis
from dramatiq.errors import BrokerConnectionError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from shared.app import client
from shared.domain.errors import ReasonCode, Refusal
from shared.redis.throttle import Throttled
from shared.security.disclosure import AUTHENTICATION_FAILED, for_person
from shared.security.keyneeds import MissingKeys

MEDIA_TYPE = "application/problem+json"


class ApiCode(StrEnum):
    """Reason codes only the HTTP API gives (the stages' are :class:`ReasonCode`)."""

    #: The session is missing, invalid, expired or ended; never says which.
    AUTHENTICATION_FAILED = AUTHENTICATION_FAILED
    #: No such resource: an unknown path, or a command this session did not send.
    NOT_FOUND = "not_found"
    #: The path exists, but not with this method.
    METHOD_NOT_ALLOWED = "method_not_allowed"
    #: Accepted in the contract but not built yet (a platform's API key).
    NOT_IMPLEMENTED = "not_implemented"
    #: Redis (or a server key) is not available: nothing was decided.
    SERVICE_UNAVAILABLE = "service_unavailable"


#: The one table: what HTTP status each reason code is answered with.
HTTP_STATUS: dict[str, int] = {
    # Bad input: nothing was enqueued.
    ReasonCode.INVALID_REQUEST: 422,
    ReasonCode.REASON_REQUIRED: 422,
    ReasonCode.UNKNOWN_ENTERPRISE: 422,
    ReasonCode.PAYER_NOT_ELIGIBLE: 422,
    ReasonCode.UNKNOWN_BANK: 422,
    ReasonCode.BANK_NOT_B2B: 422,
    ReasonCode.NO_B2B_CONTRACT: 422,
    ReasonCode.ACCOUNT_NOT_OWNED: 422,
    ReasonCode.BANK_REQUIRED: 422,
    ReasonCode.BANK_MISMATCH: 422,
    ReasonCode.PAYER_NOT_REGISTERED: 422,
    # Authentication: generic (the stages' precise codes are shown as this one).
    ApiCode.AUTHENTICATION_FAILED: 401,
    ReasonCode.SESSION_INVALID: 401,
    ReasonCode.SESSION_EXPIRED: 401,
    ReasonCode.SESSION_REVOKED: 401,
    ReasonCode.USER_LOCKED: 401,
    ReasonCode.USER_RECORD_INVALID: 401,
    ReasonCode.PLATFORM_INVALID: 401,
    ReasonCode.OTP_INVALID: 401,
    ReasonCode.OTP_REPLAYED: 401,
    # Authenticated, but not theirs to do.
    ReasonCode.WRONG_ROLE: 403,
    ReasonCode.SAME_PERSON: 403,
    ReasonCode.WRONG_USER: 403,
    # Unknown or another enterprise's: the same answer, so ids are never confirmed.
    ReasonCode.PAYMENT_NOT_FOUND: 404,
    ReasonCode.WRONG_ENTERPRISE: 404,
    ApiCode.NOT_FOUND: 404,
    ApiCode.METHOD_NOT_ALLOWED: 405,
    # The payment's state forbids it.
    ReasonCode.ILLEGAL_TRANSITION: 409,
    ReasonCode.IDEMPOTENCY_CONFLICT: 409,
    ReasonCode.DUPLICATE_ORDER: 409,
    ReasonCode.DEADLINE_PASSED: 409,
    ReasonCode.CONTENT_MISMATCH: 409,
    ReasonCode.CLEARING_REJECTED: 409,
    ReasonCode.INVALID_SIGNATURE: 409,
    ReasonCode.RATE_LIMITED: 429,
    ApiCode.NOT_IMPLEMENTED: 501,
    ApiCode.SERVICE_UNAVAILABLE: 503,
}

TITLES = {
    400: "Bad request",
    401: "Authentication failed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Invalid input",
    429: "Too many requests",
    501: "Not implemented",
    503: "Service unavailable",
}


class ProblemDocument(BaseModel):
    """An RFC 9457 problem document, with the refusal's reason code."""

    type: str
    title: str
    status: int
    detail: str
    reason_code: str
    payment_id: str | None
    command_id: str | None


def _documented(description: str) -> dict[str, Any]:
    schema = {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}
    return {"description": description, "model": ProblemDocument, "content": {MEDIA_TYPE: schema}}


#: The refusals every route may answer with, as /openapi.json documents them.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _documented("authentication_failed (never says which factor)"),
    403: _documented("wrong_role, same_person, wrong_user"),
    404: _documented("unknown, or not your enterprise's"),
    405: _documented("method_not_allowed"),
    409: _documented("illegal_transition, idempotency_conflict, duplicate_order, ..."),
    422: _documented("invalid input; nothing was sent"),
    429: _documented("rate_limited, with Retry-After"),
    501: _documented("not_implemented"),
    503: _documented("Redis unreachable; nothing was changed"),
}


class Problem(Exception):
    """Raised by a route to answer with a problem document."""

    def __init__(
        self,
        reason_code: str,
        detail: str,
        *,
        payment_id: str | None = None,
        command_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        # A wrong enterprise is told exactly as a missing payment.
        if reason_code == ReasonCode.WRONG_ENTERPRISE:
            reason_code = ReasonCode.PAYMENT_NOT_FOUND.value
            detail = "no such payment for your enterprise"
        self.reason_code = str(reason_code)
        self.status = HTTP_STATUS.get(reason_code, 400)
        self.detail = detail
        self.payment_id = payment_id
        self.command_id = command_id
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {
            "type": f"urn:b2bpay:problem:{self.reason_code}",
            "title": TITLES.get(self.status, "Refused"),
            "status": self.status,
            "detail": self.detail,
            "reason_code": self.reason_code,
            "payment_id": self.payment_id,
            "command_id": self.command_id,
        }
        return JSONResponse(body, self.status, self.headers, media_type=MEDIA_TYPE)


def refused(
    reason_code: str | None, reason: str | None, payment_id: str | None, command_id: str | None
) -> Problem:
    """A stage's refusal, as a person may be told it."""
    code, told = for_person(reason_code, reason)
    return Problem(code or "refused", told or "", payment_id=payment_id, command_id=command_id)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return exc.response()

    async def on_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # Where and what, never the input: it may be a secret.
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return Problem(ReasonCode.INVALID_REQUEST, where or "invalid request").response()

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = ApiCode.METHOD_NOT_ALLOWED if exc.status_code == 405 else ApiCode.NOT_FOUND
        problem = Problem(code, "no such resource" if code == ApiCode.NOT_FOUND else "not here")
        if exc.status_code not in (404, 405):
            problem = Problem(ReasonCode.INVALID_REQUEST, "bad request")
            problem.status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return problem.response()

    async def on_client(_: Request, exc: Exception) -> JSONResponse:
        return problem_of(exc).response()

    async def on_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # Nothing was decided; the error's text may name hosts, never shown.
        return Problem(
            ApiCode.SERVICE_UNAVAILABLE, f"{type(exc).__name__}; nothing was changed"
        ).response()

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(client.ClientError, on_client)
    app.add_exception_handler(Refusal, on_client)
    app.add_exception_handler(redis.RedisError, on_unavailable)
    # RabbitMQ as the broker: a command it did not take (confirm) was not sent.
    app.add_exception_handler(BrokerConnectionError, on_unavailable)
    app.add_exception_handler(MissingKeys, on_unavailable)


def problem_of(exc: Exception) -> Problem:
    """The problem document of an error of the application client or a refusal."""
    if isinstance(exc, Throttled):
        return Problem(
            ReasonCode.RATE_LIMITED,
            exc.detail,
            headers={"Retry-After": str(max(1, exc.retry_after_seconds))},
        )
    if isinstance(exc, client.ReasonRequired):
        return Problem(ReasonCode.REASON_REQUIRED, str(exc))
    if isinstance(exc, client.PaymentNotFound):
        return Problem(ReasonCode.PAYMENT_NOT_FOUND, str(exc), payment_id=exc.payment_id)
    if isinstance(exc, client.AuthenticationFailed):
        return Problem(ApiCode.AUTHENTICATION_FAILED, str(exc))
    if isinstance(exc, Refusal):
        code, told = for_person(exc.reason_code.value, exc.detail or exc.reason_code.value)
        return Problem(code or exc.reason_code.value, told or "")
    return Problem(ReasonCode.INVALID_REQUEST, str(exc))
