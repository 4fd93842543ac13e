"""Expiry racing a decision: exactly one of them wins, every time."""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from argon2 import PasswordHasher
from pydantic import SecretStr

from services.authorize.handlers import handle_auth_decision
from services.review.handlers import handle_review_decision
from services.sweeper.sweeper import sweep
from shared.app.deps import Deps
from shared.app.expiry import expire_if_overdue
from shared.bootstrap import bootstrap, deadlines_of
from shared.config import Settings
from shared.domain.content import StoredContent
from shared.domain.contracts import AuthDecision, PaymentRequest, ReviewDecision, payment_id_for
from shared.domain.errors import TransientError
from shared.domain.payment import Actor, Application, Step
from shared.domain.states import PaymentStatus
from shared.redis.directory import Directory
from shared.redis.faults import FaultPoints
from shared.redis.keys import Keys
from shared.redis.store import PaymentStore
from shared.security.stage_signatures import application_signature
from tests.faults.conftest import linked_code
from tests.stack import delete_keys

# Redis only: the race is between writes to the payment in Redis (the state), whichever
# broker carries the messages.
pytestmark = pytest.mark.faults

ENTERPRISE, ACCOUNT = "RACE-01", "62166001000088"
ROUNDS = 100
POINT = "authorize.before_transition"


@pytest.fixture
def race(redis_url: str, tmp_path: Path) -> Iterator[Deps]:
    prefix = f"b2bpay-test-race-{secrets.token_hex(4)}:"
    settings = Settings(
        redis_url=redis_url,
        prefix=prefix,
        database_url=f"sqlite:///{tmp_path / 'read.db'}",
        session_secret=SecretStr(secrets.token_hex(32)),
        dev_mode=True,
        deadline_pending_auth_seconds=60,
    )
    client = redis.Redis.from_url(redis_url)
    cheap = Directory(
        client, Keys(prefix), PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    deps = bootstrap(settings, client, cheap)
    deps.directory.add_bank("BOC", "Bank of China", True)
    deps.directory.add_enterprise(ENTERPRISE, "Race Co", ["BOC"], [ACCOUNT], True)
    deps.directory.add_user("applicant", ENTERPRISE, "applicant", "race-password")
    deps.directory.add_user("reviewer", ENTERPRISE, "reviewer", "race-password")
    try:
        yield deps
    finally:
        delete_keys(client, prefix)
        client.close()


def _pending_auth(deps: Deps, n: int) -> str:
    """A payment waiting for authorization, written through the store as the stages would."""
    request = PaymentRequest.model_validate(
        {
            "request_id": f"race-{n}",
            "order_id": f"race-order-{n}",
            "payer": {"enterprise_id": ENTERPRISE, "account": ACCOUNT, "name": "Race Co"},
            "payee": {"bank_code": "ICBC", "account": "62220200001234", "name": "Supplier"},
            "amount": "10.00",
            "currency": "CNY",
            "bank": "BOC",
            "session": "unused",
            "otp": "000000",
        }
    )
    pid = payment_id_for(request.payer.enterprise_id, request.request_id)
    application = Application(
        pid,
        request.request_id,
        StoredContent.of(request.content()),
        applicant_id="applicant",
        end_to_end_id=f"E2E-RACE-{n}",
    )
    application = dataclasses.replace(
        application, apply_signature=application_signature(deps.signer, application)
    )
    steps = [Step(PaymentStatus.REQUESTED), Step(PaymentStatus.OTP_VERIFIED)]
    deps.store.create(application, steps, Actor("apply", "applicant", "applicant"), f"c-{n}")
    payment = deps.store.get(pid)
    assert payment is not None
    deps.store.transition(payment, [Step(PaymentStatus.PENDING_REVIEW)], Actor("review"), None)
    token = deps.sessions.issue("reviewer", ENTERPRISE, "reviewer")[0]
    decision = ReviewDecision(payment_id=pid, approve=True, session=SecretStr(token))
    assert handle_review_decision(decision.to_wire(), deps).status == "pending_auth"
    return pid


def _until_settled(call: Any) -> Any:
    """What dramatiq does with a transient fault: deliver again."""
    for _ in range(10):
        try:
            return call()
        except TransientError:
            continue
    raise AssertionError("still transient after 10 deliveries")


def _race(race: Deps, payment: Any, decision: dict[str, Any]) -> dict[str, Any]:
    """The authorizer, acting just before the deadline, is held right before its write (its
    code checked); the sweeper, just after the deadline, is let go at the same moment."""
    deadline = payment.deadline_ms / 1000
    faults = FaultPoints(race.redis, race.keys, enabled=True)
    holding = dataclasses.replace(race, faults=faults)
    faults.hold(POINT)
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def sweeper() -> None:
        barrier.wait()
        results["sweep"] = expire_if_overdue(race, payment, now=deadline + 0.001)

    def authorizer() -> None:
        results["decide"] = _until_settled(lambda: handle_auth_decision(decision, holding))

    threads = [threading.Thread(target=authorizer), threading.Thread(target=sweeper)]
    threads[0].start()
    assert faults.wait_held(POINT, timeout=10)
    threads[1].start()
    barrier.wait()
    faults.release(POINT)
    for t in threads:
        t.join(timeout=30)
    return results


def test_expiry_racing_an_authorization_has_exactly_one_winner_every_time(race: Deps) -> None:
    outcomes: dict[str, int] = {"authorized": 0, "expired": 0}
    for n in range(ROUNDS):
        pid = _pending_auth(race, n)
        user, _ = race.directory.add_user(
            f"authorizer-{n}", ENTERPRISE, "authorizer", "race-password"
        )
        token = race.sessions.issue(user.username, ENTERPRISE, "authorizer")[0]
        decision = AuthDecision(
            payment_id=pid,
            approve=True,
            session=SecretStr(token),
            otp=SecretStr(linked_code(race, pid, user.totp_secret)),
        ).to_wire()
        payment = race.store.get(pid)
        assert payment is not None
        results = _race(race, payment, decision)

        final = race.store.get(pid)
        assert final is not None
        history = [e.status for e in final.history]
        assert final.status in (PaymentStatus.AUTHORIZED, PaymentStatus.EXPIRED), history
        assert not ({"authorized", "expired"} <= set(history)), f"both won: {history}"
        if final.status == PaymentStatus.EXPIRED:
            assert results["decide"].outcome == "refused", results["decide"]
        else:
            assert results["decide"].status == "authorized"
        outcomes[final.status.value] += 1
    assert sum(outcomes.values()) == ROUNDS


def test_a_decision_after_the_deadline_is_refused_even_before_the_sweeper_runs(race: Deps) -> None:
    pid = _pending_auth(race, 0)
    payment = race.store.get(pid)
    assert payment is not None
    assert payment.deadline_ms is not None
    late = payment.deadline_ms / 1000 + 1
    # The same system, an hour later by its clock; no sweeper has run.
    store = PaymentStore(race.redis, race.keys, deadlines_of(race.settings), clock=lambda: late)
    later = dataclasses.replace(race, store=store)
    user, _ = race.directory.add_user("late-authorizer", ENTERPRISE, "authorizer", "race-password")
    token = race.sessions.issue(user.username, ENTERPRISE, "authorizer")[0]
    decision = AuthDecision(
        payment_id=pid,
        approve=True,
        session=SecretStr(token),
        otp=SecretStr(linked_code(race, pid, user.totp_secret)),
    )

    outcome = handle_auth_decision(decision.to_wire(), later)

    assert (outcome.outcome, outcome.reason_code) == ("refused", "deadline_passed")
    final = race.store.get(pid)
    assert final is not None and final.status == PaymentStatus.EXPIRED
    assert [e.status for e in final.history][-1] == "expired"
    assert race.otp.is_locked(user.username) is False
    # The sweeper, coming later, finds nothing left to do.
    assert sweep(later) == 0


def test_a_session_revoked_while_its_authorization_waits_to_be_written_changes_nothing(
    race: Deps,
) -> None:
    """The authorizer passed every check (session, role, code) and is held right before the
    write; an operator revokes the authorizer's sessions meanwhile. The write itself checks
    the session again (one atomic call with the change): the decision is refused as revoked
    and the payment stays as it was."""
    pid = _pending_auth(race, 0)
    user, _ = race.directory.add_user("authorizer-0", ENTERPRISE, "authorizer", "race-password")
    token = race.sessions.issue(user.username, ENTERPRISE, "authorizer")[0]
    decision = AuthDecision(
        payment_id=pid,
        approve=True,
        session=SecretStr(token),
        otp=SecretStr(linked_code(race, pid, user.totp_secret)),
    ).to_wire()
    before = race.store.get(pid)
    assert before is not None and before.status == PaymentStatus.PENDING_AUTH
    faults = FaultPoints(race.redis, race.keys, enabled=True)
    faults.hold(POINT)
    results: dict[str, Any] = {}
    authorizer = threading.Thread(
        target=lambda: results.update(
            decide=handle_auth_decision(decision, dataclasses.replace(race, faults=faults))
        )
    )
    authorizer.start()
    assert faults.wait_held(POINT, timeout=10)
    race.sessions.revoke_user(user.username)
    faults.release(POINT)
    authorizer.join(timeout=30)

    assert results["decide"].outcome == "refused", results["decide"]
    assert results["decide"].reason_code == "session_revoked", results["decide"]
    after = race.store.get(pid)
    assert after is not None
    assert (after.status, after.version) == (before.status, before.version)
