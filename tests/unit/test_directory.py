"""People in the directory (shared.redis.directory): TOTP secrets encrypted at rest, records sealed
with a MAC, key rotation, the one-time migration, enabling and disabling, and a login check
that does not tell who exists."""

from __future__ import annotations

import base64
import json

import fakeredis
import pyotp
import pytest
from argon2 import PasswordHasher

from shared.redis.directory import (
    LEGACY_TOTP_FIELD,
    MAC_FIELD,
    TOTP_FIELD,
    Directory,
    DirectoryError,
    UserRecordInvalid,
)
from shared.redis.keys import Keys
from shared.redis.server_keys import totp_key_ring
from shared.security.keyneeds import MissingKeys
from shared.security.keyring import CryptoError, KeyRing

OLD = ("k1", bytes(range(32)))
NEW = ("k2", bytes(range(100, 132)))
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse"


def ring(*entries: tuple[str, bytes]) -> KeyRing:
    return KeyRing.parse(",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in entries))


def directory(client: fakeredis.FakeRedis, keys: Keys, *entries: tuple[str, bytes]) -> Directory:
    return Directory(client, keys, hasher=FAST, totp_keys=ring(*entries) if entries else None)


@pytest.fixture
def people(redis_client: fakeredis.FakeRedis, keys: Keys) -> Directory:
    d = directory(redis_client, keys, OLD)
    d.add_bank("BANK", "Bank", True)
    d.add_enterprise("ACME", "Acme", ["BANK"], ["ACC-1"], True)
    return d


def stored(client: fakeredis.FakeRedis, keys: Keys, username: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in client.hgetall(keys.user(username)).items()}


def test_the_stored_user_holds_the_totp_secret_only_encrypted(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    user, uri = people.add_user("alice", "ACME", "applicant", PASSWORD)
    raw = stored(redis_client, keys, "alice")
    assert user.totp_secret == pyotp.parse_uri(uri).secret
    assert LEGACY_TOTP_FIELD not in raw
    assert raw[TOTP_FIELD].startswith("k1:")
    assert all(user.totp_secret not in value for value in raw.values())


def test_a_user_read_back_carries_the_decrypted_secret(people: Directory) -> None:
    added, _uri = people.add_user("alice", "ACME", "applicant", PASSWORD)
    found = people.user("alice")
    assert found is not None
    assert found.totp_secret == added.totp_secret
    assert found == added


def test_the_user_repr_shows_neither_secret_nor_password_hash(people: Directory) -> None:
    user, _uri = people.add_user("alice", "ACME", "applicant", PASSWORD)
    assert user.totp_secret not in repr(user)
    assert user.password_hash not in repr(user)


def test_a_secret_moved_onto_another_user_reads_as_no_user(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    people.add_user("alice", "ACME", "applicant", PASSWORD)
    people.add_user("mallory", "ACME", "applicant", PASSWORD)
    alices = stored(redis_client, keys, "alice")[TOTP_FIELD]
    redis_client.hset(keys.user("mallory"), TOTP_FIELD, alices)
    assert people.user("mallory") is None
    with pytest.raises(UserRecordInvalid):
        people.verified_user("mallory")


def test_each_record_carries_a_mac_under_the_current_key(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    people.add_user("alice", "ACME", "applicant", PASSWORD)
    assert stored(redis_client, keys, "alice")[MAC_FIELD].startswith("k1:")


def test_disabling_and_enabling_seal_the_record_again(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    people.add_user("alice", "ACME", "applicant", PASSWORD)
    sealed = stored(redis_client, keys, "alice")[MAC_FIELD]
    assert people.set_active("alice", False)
    assert stored(redis_client, keys, "alice")[MAC_FIELD] != sealed
    assert people.set_active("alice", True)
    found = people.user("alice")
    assert found is not None and found.active


def test_a_tampered_record_is_never_sealed_again_by_enabling_it(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    people.add_user("alice", "ACME", "applicant", PASSWORD)
    redis_client.hset(keys.user("alice"), "role", "authorizer")
    with pytest.raises(UserRecordInvalid):
        people.set_active("alice", True)
    assert people.user("alice") is None


def test_rotation_re_encrypts_every_secret_under_the_current_key_and_is_idempotent(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    secrets = {
        name: people.add_user(name, "ACME", "applicant", PASSWORD)[0].totp_secret
        for name in ("alice", "bob", "carol")
    }
    rotated = directory(redis_client, keys, NEW, OLD)

    first = rotated.rotate_totp_secrets()
    again = rotated.rotate_totp_secrets()

    assert (first.users, first.reencrypted, first.key_id) == (3, 3, "k2")
    assert (again.users, again.reencrypted) == (3, 0)
    new_only = directory(redis_client, keys, NEW)
    for name, secret in secrets.items():
        assert stored(redis_client, keys, name)[TOTP_FIELD].startswith("k2:")
        found = new_only.user(name)
        assert found is not None and found.totp_secret == secret


def test_rotation_seals_the_migration_marker_again_under_the_current_key(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    people.migrate_users(trust_unsealed=True)
    directory(redis_client, keys, NEW, OLD).rotate_totp_secrets()
    assert directory(redis_client, keys, NEW).users_migrated()


def unsealed(people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys, plain: bool) -> str:
    """Alice's record as written before record MACs: her secret in plain, or sealed bound to
    her username only. Returns the secret."""
    user, _uri = people.add_user("alice", "ACME", "applicant", PASSWORD)
    key = keys.user("alice")
    redis_client.hdel(key, MAC_FIELD, TOTP_FIELD)
    if plain:
        redis_client.hset(key, LEGACY_TOTP_FIELD, user.totp_secret)
    else:
        redis_client.hset(key, TOTP_FIELD, people.totp_keys.encrypt(user.totp_secret, "alice"))
    return user.totp_secret


@pytest.mark.parametrize("plain", [True, False], ids=["plain secret", "username-bound secret"])
def test_a_record_from_before_sealing_is_refused_until_migrated_once(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys, plain: bool
) -> None:
    secret = unsealed(people, redis_client, keys, plain)
    assert people.user("alice") is None

    first = people.migrate_users(trust_unsealed=True)
    again = people.migrate_users(trust_unsealed=True)

    assert (first.users, first.migrated, first.refused) == (1, ("alice",), ())
    assert (again.migrated, again.refused) == ((), ())
    raw = stored(redis_client, keys, "alice")
    assert LEGACY_TOTP_FIELD not in raw
    assert all(secret not in value for value in raw.values())
    found = people.user("alice")
    assert found is not None and found.totp_secret == secret
    with pytest.raises(CryptoError, match="not bound here"):
        people.totp_keys.decrypt(raw[TOTP_FIELD], "alice")


def test_migration_leaves_a_sealed_record_that_fails_its_check_as_it_is(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    people.add_user("alice", "ACME", "applicant", PASSWORD)
    redis_client.hset(keys.user("alice"), "enterprise_id", "OTHER")
    before = stored(redis_client, keys, "alice")
    migration = people.migrate_users()
    assert migration.refused == ("alice",)
    assert stored(redis_client, keys, "alice") == before


def test_the_secret_is_bound_to_username_enterprise_and_role(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    user, _uri = people.add_user("alice", "ACME", "applicant", PASSWORD)
    sealed = stored(redis_client, keys, "alice")[TOTP_FIELD]
    bound = ["b2bpay.totp-secret.v2", "alice", "ACME", "applicant"]
    assert people.totp_keys.decrypt(sealed, json.dumps(bound)) == user.totp_secret
    for other in (["alice", "OTHER", "applicant"], ["alice", "ACME", "authorizer"]):
        with pytest.raises(CryptoError, match="not bound here"):
            people.totp_keys.decrypt(sealed, json.dumps(["b2bpay.totp-secret.v2", *other]))


def test_without_a_key_ring_nothing_about_users_works_and_nothing_is_generated(
    redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    keyless = directory(redis_client, keys)
    keyless.add_bank("BANK", "Bank", True)
    keyless.add_enterprise("ACME", "Acme", ["BANK"], ["ACC-1"], True)
    with pytest.raises(MissingKeys, match="B2BPAY_TOTP_KEYS"):
        keyless.add_user("alice", "ACME", "applicant", PASSWORD)
    assert redis_client.exists(keys.totp_dev_key, keys.user("alice")) == 0


def test_in_development_mode_the_key_in_redis_is_shared_by_every_directory(
    redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    def dev() -> Directory:
        ring = totp_key_ring(redis_client, keys, None, dev_mode=True)
        return Directory(redis_client, keys, hasher=FAST, totp_keys=ring)

    first = dev()
    first.add_bank("BANK", "Bank", True)
    first.add_enterprise("ACME", "Acme", ["BANK"], ["ACC-1"], True)
    user, _uri = first.add_user("alice", "ACME", "applicant", PASSWORD)
    assert stored(redis_client, keys, "alice")[TOTP_FIELD].startswith("dev:")
    found = dev().user("alice")
    assert found is not None and found.totp_secret == user.totp_secret


def test_a_disabled_user_is_inactive_until_enabled(people: Directory) -> None:
    people.add_user("alice", "ACME", "applicant", PASSWORD)
    assert people.set_active("alice", False)
    found = people.user("alice")
    assert found is not None and not found.active
    assert people.set_active("alice", True)
    found = people.user("alice")
    assert found is not None and found.active


def test_enabling_or_disabling_an_unknown_user_creates_nothing(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    assert not people.set_active("ghost", False)
    assert redis_client.exists(keys.user("ghost")) == 0


def test_login_succeeds_only_with_the_right_password_of_an_active_user(
    people: Directory,
) -> None:
    people.add_user("alice", "ACME", "applicant", PASSWORD)
    found = people.check_login("alice", PASSWORD)
    assert found is not None and found.username == "alice"
    assert people.check_login("alice", "wrong password") is None
    assert people.check_login("ghost", PASSWORD) is None
    people.set_active("alice", False)
    assert people.check_login("alice", PASSWORD) is None


def test_an_unknown_user_costs_a_password_check_too(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            calls.append("verify")
            return super().verify(hash, password)

    counting = Directory(redis_client, keys, Counting(1, 8, 1), people.totp_keys)
    assert counting.check_login("ghost", PASSWORD) is None
    assert calls == ["verify"]


def test_rotation_without_the_key_of_a_stored_secret_names_the_user_and_stops(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    people.add_user("alice", "ACME", "applicant", PASSWORD)
    with pytest.raises(DirectoryError, match="'alice'"):
        directory(redis_client, keys, NEW).rotate_totp_secrets()
    assert stored(redis_client, keys, "alice")[TOTP_FIELD].startswith("k1:")
