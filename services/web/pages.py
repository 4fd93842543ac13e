"""What every screen shares: the web's state on the app, the cookies (session, CSRF,
language), the CSRF check, the security headers, and rendering a template as a page."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.dependencies import Api
from services.web import i18n
from services.web.formats import FILTERS, amount_words
from shared.app import client
from shared.app.guard import Person
from shared.app.paylink import check_csrf, csrf_token, web_key
from shared.domain.errors import Refusal

SESSION_COOKIE = "b2bpay_session"
CSRF_COOKIE = "b2bpay_csrf"
CSRF_FIELD = "csrf_token"

#: Paths the page headers (CSP, no framing, no caching) apply to; /docs keeps its own.
WEB_PATHS = ("/pay/", "/bank", "/static/web/", "/lang/")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

_TEMPLATES = Path(str(resources.files("services.web").joinpath("templates")))
_env = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(FILTERS)
_env.globals["words"] = amount_words


@dataclass(frozen=True)
class Web:
    """The web's dependencies: the API's, and the key of its own MACs."""

    api: Api

    @cached_property
    def key(self) -> bytes:
        return web_key(self.api.deps)


def web(request: Request) -> Web:
    built: Web = request.app.state.web
    return built


class SecurityHeaders:
    """ASGI middleware: the page headers on the web's paths (CSP without inline script or
    style, no framing, no referrer, no caching of pages); the API's paths are left alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(WEB_PATHS):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                # The pay link carries its capability: never sent on to another site.
                headers["Referrer-Policy"] = "no-referrer"
                if not path.startswith("/static/"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


def lang_of(request: Request) -> str:
    return i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


def token_of(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def person_of(request: Request, active: bool = True) -> Person | None:
    """The person behind the session cookie, or None. A page the person opens is activity:
    the session's idle timeout starts again, so the page's idle warning (timed from its
    load) tells the truth; a live refresh of a fragment (``active=False``) is not."""
    token = token_of(request)
    if token is None:
        return None
    deps = web(request).api.deps
    try:
        who = client.person(deps, token)
        if active:
            deps.sessions.refresh(deps.sessions.verify(token))
    except (client.AuthenticationFailed, Refusal):
        return None
    return who


def csrf_ok(request: Request, given: str | None) -> bool:
    return check_csrf(web(request).key, request.cookies.get(CSRF_COOKIE), given)


def set_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def to_login(request: Request, reason: str = "expired") -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        here = "/bank/worklist"
    response = redirect(f"/bank/login?{reason}=1&next={quote(here, safe='')}")
    clear_session(response)
    return response


def render(
    request: Request,
    template: str,
    status: int = 200,
    *,
    here: str | None = None,
    person: Person | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page in the person's language, with a CSRF token for its forms."""
    w = web(request)
    lang = lang_of(request)
    cookie = request.cookies.get(CSRF_COOKIE)
    fresh = cookie is None or not 16 <= len(cookie) <= 64
    if fresh:
        cookie = secrets.token_urlsafe(24)
    assert cookie is not None
    path = here or (request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    html = _env.get_template(template).render(
        t=i18n.Translator(lang),
        lang=lang,
        languages=i18n.LANGUAGES,
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(w.key, cookie),
        here=path,
        person=person,
        idle_seconds=w.api.deps.sessions.idle_seconds if person is not None else None,
        **context,
    )
    response = HTMLResponse(html, status)
    if fresh:
        response.set_cookie(
            CSRF_COOKIE,
            cookie,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


def partial(request: Request, template: str, **context: Any) -> HTMLResponse:
    """A fragment for htmx (no layout, no form)."""
    lang = lang_of(request)
    html = _env.get_template(template).render(t=i18n.Translator(lang), lang=lang, **context)
    return HTMLResponse(html)
