"""Reference data and people: banks, enterprises with their contracts and accounts, users.

A user's TOTP secret is stored only encrypted (AES-256-GCM, :mod:`shared.crypto`, bound to the
username); :class:`User` carries it decrypted, for the one-time-code check.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pyotp
import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.crypto import CryptoError, KeyRing, totp_key_ring
from shared.errors import B2bpayError
from shared.keys import Keys
from shared.streams import as_text

Role = Literal["applicant", "reviewer", "authorizer"]
ROLES: tuple[Role, ...] = ("applicant", "reviewer", "authorizer")
ISSUER = "b2bpay"
#: The user hash field holding the encrypted TOTP secret.
TOTP_FIELD = "totp_secret_enc"
#: Where secrets stood in plain before they were encrypted at rest; read until
#: ``b2bpay admin rotate-totp-key`` moves them into ``TOTP_FIELD``.
LEGACY_TOTP_FIELD = "totp_secret"
#: An argon2id hash (default cost) of a random password nobody knows: a login for an unknown
#: user is checked against it, so it takes as long as one for a user who exists.
_NOBODY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$q1SWiv1WrdA7FXMSStE0Dw"
    "$SCP7dI7e+J0ea/hT4zqsyD2irZsdv+orJYsPKkUFHns"
)


class DirectoryError(B2bpayError):
    """Raised when reference data given by an operator is inconsistent (unknown bank, ...)."""


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
        """``totp_keys`` encrypts the TOTP secrets; without it, the development key kept in
        Redis is used (see :func:`shared.crypto.totp_key_ring`)."""
        self._redis = client
        self._keys = keys
        self._hasher = hasher or PasswordHasher()
        self._ring = totp_keys

    @property
    def totp_keys(self) -> KeyRing:
        if self._ring is None:
            self._ring = totp_key_ring(self._redis, self._keys, None)
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
        created = self._redis.hsetnx(self._keys.user(username), "enterprise_id", enterprise_id)
        if not created:
            raise DirectoryError(f"user {username!r} already exists")
        self._redis.hset(
            self._keys.user(username),
            mapping={
                "role": role,
                "password_hash": user.password_hash,
                TOTP_FIELD: self.totp_keys.encrypt(secret, username),
                "active": 1,
            },
        )
        self._redis.sadd(self._keys.users, username)
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
        return user, uri

    def user(self, username: str) -> User | None:
        raw: dict[Any, Any] = self._redis.hgetall(self._keys.user(username))
        if not raw or b"role" not in raw:
            return None
        role = as_text(raw[b"role"])
        if role not in ROLES:
            return None
        return User(
            username=username,
            enterprise_id=as_text(raw[b"enterprise_id"]),
            role=role,
            password_hash=as_text(raw[b"password_hash"]),
            totp_secret=self._totp_secret(username, raw),
            active=raw.get(b"active", b"1") == b"1",
        )

    def _totp_secret(self, username: str, raw: dict[Any, Any]) -> str:
        sealed = raw.get(TOTP_FIELD.encode())
        if sealed is not None:
            return self.totp_keys.decrypt(as_text(sealed), username)
        return as_text(raw[LEGACY_TOTP_FIELD.encode()])

    def set_active(self, username: str, active: bool) -> bool:
        """Enable or disable a user; False if there is no such user. A disabled user can
        neither log in nor use a session (every stage checks, at every command)."""
        if self.user(username) is None:
            return False
        self._redis.hset(self._keys.user(username), "active", int(active))
        return True

    def rotate_totp_secrets(self) -> Rotation:
        """Re-encrypt every user's TOTP secret under the current key (and encrypt any left in
        plain from before encryption at rest). Idempotent: what is current stays as it is."""
        ring = self.totp_keys
        usernames = sorted(as_text(u) for u in self._redis.smembers(self._keys.users))
        reencrypted = 0
        for username in usernames:
            try:
                reencrypted += self._reencrypt(ring, username)
            except CryptoError as e:
                raise DirectoryError(
                    f"cannot decrypt the TOTP secret of {username!r} ({e}); is its key in "
                    f"B2BPAY_TOTP_KEYS? {reencrypted} re-encrypted so far"
                ) from None
        return Rotation(len(usernames), reencrypted, ring.current_id)

    def _reencrypt(self, ring: KeyRing, username: str) -> bool:
        key = self._keys.user(username)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    # WATCH: if the user changes meanwhile, the write fails and we start over.
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw: dict[Any, Any] = pipe.hgetall(key)
                    sealed = raw.get(TOTP_FIELD.encode())
                    current = sealed is not None and (
                        ring.key_id_of(as_text(sealed)) == ring.current_id
                    )
                    if current or (sealed is None and LEGACY_TOTP_FIELD.encode() not in raw):
                        pipe.unwatch()
                        return False
                    secret = self._totp_secret(username, raw)
                    pipe.multi()
                    pipe.hset(key, TOTP_FIELD, ring.encrypt(secret, username))
                    pipe.hdel(key, LEGACY_TOTP_FIELD)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

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
