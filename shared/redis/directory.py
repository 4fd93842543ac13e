"""Reference data and people: banks, enterprises with their contracts and accounts, users.

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

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import pyotp
import redis
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.domain.errors import B2bpayError
from shared.redis.keys import Keys
from shared.redis.replies import as_text
from shared.security.keyneeds import SETTING_OF, KeyNeed, MissingKeys
from shared.security.keyring import CryptoError, KeyRing

Role = Literal["applicant", "reviewer", "authorizer"]
ROLES: tuple[Role, ...] = ("applicant", "reviewer", "authorizer")
ISSUER = "b2bpay"
#: The user hash field holding the encrypted TOTP secret.
TOTP_FIELD = "totp_secret_enc"
#: Where secrets stood in plain before they were encrypted at rest. Never read to check a
#: code: ``b2bpay admin migrate-users`` moves them into ``TOTP_FIELD`` once.
LEGACY_TOTP_FIELD = "totp_secret"
#: The user hash field holding the record's MAC, ``<key id>:<hex>``.
MAC_FIELD = "mac"
#: HKDF info of the user-record MAC key: distinct from every other use of the TOTP keys.
USER_MAC_PURPOSE = b"b2bpay.user-record.v1"
#: HKDF info of the MAC key of the "users migrated" marker.
USERS_MIGRATED_PURPOSE = b"b2bpay.users-migrated.v1"
#: Associated data version tag of a TOTP secret bound to username, enterprise and role.
_BINDING = "b2bpay.totp-secret.v2"
#: An argon2id hash (default cost) of a random password nobody knows: a login for an unknown
#: user is checked against it, so it takes as long as one for a user who exists.
log = structlog.get_logger()
_NOBODY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$q1SWiv1WrdA7FXMSStE0Dw"
    "$SCP7dI7e+J0ea/hT4zqsyD2irZsdv+orJYsPKkUFHns"
)


class DirectoryError(B2bpayError):
    """Raised when reference data given by an operator is inconsistent (unknown bank, ...)."""


class UserRecordInvalid(DirectoryError):
    """Raised when a user record fails its integrity check: no MAC, a MAC that does not
    verify under the TOTP key ring, or a secret that does not decrypt bound to the user."""


@dataclass(frozen=True)
class Bank:
    code: str
    name: str
    b2b_enabled: bool


@dataclass(frozen=True)
class Enterprise:
    enterprise_id: str
    name: str
    eligible: bool
    banks: tuple[str, ...]
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class User:
    username: str
    enterprise_id: str
    role: Role
    password_hash: str = field(repr=False)
    #: Decrypted; never stored in plain, never logged.
    totp_secret: str = field(repr=False)
    active: bool = True


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


class Directory:
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
        self._redis = client
        self._keys = keys
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

    # -- banks ---------------------------------------------------------------------------
    def add_bank(self, code: str, name: str, b2b_enabled: bool) -> Bank:
        bank = Bank(code, name, b2b_enabled)
        self._redis.hset(self._keys.bank(code), mapping={"name": name, "b2b": int(b2b_enabled)})
        self._redis.sadd(self._keys.banks, code)
        return bank

    def bank(self, code: str) -> Bank | None:
        raw: dict[Any, Any] = self._redis.hgetall(self._keys.bank(code))
        if not raw:
            return None
        return Bank(code, as_text(raw[b"name"]), raw[b"b2b"] == b"1")

    # -- enterprises ---------------------------------------------------------------------
    def add_enterprise(
        self, enterprise_id: str, name: str, banks: list[str], accounts: list[str], eligible: bool
    ) -> Enterprise:
        unknown = [code for code in banks if self.bank(code) is None]
        if unknown:
            raise DirectoryError(f"unknown bank(s): {', '.join(unknown)}; add them first")
        enterprise = Enterprise(enterprise_id, name, eligible, tuple(banks), tuple(accounts))
        self._redis.hset(
            self._keys.enterprise(enterprise_id),
            mapping={
                "name": name,
                "eligible": int(eligible),
                "banks": json.dumps(sorted(set(banks))),
                "accounts": json.dumps(sorted(set(accounts))),
            },
        )
        self._redis.sadd(self._keys.enterprises, enterprise_id)
        return enterprise

    def enterprise(self, enterprise_id: str) -> Enterprise | None:
        raw: dict[Any, Any] = self._redis.hgetall(self._keys.enterprise(enterprise_id))
        if not raw:
            return None
        return Enterprise(
            enterprise_id,
            as_text(raw[b"name"]),
            raw[b"eligible"] == b"1",
            tuple(json.loads(raw[b"banks"])),
            tuple(json.loads(raw[b"accounts"])),
        )

    # -- users ---------------------------------------------------------------------------
    def add_user(
        self, username: str, enterprise_id: str, role: Role, password: str
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
        user = User(username, enterprise_id, role, self._hasher.hash(password), secret)
        record = self._sealed_record(user, self.totp_keys.encrypt(secret, _bound(user)))
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
        if not raw:
            return None
        return self._verify(username, raw)

    def _verify(self, username: str, raw: dict[Any, Any]) -> User:
        """The user a raw record stands for, if its MAC verifies under a key of the ring and
        its secret decrypts bound to this username, enterprise and role."""
        text = {as_text(k): as_text(v) for k, v in raw.items()}
        sealed_mac = text.get(MAC_FIELD)
        role = text.get("role", "")
        if sealed_mac is None or role not in ROLES or text.get("active") not in ("0", "1"):
            raise UserRecordInvalid(f"user {username!r}: not a sealed record")
        if not self.totp_keys.check_mac(
            USER_MAC_PURPOSE, _record_message(username, text), sealed_mac
        ):
            raise UserRecordInvalid(f"user {username!r}: record MAC does not verify")
        user = User(
            username=username,
            enterprise_id=text.get("enterprise_id", ""),
            role=role,  # checked against ROLES above
            password_hash=text.get("password_hash", ""),
            totp_secret="",
            active=text["active"] == "1",
        )
        try:
            secret = self.totp_keys.decrypt(text.get(TOTP_FIELD, ""), _bound(user))
        except CryptoError:
            raise UserRecordInvalid(f"user {username!r}: secret does not decrypt") from None
        return replace(user, totp_secret=secret)

    def _sealed_record(self, user: User, sealed_secret: str) -> dict[str, str]:
        """The Redis hash of ``user`` with ``sealed_secret``, MAC included."""
        record = {
            "enterprise_id": user.enterprise_id,
            "role": user.role,
            "active": "1" if user.active else "0",
            "password_hash": user.password_hash,
            TOTP_FIELD: sealed_secret,
        }
        record[MAC_FIELD] = self.totp_keys.seal_mac(
            USER_MAC_PURPOSE, _record_message(user.username, record)
        )
        return record

    def _update(
        self, username: str, change: Callable[[User, dict[str, str]], dict[str, str] | None]
    ) -> bool:
        """Apply ``change`` (verified user, stored fields -> new record or None for "leave as
        it is") atomically; False if there is no such user; :class:`UserRecordInvalid` if
        the record fails its check (a tampered record is never re-sealed)."""
        key = self._keys.user(username)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    # WATCH: if the user changes meanwhile, the write fails and we start over.
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw: dict[Any, Any] = pipe.hgetall(key)
                    if not raw:
                        pipe.unwatch()
                        return False
                    user = self._verify(username, raw)
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

    def set_active(self, username: str, active: bool) -> bool:
        """Enable or disable a user (and seal the record again); False if there is no such
        user. A disabled user can neither log in nor use a session (every stage checks, at
        every command). A record that fails its check raises :class:`UserRecordInvalid`."""
        return self._update(
            username,
            lambda user, stored: self._sealed_record(
                replace(user, active=active), stored[TOTP_FIELD]
            ),
        )

    def rotate_totp_secrets(self) -> Rotation:
        """Re-encrypt every user's TOTP secret and re-seal the record under the current key.
        Idempotent: what is current stays as it is. Stops at a record that does not verify
        (tampered, sealed under a key the ring lacks, or never migrated)."""
        ring = self.totp_keys
        usernames = sorted(as_text(u) for u in self._redis.smembers(self._keys.users))
        reencrypted = 0
        for username in usernames:
            try:
                reencrypted += self._reencrypt(ring, username)
            except UserRecordInvalid as e:
                raise DirectoryError(
                    f"the record of {username!r} does not verify ({e}); is its key in "
                    f"B2BPAY_TOTP_KEYS, or is it not migrated yet (b2bpay admin migrate-users "
                    "--trust-unsealed)? "
                    f"{reencrypted} re-encrypted so far"
                ) from None
        if self.users_migrated():
            self._mark_users_migrated(ring)
        return Rotation(len(usernames), reencrypted, ring.current_id)

    def _reencrypt(self, ring: KeyRing, username: str) -> bool:
        changed = False

        def under_current_key(user: User, stored: dict[str, str]) -> dict[str, str] | None:
            nonlocal changed
            sealed_by = {ring.key_id_of(stored[TOTP_FIELD]), ring.key_id_of(stored[MAC_FIELD])}
            if sealed_by == {ring.current_id}:
                return None
            changed = True
            return self._sealed_record(user, ring.encrypt(user.totp_secret, _bound(user)))

        self._update(username, under_current_key)
        return changed

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
        trusting = trust_unsealed and not self.users_migrated()
        usernames = sorted(as_text(u) for u in self._redis.smembers(self._keys.users))
        outcomes: dict[str, list[str]] = {"migrated": [], "refused": [], "unsealed": []}
        for username in usernames:
            outcome = self._migrate(ring, username, trusting)
            outcomes.setdefault(outcome, []).append(username)
        if trusting or not outcomes["unsealed"]:
            # From here on nothing unsealed is trusted, whatever the flag says.
            self._mark_users_migrated(ring)
        return Migration(
            len(usernames),
            tuple(outcomes["migrated"]),
            tuple(outcomes["refused"]),
            tuple(outcomes["unsealed"]),
        )

    def users_migrated(self) -> bool:
        """Whether the user records were migrated (a marker whose MAC verifies)."""
        stored = self._redis.get(self._keys.users_migrated)
        done_at, _, mac = as_text(stored or b"").partition("|")
        return bool(done_at) and self.totp_keys.check_mac(
            USERS_MIGRATED_PURPOSE, done_at.encode(), mac
        )

    def _mark_users_migrated(self, ring: KeyRing) -> None:
        """Record (or seal again under the current key) when the users were migrated."""
        stored = as_text(self._redis.get(self._keys.users_migrated) or b"")
        done_at = stored.partition("|")[0] if self.users_migrated() else _now()
        mac = ring.seal_mac(USERS_MIGRATED_PURPOSE, done_at.encode())
        self._redis.set(self._keys.users_migrated, f"{done_at}|{mac}")

    def _migrate(self, ring: KeyRing, username: str, trusting: bool) -> str:
        key = self._keys.user(username)
        with self._redis.pipeline() as pipe:
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
                            self._verify(username, raw)
                        except UserRecordInvalid:
                            return "refused"
                        return "current"
                    if not trusting:
                        pipe.unwatch()
                        return "unsealed"
                    user = self._unsealed_user(ring, username, text)
                    if user is None:
                        pipe.unwatch()
                        return "refused"
                    record = self._sealed_record(user, ring.encrypt(user.totp_secret, _bound(user)))
                    pipe.multi()
                    pipe.hset(key, mapping={k: v for k, v in record.items()})
                    pipe.hdel(key, LEGACY_TOTP_FIELD)
                    pipe.execute()
                    return "migrated"
                except redis.WatchError:
                    continue

    @staticmethod
    def _unsealed_user(ring: KeyRing, username: str, text: dict[str, str]) -> User | None:
        """A record from before record MACs, as a user; None if it is not one."""
        role = text.get("role", "")
        enterprise_id = text.get("enterprise_id", "")
        if role not in ROLES or not enterprise_id or not text.get("password_hash"):
            return None
        user = User(
            username,
            enterprise_id,
            role,  # checked against ROLES above
            text["password_hash"],
            "",
            text.get("active", "1") == "1",
        )
        sealed = text.get(TOTP_FIELD)
        if sealed is None:
            plain = text.get(LEGACY_TOTP_FIELD)
            return replace(user, totp_secret=plain) if plain else None
        for bound_to in (_bound(user), username):
            try:
                return replace(user, totp_secret=ring.decrypt(sealed, bound_to))
            except CryptoError:
                continue
        return None

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


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bound(user: User) -> str:
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
