"""One webhook POST: the signed request with a per-request timeout, no redirects (a
redirect is not a delivery) and no proxies, and an outcome that keeps nothing of the
endpoint's answer beyond its status code."""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.webhooks.signature import signature_header

USER_AGENT = "b2bpay-webhooks/1"
_TLS = ssl.create_default_context()


@dataclass(frozen=True)
class Attempt:
    #: The endpoint answered 2xx.
    delivered: bool
    #: What went wrong, for the operator: ``http 503``, ``timeout``, ``ConnectionRefusedError``.
    error: str | None = None


def post(
    url: str, body: bytes, event_id: str, secret: str, timestamp: int, timeout: float
) -> Attempt:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Attempt(False, "not an http(s) URL")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=_TLS
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "B2bpay-Event-Id": event_id,
        "B2bpay-Signature": signature_header(secret, timestamp, body),
    }
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65_536)  # the answer is not kept: it is the platform's, not ours
        status = response.status
    except TimeoutError:
        return Attempt(False, "timeout")
    except (OSError, http.client.HTTPException) as e:
        # The class of the error only: its text may carry the URL (and whatever is in it).
        return Attempt(False, type(e).__name__)
    finally:
        connection.close()
    if 200 <= status < 300:
        return Attempt(True)
    return Attempt(False, f"http {status}")
