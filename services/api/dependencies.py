"""What a route is given: the process's dependencies (built once, :mod:`services.api.app`) and
who is asking (a :data:`Principal`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client.registry import CollectorRegistry

from services.api.problems import ApiCode, Problem
from shared.app import client, platform_client
from shared.app.deps import Deps
from shared.domain.errors import Refusal
from shared.domain.parties import Person, Platform
from shared.security.disclosure import GENERIC_REASON


@dataclass(frozen=True)
class Api:
    """Everything the routes use, built once per server process."""

    deps: Deps
    #: Opens the query service's read model (only once a person is authenticated).
    views: Callable[[], client.PaymentViews]
    #: How long a command waits for its stage's verdict before the answer is 202.
    wait_seconds: float
    #: How long the event stream blocks on Redis between checks of the session (ms).
    events_block_ms: int = 1000
    #: What ``/metrics`` shows (:mod:`services.api.metrics`); empty unless built with it.
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)
    #: ``B2BPAY_METRICS_TOKEN``: when set, ``/metrics`` answers only this bearer token.
    metrics_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SessionHolder:
    """A person with a live session, and its token (sent on with their commands)."""

    person: Person
    token: str = field(repr=False)


@dataclass(frozen=True)
class PlatformCaller:
    """An upstream platform, authenticated by its API key (``X-Api-Key``)."""

    platform: Platform


#: Who is asking: a person (session) or, once built, a platform (API key).
Principal = SessionHolder | PlatformCaller

_bearer = HTTPBearer(auto_error=False, description="A session token from POST /v1/sessions.")
_api_key = APIKeyHeader(
    name="X-Api-Key",
    auto_error=False,
    description="A platform's API key (`b2bpay admin add-platform`).",
)


def api(request: Request) -> Api:
    built: Api = request.app.state.api
    return built


def session_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> str:
    if credentials is None or not credentials.credentials:
        raise Problem(ApiCode.AUTHENTICATION_FAILED, GENERIC_REASON)
    return credentials.credentials


def session_holder(
    a: Annotated[Api, Depends(api)], token: Annotated[str, Depends(session_token)]
) -> SessionHolder:
    """The person behind the bearer token, or 401 (a view does not restart the idle
    timeout; a command does, at its stage)."""
    return SessionHolder(client.person(a.deps, token), token)


def principal(
    a: Annotated[Api, Depends(api)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Principal:
    """A platform if an API key is given, else the person behind the bearer token."""
    if api_key is not None:
        try:
            return PlatformCaller(platform_client.authenticate_platform(a.deps, api_key))
        except Refusal:
            # One answer for an unknown key, a wrong one and a tampered platform record.
            raise Problem(ApiCode.AUTHENTICATION_FAILED, "the API key is not valid") from None
    token = session_token(credentials)
    return SessionHolder(client.person(a.deps, token), token)


def sender_of(who: Principal) -> str:
    """Who sent a command, as recorded for ``GET /v1/commands/{id}``."""
    if isinstance(who, PlatformCaller):
        return f"platform:{who.platform.platform_id}"
    return f"user:{who.person.user.username}"


def command_wait(
    a: Annotated[Api, Depends(api)],
    prefer: Annotated[str | None, Header(max_length=200)] = None,
) -> float | None:
    """How long a command waits for its stage's verdict: ``B2BPAY_HTTP_WAIT_SECONDS``, or not
    at all with ``Prefer: respond-async`` (RFC 7240): then 202 and the command's URL at once."""
    if prefer is not None and any(p.strip().lower() == "respond-async" for p in prefer.split(",")):
        return None
    return a.wait_seconds
