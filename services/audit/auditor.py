"""Reads the events stream with its own consumer group into the hash-chained audit log.

An entry is acknowledged only after it is chained, and the chain records which stream
entries it holds, so a crash loses nothing and chains nothing twice. Like the query
projector, a consumer takes over the entries of one that has been silent too long.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import redis
import structlog

from shared.audit import AuditKeys, AuditLog, audit_key_ring
from shared.bootstrap import Deps
from shared.keys import Keys
from shared.streams import as_text, stream_entries

GROUP = "audit"
#: A consumer silent for this long is presumed dead; its unacknowledged entries are taken over.
CLAIM_IDLE_MS = 30_000
log = structlog.get_logger()


def audit_log_of(deps: Deps) -> AuditLog:
    """The audit log of an installation, with its configured (or development) key ring."""
    configured = deps.settings.audit_keys.get_secret_value() if deps.settings.audit_keys else None
    ring: AuditKeys = audit_key_ring(deps.redis, deps.keys, configured)
    return AuditLog(deps.redis, deps.keys, ring)


class Auditor:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        audit: AuditLog,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> None:
        self._redis = client
        self._stream = keys.events
        self._audit = audit
        self._claim_idle_ms = claim_idle_ms
        self._consumer = consumer or f"audit-{socket.gethostname()}-{os.getpid()}"
        try:
            # From the very first event: the chain covers the stream from its start.
            self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _read(self, last_id: str, block_ms: int | None) -> int:
        reply = self._redis.xreadgroup(
            GROUP, self._consumer, {self._stream: last_id}, count=500, block=block_ms
        )
        entries = stream_entries(reply)
        for sid, body in entries:
            if body is None:
                # Not a status event; chained all the same, so that it is on record.
                log.warning("events stream entry without an event chained empty", stream_id=sid)
            self._audit.append(sid, (body or b"").decode("utf-8", errors="replace"))
        if entries:
            self._redis.xack(self._stream, GROUP, *[sid for sid, _ in entries])
        return len(entries)

    def _drain_pending(self) -> int:
        """Entries read but never acknowledged (by this consumer before a crash, or by one
        silent for longer than ``claim_idle_ms``) are chained now."""
        start = "0-0"
        while True:
            reply = self._redis.xautoclaim(
                self._stream, GROUP, self._consumer, self._claim_idle_ms, start, count=500
            )
            start = as_text(reply[0])
            if start == "0-0":
                break
        total = 0
        while (n := self._read("0", None)) > 0:
            total += n
        return total

    def catch_up(self) -> int:
        """Chain everything pending or new, without blocking; returns how many entries."""
        total = self._drain_pending()
        while (n := self._read(">", None)) > 0:
            total += n
        return total

    def run(self, stop: threading.Event, block_ms: int = 500) -> None:
        """Chain until ``stop`` is set. A Redis outage is waited out; anything else ends
        the auditor loudly (its process then exits non-zero)."""
        next_claim = 0.0
        log.info("auditor running", consumer=self._consumer)
        while not stop.is_set():
            try:
                if time.monotonic() >= next_claim:
                    self._drain_pending()
                    next_claim = time.monotonic() + self._claim_idle_ms / 1000
                self._read(">", block_ms)
            except redis.RedisError as error:
                log.warning(
                    "events stream or audit log unavailable; retrying", error=type(error).__name__
                )
                stop.wait(1.0)
