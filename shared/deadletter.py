"""The dead-letter queue: messages a stage could not decode or validate, kept with the
reason for an operator (``b2bpay dlq list|show|retry|purge``). Secrets are stripped before
a message is kept; an undecodable body is kept only as its size, hash and a short prefix."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from shared.keys import Keys
from shared.streams import as_text

SECRET_FIELDS = frozenset({"session", "otp", "password", "token"})
MAX_KEPT_BYTES = 8_192


def strip_secrets(payload: Any) -> Any:
    if isinstance(payload, dict):
        return {
            k: ("[removed]" if k in SECRET_FIELDS else strip_secrets(v)) for k, v in payload.items()
        }
    if isinstance(payload, list):
        return [strip_secrets(v) for v in payload]
    return payload


@dataclass(frozen=True)
class DeadLetter:
    dead_letter_id: str
    queue: str
    actor: str
    message_id: str
    reason: str
    at: float
    payload: Any
    retried: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dead_letter_id": self.dead_letter_id,
            "queue": self.queue,
            "actor": self.actor,
            "message_id": self.message_id,
            "reason": self.reason,
            "at": self.at,
            "payload": self.payload,
            "retried": self.retried,
        }


class DeadLetters:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys

    def add(self, queue: str, actor: str, message_id: str, reason: str, payload: Any) -> str:
        """Keep a message that will not be processed; returns its dead-letter id."""
        body = json.dumps(strip_secrets(payload), default=str)
        if len(body) > MAX_KEPT_BYTES:
            body = json.dumps(
                {"truncated": True, "size": len(body), "sha256": _digest(body.encode())}
            )
        return self._keep(queue, actor, message_id, reason, body)

    def add_undecodable(self, queue: str, message_id: str, reason: str, raw: bytes) -> str:
        """Keep the trace of a body that is not even a message: size, hash, a short prefix."""
        body = json.dumps(
            {
                "undecodable": True,
                "size": len(raw),
                "sha256": _digest(raw),
                "prefix": raw[:64].decode("utf-8", "replace"),
            }
        )
        return self._keep(queue, "?", message_id, reason, body)

    def _keep(self, queue: str, actor: str, message_id: str, reason: str, body: str) -> str:
        dead_letter_id = uuid.uuid4().hex[:16]
        now = time.time()
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(
            self._keys.dead_letter(dead_letter_id),
            mapping={
                "queue": queue,
                "actor": actor,
                "message_id": message_id,
                "reason": reason[:500],
                "at": now,
                "payload": body,
                "retried": 0,
            },
        )
        pipe.zadd(self._keys.dead_letters, {dead_letter_id: now})
        pipe.execute()
        return dead_letter_id

    def list(self, limit: int = 100) -> list[DeadLetter]:
        ids = self._redis.zrange(self._keys.dead_letters, 0, limit - 1)
        return [d for d in (self.get(as_text(i)) for i in ids) if d is not None]

    def get(self, dead_letter_id: str) -> DeadLetter | None:
        raw: dict[Any, Any] = self._redis.hgetall(self._keys.dead_letter(dead_letter_id))
        if not raw:
            return None
        f = {as_text(k): as_text(v) for k, v in raw.items()}
        return DeadLetter(
            dead_letter_id,
            f["queue"],
            f["actor"],
            f["message_id"],
            f["reason"],
            float(f["at"]),
            json.loads(f["payload"]),
            int(f.get("retried", "0")),
        )

    def remove(self, dead_letter_id: str) -> bool:
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._keys.dead_letter(dead_letter_id))
        pipe.zrem(self._keys.dead_letters, dead_letter_id)
        deleted, _ = pipe.execute()
        return bool(deleted)

    def count(self) -> int:
        return int(self._redis.zcard(self._keys.dead_letters))


class KeepFailedMessages(Middleware):
    """A message that failed for good (a bug, or a transient fault that outlasted every
    retry) goes to the dead-letter queue too, secrets stripped, for an operator to see and
    retry. dramatiq's own copy of it, secrets and all, is kept only briefly
    (``B2BPAY_DEAD_MESSAGE_TTL_MS``)."""

    def __init__(self, deadletters: DeadLetters) -> None:
        self._deadletters = deadletters

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or not message.failed:
            return
        payload = message.args[0] if len(message.args) == 1 else {"args": len(message.args)}
        self._deadletters.add(
            message.queue_name,
            message.actor_name,
            str(message.message_id),
            f"failed: {type(exception).__name__} (not retried any more)",
            payload,
        )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
