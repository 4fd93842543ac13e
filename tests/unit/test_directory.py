"""People in the directory (shared.directory): TOTP secrets encrypted at rest, key rotation,
enabling and disabling, and a login check that does not tell who exists."""

from __future__ import annotations

import base64

import fakeredis
import pyotp
import pytest
from argon2 import PasswordHasher

from shared.crypto import CryptoError, KeyRing
from shared.directory import LEGACY_TOTP_FIELD, TOTP_FIELD, Directory, DirectoryError
from shared.keys import Keys

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


def test_a_secret_moved_onto_another_user_does_not_decrypt(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    people.add_user("alice", "ACME", "applicant", PASSWORD)
    people.add_user("mallory", "ACME", "applicant", PASSWORD)
    alices = stored(redis_client, keys, "alice")[TOTP_FIELD]
    redis_client.hset(keys.user("mallory"), TOTP_FIELD, alices)
    with pytest.raises(CryptoError):
        people.user("mallory")


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


def test_rotation_encrypts_a_secret_stored_in_plain_before_encryption_at_rest(
    people: Directory, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    user, _uri = people.add_user("alice", "ACME", "applicant", PASSWORD)
    key = keys.user("alice")
    redis_client.hdel(key, TOTP_FIELD)
    redis_client.hset(key, LEGACY_TOTP_FIELD, user.totp_secret)
    legacy = people.user("alice")
    assert legacy is not None and legacy.totp_secret == user.totp_secret

    assert people.rotate_totp_secrets().reencrypted == 1

    raw = stored(redis_client, keys, "alice")
    assert LEGACY_TOTP_FIELD not in raw
    assert all(user.totp_secret not in value for value in raw.values())
    found = people.user("alice")
    assert found is not None and found.totp_secret == user.totp_secret


def test_without_a_key_ring_the_development_key_in_redis_is_shared_by_every_directory(
    redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    first = directory(redis_client, keys)
    first.add_bank("BANK", "Bank", True)
    first.add_enterprise("ACME", "Acme", ["BANK"], ["ACC-1"], True)
    user, _uri = first.add_user("alice", "ACME", "applicant", PASSWORD)
    assert stored(redis_client, keys, "alice")[TOTP_FIELD].startswith("dev:")
    found = directory(redis_client, keys).user("alice")
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
