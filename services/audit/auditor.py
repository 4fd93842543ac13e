"""Reads the events stream with its own consumer group into the hash-chained audit log.

An entry is acknowledged only after it is chained, and the chain records which stream
entries it holds, so a crash loses nothing and chains nothing twice. Like the query
projector, a consumer takes over the entries of one that has been silent too long.
"""

from __future__ import annotations

import redis
import structlog

from shared.app.deps import Deps
from shared.redis.audit import AuditLog
from shared.redis.group_consumer import CLAIM_IDLE_MS, Entries, GroupConsumer
from shared.redis.keys import Keys
from shared.redis.server_keys import audit_key_ring
from shared.security.audit_chain import AuditKeys

GROUP = "audit"
log = structlog.get_logger()


def audit_log_of(deps: Deps) -> AuditLog:
    """The audit log of an installation, with its configured (or development) key ring."""
    configured = deps.settings.audit_keys.get_secret_value() if deps.settings.audit_keys else None
    ring: AuditKeys = audit_key_ring(deps.redis, deps.keys, configured, deps.settings.dev_mode)
    return AuditLog(deps.redis, deps.keys, ring)


class Auditor(GroupConsumer):
    group = GROUP

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        audit: AuditLog,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> None:
        super().__init__(client, keys, consumer, claim_idle_ms)
        self._audit = audit

    def handle(self, entries: Entries) -> None:
        for sid, body in entries:
            if body is None:
                # Not a status event; chained all the same, so that it is on record.
                log.warning("events stream entry without an event chained empty", stream_id=sid)
            self._audit.append(sid, (body or b"").decode("utf-8", errors="replace"))
