"""Reference data and people: banks, enterprises with their contracts and accounts, users."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pyotp
import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.errors import B2bpayError
from shared.keys import Keys
from shared.streams import as_text

Role = Literal["applicant", "reviewer", "authorizer"]
ROLES: tuple[Role, ...] = ("applicant", "reviewer", "authorizer")
ISSUER = "b2bpay"


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
    password_hash: str
    totp_secret: str
    active: bool = True


class Directory:
    def __init__(
        self, client: redis.Redis, keys: Keys, hasher: PasswordHasher | None = None
    ) -> None:
        self._redis = client
        self._keys = keys
        self._hasher = hasher or PasswordHasher()

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
                "totp_secret": secret,
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
            totp_secret=as_text(raw[b"totp_secret"]),
            active=raw.get(b"active", b"1") == b"1",
        )

    def check_password(self, user: User, password: str) -> bool:
        """Constant-time argon2 verification; False on any mismatch."""
        try:
            return bool(self._hasher.verify(user.password_hash, password))
        except (VerificationError, InvalidHashError):
            return False
