"""Browser fixtures: one stack (the stages as worker processes on the real Redis and
``b2bpay serve``, :func:`tests.api.conftest.running_stack`) and one headless Chromium (the
machine's Debian package at /usr/bin/chromium, driven by Playwright) for every browser test.

A missing Chromium fails the tests with the install command: the screens are not tested
otherwise, and a skip would hide it. ``playwright install`` (a browser download) is never
used.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.app.deps import platforms_of
from shared.domain.parties import Role
from tests.api.conftest import ACC1, E1, E2, running_stack
from tests.stack import Stack, wait_until

CHROMIUM = os.environ.get("B2BPAY_TEST_CHROMIUM", "/usr/bin/chromium")
#: Where every step's screenshot goes (gitignored); the four main ones are also copied to
#: docs/screens/ for the README (see :func:`publish`).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
DOCS_SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"

#: Each journey has people of its own: a token's code is accepted once per 30-second step.
ROSTER: dict[str, tuple[Role, str]] = {
    **{f"buyer{i}": ("applicant", E1) for i in range(1, 8)},
    **{f"checker{i}": ("reviewer", E1) for i in range(1, 5)},
    **{f"signer{i}": ("authorizer", E1) for i in range(1, 5)},
    "outsider": ("reviewer", E2),
}


@dataclass
class Web:
    stack: Stack
    platform_key: str
    browser: Any

    @property
    def url(self) -> str:
        return self.stack.base_url

    def create(
        self, order: str, amount: str = "1250.00", payee: str = "Supplier Co."
    ) -> dict[str, Any]:
        """The platform creates a payment over the API with its key (seed steps 1-2)."""
        body = {
            "order_id": order,
            "payer": {"enterprise_id": E1, "account": ACC1, "name": "Acme Trading Co., Ltd."},
            "payee": {"bank_code": "ICBC", "account": "6222020000001234", "name": payee},
            "amount": amount,
            "currency": "CNY",
            "purpose": f"goods, order {order}",
        }
        headers = {"X-Api-Key": self.platform_key, "Idempotency-Key": f"req-{order}"}
        with self.stack.http(headers=headers) as c:
            created = c.post("/v1/payments", json=body)
        assert created.status_code == 201, created.text
        answer: dict[str, Any] = created.json()
        return answer

    def status_of(self, payment_id: str) -> str:
        payment = self.stack.world.deps.store.get(payment_id)
        assert payment is not None
        return payment.status.value

    def wait_status(self, payment_id: str, status: str, timeout: float = 30) -> None:
        wait_until(
            f"{payment_id} to be {status}", lambda: self.status_of(payment_id) == status, timeout
        )

    def code(self, name: str) -> str:
        return self.stack.world.code(name)

    def auth_code(self, payment_id: str, name: str) -> str:
        return self.stack.world.auth_code(payment_id, name)

    def page(self, lang: str = "en-US,en;q=0.9") -> Any:
        context = self.browser.new_context(
            locale="zh-CN" if lang.startswith("zh") else "en-US",
            extra_http_headers={"Accept-Language": lang},
            viewport={"width": 1280, "height": 860},
        )
        # Generous on a loaded machine: every wait is for a condition, never a fixed sleep.
        context.set_default_timeout(60_000)
        return context.new_page()

    def login(self, page: Any, name: str, lang: str = "en") -> None:
        page.goto(f"{self.url}/bank/login")
        page.get_by_label("User name" if lang == "en" else "用户名").fill(name)
        page.get_by_label("Password" if lang == "en" else "登录密码").fill(
            self.stack.passwords[name]
        )
        page.locator("form.form button[type=submit]").click()
        page.wait_for_url("**/bank/worklist")


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def publish(path: Path, name: str) -> None:
    """One of the four main screens, for the README: written when missing, or refreshed with
    ``B2BPAY_UPDATE_SCREENS=1`` (so a plain test run leaves the committed files alone)."""
    target = DOCS_SCREENS / f"{name}.png"
    if target.exists() and os.environ.get("B2BPAY_UPDATE_SCREENS") != "1":
        return
    DOCS_SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the web screens' browser tests need it. "
            "Install it with `apt-get install -y chromium` (never `playwright install`)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def web(redis_url: str, tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Web]:
    extra = {
        # Three failed codes lock a user: the second warns that one attempt is left.
        "B2BPAY_OTP_MAX_FAILURES": "3",
        "B2BPAY_HTTP_WAIT_SECONDS": "10",
        # As behind a TLS-terminating proxy on the same host (tests/web/test_headers.py).
        "B2BPAY_FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    workdir = tmp_path_factory.mktemp("web")
    with running_stack(redis_url, workdir, ROSTER, extra, prefix_tag="web") as stack:
        deps = stack.world.deps
        # A choice of banks on the pay page: two B2B banks, one without B2B (not offered).
        stack.world.bank("ICBC", "Industrial and Commercial Bank of China")
        stack.world.bank("RURAL", "City Rural Credit Union", b2b_enabled=False)
        stack.world.enterprise(E1, "Acme Trading Co., Ltd.", ["BOC", "ICBC", "RURAL"], [ACC1])
        _platform, key = platforms_of(deps).add(
            f"liandong-{secrets.token_hex(2)}",
            "Liandong",
            [E1],
            lambda e: deps.directory.enterprise(e) is not None,
        )
        try:
            yield Web(stack, key, browser)
        finally:
            # Pages a failed test left open (live progress streams among them) close before
            # the server stops.
            for context in list(browser.contexts):
                context.close()


@pytest.fixture(autouse=True)
def _close_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test's pages close when it ends, passed or failed."""
    yield
    if "web" in request.fixturenames:
        browser = request.getfixturevalue("browser")
        for context in list(browser.contexts):
            context.close()


def http(web: Web) -> httpx.Client:
    return httpx.Client(base_url=web.url, timeout=30, follow_redirects=False)
