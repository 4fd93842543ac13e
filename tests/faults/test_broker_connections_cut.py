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
from tests.faults.conftest import (
    HELD_IN_EACH_STAGE,
    Cluster,
    enrol_four,
    finish_and_check_once_each,
    hold_one_in_each_stage,
)
from tests.rabbitmq import AmqpQueues
from tests.stack import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)]

#: A dramatiq consumer reconnects a few seconds after its connection is gone.
RECOVERY_BUDGET_SECONDS = 60.0


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
    enrol_four(cluster)
    workers = cluster.start_all()
    # One message held inside each stage, unacknowledged, each at the worst moment for it.
    p1, p2, p3, p4 = held = hold_one_in_each_stage(cluster)

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
    for point in HELD_IN_EACH_STAGE:
        cluster.release(point)

    budget = RECOVERY_BUDGET_SECONDS
    cluster.wait_status(p4, "settled", timeout=budget)
    cluster.wait_status(p3, "settled", timeout=budget)
    cluster.wait_status(p2, "pending_auth", timeout=budget)
    cluster.wait_status(p1, "pending_review", timeout=budget)

    # The same workers (none restarted) go on normally, through the connections they remade.
    finish_and_check_once_each(cluster, held, timeout=budget)
    assert all(proc.poll() is None for proc in workers.values()), "a worker died of the cut"
    for stage in ("apply", "review", "authorize", "interbank"):
        (log,) = cluster.workdir.glob(f"{stage}-*.log")
        assert "CONNECTION_FORCED" in log.read_text(errors="replace"), f"{stage} was not cut"
    assert len(_connections(vhost)) >= len(workers)

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
