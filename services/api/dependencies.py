"""What a route is given: the process's dependencies (built once, :mod:`services.api.app`) and
who is asking (a :data:`Principal`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from services.api.problems import ApiCode, Problem
from shared import client
from shared.deps import Deps
from shared.messaging.guard import Person
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


@dataclass(frozen=True)
class SessionHolder:
    """A person with a live session, and its token (sent on with their commands)."""

    person: Person
    token: str = field(repr=False)


@dataclass(frozen=True)
class Platform:
    """An upstream platform, authenticated by its API key.

    HOOK (issue 9, item 2): platforms and their API keys are being added to the client by
    another change; until then a request with ``X-Api-Key`` is answered ``501
    not_implemented``. Wire it in :func:`principal` and the routes that take a
    :data:`Principal`."""

    api_key: str = field(repr=False)


#: Who is asking: a person (session) or, once built, a platform (API key).
Principal = SessionHolder | Platform

_bearer = HTTPBearer(auto_error=False, description="A session token from POST /v1/sessions.")
_api_key = APIKeyHeader(
    name="X-Api-Key", auto_error=False, description="A platform's API key (not yet served)."
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
        return Platform(api_key)
    token = session_token(credentials)
    return SessionHolder(client.person(a.deps, token), token)


def not_yet_for(platform: Platform) -> Problem:
    """HOOK: the answer to a platform until platforms are served."""
    return Problem(ApiCode.NOT_IMPLEMENTED, "platforms (X-Api-Key) are not served yet")
