"""Reference data in Redis: banks, and enterprises with their bank contracts and accounts
(:mod:`shared.domain.parties`), mapped to and from their hashes. Read by
:class:`shared.redis.directory.Directory`, which adds the people; none of it needs a key."""

from __future__ import annotations

import json
from typing import Any

import redis
from redis.client import Pipeline

from shared.domain.errors import B2bpayError
from shared.domain.parties import Bank, Enterprise
from shared.redis.keys import Keys
from shared.redis.replies import as_text


class DirectoryError(B2bpayError):
    """Raised when reference data given by an operator is inconsistent (unknown bank, ...)."""


class ReferenceData:
    """Banks and enterprises in Redis."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys

    # -- banks ---------------------------------------------------------------------------
    def add_bank(self, code: str, name: str, b2b_enabled: bool) -> Bank:
        bank = Bank(code, name, b2b_enabled)
        self._redis.hset(self._keys.bank(code), mapping={"name": name, "b2b": int(b2b_enabled)})
        self._redis.sadd(self._keys.banks, code)
        return bank

    def bank(self, code: str) -> Bank | None:
        raw: dict[Any, Any] = self._redis.hgetall(self._keys.bank(code))
        return _bank_of(code, raw)

    def enterprise_and_bank(
        self, enterprise_id: str, code: str | None
    ) -> tuple[Enterprise | None, Bank | None]:
        """:meth:`enterprise` and (if ``code``) :meth:`bank`, in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        self.read_enterprise_and_bank(pipe, enterprise_id, code)
        return self.enterprise_and_bank_in(pipe.execute(), enterprise_id, code)

    def read_enterprise_and_bank(
        self, pipe: Pipeline, enterprise_id: str, code: str | None
    ) -> None:
        """Queue the reads :meth:`enterprise_and_bank_in` answers from."""
        pipe.hgetall(self._keys.enterprise(enterprise_id))
        if code is not None:
            pipe.hgetall(self._keys.bank(code))

    @staticmethod
    def enterprise_and_bank_in(
        replies: list[Any], enterprise_id: str, code: str | None
    ) -> tuple[Enterprise | None, Bank | None]:
        bank = _bank_of(code, replies[1]) if code is not None else None
        return _enterprise_of(enterprise_id, replies[0]), bank

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
        return _enterprise_of(enterprise_id, raw)


def _bank_of(code: str, raw: dict[Any, Any]) -> Bank | None:
    if not raw:
        return None
    return Bank(code, as_text(raw[b"name"]), raw[b"b2b"] == b"1")


def _enterprise_of(enterprise_id: str, raw: dict[Any, Any]) -> Enterprise | None:
    if not raw:
        return None
    return Enterprise(
        enterprise_id,
        as_text(raw[b"name"]),
        raw[b"eligible"] == b"1",
        tuple(json.loads(raw[b"banks"])),
        tuple(json.loads(raw[b"accounts"])),
    )
