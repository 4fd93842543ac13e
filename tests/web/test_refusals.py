"""Refusals on the screens, in words a person understands: a wrong code (the generic message,
the payment unchanged), the lock warning, a form posted without its CSRF token, a session
that ended (sent back to login), the idle warning a minute before the timeout; and a
rejected, a cancelled and an expired payment told plainly."""

from __future__ import annotations

import re
import secrets

from shared.app.expiry import expire_if_overdue
from tests.web.conftest import Web, shot

GENERIC = "Authentication failed: check your user name, password or dynamic password"
LOCK_WARNING = "1 attempt left before your user is locked."


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _to_code_page(web: Web, page: object, pay_url: str, name: str) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto(web.url + pay_url)
    page.get_by_role("button", name="Continue to online banking login").click()
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(web.stack.passwords[name])
    page.get_by_role("button", name="Log in").click()
    page.get_by_label(re.compile("Dynamic password")).wait_for()


def test_wrong_code_is_generic_then_warns_before_the_lock(web: Web) -> None:
    created = web.create(f"LD-{secrets.token_hex(3)}", "88.00")
    pid = created["payment_id"]
    page = web.page()
    _to_code_page(web, page, created["pay_url"], "buyer2")
    page.get_by_label(re.compile("Dynamic password")).fill(_wrong(web.code("buyer2")))
    page.get_by_role("button", name=re.compile("Confirm payment")).click()
    errors = page.locator("#errors")
    errors.wait_for()
    assert GENERIC in errors.inner_text()
    assert LOCK_WARNING not in errors.inner_text()
    # Nothing says which factor failed, and the payment is unchanged.
    assert "otp" not in errors.inner_text().lower()
    assert web.status_of(pid) == "requested"
    shot(page, "20-wrong-code")
    # The second failure of three: one attempt left, said plainly.
    page.get_by_label(re.compile("Dynamic password")).fill(_wrong(web.code("buyer2")))
    page.get_by_role("button", name=re.compile("Confirm payment")).click()
    page.get_by_text(LOCK_WARNING).wait_for()
    assert GENERIC in page.locator("#errors").inner_text()
    assert web.status_of(pid) == "requested"
    shot(page, "21-lock-warning")
    page.context.close()


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(web: Web) -> None:
    created = web.create(f"LD-{secrets.token_hex(3)}", "66.00")
    pid = created["payment_id"]
    buyer = web.page()
    _to_code_page(web, buyer, created["pay_url"], "buyer3")
    buyer.get_by_label(re.compile("Dynamic password")).fill(web.code("buyer3"))
    buyer.get_by_role("button", name=re.compile("Confirm payment")).click()
    buyer.get_by_test_id("started").wait_for()
    web.wait_status(pid, "pending_review")

    reviewer = web.page()
    web.login(reviewer, "checker2")
    reviewer.goto(f"{web.url}/bank/payments/{pid}/review")
    # The attack: the same form, its token taken out (as a form on another site would lack it).
    reviewer.evaluate("document.querySelector('form.form input[name=csrf_token]').remove()")
    reviewer.get_by_role("button", name="Approve").click()
    refused = reviewer.locator("#errors")
    refused.wait_for()
    assert "did not come from this site, so nothing was done" in refused.inner_text()
    shot(reviewer, "22-csrf-refused")
    assert web.status_of(pid) == "pending_review"
    # A token from another browser is refused alike.
    other = web.page()
    other.goto(f"{web.url}/bank/login")
    foreign = other.locator("input[name=csrf_token]").first.get_attribute("value")
    reviewer.goto(f"{web.url}/bank/payments/{pid}/review")
    reviewer.evaluate(
        "v => document.querySelector('form.form input[name=csrf_token]').value = v", foreign
    )
    reviewer.get_by_role("button", name="Approve").click()
    reviewer.locator("#errors").wait_for()
    assert web.status_of(pid) == "pending_review"

    # A rejection needs a reason; with one, the payment is rejected and says so plainly.
    reviewer.goto(f"{web.url}/bank/payments/{pid}/review")
    reviewer.get_by_role("button", name="Reject").click()
    assert "A rejection needs a reason" in reviewer.locator("#errors").inner_text()
    assert web.status_of(pid) == "pending_review"
    reviewer.get_by_label(re.compile("Reason for rejection")).fill("Payee account not on contract")
    reviewer.get_by_role("button", name="Reject").click()
    reviewer.get_by_test_id("notice").wait_for()
    web.wait_status(pid, "rejected")
    reviewer.reload()
    final = reviewer.get_by_test_id("final").inner_text()
    assert "Rejected: this payment will not be made." in final
    assert "Payee account not on contract" in final
    shot(reviewer, "23-rejected")
    for page in (buyer, reviewer, other):
        page.context.close()


def test_applicant_cancels_from_her_worklist(web: Web) -> None:
    created = web.create(f"LD-{secrets.token_hex(3)}", "420.50")
    pid = created["payment_id"]
    page = web.page()
    _to_code_page(web, page, created["pay_url"], "buyer4")
    page.get_by_label(re.compile("Dynamic password")).fill(web.code("buyer4"))
    page.get_by_role("button", name=re.compile("Confirm payment")).click()
    page.get_by_test_id("started").wait_for()
    web.wait_status(pid, "pending_review")
    page.goto(f"{web.url}/bank/worklist")
    row = page.locator(f"tr[data-payment='{pid}']")
    row.wait_for()
    shot(page, "24-applicant-worklist")
    row.get_by_role("button", name="Cancel").click()
    page.get_by_test_id("notice").wait_for()
    web.wait_status(pid, "cancelled")
    page.reload()
    assert page.get_by_test_id("final").inner_text().startswith("Cancelled")
    shot(page, "25-cancelled")
    # The pay link now says plainly that it is closed.
    page.goto(web.url + created["pay_url"])
    assert "cancelled" in page.get_by_test_id("closed").inner_text()
    page.context.close()


def test_an_expired_pay_link_says_so_plainly_and_offers_nothing_to_type(web: Web) -> None:
    created = web.create(f"LD-{secrets.token_hex(3)}", "77.00")
    pid, pay_url = created["payment_id"], created["pay_url"]
    deps = web.stack.world.deps
    payment = deps.store.get(pid)
    assert payment is not None
    # Nobody confirmed it in time: the sweeper's expiry, as it runs a day and more later.
    expired = expire_if_overdue(deps, payment, deps.store.now() + 2 * 86_400)
    assert expired.status.value == "expired"

    page = web.page()
    page.goto(web.url + pay_url)
    closed = page.get_by_test_id("closed").inner_text()
    assert "has expired: nobody confirmed it in time" in closed
    assert "Ask the platform for a new one" in closed
    assert page.get_by_role("radio").count() == 0
    assert page.locator("input[name=otp], input[name=password]").count() == 0
    shot(page, "28-pay-expired")
    # Its progress page tells the final state plainly, and follows no more events.
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.get_by_role("link", name=re.compile("progress", re.IGNORECASE)).click()
    timeline = page.get_by_test_id("timeline")
    timeline.and_(page.locator("[data-status='expired'][data-final='true']")).wait_for()
    page.wait_for_load_state("load")
    assert any("/status?" in url for url in asked)
    assert not any("/events?" in url for url in asked), asked
    final = page.get_by_test_id("final").inner_text()
    assert "Expired: nobody acted on it in time; no money was paid." in final
    assert "When its time ran out it was still at “Awaiting the applicant”" in final
    assert "not acted on in" not in final and "requested" not in final
    shot(page, "29-progress-expired")
    status_url = page.url
    page.context.close()
    # The same, in Chinese.
    zh = web.page("zh-CN,zh;q=0.9")
    zh.goto(status_url)
    final_zh = zh.get_by_test_id("final").inner_text()
    assert "已过期" in final_zh and "过期时仍处于“待经办人确认”" in final_zh
    assert "requested" not in final_zh
    shot(zh, "30-progress-expired-zh")
    zh.context.close()


def test_an_ended_session_goes_back_to_login(web: Web) -> None:
    page = web.page()
    web.login(page, "checker3")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "b2bpay_session")
    web.stack.world.deps.sessions.revoke(token)
    page.goto(f"{web.url}/bank/worklist")
    page.wait_for_url(re.compile(r"/bank/login\?expired=1"))
    assert "Your session has ended" in page.get_by_test_id("notice").inner_text()
    shot(page, "26-session-ended")
    page.context.close()


def test_idle_warning_a_minute_before_the_timeout(web: Web) -> None:
    page = web.page()
    page.clock.install()
    web.login(page, "checker4")
    idle = int(page.locator("body").get_attribute("data-idle-seconds") or 0)
    assert idle == web.stack.world.deps.sessions.idle_seconds
    warning = page.locator("#idle-warning")
    assert warning.is_hidden()
    page.clock.run_for((idle - 61) * 1000)
    assert warning.is_hidden()
    page.clock.run_for(2000)
    warning.wait_for(state="visible")
    shot(page, "27-idle-warning")
    page.clock.run_for(61_000)
    page.wait_for_url(re.compile(r"/bank/login\?expired=1"))
    page.context.close()
