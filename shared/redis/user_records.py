"""A user's record in Redis, sealed: what it holds, its MAC, its encrypted TOTP secret.

A user's TOTP secret is stored only encrypted (AES-256-GCM, :mod:`shared.security.keyring`,
bound to the username, enterprise and role); :class:`User` carries it decrypted, for the
one-time-code check.

Every user record carries a MAC (HMAC-SHA-256 under a key derived from the TOTP key ring,
which is not in Redis) over username, enterprise, role, active flag, password hash and sealed
secret: a record planted, moved to another enterprise or role, re-enabled or given another
password hash by a Redis writer does not verify, and is read as no user at all. What the MAC
does not prove: that a record was not deleted, nor replaced by an older sealed version of
itself (e.g. an earlier "active" state or password hash of the same user).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import redis

from shared.domain.parties import ROLES, Role, User
from shared.redis.reference_data import DirectoryError
from shared.redis.replies import as_text
from shared.security.keyring import CryptoError, KeyRing

#: The user hash field holding the encrypted TOTP secret.
TOTP_FIELD = "totp_secret_enc"
#: Where secrets stood in plain before they were encrypted at rest. Never read to check a
#: code: ``b2bpay admin migrate-users`` moves them into ``TOTP_FIELD`` once.
LEGACY_TOTP_FIELD = "totp_secret"
#: The user hash field holding the record's MAC, ``<key id>:<hex>``.
MAC_FIELD = "mac"
#: HKDF info of the user-record MAC key: distinct from every other use of the TOTP keys.
USER_MAC_PURPOSE = b"b2bpay.user-record.v1"
#: Associated data version tag of a TOTP secret bound to username, enterprise and role.
_BINDING = "b2bpay.totp-secret.v2"

#: The TOTP key ring, asked for only when it is needed: a record that is not even shaped like
#: a sealed one is invalid whether or not this process has the keys.
RingOf = Callable[[], KeyRing]


class UserRecordInvalid(DirectoryError):
    """Raised when a user record fails its integrity check: no MAC, a MAC that does not
    verify under the TOTP key ring, or a secret that does not decrypt bound to the user."""


def verified(ring_of: RingOf, username: str, raw: dict[Any, Any]) -> User:
    """The user a raw record stands for, if its MAC verifies under a key of the ring and
    its secret decrypts bound to this username, enterprise and role."""
    text = {as_text(k): as_text(v) for k, v in raw.items()}
    sealed_mac = text.get(MAC_FIELD)
    role = text.get("role", "")
    if sealed_mac is None or role not in ROLES or text.get("active") not in ("0", "1"):
        raise UserRecordInvalid(f"user {username!r}: not a sealed record")
    ring = ring_of()
    if not ring.check_mac(USER_MAC_PURPOSE, _record_message(username, text), sealed_mac):
        raise UserRecordInvalid(f"user {username!r}: record MAC does not verify")
    user = User(
        username=username,
        enterprise_id=text.get("enterprise_id", ""),
        role=Role(role),  # checked against ROLES above
        password_hash=text.get("password_hash", ""),
        totp_secret="",
        active=text["active"] == "1",
    )
    try:
        secret = ring.decrypt(text.get(TOTP_FIELD, ""), bound(user))
    except CryptoError:
        raise UserRecordInvalid(f"user {username!r}: secret does not decrypt") from None
    return replace(user, totp_secret=secret)


def sealed_record(ring: KeyRing, user: User, sealed_secret: str) -> dict[str, str]:
    """The Redis hash of ``user`` with ``sealed_secret``, MAC included."""
    record = {
        "enterprise_id": user.enterprise_id,
        "role": user.role,
        "active": "1" if user.active else "0",
        "password_hash": user.password_hash,
        TOTP_FIELD: sealed_secret,
    }
    record[MAC_FIELD] = ring.seal_mac(USER_MAC_PURPOSE, _record_message(user.username, record))
    return record


def update_record(
    client: redis.Redis,
    key: str,
    ring_of: RingOf,
    username: str,
    change: Callable[[User, dict[str, str]], dict[str, str] | None],
) -> bool:
    """Apply ``change`` (verified user, stored fields -> new record or None for "leave as
    it is") atomically; False if there is no such user; :class:`UserRecordInvalid` if
    the record fails its check (a tampered record is never re-sealed)."""
    with client.pipeline() as pipe:
        while True:
            try:
                # WATCH: if the user changes meanwhile, the write fails and we start over.
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw: dict[Any, Any] = pipe.hgetall(key)
                if not raw:
                    pipe.unwatch()
                    return False
                user = verified(ring_of, username, raw)
                record = change(user, {as_text(k): as_text(v) for k, v in raw.items()})
                if record is None:
                    pipe.unwatch()
                    return True
                pipe.multi()
                pipe.hset(key, mapping={k: v for k, v in record.items()})
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def unsealed_user(ring: KeyRing, username: str, text: dict[str, str]) -> User | None:
    """A record from before record MACs, as a user; None if it is not one."""
    role = text.get("role", "")
    enterprise_id = text.get("enterprise_id", "")
    if role not in ROLES or not enterprise_id or not text.get("password_hash"):
        return None
    user = User(
        username,
        enterprise_id,
        Role(role),  # checked against ROLES above
        text["password_hash"],
        "",
        text.get("active", "1") == "1",
    )
    sealed = text.get(TOTP_FIELD)
    if sealed is None:
        plain = text.get(LEGACY_TOTP_FIELD)
        return replace(user, totp_secret=plain) if plain else None
    for bound_to in (bound(user), username):
        try:
            return replace(user, totp_secret=ring.decrypt(sealed, bound_to))
        except CryptoError:
            continue
    return None


def bound(user: User) -> str:
    """The associated data a user's secret is sealed with: moved onto another user, another
    enterprise or another role, it no longer decrypts."""
    return json.dumps([_BINDING, user.username, user.enterprise_id, user.role])


def _record_message(username: str, record: dict[str, str]) -> bytes:
    """The one byte string a user record's MAC covers (JSON, fixed field order)."""
    fields = [
        "b2bpay.user-record.v1",
        username,
        record.get("enterprise_id", ""),
        record.get("role", ""),
        record.get("active", ""),
        record.get("password_hash", ""),
        record.get(TOTP_FIELD, ""),
    ]
    return json.dumps(fields, separators=(",", ":")).encode()
