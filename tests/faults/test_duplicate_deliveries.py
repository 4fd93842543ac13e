"""1,000 payments, every message delivered one to three times, in shuffled order, by eight
concurrent workers: each payment has exactly one history, clearing sees each payment once."""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from argon2 import PasswordHasher
from pydantic import SecretStr

from services.apply.handlers import handle_payment_request
from services.authorize.handlers import handle_auth_decision
from services.interbank.handlers import handle_submission
from services.review.handlers import handle_intake, handle_review_decision
from shared.app.deps import Deps
from shared.app.guard import Outcome
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.domain.contracts import AuthDecision, PaymentRequest, ReviewDecision, payment_id_for
from shared.domain.errors import TransientError
from shared.messaging import routes as q
from shared.redis.directory import Directory
from shared.redis.keys import Keys
from shared.security.totp import STEP_SECONDS, code_for
from tests.faults.conftest import linked_code
from tests.happy_path import FULL_HISTORY
from tests.stack import delete_keys

# Redis only: it drains dramatiq's Redis queue keys itself (``_drain``) to deliver every
# message one to three times; what it proves is the handlers' idempotency, not the broker's.
pytestmark = pytest.mark.faults

PAYMENTS = 1000
ENTERPRISE, ACCOUNT = "DUP-01", "62166001000099"


@pytest.fixture
def deps_1000(redis_url: str, tmp_path: Path) -> Iterator[Deps]:
    prefix = f"b2bpay-test-dups-{secrets.token_hex(4)}:"
    settings = Settings(
        redis_url=redis_url,
        prefix=prefix,
        database_url=f"sqlite:///{tmp_path / 'read.db'}",
        session_secret=SecretStr(secrets.token_hex(32)),
        dev_mode=True,
    )
    client = redis.Redis.from_url(redis_url, max_connections=64)
    cheap = Directory(
        client, Keys(prefix), PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    deps = bootstrap(settings, client, cheap)
    deps.directory.add_bank("BOC", "Bank of China", True)
    deps.directory.add_enterprise(ENTERPRISE, "Dup Co", ["BOC"], [ACCOUNT], True)
    try:
        yield deps
    finally:
        delete_keys(client, prefix)
        client.close()


def _deliver(
    handler: Callable[[Any, Deps], Outcome], messages: list[Any], deps: Deps, rng: random.Random
) -> None:
    """Each message one to three times, all shuffled, eight at a time; a transient fault
    is delivered again, as dramatiq would."""
    deliveries = [m for m in messages for _ in range(rng.randint(1, 3))]
    rng.shuffle(deliveries)

    def once(message: Any) -> None:
        for _ in range(50):
            try:
                outcome = handler(dict(message), deps)
            except TransientError:
                continue
            assert outcome.outcome in ("accepted", "duplicate", "ignored"), outcome
            return
        raise AssertionError("still transient after 50 deliveries")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(once, deliveries))


def _drain(deps: Deps, queue: str) -> list[Any]:
    """Take every message a stage handed to ``queue`` off the broker."""
    namespace = deps.settings.queue_namespace()
    ids = deps.redis.lrange(f"{namespace}:{queue}", 0, -1)
    bodies = deps.redis.hmget(f"{namespace}:{queue}.msgs", ids) if ids else []
    deps.redis.delete(f"{namespace}:{queue}", f"{namespace}:{queue}.msgs")
    return [dramatiq.Message.decode(body).args[0] for body in bodies if body]


@pytest.mark.timeout(300)
def test_a_thousand_payments_with_duplicate_shuffled_deliveries_each_happen_once(
    deps_1000: Deps,
) -> None:
    deps, rng = deps_1000, random.Random(20261125)
    users = {}
    for i in range(PAYMENTS):
        for role in ("applicant", "authorizer"):
            user, _ = deps.directory.add_user(f"{role}-{i}", ENTERPRISE, role, "dup-password")  # type: ignore[arg-type]
            users[(role, i)] = user
    reviewer, _ = deps.directory.add_user("reviewer", ENTERPRISE, "reviewer", "dup-password")

    def token(user: Any) -> SecretStr:
        return SecretStr(deps.sessions.issue(user.username, ENTERPRISE, user.role)[0])

    # Codes of the next 30-second step: accepted for a minute and more from now, however
    # long a phase takes on a loaded machine (each person still uses one code once).
    ahead = time.time() + STEP_SECONDS
    requests = [
        PaymentRequest.model_validate(
            {
                "request_id": f"dup-{i}",
                "order_id": f"dup-order-{i}",
                "payer": {"enterprise_id": ENTERPRISE, "account": ACCOUNT, "name": "Dup Co"},
                "payee": {"bank_code": "ICBC", "account": f"6222020{i:07d}", "name": "Supplier"},
                "amount": f"{i + 1}.50",
                "currency": "CNY",
                "bank": "BOC",
                "session": token(users[("applicant", i)]).get_secret_value(),
                "otp": code_for(users[("applicant", i)].totp_secret, ahead),
            }
        ).to_wire()
        for i in range(PAYMENTS)
    ]
    pids = [payment_id_for(ENTERPRISE, f"dup-{i}") for i in range(PAYMENTS)]

    _deliver(handle_payment_request, requests, deps, rng)
    _deliver(handle_intake, _drain(deps, q.OTP_VERIFIED), deps, rng)
    reviews = [
        ReviewDecision(payment_id=pid, approve=True, session=token(reviewer)).to_wire()
        for pid in pids
    ]
    _deliver(handle_review_decision, reviews, deps, rng)
    _drain(deps, q.OTP_VERIFIED)  # hand-offs re-sent by repeated applications: nothing to do
    ahead = time.time() + STEP_SECONDS
    authorizations = [
        AuthDecision(
            payment_id=pid,
            approve=True,
            session=token(users[("authorizer", i)]),
            otp=SecretStr(linked_code(deps, pid, users[("authorizer", i)].totp_secret, ahead)),
        ).to_wire()
        for i, pid in enumerate(pids)
    ]
    _deliver(handle_auth_decision, authorizations, deps, rng)
    handoffs = _drain(deps, q.INTERBANK)
    assert len(handoffs) >= PAYMENTS
    _deliver(handle_submission, handoffs, deps, rng)

    for pid in pids:
        payment = deps.store.get(pid)
        assert payment is not None and payment.status.value == "settled", pid
        assert [e.status for e in payment.history] == FULL_HISTORY, pid
    submissions = deps.clearing.submissions()  # type: ignore[attr-defined]
    assert len(submissions) == PAYMENTS
    assert len(set(submissions)) == PAYMENTS
    assert not any(e.kind == "refusal" for _sid, e in deps.store.read_events(count=100_000))
