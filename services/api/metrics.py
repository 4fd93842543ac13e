"""``/metrics``: Prometheus text of the server process (the installation's queues, stream
readers, dead letters, and payments by status; see :mod:`shared.metrics.exporter`).

None of it is secret (no payment id, user name, token or amount is ever a label), but
payment volumes and refusal rates are the operator's business, not every platform's: with
``B2BPAY_METRICS_TOKEN`` set it answers only ``Authorization: Bearer <token>``, compared in
constant time, and anything else gets the API's one generic 401."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api.dependencies import Api, api
from services.api.problems import ApiCode, Problem

router = APIRouter(tags=["operations"])
_bearer = HTTPBearer(auto_error=False, description="B2BPAY_METRICS_TOKEN, when the server has one.")
#: Said to anyone the token does not admit: the same words whether one was sent or not.
REFUSED = "authentication failed: /metrics needs the metrics token"


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(
    a: Annotated[Api, Depends(api)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Response:
    """Prometheus text format: queues, stream readers, dead letters, payments by status."""
    if a.metrics_token is not None:
        sent = credentials.credentials if credentials is not None else ""
        # Digests of equal length: compare_digest returns at once on a length mismatch,
        # which would tell the token's length.
        if not hmac.compare_digest(_digest(sent), _digest(a.metrics_token)):
            raise Problem(ApiCode.AUTHENTICATION_FAILED, REFUSED)
    return Response(generate_latest(a.metrics), media_type=CONTENT_TYPE_LATEST)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
