"""``/v1/sessions``: log in (a person's password for a session token) and log out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from services.api.dependencies import Api, api, session_token
from shared.app import client

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: SecretStr = Field(min_length=1, max_length=1024)


class NewSession(BaseModel):
    #: Send it as ``Authorization: Bearer <token>``.
    token: str
    expires_at: int
    idle_seconds: int
    username: str
    role: str
    enterprise_id: str


@router.post("", status_code=201, response_model=NewSession)
def login(body: Credentials, request: Request, a: Annotated[Api, Depends(api)]) -> NewSession:
    """A session for the right password; 401 otherwise (never saying why), 429 with
    Retry-After after repeated failures for the username or from this address."""
    # Failures from one remote address count together (login_client_max_failures).
    address = request.client.host if request.client else "unknown"
    opened = client.login(
        a.deps, body.username, body.password.get_secret_value(), client=f"ip:{address}"
    )
    return NewSession(
        token=opened.token,
        expires_at=opened.session.expires_at,
        idle_seconds=opened.idle_seconds,
        username=opened.session.username,
        role=opened.session.role,
        enterprise_id=opened.session.enterprise_id,
    )


@router.delete("/current", status_code=204, response_class=Response)
def logout(
    a: Annotated[Api, Depends(api)], token: Annotated[str, Depends(session_token)]
) -> Response:
    """End this session now: its token is refused from then on."""
    client.logout(a.deps, token)
    return Response(status_code=204)
