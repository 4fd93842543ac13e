"""The one rule for server keys: the configured key, or in development mode one generated
once and kept in Redis, or a refusal to run."""

from __future__ import annotations

import itertools

import fakeredis
import pytest

from shared.redis.server_keys import kept_in_redis
from shared.security.keyneeds import KeyNeed, MissingKeys, key_or_dev_key


def test_a_configured_key_wins_and_nothing_is_kept_in_redis(
    redis_client: fakeredis.FakeRedis,
) -> None:
    key = key_or_dev_key(
        KeyNeed.AUDIT, b"configured", True, lambda: kept_in_redis(redis_client, "k", lambda: b"x")
    )
    assert key == b"configured"
    assert redis_client.exists("k") == 0


def test_without_a_key_outside_development_mode_the_setting_is_named(
    redis_client: fakeredis.FakeRedis,
) -> None:
    with pytest.raises(MissingKeys, match="B2BPAY_AUDIT_KEYS"):
        key_or_dev_key(
            KeyNeed.AUDIT, None, False, lambda: kept_in_redis(redis_client, "k", lambda: b"x")
        )
    assert redis_client.exists("k") == 0


@pytest.mark.parametrize("field", [None, "apply"])
def test_a_development_key_is_generated_once_and_shared(
    redis_client: fakeredis.FakeRedis, field: str | None
) -> None:
    counter = itertools.count(1)

    def generate() -> bytes:
        return f"key-{next(counter)}".encode()

    keys = [
        key_or_dev_key(
            KeyNeed.SIGNING,
            None,
            True,
            lambda: kept_in_redis(redis_client, "dev-key", generate, field=field),
        )
        for _ in range(3)
    ]
    assert keys == [b"key-1"] * 3
