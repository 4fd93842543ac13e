"""The progress page keeps up with events that arrive while it is still fetching the timeline.

A payment's transitions often come within milliseconds of each other (``otp_verified`` then
``pending_review``; ``pending_interbank`` then ``settled``). The page must end on the newest
state whatever the order of the event stream and the timeline fetches: here the first fetch is
held back (its answer taken from the server and kept) until the payment has moved on and the
page has received every later event; only then is the stale answer delivered."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from tests.web.conftest import Web

#: Records, before the page's own script runs, the status of every event the page's
#: EventSource receives (Playwright's init scripts are not subject to the page's CSP).
_RECORD_EVENTS = """
(() => {
  const Real = window.EventSource;
  window.__seen = [];
  window.EventSource = function (url, options) {
    const source = new Real(url, options);
    for (const kind of ["transition", "refusal"]) {
      source.addEventListener(kind, (e) => window.__seen.push(JSON.parse(e.data).status));
    }
    return source;
  };
  window.EventSource.prototype = Real.prototype;
})();
"""

_TIMELINE = re.compile(r"/timeline\?")


def _until(page: Any, what: str, condition: Any, timeout: float = 30) -> None:
    """Lets the browser's events run (route handlers among them) until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(25)


def _seen(page: Any) -> list[str]:
    seen: list[str] = page.evaluate("window.__seen")
    return seen


def test_the_newest_state_wins_over_a_late_timeline_answer(web: Web) -> None:
    created = web.create(f"LD-{secrets.token_hex(3)}", "321.00")
    pid, pay_url = created["payment_id"], created["pay_url"]

    page = web.page()
    page.context.add_init_script(_RECORD_EVENTS)
    held: list[tuple[Any, Any]] = []
    hold = False

    def on_timeline(route: Any) -> None:
        if hold and not held:
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route(_TIMELINE, on_timeline)
    # The page opens and refreshes its timeline once as its event stream connects.
    with page.expect_response(_TIMELINE):
        page.goto(web.url + pay_url.replace("?", "/status?"))
    page.evaluate("window.__sameDocument = true")

    # The applicant confirms: the page's first refresh is answered with the state of that
    # moment, and the answer is held back while the payment moves on.
    hold = True
    buyer = web.stack.login("buyer6")
    with web.stack.http(headers={"Authorization": f"Bearer {buyer}"}) as c:
        confirmed = c.post(
            f"/v1/payments/{pid}/confirmation", json={"bank": "BOC", "otp": web.code("buyer6")}
        )
    assert confirmed.status_code == 200, confirmed.text
    web.wait_status(pid, "pending_review")
    _until(page, "a held timeline answer", lambda: bool(held))
    _until(page, "the pending_review event", lambda: "pending_review" in _seen(page))

    # The reviewer rejects: a final state, whose event reaches the page while its fetch of
    # the timeline is still unanswered.
    reviewer = web.stack.login("checker3")
    with web.stack.http(headers={"Authorization": f"Bearer {reviewer}"}) as c:
        rejected = c.post(
            f"/v1/payments/{pid}/review", json={"approve": False, "reason": "wrong payee"}
        )
    assert rejected.status_code == 200, rejected.text
    web.wait_status(pid, "rejected")
    _until(page, "the rejected event", lambda: "rejected" in _seen(page))

    # The stale answer arrives last; the page still ends on the newest state, no reload.
    route, answer = held[0]
    route.fulfill(response=answer)
    page.get_by_test_id("timeline").and_(page.locator("[data-status='rejected']")).wait_for(
        timeout=15_000
    )
    assert "wrong payee" in page.get_by_test_id("timeline").inner_text()
    assert page.evaluate("window.__sameDocument") is True
