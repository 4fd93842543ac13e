"""The directory in Redis: reference data (:mod:`shared.redis.reference_data`: banks,
enterprises with their contracts and accounts) and people, whose records are sealed
(:mod:`shared.redis.user_records`: encrypted TOTP secret, record MAC) and kept up as a whole
by :mod:`shared.redis.user_migration`. The parties themselves and their rules are
:mod:`shared.domain.parties`. :class:`Directory` is what the rest of b2bpay uses.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

import pyotp
import redis
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.client import Pipeline

from shared.domain.parties import ROLES, Role, User
from shared.redis import user_migration
from shared.redis.keys import Keys
from shared.redis.reference_data import DirectoryError, ReferenceData
from shared.redis.user_migration import Migration, Rotation
from shared.redis.user_records import (
    LEGACY_TOTP_FIELD,
    MAC_FIELD,
    TOTP_FIELD,
    UserRecordInvalid,
    bound,
    sealed_record,
    update_record,
    verified,
)
from shared.security.keyneeds import SETTING_OF, KeyNeed, MissingKeys
from shared.security.keyring import KeyRing

# Re-exported: callers know these as the directory's.
__all__ = [
    "LEGACY_TOTP_FIELD",
    "MAC_FIELD",
    "TOTP_FIELD",
    "Directory",
    "DirectoryError",
    "Migration",
    "Rotation",
    "UserRecordInvalid",
]

ISSUER = "b2bpay"
log = structlog.get_logger()
#: An argon2id hash (default cost) of a random password nobody knows: a login for an unknown
#: user is checked against it, so it takes as long as one for a user who exists.
_NOBODY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$q1SWiv1WrdA7FXMSStE0Dw"
    "$SCP7dI7e+J0ea/hT4zqsyD2irZsdv+orJYsPKkUFHns"
)


class Directory(ReferenceData):
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        hasher: PasswordHasher | None = None,
        totp_keys: KeyRing | None = None,
    ) -> None:
        """``totp_keys`` encrypts the TOTP secrets and keys the record MACs. Without it
        (until the composition root gives one with :meth:`use_totp_keys`), everything about
        users refuses with :class:`~shared.security.keyneeds.MissingKeys`; banks and enterprises
        need no key."""
        super().__init__(client, keys)
        self._hasher = hasher or PasswordHasher()
        self._ring = totp_keys

    def use_totp_keys(self, ring: KeyRing | None) -> None:
        """Give the key ring, unless one was given at construction."""
        if self._ring is None:
            self._ring = ring

    @property
    def totp_keys(self) -> KeyRing:
        if self._ring is None:
            raise MissingKeys([SETTING_OF[KeyNeed.TOTP]])
        return self._ring

    def _ring_of(self) -> KeyRing:
        return self.totp_keys

    # -- users ---------------------------------------------------------------------------
    def add_user(
        self, username: str, enterprise_id: str, role: str, password: str
    ) -> tuple[User, str]:
        """Create a user with an argon2id password hash and a fresh TOTP secret; returns the
        user and the ``otpauth://`` URI, which is shown once and never stored."""
        if role not in ROLES:
            raise DirectoryError(f"role must be one of {', '.join(ROLES)}")
        if self.enterprise(enterprise_id) is None:
            raise DirectoryError(f"unknown enterprise {enterprise_id!r}; add it first")
        if len(password) < 8:
            raise DirectoryError("password must have at least 8 characters")
        secret = pyotp.random_base32()
        user = User(username, enterprise_id, Role(role), self._hasher.hash(password), secret)
        ring = self.totp_keys
        record = sealed_record(ring, user, ring.encrypt(secret, bound(user)))
        key = self._keys.user(username)
        with self._redis.pipeline() as pipe:
            try:
                # WATCH + MULTI: the whole record appears at once, MAC included, so no reader
                # ever sees a half-written (and so unverifiable) user.
                pipe.watch(key)  # type: ignore[no-untyped-call]
                if pipe.exists(key):
                    raise DirectoryError(f"user {username!r} already exists")
                pipe.multi()
                pipe.hset(key, mapping={k: v for k, v in record.items()})
                pipe.sadd(self._keys.users, username)
                pipe.execute()
            except redis.WatchError:
                raise DirectoryError(f"user {username!r} already exists") from None
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
        return user, uri

    def user(self, username: str) -> User | None:
        """The user, only if the record verifies (its MAC, then its sealed secret); None for
        no user and for a record that fails (which is logged, by username only)."""
        try:
            return self.verified_user(username)
        except UserRecordInvalid:
            log.warning("user record fails its integrity check", username=username)
            return None

    def verified_user(self, username: str) -> User | None:
        """The user; None if there is none; :class:`UserRecordInvalid` if a record exists
        but fails its integrity check."""
        raw: dict[Any, Any] = self._redis.hgetall(self._keys.user(username))
        return self.user_in(username, raw)

    def read_user(self, pipe: Pipeline, username: str) -> None:
        """Queue the read :meth:`user_in` answers from (to share a round trip)."""
        pipe.hgetall(self._keys.user(username))

    def user_in(self, username: str, raw: dict[Any, Any]) -> User | None:
        """:meth:`verified_user` from a record already read."""
        if not raw:
            return None
        return verified(self._ring_of, username, raw)

    def set_active(self, username: str, active: bool) -> bool:
        """Enable or disable a user (and seal the record again); False if there is no such
        user. A disabled user can neither log in nor use a session (every stage checks, at
        every command). A record that fails its check raises :class:`UserRecordInvalid`."""
        return update_record(
            self._redis,
            self._keys.user(username),
            self._ring_of,
            username,
            lambda user, stored: sealed_record(
                self.totp_keys, replace(user, active=active), stored[TOTP_FIELD]
            ),
        )

    def rotate_totp_secrets(self) -> Rotation:
        """Re-encrypt every user's TOTP secret and re-seal the record under the current key.
        Idempotent: what is current stays as it is. Stops at a record that does not verify
        (tampered, sealed under a key the ring lacks, or never migrated)."""
        return user_migration.rotate_totp_secrets(self._redis, self._keys, self.totp_keys)

    def migrate_users(self, trust_unsealed: bool = False) -> Migration:
        """Once, when upgrading, with ``trust_unsealed``: seal every user record that has no
        MAC yet. A secret stored in plain is encrypted, one bound to the username only is
        bound again to username, enterprise and role, and the record gets its MAC. Trust on
        first use: run it before anyone could have written Redis.

        A record without a MAC is exactly what a Redis writer plants (or makes of a real
        user by deleting its MAC), so it is sealed only with ``trust_unsealed`` and only
        until the first such run has recorded its marker (sealed with a MAC); otherwise it
        is left as it is and reported in ``unsealed``. A deleted marker therefore re-opens
        nothing by itself: the operator must still ask for ``trust_unsealed``. Sealed
        records that verify are left as they are, and one that does not is never re-sealed
        (it is reported in ``refused``)."""
        ring = self.totp_keys
        return user_migration.migrate_users(self._redis, self._keys, ring, trust_unsealed)

    def users_migrated(self) -> bool:
        """Whether the user records were migrated (a marker whose MAC verifies)."""
        return user_migration.users_migrated(self._redis, self._keys, self._ring_of)

    def check_password(self, user: User, password: str) -> bool:
        """Constant-time argon2 verification; False on any mismatch."""
        try:
            return bool(self._hasher.verify(user.password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    def check_login(self, username: str, password: str) -> User | None:
        """The user, if the password is right and the user may log in (active); else None.

        An unknown user costs one argon2 verification too, so the time taken does not tell
        whether the user exists."""
        user = self.user(username)
        if user is None:
            with contextlib.suppress(VerificationError, InvalidHashError):
                self._hasher.verify(_NOBODY_HASH, password)
            return None
        if not self.check_password(user, password) or not user.active:
            return None
        return user
