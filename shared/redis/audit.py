"""The tamper-evident audit trail: every status event, chained with HMAC-SHA-256.

Every transition and every refusal is a status event on the events stream (the atomic
transition writes it together with the change). The audit consumer (``b2bpay worker
audit``, :mod:`services.audit.auditor`) reads that stream with a consumer group of its own
and appends each event, once, to a chain in Redis (``<prefix>audit:log``, a list). Entry
``n`` holds the event exactly as it stood on the stream, the stream entry's id, the id of the
key that sealed it, the previous entry's mac and its own mac:

    mac_n = HMAC-SHA-256(key[kid], JSON ["b2bpay.audit.v1", n, source_id, kid, mac_{n-1},
                                         event])                mac_0 = 64 zeros

``b2bpay audit verify`` recomputes the chain from the first entry and names the first entry
that is altered, missing, out of place, or whose link to its predecessor is broken.

What it proves: once an event is in the chain, nobody without the HMAC key can edit, delete,
reorder or insert entries without verification naming the first broken one, even with full
write access to Redis; the end of the chain is checked against the head record and,
stronger, against an anchor (a seq and mac an operator wrote down earlier, ``--anchor``).

What it does not prove: that the event stream itself was complete and honest (an event is
chained only when the consumer reads it, at most moments later; someone who writes Redis in
that window can change or delete it first); that entries after the last anchor were not cut
off by someone who also rewrote the head record; anything at all against whoever holds the
key. Without ``B2BPAY_AUDIT_KEYS`` the key is kept in Redis (development only), and then
anyone who can write Redis can rewrite the chain.

Growth: the chain (and its ``audit:sources`` index) is kept whole on purpose and is never
trimmed, since verification starts from the first entry; trimming it would need a verified
anchor to start from, which is not built. Archive it by copying the list to cold storage.
The events stream, by contrast, is trimmed (:mod:`shared.redis.trimming`), but never below an
event the ``audit`` group has not chained and acknowledged.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from importlib import resources

import redis

from shared.domain.errors import B2bpayError
from shared.redis.keys import Keys
from shared.redis.replies import as_text
from shared.security.audit_chain import (
    GENESIS_MAC,
    AuditEntry,
    AuditKeys,
    Break,
    Verification,
    sealed_message,
)

_SCRIPT = resources.files("shared.redis").joinpath("audit.lua").read_text()
_PAGE = 1000


class AuditError(B2bpayError):
    """Raised when the audit chain cannot be extended (its head keeps moving, or it holds
    an entry this code cannot read)."""


class AuditLog:
    """The chain in Redis: append (atomic, once per event) and verify."""

    def __init__(self, client: redis.Redis, keys: Keys, ring: AuditKeys) -> None:
        self._redis = client
        self._keys = keys
        self._ring = ring
        self._script = client.register_script(_SCRIPT)

    def head(self) -> tuple[int, str]:
        seq, mac = self._redis.hmget(self._keys.audit_head, ["seq", "mac"])
        return (int(seq), as_text(mac)) if seq is not None and mac is not None else (0, GENESIS_MAC)

    def append(self, source_id: str, event: str) -> int | None:
        """Chain the event read at ``source_id``; returns its seq, or None if that stream
        entry is chained already (a redelivery after a crash)."""
        kid = self._ring.current_id
        for _attempt in range(100):
            head_seq, head_mac = self.head()
            seq = head_seq + 1
            mac = self._ring.mac(kid, sealed_message(seq, source_id, kid, head_mac, event))
            assert mac is not None
            entry = AuditEntry(seq, source_id, kid, head_mac, mac, event)
            reply = self._script(
                keys=[self._keys.audit_log, self._keys.audit_head, self._keys.audit_sources],
                args=[source_id, head_seq, entry.to_json(), mac],
            )
            outcome = as_text(reply[0])
            if outcome == "ok":
                return seq
            if outcome == "duplicate":
                return None
            # "moved": another auditor appended first; chain onto the new head.
        raise AuditError("the audit chain's head kept moving; too many concurrent auditors")

    def entries(self) -> Iterator[bytes | str]:
        """Every raw entry, oldest first, read a page at a time."""
        start = 0
        while True:
            page: list[bytes | str] = self._redis.lrange(
                self._keys.audit_log, start, start + _PAGE - 1
            )
            yield from page
            if len(page) < _PAGE:
                return
            start += _PAGE

    def audited(self) -> int:
        """How many events stream entries are chained."""
        return int(self._redis.hlen(self._keys.audit_sources))

    def verify(self, anchor: tuple[int, str] | None = None) -> Verification:
        """Walk the chain from the first entry; the first problem found is named.

        ``anchor`` is a ``(seq, mac)`` recorded earlier (from a previous verification,
        kept outside Redis): the entry at that seq must still carry that mac."""
        head_seq, head_mac = self.head()
        prev = GENESIS_MAC
        position = 0
        anchor_seen = False
        for position, raw in enumerate(self.entries(), start=1):
            problem = self._check(position, raw, prev)
            if isinstance(problem, Break):
                return Verification(position - 1, head_seq, head_mac, problem)
            prev = problem.mac
            if anchor is not None and anchor[0] == position:
                anchor_seen = True
                if not hmac.compare_digest(anchor[1], problem.mac):
                    reason = (
                        f"entry {position} differs from the anchor recorded earlier: the chain "
                        "from there on was rewritten"
                    )
                    return Verification(
                        position, head_seq, head_mac, Break(position, position, reason)
                    )
        count = position
        if anchor is not None and not anchor_seen:
            reason = (
                f"entry {anchor[0]} of the anchor recorded earlier is missing: the chain was "
                f"cut off after entry {count}"
            )
            return Verification(count, head_seq, head_mac, Break(count + 1, None, reason))
        if head_seq != count or (count and not hmac.compare_digest(head_mac, prev)):
            reason = (
                f"the chain ends at entry {count} but its head records entry {head_seq}: "
                "entries were removed from the end, or the head was changed"
            )
            return Verification(count, head_seq, head_mac, Break(count + 1, None, reason))
        return Verification(count, head_seq, head_mac, None)

    def _check(self, position: int, raw: bytes | str, prev: str) -> AuditEntry | Break:
        try:
            entry = AuditEntry.from_json(raw)
        except (ValueError, TypeError):
            return Break(position, None, f"entry {position} does not read as an audit entry")
        if entry.seq != position:
            if entry.seq > position:
                reason = (
                    f"entry {position} is missing: entry {entry.seq} stands in its place "
                    "(deleted or moved)"
                )
            else:
                reason = f"entry {entry.seq} appears again, out of place, at position {position}"
            return Break(position, entry.seq, reason)
        if not hmac.compare_digest(entry.prev, prev):
            reason = (
                f"entry {position} does not link to entry {position - 1} (previous mac differs)"
            )
            return Break(position, entry.seq, reason)
        expected = self._ring.mac(
            entry.kid,
            sealed_message(entry.seq, entry.source_id, entry.kid, entry.prev, entry.event),
        )
        if expected is None:
            reason = f"entry {position} was sealed with key {entry.kid!r}, which is not in the ring"
            return Break(position, entry.seq, reason)
        if not hmac.compare_digest(expected, entry.mac):
            reason = f"entry {position} was altered: its mac does not match its content"
            return Break(position, entry.seq, reason)
        return entry
