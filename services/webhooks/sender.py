"""One webhook POST: the signed request, a per-request timeout, no redirects or proxies,
and an outcome that says nothing of the endpoint's answer beyond its status code."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO, Any

from services.webhooks.signature import signature_header

USER_AGENT = "b2bpay-webhooks/1"


@dataclass(frozen=True)
class Attempt:
    #: The endpoint answered 2xx.
    delivered: bool
    #: What went wrong, for the operator: ``http 503``, ``timeout``, ``ConnectionRefusedError``.
    error: str | None = None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not a delivery: following it would re-send (or drop) the signed body."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any,
        newurl: str,
    ) -> None:  # fmt: skip
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def post(
    url: str, body: bytes, event_id: str, secret: str, timestamp: int, timeout: float
) -> Attempt:
    if not url.startswith(("http://", "https://")):
        return Attempt(False, "not an http(s) URL")
    # S310: the scheme is checked above (and when the endpoint was added): never file: etc.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "B2bpay-Event-Id": event_id,
            "B2bpay-Signature": signature_header(secret, timestamp, body),
        },
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = int(response.status)
            response.read(65_536)  # the answer is not kept: it is the platform's, not ours
    except urllib.error.HTTPError as e:
        e.close()
        return Attempt(False, f"http {e.code}")
    except TimeoutError:
        return Attempt(False, "timeout")
    except urllib.error.URLError as e:
        reason = e.reason
        return Attempt(False, "timeout" if isinstance(reason, TimeoutError) else _name(reason))
    except OSError as e:
        return Attempt(False, _name(e))
    if 200 <= status < 300:
        return Attempt(True)
    return Attempt(False, f"http {status}")


def _name(reason: object) -> str:
    # The class of the error only: its text may carry the URL (and whatever is in it).
    return type(reason).__name__ if isinstance(reason, BaseException) else "unreachable"
