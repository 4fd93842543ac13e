"""The pages' security over plain HTTP (no browser): headers, cookie flags, a pay link without
its capability, a login form without its CSRF token, and no session token in any page."""

from __future__ import annotations

import re
import secrets

import httpx

from tests.web.conftest import Web, http


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found[1]


def test_headers_and_cookies(web: Web) -> None:
    with http(web) as c:
        page = c.get("/bank/login")
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        # No inline script or style in the markup (the CSP would block it anyway).
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
        assert " style=" not in page.text and "<style" not in page.text
        csrf_cookie = page.headers["set-cookie"].lower()
        assert "httponly" in csrf_cookie and "samesite=strict" in csrf_cookie
        logged = _log_in(web, c, page.text)
        assert logged.status_code == 303, logged.text
        cookie = logged.headers["set-cookie"]
        assert cookie.startswith("b2bpay_session=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Secure" not in cookie  # plain HTTP here; set over TLS
        token = cookie.split(";")[0].split("=", 1)[1]
        for path in ("/bank/worklist", logged.headers["location"]):
            shown = c.get(path)
            assert shown.status_code == 200
            assert token not in shown.text and token not in str(shown.url)
        # The API's pages keep their own headers (the docs load their own assets).
        assert "content-security-policy" not in c.get("/healthz").headers
        # Behind a TLS-terminating proxy the server is told to believe (loopback here:
        # B2BPAY_FORWARDED_ALLOW_IPS=127.0.0.1), the session cookie is Secure.
        proxied = _log_in(web, c, page.text, {"X-Forwarded-Proto": "https"})
        assert proxied.status_code == 303, proxied.text
        assert "Secure" in proxied.headers["set-cookie"]


def _log_in(
    web: Web, c: httpx.Client, login_page: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """checker4 posts the login form of ``login_page`` (with its CSRF token)."""
    return c.post(
        "/bank/login",
        data={
            "username": "checker4",
            "password": web.stack.passwords["checker4"],
            "csrf_token": _csrf(login_page),
        },
        headers=headers,
    )


def test_login_without_csrf_token_is_refused_and_opens_no_session(web: Web) -> None:
    with http(web) as c:
        c.get("/bank/login")
        refused = c.post(
            "/bank/login",
            data={"username": "checker4", "password": web.stack.passwords["checker4"]},
        )
    assert refused.status_code == 403
    assert "did not come from this site" in refused.text
    assert "b2bpay_session" not in refused.headers.get("set-cookie", "")


def test_pay_link_without_its_capability_shows_nothing(web: Web) -> None:
    created = web.create(f"LD-{secrets.token_hex(3)}", "12.00", "Hidden Payee Ltd.")
    pid = created["payment_id"]
    with http(web) as c:
        for url in (
            f"/pay/{pid}",
            f"/pay/{pid}?k=AAAAAAAAAAAAAAAAAAAAAAAA",
            f"/pay/{pid}/status",
            f"/pay/{pid}/timeline?k=x",
        ):
            shown = c.get(url)
            assert shown.status_code == 404, url
            assert "Hidden Payee" not in shown.text and "12.00" not in shown.text
        assert "Hidden Payee" in c.get(created["pay_url"]).text


def test_people_of_another_enterprise_see_no_payment(web: Web) -> None:
    created = web.create(f"LD-{secrets.token_hex(3)}", "13.00", "Private Payee Ltd.")
    pid = created["payment_id"]
    with http(web) as c:
        page = c.get("/bank/login")
        c.post(
            "/bank/login",
            data={
                "username": "outsider",
                "password": web.stack.passwords["outsider"],
                "csrf_token": _csrf(page.text),
            },
        )
        for path in (f"/bank/payments/{pid}", f"/bank/payments/{pid}/review"):
            shown = c.get(path)
            assert shown.status_code == 404
            assert "Private Payee" not in shown.text


def test_markup_in_payment_fields_is_shown_as_text(web: Web) -> None:
    attack = '<img src=x onerror="alert(1)">Evil & Co'
    created = web.create(f"LD-{secrets.token_hex(3)}", "14.00", attack)
    with http(web) as c:
        page = c.get(created["pay_url"])
    assert page.status_code == 200
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;Evil &amp; Co" in page.text
