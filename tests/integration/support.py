"""Helpers shared by the integration tests: a seeded bank world, request builders, polling.

Nothing here sleeps blindly: :func:`wait_until` polls a condition with a deadline.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from shared import testing
from shared.app.deps import Deps
from shared.domain.content import StoredContent
from shared.domain.contracts import (
    AuthDecision,
    Payee,
    Payer,
    PaymentRequest,
    ReviewDecision,
    StatusEvent,
    payment_id_for,
)
from shared.domain.parties import User
from shared.domain.payment import Actor, Application, Payment, Step
from shared.domain.states import PaymentStatus
from shared.security.totp import STEP_SECONDS, code_for

T = TypeVar("T")

BANK = "BANKA"
PAYEE_BANK = "BANKB"
PAYER_ACCOUNT = "ACC-0001"


def run_in_threads(count: int, target: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``target(i)`` in ``count`` threads released together by a barrier; returns each
    thread's result or the exception it raised, in thread order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def body(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[i] = target(i)
        except BaseException as e:  # every outcome is inspected by the test
            results[i] = e

    threads = [
        threading.Thread(target=body, args=(i,), name=f"contender-{i}") for i in range(count)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), f"{t.name} did not finish"
    return results


def wrong_code(secret: str) -> str:
    """A six-digit code that matches none of the steps the verifier accepts right now."""
    now = time.time()
    valid = {code_for(secret, now + offset * STEP_SECONDS) for offset in (-2, -1, 0, 1, 2)}
    code = "000000"
    while code in valid:
        code = f"{secrets.randbelow(1_000_000):06d}"
    return code


class World(testing.World):
    """One payer enterprise (a random id) with an applicant, a reviewer and an authorizer, at
    a B2B bank; the payee's bank too."""

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.enterprise_id = f"ent-{secrets.token_hex(3)}"
        self.bank(BANK, "Bank A", True)
        self.bank(PAYEE_BANK, "Bank B", True)
        self.enterprise(self.enterprise_id, "Acme Trading", [BANK], [PAYER_ACCOUNT], True)
        self.applicant, self.reviewer, self.authorizer = (
            self.enrol(
                f"{role}-{secrets.token_hex(3)}", self.enterprise_id, role, "correct horse battery"
            )
            for role in ("applicant", "reviewer", "authorizer")
        )

    def payment_request(
        self, request_id: str | None = None, order_id: str | None = None, **overrides: Any
    ) -> PaymentRequest:
        data: dict[str, Any] = {
            "request_id": request_id or f"req-{secrets.token_hex(6)}",
            "order_id": order_id or f"ord-{secrets.token_hex(6)}",
            "payer": Payer(
                enterprise_id=self.enterprise_id, account=PAYER_ACCOUNT, name="Acme Trading"
            ),
            "payee": Payee(bank_code=PAYEE_BANK, account="ACC-9999", name="Globex Supplies"),
            "amount": "1250.00",
            "currency": "EUR",
            "bank": BANK,
            "purpose": "invoice 42",
            "session": self.session(self.applicant),
            "otp": self.code(self.applicant),
        }
        data.update(overrides)
        return PaymentRequest(**data)

    def review(self, payment_id: str, approve: bool = True, reason: str = "") -> ReviewDecision:
        return ReviewDecision(
            payment_id=payment_id,
            approve=approve,
            reason=reason,
            session=self.session(self.reviewer),
        )

    def authorize(
        self, payment_id: str, approve: bool = True, reason: str = "", otp: str | None = None
    ) -> AuthDecision:
        return AuthDecision(
            payment_id=payment_id,
            approve=approve,
            reason=reason,
            session=self.session(self.authorizer),
            otp=otp if otp is not None else self.auth_code(payment_id),
        )

    def auth_code(
        self, payment_id: str, who: User | str | None = None, at: float | None = None
    ) -> str:
        """What the authorizer's token shows for this payment now (see
        :meth:`shared.testing.World.auth_code`)."""
        return super().auth_code(payment_id, who or self.authorizer, at)


def seed_world(deps: Deps) -> World:
    return World(deps)


def application(
    request_id: str, order_id: str, enterprise_id: str = "ent-1", content_hash: str = "a" * 64
) -> Application:
    """A new payment as the apply stage records it, for tests that call the store directly."""
    content = StoredContent(
        order_id=order_id,
        enterprise_id=enterprise_id,
        payer_account=PAYER_ACCOUNT,
        payer_name="Acme Trading",
        payee_bank_code=PAYEE_BANK,
        payee_account="ACC-9999",
        payee_name="Globex Supplies",
        amount="1250.00",
        currency="EUR",
        bank=BANK,
        purpose="",
        content_hash=content_hash,
    )
    payment_id = payment_id_for(enterprise_id, request_id)
    return Application(payment_id, request_id, content, applicant_id="alice")


APPLY_ACTOR = Actor("apply", "applicant", "alice")


def events_of(deps: Deps, payment_id: str) -> list[StatusEvent]:
    """Every event of one payment on the shared stream, in stream order."""
    return [
        event
        for _sid, event in deps.store.read_events(count=100_000)
        if event.payment_id == payment_id
    ]


def transitions_of(deps: Deps, payment_id: str) -> list[StatusEvent]:
    return [e for e in events_of(deps, payment_id) if e.kind == "transition"]


def must_get(deps: Deps, payment_id: str) -> Payment:
    payment = deps.store.get(payment_id)
    assert payment is not None, f"payment {payment_id} does not exist"
    return payment


def requested_steps() -> list[Step]:
    return [Step(PaymentStatus.REQUESTED), Step(PaymentStatus.OTP_VERIFIED)]
