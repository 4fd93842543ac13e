"""``b2bpay serve`` believes ``X-Forwarded-Proto``/``-For`` only from the proxies it is told of
(``B2BPAY_FORWARDED_ALLOW_IPS``; none by default, not even loopback): anyone else could
otherwise claim another client address (the login throttle's key) or a TLS connection it does
not have."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

from services.api import app as api_app
from shared.config import Settings


def _served_with(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(api_app, "build", lambda s: "the app")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    api_app.serve(settings, "127.0.0.1", 8000)
    return seen


def test_no_proxy_is_believed_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("B2BPAY_FORWARDED_ALLOW_IPS", raising=False)
    seen = _served_with(monkeypatch, Settings())
    assert seen["app"] == "the app"
    assert seen["proxy_headers"] is False


def test_the_named_proxies_are_believed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("B2BPAY_FORWARDED_ALLOW_IPS", "10.0.0.5,10.0.0.6")
    seen = _served_with(monkeypatch, Settings())
    assert (seen["proxy_headers"], seen["forwarded_allow_ips"]) == (True, "10.0.0.5,10.0.0.6")
