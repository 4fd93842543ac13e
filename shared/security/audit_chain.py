"""The audit chain's arithmetic: its keys, the form of an entry, and what an entry's mac is
computed over (see :mod:`shared.redis.audit` for the chain kept in Redis, and why):

    mac_n = HMAC-SHA-256(key[kid], JSON ["b2bpay.audit.v1", n, source_id, kid, mac_{n-1},
                                         event])                mac_0 = 64 zeros
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shared.security.keyring import check_keys, parse_key_spec

VERSION = "b2bpay.audit.v1"
GENESIS_MAC = "0" * 64


class AuditKeys:
    """Named HMAC-SHA-256 keys of the audit chain; the first one seals new entries."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        self._keys = check_keys(keys)
        self.current_id = keys[0][0]

    @classmethod
    def parse(cls, spec: str) -> AuditKeys:
        return cls(parse_key_spec(spec))

    def mac(self, key_id: str, message: bytes) -> str | None:
        """The HMAC of ``message`` under ``key_id``, or None if the ring lacks that key."""
        key = self._keys.get(key_id)
        if key is None:
            return None
        return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    #: Position in the chain, from 1.
    seq: int
    #: The events stream id of the event.
    source_id: str
    #: The id of the key that sealed the entry.
    kid: str
    #: The previous entry's mac (:data:`GENESIS_MAC` for the first).
    prev: str
    mac: str
    #: The event, exactly as it stood on the stream (JSON text).
    event: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: bytes | str) -> AuditEntry:
        data = json.loads(raw)
        if not isinstance(data, dict) or set(data) != set(cls.__dataclass_fields__):
            raise ValueError("not an audit entry")
        entry = cls(**data)
        if not isinstance(entry.seq, int) or not all(
            isinstance(v, str)
            for v in (entry.source_id, entry.kid, entry.prev, entry.mac, entry.event)
        ):
            raise ValueError("not an audit entry")
        return entry


def sealed_message(seq: int, source_id: str, kid: str, prev: str, event: str) -> bytes:
    """What an entry's mac is computed over: a JSON array, so no field can bleed into the
    next."""
    fields: list[Any] = [VERSION, seq, source_id, kid, prev, event]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Break:
    """The first entry at which the chain does not verify."""

    #: 1-based position in the log where the problem shows.
    position: int
    #: The seq the entry there claims (None if it does not read as an entry, or is absent).
    seq: int | None
    reason: str


@dataclass(frozen=True)
class Verification:
    entries: int
    head_seq: int
    head_mac: str
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_mac": self.head_mac,
            "broken": asdict(self.broken) if self.broken else None,
        }
