"""Fixtures shared by every test layer.

Integration and end-to-end tests use a real Redis: ``B2BPAY_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``) or, if none answers, a ``redis-server`` this session starts on
a free port. Every test gets its own key prefix and deletes what it created.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from shared.app.deps import Deps
from shared.bootstrap import bootstrap
from shared.config import Settings
from tests.stack import delete_keys, free_port, wait_until

DEFAULT_TEST_REDIS = "redis://127.0.0.1:6379/15"


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("B2BPAY_TEST_REDIS_URL", DEFAULT_TEST_REDIS)
    if _answers(url):
        yield url
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(
            f"no Redis answers at {url} and redis-server is not installed: "
            "install it (apt-get install redis-server) or set B2BPAY_TEST_REDIS_URL",
            pytrace=False,
        )
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/15"
    try:
        wait_until(f"redis-server to answer on port {port}", lambda: _answers(url), timeout=10)
    except BaseException:
        proc.kill()
        raise
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; every key under it (and its queues) is deleted after."""
    value = f"b2bpay-test-{secrets.token_hex(4)}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    delete_keys(client, value)
    client.close()


@pytest.fixture
def settings(redis_url: str, prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        prefix=prefix,
        database_url=f"sqlite:///{tmp_path / 'read.db'}",
        session_secret=secrets.token_hex(32),
        log_format="json",
        dev_mode=True,
    )


@pytest.fixture
def deps(settings: Settings, redis_client: redis.Redis) -> Deps:
    """Real dependencies on the real test Redis."""
    return bootstrap(settings, redis_client)


#: The marker of each layer, by the directory its tests live in (``-m "not faults"``, say).
#: Tests at the top of ``tests/`` read files only: unit.
LAYERS = ("unit", "integration", "e2e", "faults", "api", "web")


def _layer(item: pytest.Item) -> str:
    parts = item.path.relative_to(Path(__file__).parent).parts
    return parts[0] if len(parts) > 1 and parts[0] in LAYERS else "unit"


def _stack_group(nodeid: str) -> str | None:
    """Which tests must run in one pytest-xdist worker, one after another: those sharing a
    stack. A module's stack (e2e, api) is started once per worker that runs any of its tests,
    so a module stays together; the web layer shares one stack and one browser across its
    modules. A fault test starts a cluster of its own; its module stays together so that its
    cases (Redis, RabbitMQ) do not load the machine at once. Unit and integration tests share
    nothing and go wherever a worker is free (None)."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    layer = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
    if layer == "web":
        return "web"
    if layer in ("e2e", "api", "faults"):
        return path
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(_layer(item))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with the groups of :func:`_stack_group`, read from each test's
    path: xdist's own loadgroup renames the items to find their ``xdist_group`` marks, which
    this pytest's node ids no longer allow. Groups go first, the largest first; every other
    test is a group of its own."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class StackGroups(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _stack_group(nodeid) or nodeid

    return StackGroups(config, log)
