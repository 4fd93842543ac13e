"""Garbage in every queue: dead-lettered with a reason, workers alive, other payments fine."""

from __future__ import annotations

import json
import re

import dramatiq
import pytest

from shared.messaging import routes as q
from tests.faults.conftest import BROKERS, Cluster
from tests.happy_path import FULL_HISTORY
from tests.stack import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.parametrize("broker", BROKERS, indirect=True),
]

ACTOR_OF = {
    q.APPLY: q.APPLY_PAYMENT,
    q.OTP_VERIFIED: q.TAKE_IN,
    q.PENDING_REVIEW: q.DECIDE_REVIEW,
    q.PENDING_AUTH: q.DECIDE_AUTHORIZATION,
    q.INTERBANK: q.SUBMIT_TO_CLEARING,
}
POISONS = {
    "wrong schema": ({"hello": "world", "session": "v1.a.b", "otp": "123456"},),
    "wrong types": ({"payment_id": 42, "approve": "maybe", "request_id": ["x"]},),
    "not an object": ("just a string",),
    "huge payload": ({"payment_id": "pay_x", "blob": "x" * 200_000},),
    "wrong arity": (),
}


def test_poison_in_every_queue_is_dead_lettered_and_the_workers_keep_paying(
    cluster: Cluster,
) -> None:
    cluster.enrol("applicant", "applicant")
    cluster.enrol("reviewer", "reviewer")
    cluster.enrol("authorizer", "authorizer")
    workers = cluster.start_all()

    for queue, actor in ACTOR_OF.items():
        for args in POISONS.values():
            message: dramatiq.Message[object] = dramatiq.Message(
                queue_name=queue, actor_name=actor, args=args, kwargs={}, options={}
            )
            cluster.deps.broker.enqueue(message)
        # What someone with broker access could write: a body that is no dramatiq message.
        cluster.send_raw(queue, b"{not json at all")
    expected = len(ACTOR_OF) * (len(POISONS) + 1)

    payment_id = cluster.submit(1, "applicant")
    cluster.settle({payment_id: "authorizer"})
    assert cluster.history(payment_id) == FULL_HISTORY

    letters = wait_until(
        f"{expected} dead letters",
        lambda: (found := cluster.deps.deadletters.list(1000)) and len(found) >= expected and found,
        timeout=30,
    )
    assert len(letters) == expected
    assert {d.queue for d in letters} == set(ACTOR_OF)
    reasons = " | ".join(d.reason for d in letters)
    for fragment in ("invalid_request", "too large", "malformed message", "undecodable"):
        assert fragment in reasons
    stored = json.dumps([d.as_dict() for d in letters])
    # The code as a whole number (its digits inside a timestamp would be chance, not a leak).
    leaked_code = re.search(r"(?<!\d)123456(?!\d)", stored)
    assert "v1.a.b" not in stored and leaked_code is None, "secrets must be stripped"
    assert all(proc.poll() is None for proc in workers.values()), "a worker died"
    # Nothing was left half-done: no queue holds a message, none waits in dramatiq's own DLQ
    # (on RabbitMQ its XQ, where dramatiq's consumer would have moved the undecodable ones).
    for queue in ACTOR_OF:
        assert cluster.waiting(queue) == 0
        assert cluster.in_broker_dead_letters(queue) == 0
