"""Fixtures of the unit layer: no network I/O, ever.

Redis is fakeredis (Lua through lupa); every test gets its own fake server, its own key
prefix and a controllable clock for the one-time codes. The Redis fixtures of the parent
conftest are overridden here so that nothing in this layer can reach a real server.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import fakeredis
import pytest
import structlog

from shared.app.deps import Deps
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.redis.directory import Directory
from shared.redis.keys import Keys
from shared.redis.otp import OtpVerifier
from shared.redis.sessions import Sessions
from shared.security.session_tokens import SessionSigner
from shared.testing import cheap_hasher
from tests.unit.support import Clock, World


@pytest.fixture
def redis_url() -> str:
    pytest.fail("unit tests do no network I/O; use the fakeredis fixtures", pytrace=False)


@pytest.fixture
def redis_client() -> Iterator[fakeredis.FakeRedis]:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    return f"b2bpay-unit-{secrets.token_hex(4)}:"


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(prefix: str) -> Settings:
    return Settings(
        prefix=prefix,
        session_secret=secrets.token_hex(32),
        database_url="sqlite://",
        log_format="json",
        dev_mode=True,
    )


@pytest.fixture
def deps(settings: Settings, redis_client: fakeredis.FakeRedis, clock: Clock) -> Iterator[Deps]:
    """Real dependencies on a fake Redis. The password hasher is argon2 at its cheapest (the
    handlers never check passwords); the one-time-code verifier and the sessions read the
    test's clock."""
    keys = Keys(settings.prefix)
    fast = cheap_hasher(memory_cost=8)
    built = bootstrap(
        settings, client=redis_client, directory=Directory(redis_client, keys, hasher=fast)
    )
    built.otp = OtpVerifier(
        redis_client, keys, settings.otp_max_failures, settings.otp_valid_window, clock=clock
    )
    assert settings.session_secret is not None
    signer = SessionSigner(
        settings.session_secret.get_secret_value().encode(),
        settings.session_ttl_seconds,
        clock=clock,
    )
    built.sessions = Sessions(redis_client, keys, signer, settings.session_idle_seconds)
    yield built
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def world(deps: Deps, clock: Clock) -> World:
    return World(deps, clock)
