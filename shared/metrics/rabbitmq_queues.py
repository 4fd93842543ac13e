"""The stages' queues on RabbitMQ (``B2BPAY_BROKER_URL=amqp://…``), for ``/metrics`` and
``b2bpay top``: depth by a passive ``queue.declare`` per queue, which creates nothing.

RabbitMQ does not say how old a queue's next message is without taking it, nor how many
messages consumers hold unacknowledged through this call: both are left out (None).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from kombu.connection import Connection

from shared.metrics.system import QueueState


class RabbitQueueProbe:
    """Depths of dramatiq's queues on RabbitMQ: ``<queue>`` (ready) and ``<queue>.DQ``
    (delayed retries), as dramatiq's RabbitMQ broker names them."""

    def __init__(self, url: str, timeout: float) -> None:
        self._url = url
        self._timeout = timeout

    def read(self, queues: Sequence[str]) -> list[QueueState]:
        with Connection(self._url, connect_timeout=self._timeout) as conn:
            conn.ensure_connection(max_retries=1)
            return [
                QueueState(
                    queue=queue,
                    ready=_depth(conn, queue),
                    delayed=_depth(conn, f"{queue}.DQ"),
                )
                for queue in queues
            ]


def _depth(conn: Any, name: str) -> int:
    """Messages ready on ``name``; 0 for a queue not declared yet (nobody sent to it).
    A channel per queue: a passive declare of a missing queue closes its channel."""
    channel = conn.channel()
    try:
        reply = channel.queue_declare(queue=name, passive=True)
        return int(reply.message_count)
    except conn.channel_errors:
        return 0
    finally:
        # The broker closed it already after a missing queue.
        with contextlib.suppress(*conn.channel_errors, *conn.connection_errors):
            channel.close()
