"""Idempotent apply and the one-live-payment-per-order lock, on a real Redis."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from services.apply.handlers import handle_cancel, handle_payment_request
from shared.app.deps import Deps
from shared.app.guard import Outcome
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.domain.contracts import CancelPayment, payment_id_for
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.payment import Actor, Step
from shared.domain.states import PaymentStatus
from shared.redis.keys import Keys
from shared.redis.store import CreateResult, PaymentStore
from shared.security.totp import code_for
from tests.integration.support import (
    APPLY_ACTOR,
    World,
    application,
    events_of,
    must_get,
    requested_steps,
    run_in_threads,
    transitions_of,
)

pytestmark = pytest.mark.integration

CONTENDERS = 10
S = PaymentStatus


def _create(
    store: PaymentStore, request_id: str, order_id: str, content_hash: str = "a" * 64
) -> CreateResult:
    return store.create(
        application(request_id, order_id, content_hash=content_hash),
        requested_steps(),
        APPLY_ACTOR,
        f"cmd-{request_id}",
    )


def _order_holder(deps: Deps, order_id: str, enterprise_id: str = "ent-1") -> bytes | None:
    value = deps.redis.get(deps.keys.order_lock(enterprise_id, order_id))
    return value if value is None else bytes(value)


def test_ten_concurrent_creates_with_one_request_id_make_one_payment_and_nine_duplicates(
    deps: Deps, prefix: str, client_factory: Callable[[], redis.Redis]
) -> None:
    stores = [PaymentStore(client_factory(), Keys(prefix)) for _ in range(CONTENDERS)]

    results = run_in_threads(CONTENDERS, lambda i: _create(stores[i], "req-same", "ord-1"))

    assert all(isinstance(r, CreateResult) for r in results), [repr(r) for r in results]
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == ["created"] + ["duplicate"] * (CONTENDERS - 1)
    payment_id = payment_id_for("ent-1", "req-same")
    assert {r.payment_id for r in results} == {payment_id}
    assert {r.status for r in results} == {S.OTP_VERIFIED}
    payment = must_get(deps, payment_id)
    assert (payment.status, payment.version) == (S.OTP_VERIFIED, 2)
    assert [h.status for h in payment.history] == ["requested", "otp_verified"]
    assert [e.status for e in events_of(deps, payment_id)] == ["requested", "otp_verified"]
    assert _order_holder(deps, "ord-1") == payment_id.encode()


def test_ten_concurrent_identical_apply_requests_make_one_payment_and_are_otherwise_duplicates(
    world: World, settings: Settings, client_factory: Callable[[], redis.Redis]
) -> None:
    # One payment request, delivered ten times at once (an upstream retry storm, or a
    # redelivery racing the original): the same request_id, content, code and command_id.
    wire = world.payment_request().to_wire()
    per_thread = [bootstrap(settings, client_factory()) for _ in range(CONTENDERS)]

    results = run_in_threads(
        CONTENDERS, lambda i: handle_payment_request(dict(wire), per_thread[i])
    )

    assert all(isinstance(r, Outcome) for r in results), [repr(r) for r in results]
    outcomes = sorted((r.outcome, r.reason_code) for r in results)
    assert outcomes == [("accepted", None)] + [("duplicate", None)] * (CONTENDERS - 1)
    payment = must_get(world.deps, payment_id_for(world.enterprise_id, wire["request_id"]))
    assert payment.status == S.OTP_VERIFIED
    assert len(payment.history) == 2
    assert not world.deps.otp.is_locked(world.applicant.username)


def test_a_repeated_apply_request_is_answered_from_the_record_without_a_second_code(
    world: World,
) -> None:
    wire = world.payment_request().to_wire()
    first = handle_payment_request(dict(wire), world.deps)
    # The same message again, even with a code that would no longer pass.
    again = handle_payment_request({**wire, "otp": "000000"}, world.deps)

    assert (first.outcome, first.status) == ("accepted", "otp_verified")
    assert (again.outcome, again.payment_id, again.status) == (
        "duplicate",
        first.payment_id,
        "otp_verified",
    )
    payment = must_get(world.deps, first.payment_id)
    assert len(payment.history) == 2
    assert [e.kind for e in events_of(world.deps, first.payment_id)] == ["transition", "transition"]


def test_the_same_request_id_with_other_content_is_refused_as_a_conflict_and_changes_nothing(
    deps: Deps,
) -> None:
    created = _create(deps.store, "req-1", "ord-1")
    before = must_get(deps, created.payment_id)
    transitions_before = transitions_of(deps, created.payment_id)

    with pytest.raises(Refusal) as refused:
        _create(deps.store, "req-1", "ord-1", content_hash="b" * 64)

    assert refused.value.reason_code == ReasonCode.IDEMPOTENCY_CONFLICT
    assert must_get(deps, created.payment_id) == before
    assert transitions_of(deps, created.payment_id) == transitions_before
    refusals = [e for e in events_of(deps, created.payment_id) if e.kind == "refusal"]
    assert [e.reason_code for e in refusals] == ["idempotency_conflict"]
    assert (
        deps.redis.get(deps.keys.idempotency(created.payment_id))
        == f"{created.payment_id}|{'a' * 64}".encode()
    )
    assert _order_holder(deps, "ord-1") == created.payment_id.encode()


def test_an_apply_request_reusing_a_request_id_for_other_content_is_refused_as_a_conflict(
    world: World,
) -> None:
    wire = world.payment_request().to_wire()
    first = handle_payment_request(dict(wire), world.deps)
    before = must_get(world.deps, first.payment_id)

    other = handle_payment_request(
        {**wire, "amount": "9999.00", "command_id": "cmd-other"}, world.deps
    )

    assert other.outcome == "refused"
    assert other.reason_code == ReasonCode.IDEMPOTENCY_CONFLICT
    assert must_get(world.deps, first.payment_id) == before
    verdict = world.deps.store.wait_verdict("cmd-other", timeout=2)
    assert verdict is not None
    assert (verdict.outcome, verdict.reason_code) == ("refused", "idempotency_conflict")


def test_a_second_request_for_an_order_with_a_live_payment_is_refused_as_duplicate_order(
    deps: Deps,
) -> None:
    first = _create(deps.store, "req-1", "ord-1")

    with pytest.raises(Refusal) as refused:
        _create(deps.store, "req-2", "ord-1")

    assert refused.value.reason_code == ReasonCode.DUPLICATE_ORDER
    assert deps.store.get(payment_id_for("ent-1", "req-2")) is None
    assert deps.redis.get(deps.keys.idempotency("req-2")) is None
    assert _order_holder(deps, "ord-1") == first.payment_id.encode()
    refusals = events_of(deps, payment_id_for("ent-1", "req-2"))
    assert [(e.kind, e.reason_code) for e in refusals] == [("refusal", "duplicate_order")]


# Paths from otp_verified to each terminal status that frees the order (RELEASES_ORDER).
RELEASING_PATHS = {
    "cancelled": [Step(S.CANCELLED, "cancelled_by_applicant", "changed my mind")],
    "rejected": [Step(S.PENDING_REVIEW), Step(S.REJECTED, "rejected_by_reviewer", "wrong payee")],
    "expired": [Step(S.PENDING_REVIEW), Step(S.EXPIRED, "review_deadline", "nobody reviewed it")],
    "failed": [
        Step(S.PENDING_REVIEW),
        Step(S.PENDING_AUTH),
        Step(S.AUTHORIZED),
        Step(S.SUBMITTED),
        Step(S.FAILED, "clearing_rejected", "rejected by clearing"),
    ],
}


@pytest.mark.parametrize("ending", sorted(RELEASING_PATHS))
def test_a_new_payment_for_the_order_is_accepted_once_the_first_has_ended_without_settling(
    deps: Deps, ending: str
) -> None:
    first = _create(deps.store, "req-1", "ord-1")
    ended = deps.store.transition(
        must_get(deps, first.payment_id), RELEASING_PATHS[ending], Actor("review"), None
    )
    assert ended.status == ending

    second = _create(deps.store, "req-2", "ord-1")

    assert second.outcome == "created"
    assert second.payment_id == payment_id_for("ent-1", "req-2")
    assert _order_holder(deps, "ord-1") == second.payment_id.encode()
    assert must_get(deps, first.payment_id).status == ending


def test_an_order_freed_by_the_applicants_cancel_takes_a_new_payment(world: World) -> None:
    first = handle_payment_request(world.payment_request(order_id="ord-77").to_wire(), world.deps)
    cancel = CancelPayment(
        payment_id=first.payment_id, reason="wrong invoice", session=world.session(world.applicant)
    )
    cancelled = handle_cancel(cancel.to_wire(), world.deps)
    assert (cancelled.outcome, cancelled.status) == ("accepted", "cancelled")

    # A second applicant, so the new request does not reuse the first one's one-time code.
    other, _uri = world.deps.directory.add_user(
        "applicant-two", world.enterprise_id, "applicant", "correct horse battery"
    )
    token = world.deps.sessions.issue(other.username, other.enterprise_id, other.role)[0]
    second = handle_payment_request(
        world.payment_request(
            order_id="ord-77", session=token, otp=code_for(other.totp_secret)
        ).to_wire(),
        world.deps,
    )

    assert (second.outcome, second.status, second.reason_code) == ("accepted", "otp_verified", None)
    assert second.payment_id != first.payment_id


def test_a_settled_payment_keeps_its_order_locked(deps: Deps) -> None:
    first = _create(deps.store, "req-1", "ord-1")
    settle = [
        Step(s) for s in (S.PENDING_REVIEW, S.PENDING_AUTH, S.AUTHORIZED, S.SUBMITTED, S.SETTLED)
    ]
    settled = deps.store.transition(
        must_get(deps, first.payment_id), settle, Actor("interbank"), None
    )
    assert settled.status == S.SETTLED

    with pytest.raises(Refusal) as refused:
        _create(deps.store, "req-2", "ord-1")

    assert refused.value.reason_code == ReasonCode.DUPLICATE_ORDER
    assert deps.store.get(payment_id_for("ent-1", "req-2")) is None
    assert _order_holder(deps, "ord-1") == first.payment_id.encode()


def test_the_order_lock_is_per_enterprise(deps: Deps) -> None:
    _create(deps.store, "req-1", "ord-1")
    other = deps.store.create(
        application("req-2", "ord-1", enterprise_id="ent-2"),
        requested_steps(),
        APPLY_ACTOR,
        "cmd-req-2",
    )

    assert other.outcome == "created"
