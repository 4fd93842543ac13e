"""The people's commands' one way to b2bpay: its HTTP API at ``B2BPAY_API_URL``.

Deliberately light: the standard library's urllib and json, nothing of the engine. A person's
machine then holds no server secret, no Redis access and no key material, and a command
starts fast (tests/unit/test_cli_imports.py checks which modules it loads). The session token
travels in the ``Authorization`` header only, never in a URL.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Where the API is when ``--api-url`` and ``$B2BPAY_API_URL`` say nothing.
DEFAULT_API_URL = "http://127.0.0.1:8000"
#: Seconds to wait for an answer: above the server's longest wait for a verdict (60 s).
TIMEOUT_SECONDS = 75.0


class ApiError(Exception):
    """Raised when the API did not do what was asked (the base of the errors below)."""


class ApiUnreachable(ApiError):
    """Raised when the API cannot be reached, or gave no answer."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class ApiProblem(ApiError):
    """Raised when the API answers with a problem document (RFC 9457): a refusal."""

    def __init__(self, status: int, document: dict[str, Any]) -> None:
        detail = str(document.get("detail") or f"the API answered {status}")
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason_code = str(document.get("reason_code") or "")
        self.payment_id: str | None = document.get("payment_id")
        self.command_id: str | None = document.get("command_id")


@dataclass(frozen=True)
class Answer:
    """A successful answer: its status, headers (lower-case names) and JSON body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


class Transport(Protocol):
    """How requests reach the API (tests put an in-process server behind it)."""

    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]: ...

    def lines(self, url: str, headers: dict[str, str]) -> Iterator[str]: ...


class UrllibTransport:
    """Real HTTP with the standard library; a transport failure is :class:`ApiUnreachable`."""

    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        # Only http(s): the URL is the API's, from --api-url.
        req = _request(url, headers, body, method)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:  # noqa: S310
                return resp.status, _lower(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as answered:
            with answered:
                return answered.code, _lower(answered.headers.items()), answered.read()
        except (urllib.error.URLError, OSError) as e:
            # Only the error's kind: its text may name the host and port, never a secret.
            raise ApiUnreachable(type(getattr(e, "reason", e)).__name__) from None

    def lines(self, url: str, headers: dict[str, str]) -> Iterator[str]:
        req = _request(url, headers, None, "GET")
        try:
            resp = urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS)  # noqa: S310
        except urllib.error.HTTPError as answered:
            with answered:
                raise _problem(answered.code, answered.read()) from None
        except (urllib.error.URLError, OSError) as e:
            raise ApiUnreachable(type(getattr(e, "reason", e)).__name__) from None
        with resp:
            for raw in resp:
                yield raw.decode("utf-8", "replace").rstrip("\r\n")


#: The transport every command uses; tests replace it (an in-process server).
transport: Transport = UrllibTransport()


def _request(url: str, headers: dict[str, str], body: bytes | None, method: str) -> Any:
    if not url.startswith(("http://", "https://")):
        raise ApiUnreachable("not an http(s) URL")
    return urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310


def _lower(items: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}


def _problem(status: int, raw: bytes) -> ApiProblem:
    try:
        document = json.loads(raw) if raw else {}
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    if status >= 500 and "reason_code" not in document:
        document["reason_code"] = "service_unavailable"
    return ApiProblem(status, document)


class Api:
    """The API at ``base_url``, as the person holding ``session`` (if any)."""

    def __init__(self, base_url: str, session: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session

    def __repr__(self) -> str:
        return f"Api({self.base_url!r})"  # never the session

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", **(extra or {})}
        if self._session is not None:
            headers["Authorization"] = f"Bearer {self._session}"
        return headers

    def url(self, path: str, params: dict[str, str | int | None] | None = None) -> str:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        tail = f"?{urllib.parse.urlencode(query)}" if query else ""
        return f"{self.base_url}{path}{tail}"

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str | int | None] | None = None,
    ) -> Answer:
        """Send one request; a 2xx answer is returned, anything else raised as
        :class:`ApiProblem` (or :class:`ApiUnreachable`)."""
        extra = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            extra["Content-Type"] = "application/json"
        status, got, raw = transport.request(
            method, self.url(path, params), self._headers(extra), data
        )
        if not 200 <= status < 300:
            raise _problem(status, raw)
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            raise ApiUnreachable("not a JSON answer") from None
        return Answer(status, got, decoded)

    def events(self, params: dict[str, str | int | None]) -> Iterator[tuple[str, str | None]]:
        """The server-sent events of ``GET /v1/events``: (event data, None) per event and
        ("", comment) per comment line (the server's keep-alive)."""
        headers = self._headers({"Accept": "text/event-stream"})
        data: list[str] = []
        for line in transport.lines(self.url("/v1/events", params), headers):
            if line.startswith(":"):
                yield "", line[1:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif not line and data:
                yield "\n".join(data), None
                data = []


def quoted(identifier: str) -> str:
    """An id as one path segment: nothing in it can reach another path."""
    return urllib.parse.quote(identifier, safe="")
