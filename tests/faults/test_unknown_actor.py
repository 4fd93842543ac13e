"""A message naming an actor no worker has (anyone who can write to the broker can send one)
is a failed message like any other: kept, secrets stripped, in b2bpay's dead-letter queue for
an operator (``b2bpay dlq``), and the worker goes on. Before, dramatiq's Retries middleware
itself failed on it (it looks the actor up), the message was neither failed nor kept, and
only dramatiq's own copy (if any) said it had ever come."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest

from shared.messaging import routes as q
from tests.faults.conftest import Cluster
from tests.rabbitmq import BROKERS
from tests.stack import wait_until

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("broker", BROKERS, indirect=True)
def test_a_message_for_an_unknown_actor_is_dead_lettered_without_its_secrets(
    cluster: Cluster,
) -> None:
    cluster.enrol("applicant", "applicant")
    apply = cluster.start("apply", threads=1, ready=True)
    envelope: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=q.APPLY,
        actor_name="no_such_actor",
        args=({"session": "s3cr3t-session", "otp": "123456", "request_id": "r-1"},),
        kwargs={},
        options={},
    )
    cluster.send_raw(q.APPLY, envelope.encode())

    letters = wait_until(
        "the message dead-lettered",
        lambda: (found := cluster.deps.deadletters.list()) and found,
        timeout=15,
    )
    (letter,) = letters
    assert (letter.queue, letter.actor) == (q.APPLY, "no_such_actor")
    assert "ActorNotFound" in letter.reason
    assert "s3cr3t-session" not in str(letter.payload) and "123456" not in str(letter.payload)
    pid = cluster.submit(1, "applicant")
    cluster.wait_status(pid, "otp_verified", timeout=10)
    assert apply.poll() is None
    assert cluster.waiting(q.APPLY) == 0


@pytest.mark.parametrize("broker", BROKERS, indirect=True)
def test_an_envelope_whose_actor_name_is_no_name_costs_the_worker_no_thread(
    cluster: Cluster,
) -> None:
    cluster.enrol("applicant", "applicant")
    apply = cluster.start("apply", threads=1, ready=True)  # one thread: losing it stops the stage
    for name in (["a", "list"], {"a": 1}, 7, None):
        envelope: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=q.APPLY,
            actor_name=name,  # type: ignore[arg-type]
            args=({"garbage": True},),
            kwargs={},
            options={},
        )
        cluster.send_raw(q.APPLY, envelope.encode())

    pid = cluster.submit(1, "applicant")
    cluster.wait_status(pid, "otp_verified", timeout=10)
    assert apply.poll() is None
    assert cluster.waiting(q.APPLY) == 0
