"""End-to-end fixtures: the stages as separate ``b2bpay worker`` processes on the real test
Redis and ``b2bpay serve`` (the HTTP API the people's commands speak to), launched by
:func:`tests.stack.launched`; :meth:`tests.stack.Stack.cli` runs the CLI as a user would.

The stages' queues are on that Redis, or, for a module parametrized with the ``broker``
fixture, on the machine's RabbitMQ in a vhost of the module's own (the state, events and
sessions stay on Redis)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import pyotp
import pytest

from tests.rabbitmq import BROKERS, fresh_vhost
from tests.stack import Stack, launched

STAGES = ("apply", "review", "authorize", "interbank", "query", "audit")


def code_of(uri: str, offset_steps: int = 0) -> str:
    totp = pyotp.parse_uri(uri)
    return str(totp.at(time.time(), counter_offset=offset_steps))


@pytest.fixture(scope="module")
def broker(request: pytest.FixtureRequest) -> str:
    """The broker the stages' queues run on: Redis unless a module is parametrized with it
    (``pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)``)."""
    chosen: str = getattr(request, "param", "redis")
    assert chosen in BROKERS, chosen
    return chosen


@pytest.fixture(scope="module")
def e2e(redis_url: str, tmp_path_factory: pytest.TempPathFactory, broker: str) -> Iterator[Stack]:
    with ExitStack() as stack:
        on_broker = {"B2BPAY_BROKER_URL": ""}  # the queues beside the state, on Redis
        if broker == "rabbitmq":
            on_broker["B2BPAY_BROKER_URL"] = stack.enter_context(fresh_vhost("e2e"))
        env = {**on_broker, "B2BPAY_WAIT_SECONDS": "20"}
        workdir = tmp_path_factory.mktemp("e2e")
        yield stack.enter_context(launched(redis_url, workdir, STAGES, tag="e2e", env=env))
