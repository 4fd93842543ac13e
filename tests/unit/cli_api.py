"""The people's CLI commands against the real HTTP API, in process: their requests go to the
API's ASGI app through starlette's test client instead of a socket (no workers, no server)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():
    # Starlette's test client asks for a fork of httpx (httpx2) it may later require; the
    # client works as it is with httpx.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from services.api.app import create_app
from services.api.dependencies import Api
from services.cli import api_client
from services.query.readmodel import ReadModel, make_engine
from shared.app.deps import Deps

#: How long the in-process API waits for a stage's verdict (tests put it there beforehand).
WAIT_SECONDS = 2.0


class InProcess:
    """A :class:`services.cli.api_client.Transport` to the API app of ``deps``."""

    def __init__(self, deps: Deps) -> None:
        def views() -> ReadModel:
            return ReadModel(make_engine(deps.settings.database_url))

        app = create_app(Api(deps=deps, views=views, wait_seconds=WAIT_SECONDS))
        self.client = TestClient(app, base_url="http://127.0.0.1:8000")

    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        answer = self.client.request(method, url, headers=headers, content=body)
        return answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.content

    def lines(self, url: str, headers: dict[str, str]) -> Iterator[str]:
        with self.client.stream("GET", url, headers=headers) as answer:
            if answer.status_code != 200:
                answer.read()
                raise api_client._problem(answer.status_code, answer.content)
            yield from answer.iter_lines()


def serve_in_process(monkeypatch: pytest.MonkeyPatch, deps: Deps) -> None:
    """Point the people's commands at an API built on ``deps``."""
    monkeypatch.setattr(api_client, "transport", InProcess(deps))
