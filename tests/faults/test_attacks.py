"""Attacks on the running system (real worker processes, real Redis): each is refused with
its reason code, recorded as a refusal event, and leaves the payment as it was."""

from __future__ import annotations

import signal

import pytest
from pydantic import SecretStr

from shared.domain.contracts import PaymentRequest
from shared.messaging import routes as q
from tests.faults.conftest import Cluster

pytestmark = pytest.mark.faults


def _refusals(cluster: Cluster, payment_id: str) -> list[str | None]:
    return [
        e.reason_code
        for _sid, e in cluster.deps.store.read_events()
        if e.payment_id == payment_id and e.kind == "refusal"
    ]


def _snapshot(cluster: Cluster, payment_id: str) -> tuple[object, ...]:
    payment = cluster.deps.store.get(payment_id)
    assert payment is not None
    return payment.status, payment.version, [e.status for e in payment.history]


def _rewrite_amount(cluster: Cluster, payment_id: str, amount: str, *, rehash: bool) -> None:
    """What someone with write access to Redis (but no stage key) could do."""
    payment = cluster.deps.store.get(payment_id)
    assert payment is not None
    key = cluster.deps.keys.payment(payment_id)
    cluster.deps.redis.hset(key, "amount", amount)
    if rehash:
        n = int((payment.request_id or "").rsplit("-", 1)[1])
        forged = cluster.request(n, "applicant-1").model_dump(mode="json", by_alias=True)
        forged.update(amount=amount, session="x", otp="000000")
        content_hash = PaymentRequest.model_validate(forged).content().content_hash()
        cluster.deps.redis.hset(key, "content_hash", content_hash)


def test_a_code_used_on_one_worker_is_refused_as_replayed_on_another(cluster: Cluster) -> None:
    cluster.enrol("applicant-1", "applicant")
    first_worker = cluster.start("apply")
    code = cluster.code("applicant-1")
    first = cluster.request(1, "applicant-1").model_copy(update={"otp": SecretStr(code)})
    cluster.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, first.to_wire())
    accepted = cluster.deps.store.wait_verdict(first.command_id, 15)
    assert accepted is not None and accepted.outcome == "accepted"
    first_worker.send_signal(signal.SIGTERM)
    assert first_worker.wait(timeout=30) == 0

    cluster.start("apply")  # another worker, another process
    second = cluster.request(2, "applicant-1").model_copy(update={"otp": SecretStr(code)})
    cluster.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, second.to_wire())
    refused = cluster.deps.store.wait_verdict(second.command_id, 15)
    assert refused is not None
    assert (refused.outcome, refused.reason_code) == ("refused", "otp_replayed")
    assert cluster.deps.store.get(refused.payment_id) is None
    assert _refusals(cluster, refused.payment_id) == ["otp_replayed"]


@pytest.mark.parametrize(
    ("when", "rehash", "reason"),
    [
        ("before review", True, "invalid_signature"),
        ("before review", False, "content_mismatch"),
        ("after review", True, "invalid_signature"),
        ("after review", False, "content_mismatch"),
    ],
)
def test_an_amount_rewritten_in_redis_is_refused_before_anyone_acts_on_it(
    cluster: Cluster, when: str, rehash: bool, reason: str
) -> None:
    cluster.enrol("applicant-1", "applicant")
    cluster.enrol("reviewer", "reviewer")
    cluster.enrol("authorizer", "authorizer")
    for stage in ("apply", "review", "authorize", "interbank"):
        cluster.start(stage)
    pid = cluster.submit(1, "applicant-1")
    cluster.wait_status(pid, "pending_review")
    if when == "after review":
        cluster.review(pid, "reviewer")
        cluster.wait_status(pid, "pending_auth")

    _rewrite_amount(cluster, pid, "999999.00", rehash=rehash)
    before = _snapshot(cluster, pid)
    if when == "before review":
        decision = cluster.review(pid, "reviewer")
    else:
        decision = cluster.authorize(pid, "authorizer")
    verdict = cluster.deps.store.wait_verdict(decision.command_id, 15)

    assert verdict is not None
    assert (verdict.outcome, verdict.reason_code) == ("refused", reason)
    assert _snapshot(cluster, pid) == before
    assert _refusals(cluster, pid)[-1] == reason
    assert cluster.deps.clearing.submissions() == []  # type: ignore[attr-defined]
