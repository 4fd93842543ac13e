"""The demo's people: who they are, the payments they start, and how each reacts when a
payment reaches their work list, as they would to their online-banking work list. They act
through the application client (:mod:`shared.app.client`), as a person's CLI or browser does.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

from pydantic import SecretStr
from rich.console import Console

from shared.app import client, platform_client
from shared.app.deps import Deps, platforms_of
from shared.domain.contracts import (
    AuthDecision,
    PaymentRequest,
    ReviewDecision,
    StatusEvent,
    payment_id_for,
)
from shared.domain.parties import User
from shared.domain.states import TERMINAL
from shared.security.linking import is_linked
from shared.testing import World

ENTERPRISE, SMALL = "LIANDONG-BUYER-01", "SMALLCO-02"
ACCOUNT, SMALL_ACCOUNT = "6216600100001234", "6216600100009999"


@dataclass
class Plan:
    """What the simulated people will do with one payment."""

    index: int
    request: PaymentRequest
    applicant: str
    reviewer: str
    authorizer: str
    review_approves: bool = True
    auth_approves: bool = True
    expect: str = "settled"
    #: Created by the upstream platform (PaymentRequest v2, no bank); the applicant chooses
    #: the bank and enters her code on the pay page (ApplicantConfirmation).
    via_platform: bool = False
    submitted_at: float = 0.0
    finished_at: float = 0.0
    final: str | None = None
    notes: list[str] = field(default_factory=list)


class Demo:
    def __init__(self, deps: Deps, console: Console, payments: int) -> None:
        self.deps = deps
        self.console = console
        self.n = payments
        self.world = World(deps)
        self.users: dict[str, User] = self.world.people
        self.tokens: dict[str, str] = {}
        #: The passwords of the manual's three people (alice, bob, carol), for the screens.
        self.passwords: dict[str, str] = {}
        self.plans: dict[str, Plan] = {}
        self.expected_refusals: list[tuple[str, str, str]] = []  # (what, command_id, reason_code)
        self.refusals: Counter[str] = Counter()
        self.refused_commands: dict[str, str] = {}
        self.duplicate_command: str | None = None
        #: Carol's code for payment 0, and when her token made it.
        self.carol_spent: tuple[str, float] | None = None
        self.carol_authorized = False
        #: The payment on which an authorizer's code for another payment is tried; its own
        #: authorization waits until those attempts are answered.
        self.linking_index = 5
        self.linking_waiting: str | None = None
        self.last_event = "0"
        self.rng = random.Random(7)

    # -- seeding -----------------------------------------------------------------------
    def seed(self) -> None:
        w = self.world
        w.bank("BOC", "Bank of China", True)
        w.bank("ICBC", "Industrial and Commercial Bank of China", True)
        w.bank("CITYRURAL", "City Rural Credit Union", False)
        w.enterprise(ENTERPRISE, "Liandong Buyer Co., Ltd.", ["BOC", "ICBC"], [ACCOUNT], True)
        w.enterprise(SMALL, "Small Trading Co.", ["BOC"], [SMALL_ACCOUNT], False)
        # The manual's three people, plus desks: TOTP accepts one code per user per 30 s,
        # so pushing hundreds of payments in seconds takes one desk per payment.
        people = [("alice", "applicant"), ("bob", "reviewer"), ("carol", "authorizer")]
        people += [(f"applicant-{i:03d}", "applicant") for i in range(self.n)]
        people += [(f"reviewer-{i:02d}", "reviewer") for i in range(8)]
        people += [(f"authorizer-{i:03d}", "authorizer") for i in range(self.n + 2)]
        for name, role in people:
            self._enrol(name, ENTERPRISE, role)
        self._enrol("applicant-late", ENTERPRISE, "applicant")
        self._enrol("smallco-applicant", SMALL, "applicant")
        # The upstream platform of the manual, registered for the buyer (its key shown once).
        self.platform, _key = platforms_of(self.deps).add(
            "liandong",
            "Liandong",
            [ENTERPRISE],
            lambda e: self.deps.directory.enterprise(e) is not None,
        )

    def _enrol(self, name: str, enterprise: str, role: str) -> None:
        self.enrol(name, enterprise, role)

    def enrol(self, name: str, enterprise: str, role: str) -> None:
        password = secrets.token_urlsafe(12)
        if name in ("alice", "bob", "carol"):
            self.passwords[name] = password
        user = self.world.enrol(name, enterprise, role, password)
        # The real login path: password check, then a signed session.
        assert self.deps.directory.check_password(user, password)
        self.tokens[name] = self.world.session(user)

    def code(self, name: str) -> str:
        return self.world.code(name)

    def auth_code(self, name: str, payment_id: str, at: float | None = None) -> str:
        """The authorizer's code for this payment: their token's answer to the challenge
        that ``b2bpay challenge`` shows with amount and payee (or a plain code in totp mode)."""
        assert self.deps.store.get(payment_id) is not None
        return self.world.auth_code(payment_id, name, at)

    def request(
        self,
        i: int,
        applicant: str,
        enterprise: str = ENTERPRISE,
        order: str | None = None,
        otp: str | None = None,
    ) -> PaymentRequest:
        amount = f"{self.rng.randint(1_000, 2_000_000) / 100:.2f}"
        return PaymentRequest.model_validate(
            {
                "request_id": f"LD-REQ-{i:05d}",
                "order_id": order or f"LD-ORDER-{i:05d}",
                "payer": {
                    "enterprise_id": enterprise,
                    "account": ACCOUNT if enterprise == ENTERPRISE else SMALL_ACCOUNT,
                    "name": "Liandong Buyer Co., Ltd."
                    if enterprise == ENTERPRISE
                    else "Small Trading Co.",
                },
                "payee": {
                    "bank_code": "ICBC",
                    "account": f"62220200{i:08d}",
                    "name": f"Supplier {i:03d}",
                },
                "amount": amount,
                "currency": "CNY",
                "bank": "BOC",
                "purpose": f"Liandong order {i}",
                "session": self.tokens[applicant],
                "otp": otp or self.code(applicant),
            }
        )

    # -- driving -----------------------------------------------------------------------
    def send(self, command: client.Command, wait: float | None = None) -> client.Sent:
        return client.send(self.deps, command, wait)

    def expect_refusal(self, what: str, command_id: str, reason_code: str) -> None:
        self.expected_refusals.append((what, command_id, reason_code))

    def submit_all(self) -> None:
        n = self.n
        reject_review = set(self.rng.sample(range(3, n), max(1, n // 12)))
        reject_auth = set(
            self.rng.sample(sorted(set(range(3, n)) - reject_review), max(1, n // 25))
        )
        self.linking_index = next(i for i in range(5, n) if i not in reject_review)
        for i in range(n):
            applicant = "alice" if i == 0 else f"applicant-{i:03d}"
            reviewer = "bob" if i == 0 else f"reviewer-{i % 8:02d}"
            authorizer = "carol" if i == 0 else f"authorizer-{i:03d}"
            request = self.request(i, applicant)
            plan = Plan(i, request, applicant, reviewer, authorizer)
            if i in reject_review:
                plan.review_approves, plan.expect = False, "rejected"
            elif i in reject_auth:
                plan.auth_approves, plan.expect = False, "rejected"
            via_platform = i >= 6 and i % 3 == 0 and i != self.linking_index
            pid = payment_id_for(
                request.payer.enterprise_id,
                request.request_id,
                self.platform.platform_id if via_platform else None,
            )
            self.plans[pid] = plan
            plan.submitted_at = time.monotonic()
            if via_platform:
                # Seed steps 1-2 by the platform; 3-6 by the applicant when it is requested.
                plan.via_platform = True
                content = request.model_dump(
                    mode="json", by_alias=True, exclude={"schema_", "session", "otp", "bank"}
                )
                content.pop("command_id", None)
                platform_client.create_request(self.deps, content, self.platform)
                continue
            if i == 1:
                # A wrong code first: refused, nothing created; then the right one.
                wrong = request.model_copy(
                    update={
                        "otp": SecretStr(_wrong(self.code(applicant))),
                        "command_id": f"wrong-otp-{i}",
                    }
                )
                answered = self.send(wrong, wait=10)
                self.expect_refusal(
                    "applicant enters a wrong one-time code", wrong.command_id, "otp_invalid"
                )
                if answered.verdict is None:
                    plan.notes.append("no verdict for the wrong code")
                plan.notes.append("first attempt with a wrong code was refused")
            self.send(request)
            if i == 2:
                again = request.model_copy(update={"command_id": "duplicate-request-2"})
                self.send(again)
                self.duplicate_command = again.command_id
        # An ineligible payer, and a second payment for an order that already has one.
        small = self.request(n, "smallco-applicant", enterprise=SMALL)
        small = small.model_copy(update={"command_id": "ineligible-payer"})
        self.send(small)
        self.expect_refusal(
            "payer enterprise not eligible for online payment",
            small.command_id,
            "payer_not_eligible",
        )
        dup_order = self.request(n + 1, "applicant-late", order="LD-ORDER-00003")
        dup_order = dup_order.model_copy(update={"command_id": "duplicate-order"})
        self.send(dup_order)
        self.expect_refusal(
            "second payment for an order that has a live one",
            dup_order.command_id,
            "duplicate_order",
        )

    def react(self, event: StatusEvent) -> None:
        """The people: each acts when the payment reaches their work list."""
        plan = self.plans.get(event.payment_id)
        if plan is None or event.kind != "transition":
            return
        pid = event.payment_id
        if event.status == "requested" and plan.via_platform:
            confirmation = client.confirmation(
                pid, session=self.tokens[plan.applicant], otp=self.code(plan.applicant), bank="BOC"
            )
            self.send(confirmation)
        elif event.status == "pending_review":
            if plan.index == 0:
                # The applicant tries to review her own payment: refused.
                own = ReviewDecision(
                    payment_id=pid,
                    approve=True,
                    session=SecretStr(self.tokens["alice"]),
                    command_id="applicant-reviews-own",
                )
                self.send(own)
                self.expect_refusal(
                    "applicant reviews her own payment", own.command_id, "wrong_role"
                )
            decision = ReviewDecision(
                payment_id=pid,
                approve=plan.review_approves,
                reason="" if plan.review_approves else "payee account does not match the contract",
                session=SecretStr(self.tokens[plan.reviewer]),
            )
            self.send(decision)
        elif event.status == "pending_auth":
            if plan.index == self.linking_index:
                self.linking_waiting = pid
                self.try_carols_codes_elsewhere()
                return
            code = None
            if plan.index == 0:
                made_at = time.time()
                code = self.auth_code("carol", pid, made_at)
                self.carol_spent = (code, made_at)
            self.authorize(plan, pid, code)
        elif event.status == "authorized" and plan.index == 0:
            self.carol_authorized = True
            self.try_carols_codes_elsewhere()
        elif event.status in TERMINAL:
            plan.final = event.status
            plan.finished_at = time.monotonic()

    def authorize(self, plan: Plan, pid: str, code: str | None = None) -> None:
        authorization = AuthDecision(
            payment_id=pid,
            approve=plan.auth_approves,
            reason="" if plan.auth_approves else "over the daily limit agreed with the supplier",
            session=SecretStr(self.tokens[plan.authorizer]),
            otp=SecretStr(code or self.auth_code(plan.authorizer, pid)),
        )
        self.send(authorization)

    def try_carols_codes_elsewhere(self) -> None:
        """Once carol's code has authorized payment 0 and another payment waits for its
        authorizer: carol types her spent code for that payment (bound to payment 0: not
        valid there), then a code her token makes for that payment in the time step she has
        spent (a replay). Each is answered before the next is sent; then the payment's own
        authorizer acts."""
        pid = self.linking_waiting
        if pid is None or not self.carol_authorized or self.carol_spent is None:
            return
        self.linking_waiting = None
        spent, made_at = self.carol_spent
        linked = is_linked(self.deps.settings.authorizer_otp)
        attempts = [
            (
                "authorizer's code for one payment typed for another",
                "code-for-another-payment",
                spent,
                # Plain TOTP codes are bound to nothing: there it is a replay.
                "otp_invalid" if linked else "otp_replayed",
            ),
            (
                "authorizer replays a used time step",
                "replayed-otp",
                self.auth_code("carol", pid, made_at),
                "otp_replayed",
            ),
        ]
        for what, command_id, code, reason_code in attempts:
            attempt = AuthDecision(
                payment_id=pid,
                approve=True,
                session=SecretStr(self.tokens["carol"]),
                otp=SecretStr(code),
                command_id=command_id,
            )
            self.send(attempt, wait=10)
            self.expect_refusal(what, command_id, reason_code)
        self.authorize(self.plans[pid], pid)

    def pump_events(self) -> list[StatusEvent]:
        batch = self.deps.store.follow_events(self.last_event, block_ms=50)
        for sid, event in batch:
            self.last_event = sid
            if event.kind == "refusal":
                self.refusals[event.reason_code or "?"] += 1
                if event.command_id:
                    self.refused_commands[event.command_id] = event.reason_code or "?"
            self.react(event)
        return [e for _, e in batch]


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"
