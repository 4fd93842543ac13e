"""The machine's RabbitMQ (127.0.0.1:5672, guest) for tests that run the stages on it: a vhost
of the test's own (``rabbitmqctl add_vhost``, deleted afterwards with everything in it), and a
plain AMQP client on it — what anyone who can write to the broker has, and what a test looks
into the queues with."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pika
import pytest

AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672
#: The values of the ``broker`` fixture: every broker the stages run on.
BROKERS = ("redis", "rabbitmq")


def _answers() -> bool:
    try:
        socket.create_connection((AMQP_HOST, AMQP_PORT), timeout=2).close()
    except OSError:
        return False
    return True


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def fresh_vhost(label: str) -> Iterator[str]:
    """The URL of a new vhost on the machine's RabbitMQ; the vhost (its queues and messages)
    is deleted on the way out."""
    if not _answers():
        pytest.fail(
            f"RabbitMQ is not answering on {AMQP_HOST}:{AMQP_PORT}: start it "
            "(`rabbitmq-server -detached`; .ci/run does) — the stages' RabbitMQ tests need it",
            pytrace=False,
        )
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl not found: the RabbitMQ tests make a vhost of their own with it")
    vhost = f"b2bpay-test-{label}-{secrets.token_hex(4)}"
    _ctl("add_vhost", vhost)
    try:
        _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{vhost}"
    finally:
        _ctl("delete_vhost", vhost)


class AmqpQueues:
    """A plain AMQP client on one vhost (no dramatiq): publishes raw bodies, counts what waits."""

    def __init__(self, url: str) -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        self._channel = self._connection.channel()
        self._channel.confirm_delivery()

    def publish(self, queue: str, body: bytes, **properties: Any) -> None:
        self._channel.basic_publish(
            exchange="",
            routing_key=queue,
            body=body,
            properties=pika.BasicProperties(delivery_mode=2, **properties),
            mandatory=True,
        )

    def waiting(self, queue: str) -> int:
        """Messages ready in ``queue`` (a message handed out and not acknowledged is not
        counted until its consumer is gone, when RabbitMQ makes it ready again)."""
        declared = self._channel.queue_declare(queue=queue, passive=True)
        return int(declared.method.message_count)

    def has_arguments(self, queue: str, arguments: dict[str, Any]) -> bool:
        """Whether ``queue`` was declared with exactly these arguments: RabbitMQ refuses a
        declaration that differs (PRECONDITION_FAILED), which closes the channel."""
        try:
            self._channel.queue_declare(queue=queue, durable=True, arguments=arguments)
        except pika.exceptions.ChannelClosedByBroker as error:
            if error.reply_code != 406:
                raise
            self._channel = self._connection.channel()
            return False
        return True

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()
