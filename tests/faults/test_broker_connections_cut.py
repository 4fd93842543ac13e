"""RabbitMQ cuts every connection of the stages (as a broker restart, a failover or an operator
does) while each stage holds a message at the worst moment for it: the workers reconnect by
themselves, the cut messages come back and are finished once, clearing sees each payment
once, and no event is missing. The Redis broker's counterpart is ``test_redis_restart``."""

from __future__ import annotations

import contextlib
import subprocess
from urllib.parse import unquote, urlsplit

import pika
import pytest

from shared.messaging.routes import QUEUES
from tests.faults.conftest import FULL_HISTORY, Cluster, wait_until
from tests.rabbitmq import AmqpQueues

pytestmark = [pytest.mark.faults, pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)]

#: A dramatiq consumer reconnects a few seconds after its connection is gone.
RECOVERY_BUDGET_SECONDS = 60.0
HELD = ("apply.after_otp", "review.decide", "authorize.after_transition", "interbank.after_submit")


def _vhost(cluster: Cluster) -> str:
    return unquote(urlsplit(cluster.settings.broker_url).path.lstrip("/"))


def _connections(vhost: str) -> set[str]:
    """The names (client and server address) of the vhost's open connections."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "-p", vhost, "name", "--no-table-headers"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {line.strip() for line in listed.stdout.splitlines() if line.strip()}


def _cut_every_connection(vhost: str) -> None:
    subprocess.run(
        ["rabbitmqctl", "-q", "close_all_connections", "-p", vhost, "test: connections cut"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_every_connection_cut_mid_message_loses_nothing_and_does_nothing_twice(
    cluster: Cluster,
) -> None:
    for i in range(1, 5):
        cluster.enrol(f"applicant-{i}", "applicant")
        cluster.enrol(f"authorizer-{i}", "authorizer")
    cluster.enrol("reviewer", "reviewer")
    workers = cluster.start_all()

    p2, p3, p4 = (cluster.submit(i, f"applicant-{i}") for i in (2, 3, 4))
    for pid in (p2, p3, p4):
        cluster.wait_status(pid, "pending_review")
    for pid in (p3, p4):
        cluster.review(pid, "reviewer")
        cluster.wait_status(pid, "pending_auth")

    # One message held inside each stage, unacknowledged, each at the worst moment for it.
    cluster.hold("interbank.after_submit")  # submitted to clearing, not yet recorded
    cluster.authorize(p4, "authorizer-4")
    cluster.wait_held("interbank.after_submit")
    cluster.hold("authorize.after_transition")  # authorized, not yet handed to interbank
    cluster.authorize(p3, "authorizer-3")
    cluster.wait_held("authorize.after_transition")
    cluster.hold("review.decide")  # decision checked, not yet written
    cluster.review(p2, "reviewer")
    cluster.wait_held("review.decide")
    cluster.hold("apply.after_otp")  # the applicant's code spent, payment not yet created
    p1 = cluster.submit(1, "applicant-1")
    cluster.wait_held("apply.after_otp")

    vhost = _vhost(cluster)
    # Every stage's worker and this test's own publisher are connected.
    before = _connections(vhost)
    assert len(before) >= len(workers) + 1
    _cut_every_connection(vhost)
    wait_until(
        "RabbitMQ to have closed every connection", lambda: not before & _connections(vhost), 30
    )
    # The held handlers go on; their messages were already given back to the queues, so a
    # reconnected consumer may take a second copy while the first is still being handled.
    for point in HELD:
        cluster.release(point)

    budget = RECOVERY_BUDGET_SECONDS
    cluster.wait_status(p4, "settled", timeout=budget)
    cluster.wait_status(p3, "settled", timeout=budget)
    cluster.wait_status(p2, "pending_auth", timeout=budget)
    cluster.wait_status(p1, "pending_review", timeout=budget)

    # The same workers (none restarted) go on normally, through the connections they remade.
    cluster.authorize(p2, "authorizer-2")
    cluster.review(p1, "reviewer")
    cluster.wait_status(p1, "pending_auth", timeout=budget)
    cluster.authorize(p1, "authorizer-1")
    for pid in (p1, p2, p3, p4):
        cluster.wait_status(pid, "settled", timeout=budget)
        assert cluster.history(pid) == FULL_HISTORY, pid
    assert all(proc.poll() is None for proc in workers.values()), "a worker died of the cut"
    for stage in ("apply", "review", "authorize", "interbank"):
        (log,) = cluster.workdir.glob(f"{stage}-*.log")
        assert "CONNECTION_FORCED" in log.read_text(errors="replace"), f"{stage} was not cut"
    assert len(_connections(vhost)) >= len(workers)

    e2e_ids = [cluster.deps.store.get(pid).end_to_end_id for pid in (p1, p2, p3, p4)]  # type: ignore[union-attr]
    submissions = cluster.deps.clearing.submissions()  # type: ignore[attr-defined]
    assert sorted(submissions) == sorted(e2e_ids), "clearing must see each payment exactly once"
    for pid in (p1, p2, p3, p4):
        seqs = [e.seq for _sid, e in cluster.deps.store.read_events() if e.payment_id == pid]
        assert seqs == list(range(1, len(seqs) + 1)), f"events of {pid} have a gap: {seqs}"
    # Nothing was set aside: every cut message was finished, none dead-lettered. (This
    # test's own look into the queues lost its connection too: a new one.)
    assert cluster.amqp is not None
    with contextlib.suppress(pika.exceptions.AMQPError):
        cluster.amqp.close()
    cluster.amqp = AmqpQueues(cluster.settings.broker_url)
    for queue in QUEUES:
        assert cluster.waiting(queue) == 0, queue
        assert cluster.in_broker_dead_letters(queue) == 0, queue
    assert cluster.deps.deadletters.count() == 0
