"""What every screen shares: the web's state on the app, the cookies (session, CSRF,
language), the security headers, rendering a template as a page, the pages every screen may
answer with (forbidden, not found, refused, an invalid pay link), and the one start of every
form POST (:data:`FormPost`, :data:`SignedInForm`, :data:`PayLinkForm`): the CSRF check first,
then the session or the pay link."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.dependencies import Api
from services.web import i18n, messages
from services.web.formats import FILTERS, amount_words
from services.web.params import Field, PaymentId
from shared.app import client
from shared.app.paylink import check_capability, check_csrf, csrf_token, web_key
from shared.domain.errors import Refusal
from shared.domain.parties import Person
from shared.domain.payment import Payment

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


def translator(request: Request) -> i18n.Translator:
    """The person's language's catalogue, to say what went wrong in."""
    return i18n.Translator(lang_of(request))


def client_address(request: Request) -> str:
    """Who logs in, as the login throttle counts them: the connection's address."""
    return f"ip:{request.client.host if request.client else 'unknown'}"


def typed_reason(reason: str | None) -> str:
    """A reason as typed in a form, trimmed to the 280 characters a command takes."""
    return (reason or "").strip()[:280]


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


# -- what any screen may answer --------------------------------------------------------------
def forbidden(request: Request) -> HTMLResponse:
    """A form posted without its CSRF token (or with another browser's): refused, nothing
    done."""
    return render(request, "error.html", 403, error_key="reason.csrf_failed")


def not_found(request: Request, who: Person) -> HTMLResponse:
    """A payment missing or another enterprise's: the one answer for both."""
    t = translator(request)
    return render(request, "error.html", 404, person=who, lines=[t("reason.payment_not_found")])


def refused(request: Request, who: Person, refusal: Refusal) -> HTMLResponse:
    """A payment that cannot be shown (say, its content differs from its hash), in words."""
    lines = messages.refusal_lines(translator(request), refusal.reason_code.value, refusal.detail)
    return render(request, "error.html", 409, person=who, lines=lines)


def stage_refusal(t: i18n.Translator, sent: client.Sent) -> list[str] | None:
    """The sentences of the stage's refusal of a command sent; None if it did not refuse
    (or did not answer in time)."""
    if sent.verdict is None or sent.verdict.outcome != "refused":
        return None
    return messages.of_verdict(t, sent.verdict)


def opened(request: Request, payment_id: str, k: str | None) -> Payment | None:
    """The payment behind a genuine pay link; None for a wrong link and a missing payment
    alike."""
    w = web(request)
    if not check_capability(w.key, payment_id, k):
        return None
    return w.api.deps.store.get(payment_id)


def invalid_link(request: Request) -> HTMLResponse:
    return render(request, "pay/invalid.html", 404)


# -- the start of every form POST ------------------------------------------------------------
class Answered(Exception):
    """Raised by a form's preamble to answer with ``response``: the route's own code never
    runs (:func:`answered` turns it into the response)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def answered(_request: Request, exc: Exception) -> Response:
    """The app's handler of :class:`Answered` (:func:`services.web.mount.mount` wires it)."""
    assert isinstance(exc, Answered)
    return exc.response


@dataclass(frozen=True)
class Posted:
    """A form POST past its CSRF check, and what its route uses of the request."""

    request: Request
    #: The person's language.
    t: i18n.Translator
    web: Web


def _posted(request: Request, csrf_token: Field = None) -> Posted:
    # Before anything is read or done: a form posted without its token, or with another
    # browser's, is refused and changes nothing.
    if not csrf_ok(request, csrf_token):
        raise Answered(forbidden(request))
    return Posted(request, translator(request), web(request))


@dataclass(frozen=True)
class SignedInPost(Posted):
    """An online-banking form POST by a person with a live session."""

    who: Person
    token: str = field(repr=False)


def _signed_in(form: Annotated[Posted, Depends(_posted)]) -> SignedInPost:
    # A form posted after the session ended goes to login (the worklist after it).
    who, token = person_of(form.request), token_of(form.request)
    if who is None or token is None:
        raise Answered(to_login(form.request))
    return SignedInPost(form.request, form.t, form.web, who, token)


@dataclass(frozen=True)
class PayLinkPost(Posted):
    """A pay page's form POST, with the payment its genuine pay link opens."""

    payment: Payment
    k: str = field(repr=False)


def _pay_link(
    form: Annotated[Posted, Depends(_posted)], payment_id: PaymentId, k: Field = None
) -> PayLinkPost:
    payment = opened(form.request, payment_id, k)
    if payment is None or k is None:
        raise Answered(invalid_link(form.request))
    return PayLinkPost(form.request, form.t, form.web, payment, k)


#: A form POST: its CSRF token checked first (else 403, nothing done).
FormPost = Annotated[Posted, Depends(_posted)]
#: An online-banking form POST: the CSRF token, then a live session (else to login).
SignedInForm = Annotated[SignedInPost, Depends(_signed_in)]
#: A pay page's form POST: the CSRF token, then its pay link (``k``; else "invalid link").
PayLinkForm = Annotated[PayLinkPost, Depends(_pay_link)]
