"""An envelope put on one queue that names another (anyone who can write to the broker can
write one) must not cost a worker its threads: it is a message of the queue it came from,
handled — here dead-lettered as invalid — like any other, and the payments behind it go on."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest

from shared.messaging import routes as q
from tests.faults.conftest import Cluster
from tests.stack import wait_until

pytestmark = pytest.mark.faults

NAMED = ("nope", q.INTERBANK, f"{q.APPLY}.XQ")


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"], indirect=True)
def test_envelopes_naming_another_queue_cost_the_worker_no_thread(cluster: Cluster) -> None:
    cluster.enrol("applicant", "applicant")
    apply = cluster.start("apply", threads=1, ready=True)  # one thread: losing it stops the stage
    for named in NAMED:
        envelope: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=named,
            actor_name=q.APPLY_PAYMENT,
            args=({"garbage": True},),
            kwargs={},
            options={},
        )
        cluster.send_raw(q.APPLY, envelope.encode())

    pid = cluster.submit(1, "applicant")
    cluster.wait_status(pid, "otp_verified", timeout=10)
    letters = wait_until(
        "the envelopes dead-lettered",
        lambda: len(found := cluster.deps.deadletters.list()) >= len(NAMED) and found,
        timeout=10,
    )
    assert [(d.queue, "invalid_request" in d.reason) for d in letters] == [(q.APPLY, True)] * 3
    assert apply.poll() is None
    assert cluster.waiting(q.APPLY) == 0
