"""Attacks on user records by someone who can write Redis but holds no server key (the TOTP
key ring is configured, as in production): planting a user, moving one to another enterprise
or role, re-enabling a disabled one, swapping the password hash. Each must be refused."""

from __future__ import annotations

import base64

import pyotp
import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr

from shared.app import access
from shared.app.guard import authenticate
from shared.config import Settings
from shared.domain.errors import Refusal
from shared.security.disclosure import AUTHENTICATION_FAILED, for_person
from shared.security.totp import code_for
from tests.unit.support import OTHER_ENTERPRISE, PAYER, World

#: The server's key ring: configured, never in Redis, not held by the attacker.
RING = "k1:" + base64.b64encode(bytes(range(32))).decode()
ATTACKER_PASSWORD = "mallory-knows-this"
ATTACKER_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(ATTACKER_PASSWORD)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"totp_keys": SecretStr(RING)})


def plant(world: World, username: str, role: str, secret: str) -> None:
    """A user hash as the directory used to write them, with the secret in plain."""
    deps = world.deps
    deps.redis.hset(
        deps.keys.user(username),
        mapping={
            "enterprise_id": PAYER,
            "role": role,
            "active": "1",
            "password_hash": ATTACKER_HASH,
            "totp_secret": secret,
        },
    )
    deps.redis.sadd(deps.keys.users, username)


def refusal_of(world: World, token: str, role: str, payer: str = PAYER) -> str:
    with pytest.raises(Refusal) as raised:
        authenticate(world.deps, token, role, payer)
    return raised.value.reason_code.value


def test_a_user_planted_with_a_plain_secret_can_neither_log_in_nor_act(world: World) -> None:
    secret = pyotp.random_base32()
    for name, role in (("m-app", "applicant"), ("m-rev", "reviewer"), ("m-auth", "authorizer")):
        plant(world, name, role, secret)
        assert access.login(world.deps, name, ATTACKER_PASSWORD) is None
        assert world.deps.directory.user(name) is None
        # Even holding a genuine session for the name (say, from before the record was
        # replaced), the planted record is refused.
        token, _ = world.deps.sessions.issue(name, PAYER, role)
        assert refusal_of(world, token, role) == "user_record_invalid"


def test_a_planted_applicant_cannot_start_a_payment_with_its_own_code(world: World) -> None:
    secret = pyotp.random_base32()
    plant(world, "m-app", "applicant", secret)
    token, _ = world.deps.sessions.issue("m-app", PAYER, "applicant")
    outcome = world.apply(session=token, otp=code_for(secret, world.clock()))
    assert (outcome.outcome, outcome.reason_code) == ("refused", "user_record_invalid")


def test_a_user_moved_to_another_enterprise_is_refused(world: World) -> None:
    key = world.deps.keys.user("alice")
    world.deps.redis.hset(key, "enterprise_id", OTHER_ENTERPRISE)
    assert access.login(world.deps, "alice", "alice-password") is None
    token, _ = world.deps.sessions.issue("alice", OTHER_ENTERPRISE, "applicant")
    assert refusal_of(world, token, "applicant", OTHER_ENTERPRISE) == "user_record_invalid"


def test_a_user_given_another_role_is_refused(world: World) -> None:
    world.deps.redis.hset(world.deps.keys.user("alice"), "role", "authorizer")
    assert access.login(world.deps, "alice", "alice-password") is None
    token, _ = world.deps.sessions.issue("alice", PAYER, "authorizer")
    assert refusal_of(world, token, "authorizer") == "user_record_invalid"


def test_a_disabled_user_flipped_back_to_active_in_redis_stays_refused(world: World) -> None:
    token = world.session(world.applicant)
    assert access.disable(world.deps, "alice")
    world.deps.redis.hset(world.deps.keys.user("alice"), "active", "1")
    assert access.login(world.deps, "alice", "alice-password") is None
    assert refusal_of(world, token, "applicant") == "user_record_invalid"


def test_a_password_hash_swapped_for_one_the_attacker_knows_does_not_log_in(
    world: World,
) -> None:
    world.deps.redis.hset(world.deps.keys.user("alice"), "password_hash", ATTACKER_HASH)
    assert access.login(world.deps, "alice", ATTACKER_PASSWORD) is None
    assert access.login(world.deps, "alice", "alice-password") is None


def test_another_users_sealed_secret_and_mac_copied_over_do_not_verify(world: World) -> None:
    deps = world.deps
    bobs = deps.redis.hgetall(deps.keys.user("bob"))
    copied = {k: v for k, v in bobs.items() if k != b"role"}
    deps.redis.hset(deps.keys.user("carol"), mapping=copied)
    assert deps.directory.user("carol") is None


def test_people_see_only_the_generic_failure_for_a_tampered_record() -> None:
    assert for_person("user_record_invalid", "record fails")[0] == AUTHENTICATION_FAILED


def test_genuine_users_still_log_in_and_act(world: World) -> None:
    opened = access.login(world.deps, "alice", "alice-password")
    assert opened is not None
    assert authenticate(world.deps, opened[0], "applicant", PAYER).user == world.applicant


# -- re-running the migration ---------------------------------------------------------------


def strip_the_seal_of_carol(world: World, secret: str) -> None:
    """The real authorizer carol's record, its MAC and sealed secret removed, the attacker's
    password hash and plain secret put in: a record from before sealing, to look at."""
    key = world.deps.keys.user("carol")
    world.deps.redis.hdel(key, "mac", "totp_secret_enc")
    world.deps.redis.hset(key, mapping={"password_hash": ATTACKER_HASH, "totp_secret": secret})


def test_rerunning_the_migration_does_not_seal_a_record_stripped_of_its_seal(
    world: World,
) -> None:
    strip_the_seal_of_carol(world, pyotp.random_base32())
    migration = world.deps.directory.migrate_users()
    assert access.login(world.deps, "carol", ATTACKER_PASSWORD) is None
    assert (migration.migrated, migration.unsealed) == ((), ("carol",))


def test_rerunning_the_migration_does_not_seal_a_user_planted_by_name(world: World) -> None:
    plant(world, "m-auth", "authorizer", pyotp.random_base32())
    migration = world.deps.directory.migrate_users()
    assert access.login(world.deps, "m-auth", ATTACKER_PASSWORD) is None
    assert (migration.migrated, migration.unsealed) == ((), ("m-auth",))


def test_after_the_first_migration_even_trusting_unsealed_records_seals_none(
    world: World,
) -> None:
    assert world.deps.directory.migrate_users(trust_unsealed=True).migrated == ()
    strip_the_seal_of_carol(world, pyotp.random_base32())
    plant(world, "m-auth", "authorizer", pyotp.random_base32())
    migration = world.deps.directory.migrate_users(trust_unsealed=True)
    assert (migration.migrated, migration.unsealed) == ((), ("carol", "m-auth"))
    assert access.login(world.deps, "carol", ATTACKER_PASSWORD) is None
    assert access.login(world.deps, "m-auth", ATTACKER_PASSWORD) is None


def test_a_migration_marker_deleted_in_redis_lets_no_plain_rerun_seal_a_record(
    world: World,
) -> None:
    world.deps.directory.migrate_users(trust_unsealed=True)
    world.deps.redis.delete(world.deps.keys.users_migrated)
    strip_the_seal_of_carol(world, pyotp.random_base32())
    assert world.deps.directory.migrate_users().unsealed == ("carol",)
    assert access.login(world.deps, "carol", ATTACKER_PASSWORD) is None


def test_a_forged_migration_marker_is_not_taken_for_the_real_one(world: World) -> None:
    world.deps.redis.set(world.deps.keys.users_migrated, "2020-01-01T00:00:00Z|k1:" + "0" * 64)
    plant(world, "m-auth", "authorizer", pyotp.random_base32())
    assert not world.deps.directory.users_migrated()
