"""Outside development mode a process never generates a server key and keeps it in Redis: it
refuses to start without the keys it needs, and refuses any other keyed use, naming the
setting (attackers who can write Redis would otherwise hold every key)."""

from __future__ import annotations

import fakeredis
import pytest

from services.runtime.needs import worker_needs
from shared.app import access
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.redis.keys import Keys
from shared.redis.server_keys import audit_key_ring
from shared.security.keyneeds import KeyNeed, MissingKeys


@pytest.fixture
def keyless(prefix: str) -> Settings:
    """A production-style process given no key at all (and not in development mode)."""
    return Settings(prefix=prefix, database_url="sqlite://", log_format="json")


def secrets_in(client: fakeredis.FakeRedis, prefix: str) -> list[bytes]:
    return sorted(client.scan_iter(match=f"{prefix}secret:*"))


@pytest.mark.parametrize(
    ("stage", "named"),
    [
        ("apply", ["B2BPAY_SESSION_SECRET", "B2BPAY_TOTP_KEYS", "B2BPAY_SIGNING_KEYS_DIR"]),
        ("review", ["B2BPAY_SESSION_SECRET", "B2BPAY_TOTP_KEYS", "B2BPAY_SIGNING_KEYS_DIR"]),
        ("authorize", ["B2BPAY_SESSION_SECRET", "B2BPAY_TOTP_KEYS", "B2BPAY_SIGNING_KEYS_DIR"]),
        ("interbank", ["B2BPAY_SIGNING_KEYS_DIR"]),
        ("audit", ["B2BPAY_AUDIT_KEYS"]),
    ],
)
def test_a_worker_without_its_keys_refuses_to_start_and_names_the_settings(
    keyless: Settings, redis_client: fakeredis.FakeRedis, stage: str, named: list[str]
) -> None:
    with pytest.raises(MissingKeys) as raised:
        bootstrap(keyless, redis_client, needs=worker_needs([stage]))
    for setting in named:
        assert setting in str(raised.value)
    assert secrets_in(redis_client, keyless.prefix) == []


def test_a_process_needing_no_key_starts_but_refuses_every_keyed_use_without_making_keys(
    keyless: Settings, redis_client: fakeredis.FakeRedis
) -> None:
    deps = bootstrap(keyless, redis_client, needs=worker_needs(["query", "sweeper"]))
    with pytest.raises(MissingKeys, match="B2BPAY_SESSION_SECRET"):
        deps.sessions.issue("alice", "ACME", "applicant")
    redis_client.hset(
        deps.keys.user("alice"), mapping={"role": "applicant", "active": 1, "mac": "k1:00"}
    )
    with pytest.raises(MissingKeys, match="B2BPAY_TOTP_KEYS"):
        access.login(deps, "alice", "alice-password")
    with pytest.raises(MissingKeys, match="B2BPAY_SIGNING"):
        deps.signer.can_sign("apply")
    with pytest.raises(MissingKeys, match="B2BPAY_AUDIT_KEYS"):
        audit_key_ring(redis_client, Keys(keyless.prefix), None, keyless.dev_mode)
    assert secrets_in(redis_client, keyless.prefix) == []


def test_in_development_mode_missing_keys_are_generated_and_shared_through_redis(
    keyless: Settings, redis_client: fakeredis.FakeRedis
) -> None:
    dev = keyless.model_copy(update={"dev_mode": True})
    deps = bootstrap(dev, redis_client, needs=set(KeyNeed))
    token, _session = deps.sessions.issue("alice", "ACME", "applicant")
    assert bootstrap(dev, redis_client).sessions.verify(token).username == "alice"
    assert secrets_in(redis_client, keyless.prefix) != []


def test_development_mode_is_off_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("B2BPAY_DEV_MODE", raising=False)
    assert Settings().dev_mode is False
    monkeypatch.setenv("B2BPAY_DEV_MODE", "1")
    assert Settings().dev_mode is True
