"""Upkeep of the sealed user records (:mod:`shared.redis.user_records`) as a whole: the
one-time migration that seals records from before record MACs, and the re-encryption under
a new TOTP key (``b2bpay admin migrate-users``, ``rotate-totp-key``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from shared.domain.parties import User
from shared.redis.keys import Keys
from shared.redis.reference_data import DirectoryError
from shared.redis.replies import as_text
from shared.redis.user_records import (
    LEGACY_TOTP_FIELD,
    MAC_FIELD,
    TOTP_FIELD,
    RingOf,
    UserRecordInvalid,
    bound,
    sealed_record,
    unsealed_user,
    update_record,
    verified,
)
from shared.security.keyring import KeyRing

#: HKDF info of the MAC key of the "users migrated" marker.
USERS_MIGRATED_PURPOSE = b"b2bpay.users-migrated.v1"


@dataclass(frozen=True)
class Migration:
    """What ``migrate_users`` did."""

    users: int
    #: Records sealed now.
    migrated: tuple[str, ...]
    #: Records left untouched because they do not verify or are not user records.
    refused: tuple[str, ...]
    #: Records without a MAC left untouched: not trusted (no ``trust_unsealed``, or the
    #: user records were migrated before).
    unsealed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rotation:
    """What ``rotate_totp_secrets`` did."""

    users: int
    reencrypted: int
    key_id: str


def rotate_totp_secrets(client: redis.Redis, keys: Keys, ring: KeyRing) -> Rotation:
    """See :meth:`shared.redis.directory.Directory.rotate_totp_secrets`."""
    usernames = sorted(as_text(u) for u in client.smembers(keys.users))
    reencrypted = 0
    for username in usernames:
        try:
            reencrypted += _reencrypt(client, keys, ring, username)
        except UserRecordInvalid as e:
            raise DirectoryError(
                f"the record of {username!r} does not verify ({e}); is its key in "
                f"B2BPAY_TOTP_KEYS, or is it not migrated yet (b2bpay admin migrate-users "
                "--trust-unsealed)? "
                f"{reencrypted} re-encrypted so far"
            ) from None
    if users_migrated(client, keys, lambda: ring):
        _mark_users_migrated(client, keys, ring)
    return Rotation(len(usernames), reencrypted, ring.current_id)


def _reencrypt(client: redis.Redis, keys: Keys, ring: KeyRing, username: str) -> bool:
    changed = False

    def under_current_key(user: User, stored: dict[str, str]) -> dict[str, str] | None:
        nonlocal changed
        sealed_by = {ring.key_id_of(stored[TOTP_FIELD]), ring.key_id_of(stored[MAC_FIELD])}
        if sealed_by == {ring.current_id}:
            return None
        changed = True
        return sealed_record(ring, user, ring.encrypt(user.totp_secret, bound(user)))

    update_record(client, keys.user(username), lambda: ring, username, under_current_key)
    return changed


def migrate_users(
    client: redis.Redis, keys: Keys, ring: KeyRing, trust_unsealed: bool
) -> Migration:
    """See :meth:`shared.redis.directory.Directory.migrate_users`."""
    trusting = trust_unsealed and not users_migrated(client, keys, lambda: ring)
    usernames = sorted(as_text(u) for u in client.smembers(keys.users))
    outcomes: dict[str, list[str]] = {"migrated": [], "refused": [], "unsealed": []}
    for username in usernames:
        outcome = _migrate(client, keys, ring, username, trusting)
        outcomes.setdefault(outcome, []).append(username)
    if trusting or not outcomes["unsealed"]:
        # From here on nothing unsealed is trusted, whatever the flag says.
        _mark_users_migrated(client, keys, ring)
    return Migration(
        len(usernames),
        tuple(outcomes["migrated"]),
        tuple(outcomes["refused"]),
        tuple(outcomes["unsealed"]),
    )


def users_migrated(client: redis.Redis, keys: Keys, ring_of: RingOf) -> bool:
    """Whether the user records were migrated (a marker whose MAC verifies)."""
    stored = client.get(keys.users_migrated)
    done_at, _, mac = as_text(stored or b"").partition("|")
    return bool(done_at) and ring_of().check_mac(USERS_MIGRATED_PURPOSE, done_at.encode(), mac)


def _mark_users_migrated(client: redis.Redis, keys: Keys, ring: KeyRing) -> None:
    """Record (or seal again under the current key) when the users were migrated."""
    stored = as_text(client.get(keys.users_migrated) or b"")
    done_at = stored.partition("|")[0] if users_migrated(client, keys, lambda: ring) else _now()
    mac = ring.seal_mac(USERS_MIGRATED_PURPOSE, done_at.encode())
    client.set(keys.users_migrated, f"{done_at}|{mac}")


def _migrate(client: redis.Redis, keys: Keys, ring: KeyRing, username: str, trusting: bool) -> str:
    key = keys.user(username)
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw: dict[Any, Any] = pipe.hgetall(key)
                text = {as_text(k): as_text(v) for k, v in raw.items()}
                if not text:
                    pipe.unwatch()
                    return "absent"
                if MAC_FIELD in text:
                    pipe.unwatch()
                    try:
                        verified(lambda: ring, username, raw)
                    except UserRecordInvalid:
                        return "refused"
                    return "current"
                if not trusting:
                    pipe.unwatch()
                    return "unsealed"
                user = unsealed_user(ring, username, text)
                if user is None:
                    pipe.unwatch()
                    return "refused"
                record = sealed_record(ring, user, ring.encrypt(user.totp_secret, bound(user)))
                pipe.multi()
                pipe.hset(key, mapping={k: v for k, v in record.items()})
                pipe.hdel(key, LEGACY_TOTP_FIELD)
                pipe.execute()
                return "migrated"
            except redis.WatchError:
                continue


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
