"""The one start of every form POST of the web screens (:mod:`services.web.pages`): the CSRF
token first, then the session (online banking) or the pay link (the pay page). Every POST
route is read from the screens' routers, so a new form cannot skip it unnoticed."""

from __future__ import annotations

import re
import typing
import warnings

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from services.api.app import create_app
from services.api.dependencies import Api
from services.query.readmodel import ReadModel, make_engine
from services.web.mount import SCREENS
from services.web.pages import FormPost, PayLinkForm, SignedInForm
from tests.unit.support import World

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _app(world: World) -> FastAPI:
    model = ReadModel(make_engine("sqlite://"))
    return create_app(Api(deps=world.deps, views=lambda: model, wait_seconds=0.1))


def _browser(world: World) -> TestClient:
    return TestClient(_app(world), base_url="http://127.0.0.1:8000", follow_redirects=False)


def _csrf(browser: TestClient) -> str:
    page = browser.get("/bank/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found[1]


def _form_posts() -> list[APIRoute]:
    return [
        r
        for router in SCREENS
        for r in router.routes
        if isinstance(r, APIRoute) and "POST" in r.methods and r.path.startswith(("/bank", "/pay/"))
    ]


def _path(route: APIRoute) -> str:
    return route.path.replace("{payment_id}", "pay_1")


def test_every_form_post_of_the_web_starts_with_the_one_preamble() -> None:
    preambles = {
        typing.get_args(form)[1].dependency for form in (FormPost, SignedInForm, PayLinkForm)
    }
    routes = _form_posts()
    assert len(routes) == 9
    for route in routes:
        assert {d.call for d in route.dependant.dependencies} & preambles, route.path


@pytest.mark.parametrize("token", [None, "forged-token-of-another-browser"])
def test_every_form_posted_without_its_csrf_token_is_refused_and_does_nothing(
    world: World, token: str | None
) -> None:
    browser = _browser(world)
    _csrf(browser)
    data = {"username": "alice", "password": "alice-password", "k": "x", "bank": "BOC"}
    if token is not None:
        data["csrf_token"] = token
    for route in _form_posts():
        answer = browser.post(_path(route), data=data)
        assert answer.status_code == 403, route.path
        assert "b2bpay_session" not in answer.headers.get("set-cookie", ""), route.path
    assert browser.cookies.get("b2bpay_session") is None


def test_a_banking_form_posted_after_the_session_ended_goes_to_login(world: World) -> None:
    browser = _browser(world)
    token = _csrf(browser)
    for path in ("/bank/payments/pay_1/review", "/bank/payments/pay_1/authorize"):
        answer = browser.post(path, data={"csrf_token": token, "decision": "approve"})
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/bank/login?expired=1&next=")


def test_a_pay_form_posted_with_a_wrong_link_shows_the_invalid_link_page(world: World) -> None:
    browser = _browser(world)
    token = _csrf(browser)
    for step in ("bank", "login", "confirm"):
        answer = browser.post(f"/pay/pay_1/{step}", data={"csrf_token": token, "k": "forged"})
        assert answer.status_code == 404, step


def test_a_form_past_its_preamble_does_what_it_says(world: World) -> None:
    browser = _browser(world)
    token = _csrf(browser)
    payment_id = world.to_pending_review()

    logged_in = browser.post(
        "/bank/login",
        data={"csrf_token": token, "username": "bob", "password": "bob-password", "next": "/x"},
    )
    assert (logged_in.status_code, logged_in.headers["location"]) == (303, "/x")
    assert browser.cookies.get("b2bpay_session")
    rejected = browser.post(
        f"/bank/payments/{payment_id}/review",
        data={"csrf_token": token, "decision": "reject", "reason": "  wrong payee  "},
    )
    # No stage runs in this test: the decision is queued, and its progress page follows.
    assert rejected.status_code == 303
    assert rejected.headers["location"] == f"/bank/payments/{payment_id}?notice=rejected"
