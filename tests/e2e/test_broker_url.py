"""``B2BPAY_BROKER_URL`` as an operator sets it, with real ``b2bpay worker`` processes: a
RabbitMQ that does not answer, that refuses the login, or whose queues were declared with
other arguments, and a scheme b2bpay has no broker for, are each said in one plain line with
its exit code — never a traceback, never the URL's password; and the HTTP API is ready only
while its RabbitMQ answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pika
import pytest
import redis

from services.api.dependencies import Api
from services.api.health import readyz
from services.api.problems import Problem
from shared.bootstrap import bootstrap
from shared.config import Settings
from tests.rabbitmq import AMQP_HOST, AMQP_PORT, fresh_vhost
from tests.stack import free_port

pytestmark = pytest.mark.e2e
PASSWORD = "pw-never-shown-4711"


@pytest.fixture
def operator_env(redis_url: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("B2BPAY_")}
    return {
        **inherited,
        "B2BPAY_REDIS_URL": redis_url,
        "B2BPAY_PREFIX": prefix,
        "B2BPAY_DATABASE_URL": f"sqlite:///{tmp_path / 'read.db'}",
        "B2BPAY_LOG_FORMAT": "json",
        "B2BPAY_DEV_MODE": "1",
    }


def _worker(env: dict[str, str], broker_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", "worker", "review"],
        capture_output=True,
        text=True,
        env={**env, "B2BPAY_BROKER_URL": broker_url},
        timeout=60,
        check=False,
    )


def _said_plainly(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    told = done.stdout + done.stderr
    assert done.returncode == code, told
    for word in words:
        assert word in done.stderr, told
    assert "Traceback" not in told
    assert PASSWORD not in told


def test_a_worker_whose_rabbitmq_does_not_answer_says_so_and_exits_4(
    operator_env: dict[str, str],
) -> None:
    port = free_port()  # nothing listens there
    done = _worker(operator_env, f"amqp://guest:{PASSWORD}@127.0.0.1:{port}/b2bpay")
    _said_plainly(done, 4, f"RabbitMQ at 127.0.0.1:{port}, vhost 'b2bpay' is not reachable")


def test_a_worker_whose_rabbitmq_refuses_the_login_says_so_and_exits_4(
    operator_env: dict[str, str],
) -> None:
    done = _worker(operator_env, f"amqp://guest:{PASSWORD}@{AMQP_HOST}:{AMQP_PORT}/")
    _said_plainly(done, 4, "is not reachable (login refused)")


def test_a_queue_declared_with_another_dead_message_ttl_is_named_and_the_worker_exits_2(
    operator_env: dict[str, str],
) -> None:
    with fresh_vhost("url") as url:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        try:  # what plain dramatiq declares: failed messages kept a week
            connection.channel().queue_declare(
                "pending-review.XQ", durable=True, arguments={"x-message-ttl": 604_800_000}
            )
        finally:
            connection.close()
        done = _worker(operator_env, url)
    _said_plainly(done, 2, "'pending-review'", "B2BPAY_DEAD_MESSAGE_TTL_MS")


def test_a_broker_url_of_another_scheme_is_refused_naming_the_schemes_there_are(
    operator_env: dict[str, str],
) -> None:
    done = _worker(operator_env, f"kafka://guest:{PASSWORD}@127.0.0.1:9092")
    _said_plainly(done, 2, "B2BPAY_BROKER_URL: unsupported scheme 'kafka'", "amqp://", "redis://")


def _readiness(settings: Settings, redis_client: redis.Redis, broker_url: str) -> Any:
    """What ``/readyz`` of an API server on ``broker_url`` answers: its body, or the
    problem it is refused with."""
    deps = bootstrap(settings.model_copy(update={"broker_url": broker_url}), redis_client)
    try:
        return readyz(Api(deps=deps, views=lambda: pytest.fail("no view"), wait_seconds=1))
    except Problem as problem:
        return problem
    finally:
        deps.broker.close()


def test_the_api_is_ready_only_while_its_rabbitmq_answers(
    settings: Settings, redis_client: redis.Redis
) -> None:
    with fresh_vhost("ready") as url:
        ready = _readiness(settings, redis_client, url)
    assert ready["status"] == "ready"
    down = _readiness(settings, redis_client, f"amqp://guest:{PASSWORD}@127.0.0.1:{free_port()}/")
    assert isinstance(down, Problem)
    assert (down.status, down.detail) == (503, "the message broker does not answer")
