"""The whole journey in a real browser, as the manual tells it: the platform creates a
payment over the API; the applicant opens the pay link, chooses the bank, logs in and types
the code; the reviewer approves from the worklist; the authorizer reads amount and payee and
answers the challenge with the keyboard alone; a progress page open in another tab since the
pay step shows ``settled`` without a reload. Screenshots of each step go to
test-artifacts/web/ and the four main screens to docs/screens/."""

from __future__ import annotations

import re
import secrets
from typing import Any

from tests.web.conftest import Web, publish, shot

LABELLED = """() => {
  const fields = [...document.querySelectorAll('input, textarea, select')]
    .filter(e => !['hidden', 'submit', 'button'].includes(e.type));
  return fields.filter(e => {
    if (e.getAttribute('aria-label') || e.closest('label')) return false;
    return !(e.id && document.querySelector(`label[for="${e.id}"]`));
  }).map(e => e.name || e.outerHTML);
}"""


def unlabelled(page: Any) -> list[str]:
    """Every field without a label (an accessibility check of the page)."""
    found: list[str] = page.evaluate(LABELLED)
    return found


def test_pay_link_to_settled_in_english(web: Web) -> None:
    order = f"LD-{secrets.token_hex(3)}"
    created = web.create(order, "1250.00", "Shenzhen Supplier Co., Ltd.")
    pid, pay_url = created["payment_id"], created["pay_url"]

    # The buyer's tab: the order as the platform confirmed it, and the bank choice.
    buyer = web.page()
    buyer.goto(web.url + pay_url)
    assert buyer.get_by_test_id("amount").inner_text() == "CNY 1,250.00"
    assert (
        "one thousand two hundred fifty and 00/100"
        in buyer.get_by_test_id("amount-words").inner_text()
    )
    assert buyer.get_by_test_id("payee").inner_text() == "Shenzhen Supplier Co., Ltd."
    # Only B2B-enabled banks the payer has a contract with are offered.
    assert buyer.get_by_role("radio", name=re.compile("^Bank of China")).count() == 1
    assert buyer.get_by_text("City Rural Credit Union").count() == 0
    assert unlabelled(buyer) == []
    publish(shot(buyer, "01-pay-order-and-bank"), "pay-page")

    # The progress page, left open in another tab from the pay step on.
    progress = buyer.context.new_page()
    progress.goto(web.url + pay_url.replace("?", "/status?"))
    assert progress.get_by_test_id("status").inner_text().endswith("Awaiting the applicant")
    progress.evaluate("window.__sameDocument = true")

    buyer.get_by_role("radio", name=re.compile("^Industrial and Commercial")).check()
    buyer.get_by_role("radio", name=re.compile("^Bank of China")).check()
    buyer.get_by_role("button", name="Continue to online banking login").click()
    buyer.get_by_label("User name").fill("buyer1")
    buyer.get_by_label("Password").fill(web.stack.passwords["buyer1"])
    assert unlabelled(buyer) == []
    shot(buyer, "02-pay-login")
    buyer.get_by_role("button", name="Log in").click()
    buyer.get_by_label(re.compile("Dynamic password")).fill(web.code("buyer1"))
    assert unlabelled(buyer) == []
    shot(buyer, "03-pay-code")
    buyer.get_by_role("button", name=re.compile("Confirm payment of CNY 1,250.00")).click()
    buyer.get_by_test_id("started").wait_for()
    shot(buyer, "04-pay-started")
    web.wait_status(pid, "pending_review")
    # The pay link again: said plainly that it is already confirmed, nothing to type.
    buyer.goto(web.url + pay_url)
    assert "already confirmed" in buyer.get_by_test_id("closed").inner_text()
    assert buyer.locator("input[name=otp]").count() == 0

    # The reviewer: login, worklist (oldest first), the payment, approve.
    reviewer = web.page()
    web.login(reviewer, "checker1")
    row = reviewer.locator(f"tr[data-payment='{pid}']")
    assert "CNY 1,250.00" in row.inner_text() and "buyer1" in row.inner_text()
    publish(shot(reviewer, "05-reviewer-worklist"), "worklist")
    row.get_by_role("link", name="Review").click()
    assert reviewer.get_by_test_id("applicant").inner_text() == "buyer1"
    assert unlabelled(reviewer) == []
    shot(reviewer, "06-review")
    reviewer.get_by_role("button", name="Approve").click()
    reviewer.get_by_test_id("notice").wait_for()
    web.wait_status(pid, "pending_auth")

    # The authorizer reads amount and payee exactly as the challenge binds them, and signs
    # with the keyboard alone.
    signer = web.page()
    web.login(signer, "signer1")
    signer.locator(f"tr[data-payment='{pid}']").get_by_role("link", name="Authorize").click()
    assert signer.get_by_test_id("amount").inner_text() == "CNY 1,250.00"
    assert signer.get_by_test_id("payee").inner_text() == "Shenzhen Supplier Co., Ltd."
    assert signer.get_by_test_id("payee-account").inner_text() == "6222020000001234"
    challenge = web.stack.world.deps.store.get(pid)
    assert challenge is not None
    shown = signer.get_by_test_id("challenge").inner_text()
    assert len(re.sub(r"\s", "", shown)) == 64
    assert unlabelled(signer) == []
    publish(shot(signer, "07-authorize"), "authorize")
    assert signer.evaluate("document.activeElement.id") == "otp"
    signer.keyboard.type(web.auth_code(pid, "signer1"))
    signer.keyboard.press("Enter")
    signer.get_by_test_id("notice").wait_for()
    shot(signer, "08-authorized")

    # The tab left open shows the payment settled, updated live (same document, no reload).
    progress.get_by_test_id("timeline").and_(progress.locator("[data-status='settled']")).wait_for(
        timeout=30_000
    )
    assert progress.evaluate("window.__sameDocument") is True
    assert progress.get_by_test_id("final").inner_text().startswith("Settled")
    publish(shot(progress, "09-progress-settled"), "progress")
    web.wait_status(pid, "settled")
    for page in (buyer, reviewer, signer):
        page.context.close()
