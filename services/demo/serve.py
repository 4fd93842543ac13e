"""``b2bpay demo --serve``: after the demo, the same embedded stages keep running behind
``b2bpay serve``'s application (the API and the web screens), with the manual's three people
(alice, bob, carol) given passwords and tokens to type, and a few payments waiting at each
step, so a newcomer clicks through the whole flow in a browser."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyotp
from rich.console import Console

from services.demo.scenario import ENTERPRISE, Demo
from shared.app import client, platform_client
from shared.app.paylink import pay_url

#: The manual's people, as the screens use them.
PEOPLE = (("alice", "applicant"), ("bob", "reviewer"), ("carol", "authorizer"))
#: Payments left waiting at each step.
WAITING = 2


@dataclass
class Showcase:
    pay_links: list[str] = field(default_factory=list)
    pending_review: list[str] = field(default_factory=list)
    pending_auth: list[str] = field(default_factory=list)


def _until(demo: Demo, payment_id: str, status: str, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        payment = demo.deps.store.get(payment_id)
        if payment is not None and payment.status.value == status:
            return True
        time.sleep(0.05)  # the embedded stages act in their own threads
    return False


def prepare(demo: Demo) -> Showcase:
    """Payments waiting for alice (pay page), bob (review) and carol (authorization)."""
    shown = Showcase()
    first = demo.n + 100
    for i in range(WAITING):
        index = first + i
        request = demo.request(index, "alice")
        content = request.model_dump(
            mode="json", by_alias=True, exclude={"schema_", "session", "otp", "bank", "command_id"}
        )
        sent = platform_client.create_request(demo.deps, content, demo.platform, wait=10)
        shown.pay_links.append(pay_url(demo.deps, sent.payment_id))
    for i in range(2 * WAITING):
        index = first + WAITING + i
        # A desk of its own each: a token's code is accepted once per 30-second step.
        desk = f"web-applicant-{i}"
        demo.enrol(desk, ENTERPRISE, "applicant")
        sent = client.send(demo.deps, demo.request(index, desk), wait=10)
        if not _until(demo, sent.payment_id, "pending_review"):
            continue
        if i < WAITING:
            shown.pending_review.append(sent.payment_id)
            continue
        client.review(
            demo.deps,
            sent.payment_id,
            approve=True,
            session=demo.tokens["reviewer-00"],
            wait=10,
        )
        if _until(demo, sent.payment_id, "pending_auth"):
            shown.pending_auth.append(sent.payment_id)
    return shown


def tell(console: Console, demo: Demo, shown: Showcase, base: str) -> None:
    console.rule("[bold]b2bpay is serving the screens")
    console.print(
        f"Online banking: [bold]{base}/bank/[/bold]   (API docs: {base}/docs; Ctrl-C stops)"
    )
    console.print("[bold]The manual's people[/bold] (demo only: never print real credentials):")
    for name, role in PEOPLE:
        user = demo.users[name]
        uri = pyotp.TOTP(user.totp_secret).provisioning_uri(name=name, issuer_name="b2bpay")
        console.print(
            f"  {name:<6} {role:<11} password [bold]{demo.passwords[name]}[/bold]   token {uri}",
            soft_wrap=True,
            highlight=False,
        )
    console.print(
        "A dynamic password: [bold]echo '<token URI>' | b2bpay otp[/bold]; carol's, bound to "
        "the payment: [bold]echo '<token URI>' | b2bpay otp --challenge <challenge>[/bold] "
        "(the challenge is on her authorize page). A code is accepted once per 30 seconds."
    )
    console.print("\n[bold]Waiting for alice[/bold] (open a pay link, as the platform's buyer):")
    for link in shown.pay_links:
        console.print(f"  {base}{link}", soft_wrap=True)
    console.print(
        f"[bold]Waiting for bob[/bold]: {len(shown.pending_review)} payments to review; "
        f"[bold]for carol[/bold]: {len(shown.pending_auth)} to authorize. "
        "Each payment's progress page updates live."
    )
