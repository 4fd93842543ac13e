"""A platform's request taken up by its applicant, through worker processes: the platform
creates it (PaymentRequest v2, through the client as the HTTP API will), the applicant
confirms it with ``b2bpay confirm``, reviewer and authorizer finish it, and it settles."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from shared.app import platform_client
from shared.app.deps import Deps
from shared.bootstrap import bootstrap
from tests.e2e.conftest import code_of
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

E1, ACC1 = "PLAT-E1", "62166001000099"


@pytest.fixture(scope="module")
def deps(e2e: Stack) -> Iterator[Deps]:
    """The dependencies a platform-facing process (the HTTP API) builds."""
    built = bootstrap(e2e.settings_like())
    yield built
    built.broker.close()
    built.redis.close()


def _person(e2e: Stack, name: str, role: str) -> tuple[str, str]:
    password = secrets.token_urlsafe(12)
    added = e2e.cli(
        "admin", "add-user", name, "--enterprise", E1, "--role", role, "--password-stdin",
        "--json", stdin=password + "\n",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    login = e2e.cli("login", name, "--password-stdin", "--json", stdin=password + "\n")
    assert login.code == 0, login.stderr
    return added.data["totp_uri"], login.data["token"]


def test_a_platform_creates_the_applicant_confirms_and_the_payment_settles(
    e2e: Stack, deps: Deps
) -> None:
    for args in (
        ("admin", "add-bank", "BOC", "--name", "Bank of China"),
        ("admin", "add-enterprise", E1, "--name", "Acme", "--bank", "BOC", "--account", ACC1),
    ):
        assert e2e.cli(*args, "--json").code == 0
    added = e2e.cli(
        "admin", "add-platform", "liandong", "--name", "Liandong", "--enterprise", E1, "--json"
    )
    assert added.code == 0, added.stdout + added.stderr
    api_key = added.data["api_key"]
    app_uri, app = _person(e2e, "papp", "applicant")
    _, rev = _person(e2e, "prev", "reviewer")
    auth_uri, auth = _person(e2e, "pauth", "authorizer")

    platform = platform_client.authenticate_platform(deps, api_key)
    request = {
        "request_id": "plat-1",
        "order_id": "ORDER-PLAT-1",
        "payer": {"enterprise_id": E1, "account": ACC1, "name": "Acme"},
        "payee": {"bank_code": "ICBC", "account": "62220200001234", "name": "Supplier Co."},
        "amount": "990000.00",
        "currency": "CNY",
    }
    created = platform_client.create_request(deps, request, platform, wait=20)
    assert created.verdict is not None and created.verdict.status == "requested", created
    pid = created.payment_id

    confirmed = e2e.cli(
        "confirm", pid, "--session", app, "--otp", code_of(app_uri), "--bank", "BOC", "--json"
    )
    assert (confirmed.code, confirmed.data["status"]) == (0, "otp_verified"), confirmed.stdout
    reviewed = e2e.cli("review", pid, "--approve", "--session", rev, "--json")
    assert (reviewed.code, reviewed.data["status"]) == (0, "pending_auth"), reviewed.stdout
    shown = e2e.cli("challenge", pid, "--session", auth, "--json")
    assert shown.code == 0, shown.stdout
    answered = e2e.cli(
        "otp", "--challenge", shown.data["challenge"], "--json", stdin=auth_uri + "\n"
    )
    assert answered.code == 0, answered.stderr
    authorized = e2e.cli(
        "authorize", pid, "--approve", "--session", auth, "--otp", answered.data["code"], "--json"
    )
    assert (authorized.code, authorized.data["status"]) == (0, "authorized"), authorized.stdout

    def settled() -> bool:
        payment = deps.store.get(pid)
        return payment is not None and payment.status.value == "settled"

    wait_until(f"{pid} to settle", settled)
    payment = deps.store.get(pid)
    assert payment is not None
    assert (payment.platform_id, payment.applicant_id, payment.content.bank) == (
        "liandong",
        "papp",
        "BOC",
    )
    assert api_key not in "".join(e2e.cli("events", "--json").stdout)
