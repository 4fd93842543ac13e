"""Helpers of the unit layer: a hand-moved clock, a payer enterprise with its three people,
message builders and one call per stage."""

from __future__ import annotations

from typing import Any

import dramatiq

from services.apply.handlers import handle_payment_request
from services.authorize.handlers import handle_auth_decision
from services.interbank.handlers import handle_submission
from services.review.handlers import handle_intake, handle_review_decision
from shared import testing
from shared.app.deps import Deps
from shared.app.guard import Outcome
from shared.domain.contracts import StatusEvent, payment_id_for
from shared.domain.parties import User
from shared.messaging import routes as q
from shared.security.totp import STEP_SECONDS, code_for

#: A fixed moment, 10 s into a 30 s TOTP step, so "this step", "the previous step" and
#: "the next step" are unambiguous and every code in these tests is deterministic.
T0 = float(STEP_SECONDS * 56_666_667 + 10)


class Clock:
    """A clock the test moves by hand; pass it wherever a ``clock=`` is accepted."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wrong_code(secret: str, at: float, window: int = 1) -> str:
    """A six-digit code that matches none of the steps within ``window`` of ``at``."""
    near = {code_for(secret, at + k * STEP_SECONDS) for k in range(-window, window + 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


# -- a payer enterprise with its three people, and the messages they send ------------------

PAYER = "ACME"
PAYER_ACCOUNT = "ACME-001"
B2B_BANK = "B2BBANK"
RETAIL_BANK = "RETAILBK"
UNCONTRACTED_BANK = "NOCONTRACT"
INELIGIBLE_PAYER = "IDLECO"
OTHER_ENTERPRISE = "GLOBEX"


def queued(deps: Deps, queue: str) -> list[dict[str, Any]]:
    """The payloads waiting on one of the broker's queues, oldest first."""
    namespace = deps.settings.queue_namespace()
    ids = deps.redis.lrange(f"{namespace}:{queue}", 0, -1)
    bodies = deps.redis.hgetall(f"{namespace}:{queue}.msgs")
    return [dict(dramatiq.Message.decode(bodies[mid]).args[0]) for mid in ids]


class World(testing.World):
    """The payer's world on one fake Redis, seeded: three banks (B2B with a contract, retail
    only, B2B without a contract), the payer with its three people (alice, bob, carol), an
    ineligible payer and another enterprise; message builders and one call per stage."""

    def __init__(self, deps: Deps, clock: Clock) -> None:
        super().__init__(deps, clock)
        self.counter = [0]
        self.bank(B2B_BANK, "B2B Bank", b2b_enabled=True)
        self.bank(RETAIL_BANK, "Retail-only Bank", b2b_enabled=False)
        self.bank(UNCONTRACTED_BANK, "B2B Bank without contract", b2b_enabled=True)
        self.enterprise(PAYER, "Acme Ltd", [B2B_BANK, RETAIL_BANK], [PAYER_ACCOUNT], eligible=True)
        self.enterprise(INELIGIBLE_PAYER, "Idle Co", [B2B_BANK], ["IDLE-001"], eligible=False)
        self.enterprise(OTHER_ENTERPRISE, "Globex", [B2B_BANK], ["GLOBEX-001"], eligible=True)
        self.applicant = self.enrol("alice", PAYER, "applicant", "alice-password")
        self.reviewer = self.enrol("bob", PAYER, "reviewer", "bob-password")
        self.authorizer = self.enrol("carol", PAYER, "authorizer", "carol-password")

    def auth_code(
        self, payment_id: str, who: User | str | None = None, at: float | None = None
    ) -> str:
        """What the authorizer's token shows for this payment (carol's unless ``who``)."""
        return super().auth_code(payment_id, who or self.authorizer, at)

    def command_id(self, label: str) -> str:
        self.counter[0] += 1
        return f"cmd-{label}-{self.counter[0]}"

    def request(self, **overrides: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "schema": "b2bpay.payment_request.v1",
            "request_id": "req-1",
            "order_id": "ORD-1",
            "payer": {"enterprise_id": PAYER, "account": PAYER_ACCOUNT, "name": "Acme Ltd"},
            "payee": {"bank_code": "PAYEEBK", "account": "DE0012345678", "name": "Globex Supplies"},
            "amount": "1250.00",
            "currency": "EUR",
            "bank": B2B_BANK,
            "purpose": "invoice 42",
            "session": self.session(self.applicant),
            "otp": self.code(self.applicant),
            "command_id": self.command_id("apply"),
        }
        message.update(overrides)
        return message

    def review_decision(
        self, payment_id: str, approve: bool = True, **overrides: Any
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "payment_id": payment_id,
            "approve": approve,
            "reason": "",
            "session": self.session(self.reviewer),
            "command_id": self.command_id("review"),
        }
        message.update(overrides)
        return message

    def auth_decision(
        self, payment_id: str, approve: bool = True, **overrides: Any
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "payment_id": payment_id,
            "approve": approve,
            "reason": "",
            "session": self.session(self.authorizer),
            "otp": self.auth_code(payment_id),
            "command_id": self.command_id("auth"),
        }
        message.update(overrides)
        return message

    # -- one call per stage -------------------------------------------------------------
    def apply(self, **overrides: Any) -> Outcome:
        return handle_payment_request(self.request(**overrides), self.deps)

    def intake_all(self) -> list[Outcome]:
        return [handle_intake(m, self.deps) for m in queued(self.deps, q.OTP_VERIFIED)]

    def review(self, payment_id: str, approve: bool = True, **overrides: Any) -> Outcome:
        return handle_review_decision(
            self.review_decision(payment_id, approve, **overrides), self.deps
        )

    def authorize(self, payment_id: str, approve: bool = True, **overrides: Any) -> Outcome:
        return handle_auth_decision(self.auth_decision(payment_id, approve, **overrides), self.deps)

    def submit_all(self) -> list[Outcome]:
        return [handle_submission(m, self.deps) for m in queued(self.deps, q.INTERBANK)]

    def to_pending_review(self, request_id: str = "req-1") -> str:
        outcome = self.apply(request_id=request_id)
        assert outcome.outcome == "accepted", outcome
        self.intake_all()
        payment_id = payment_id_for(PAYER, request_id)
        self.assert_status(payment_id, "pending_review")
        return payment_id

    def assert_status(self, payment_id: str, status: str) -> None:
        payment = self.deps.store.get(payment_id)
        assert payment is not None, f"{payment_id} does not exist"
        assert payment.status.value == status

    def events(self) -> list[StatusEvent]:
        return [event for _id, event in self.deps.store.read_events()]

    def refusals(self) -> list[StatusEvent]:
        return [event for event in self.events() if event.kind == "refusal"]
