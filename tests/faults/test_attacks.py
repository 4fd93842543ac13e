"""Attacks on the running system (real worker processes, real Redis): each is refused with
its reason code, recorded as a refusal event, and leaves the payment as it was."""

from __future__ import annotations

import signal
import time
from typing import Any

import dramatiq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from shared.domain.contracts import Handoff, PaymentRequest
from shared.messaging import routes as q
from shared.security.signing import STAGES, StageSigner
from shared.security.stage_signatures import HANDOFF
from shared.security.totp import STEP_SECONDS
from tests.faults.conftest import BROKERS, Cluster
from tests.stack import wait_until

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
    first_worker = cluster.start("apply", ready=True)
    # The next step's code: still within the accepted window a minute from now, however
    # long the workers take to stop and start, so a refusal can only be the replay.
    code = cluster.world.code("applicant-1", at=time.time() + STEP_SECONDS)
    first = cluster.request(1, "applicant-1").model_copy(update={"otp": SecretStr(code)})
    cluster.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, first.to_wire())
    accepted = cluster.deps.store.wait_verdict(first.command_id, 15)
    assert accepted is not None and accepted.outcome == "accepted"
    first_worker.send_signal(signal.SIGTERM)
    assert first_worker.wait(timeout=30) == 0

    cluster.start("apply", ready=True)  # another worker, another process
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


def _forged_handoffs(cluster: Cluster, payment_id: str) -> list[dict[str, Any]]:
    """What someone who can write to the broker, holding no stage key, would hand to
    interbank for a payment still waiting for its authorizer: the hand-off unsigned, and
    signed with an authorize key of the attacker's own making."""
    payment = cluster.deps.store.get(payment_id)
    assert payment is not None
    handoff = Handoff.model_validate(
        {
            "payment_id": payment_id,
            "content_hash": payment.content.content_hash,
            "from_stage": "authorize",
            "command_id": "cmd-forged",
            "status": payment.status.value,
            "version": payment.version,
        }
    )
    own = {stage: Ed25519PrivateKey.generate() for stage in STAGES}
    attacker = StageSigner(own, {stage: key.public_key() for stage, key in own.items()})
    signature = attacker.sign("authorize", HANDOFF, handoff.signed_content())
    return [handoff.to_wire(), {**handoff.to_wire(), "signature": signature}]


@pytest.mark.parametrize("broker", BROKERS, indirect=True)
def test_a_handoff_forged_straight_into_the_broker_is_refused_and_submits_nothing(
    cluster: Cluster,
) -> None:
    cluster.enrol("applicant-1", "applicant")
    cluster.enrol("reviewer", "reviewer")
    for stage in ("apply", "review", "interbank"):  # nobody authorizes
        cluster.start(stage)
    pid = cluster.submit(1, "applicant-1")
    cluster.wait_status(pid, "pending_review")
    cluster.review(pid, "reviewer")
    cluster.wait_status(pid, "pending_auth")
    before = _snapshot(cluster, pid)

    # Published with the broker's own client (Redis commands, or a plain AMQP publish), in
    # the envelope a stage would use: no b2bpay code, no key.
    for forged in _forged_handoffs(cluster, pid):
        envelope: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=q.INTERBANK,
            actor_name=q.SUBMIT_TO_CLEARING,
            args=(forged,),
            kwargs={},
            options={},
        )
        cluster.send_raw(q.INTERBANK, envelope.encode())

    refusals = wait_until(
        "both forgeries refused",
        lambda: len(found := _refusals(cluster, pid)) >= 2 and found,
        timeout=30,
    )
    assert refusals == ["invalid_signature", "invalid_signature"]
    wait_until("the interbank queue drained", lambda: cluster.waiting(q.INTERBANK) == 0, 15)
    assert _snapshot(cluster, pid) == before
    assert cluster.deps.clearing.submissions() == []  # type: ignore[attr-defined]
    assert cluster.deps.deadletters.count() == 0, "a forgery is refused and recorded"
