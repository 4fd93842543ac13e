"""The dead-letter queue: messages a stage could not decode or validate, kept with the
reason for an operator (``b2bpay dlq list|show|retry|purge``). Secrets are stripped before
a message is kept (by key name, at any depth); an undecodable body is kept only as its size
and SHA-256 hash."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
import structlog
from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.errors import ActorNotFound
from dramatiq.middleware import Middleware

from shared.redis.keys import Keys
from shared.redis.replies import as_text
from shared.security.secret_names import is_secret_name

REMOVED = "[removed]"
MAX_KEPT_BYTES = 8_192
log = structlog.get_logger()


def strip_secrets(payload: Any) -> Any:
    """``payload`` with the value of every secret-named key
    (:func:`~shared.security.secret_names.is_secret_name`) replaced, in dicts inside lists
    inside dicts, at any depth. It cannot know a secret sent under an innocent name, or a
    bare string in a list."""
    if isinstance(payload, dict):
        return {k: (REMOVED if is_secret_name(k) else strip_secrets(v)) for k, v in payload.items()}
    if isinstance(payload, list | tuple):
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


#: Drops the oldest dead letters of one queue beyond the cap, in one step (see the script).
_CAP = resources.files("shared.redis").joinpath("deadletter_cap.lua").read_text()
DEFAULT_MAX_PER_QUEUE = 10_000


class DeadLetters:
    def __init__(
        self, client: redis.Redis, keys: Keys, max_per_queue: int = DEFAULT_MAX_PER_QUEUE
    ) -> None:
        self._redis = client
        self._keys = keys
        self._max_per_queue = max_per_queue
        self._cap = client.register_script(_CAP)

    def add(self, queue: str, actor: str, message_id: str, reason: str, payload: Any) -> str:
        """Keep a message that will not be processed; returns its dead-letter id."""
        body = json.dumps(strip_secrets(payload), default=str)
        if len(body) > MAX_KEPT_BYTES:
            body = json.dumps(
                {"truncated": True, "size": len(body), "sha256": _digest(body.encode())}
            )
        return self._keep(queue, actor, message_id, reason, body)

    def add_undecodable(self, queue: str, message_id: str, reason: str, raw: bytes) -> str:
        """Keep the trace of a body that is not even a message: its size and hash, never a
        byte of it (a body that is not a message cannot be stripped of its secrets)."""
        body = json.dumps({"undecodable": True, "size": len(raw), "sha256": _digest(raw)})
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
        pipe.zadd(self._keys.dead_letters_of(queue), {dead_letter_id: now})
        pipe.execute()
        self._enforce_cap(queue)
        return dead_letter_id

    def _enforce_cap(self, queue: str) -> None:
        """Keep at most ``max_per_queue`` letters of ``queue``: one sender flooding a queue
        with garbage must not grow Redis for ever. Dropping is loud (a warning an alert can
        match, and a count per queue), never silent."""
        dropped = self._cap(
            keys=[
                self._keys.dead_letters_of(queue),
                self._keys.dead_letters,
                self._keys.dead_letters_dropped,
            ],
            args=[self._max_per_queue, self._keys.dead_letter(""), queue],
        )
        if dropped:
            log.warning(
                "dead letters over cap",
                alert=True,
                queue=queue,
                cap=self._max_per_queue,
                dropped=len(dropped),
                dropped_total=self.dropped().get(queue, 0),
            )

    def dropped(self) -> dict[str, int]:
        """Per queue, how many dead letters were dropped over the cap so far."""
        raw: dict[Any, Any] = self._redis.hgetall(self._keys.dead_letters_dropped)
        return {as_text(k): int(as_text(v)) for k, v in raw.items()}

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
        queue = self._redis.hget(self._keys.dead_letter(dead_letter_id), "queue")
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._keys.dead_letter(dead_letter_id))
        pipe.zrem(self._keys.dead_letters, dead_letter_id)
        if queue is not None:
            pipe.zrem(self._keys.dead_letters_of(as_text(queue)), dead_letter_id)
        deleted = pipe.execute()[0]
        return bool(deleted)

    def count(self) -> int:
        return int(self._redis.zcard(self._keys.dead_letters))


#: The longest actor name a dead letter keeps (an unknown one is any sender's text).
MAX_ACTOR_NAME = 128


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
        self._keep(message, exception)

    def before_nack(self, broker: Broker, message: MessageProxy) -> None:
        """A message for an actor no worker has (a broker writer named it) never reaches
        ``process_message``: dramatiq's consumer fails it on arrival and rejects it to its XQ.
        It is kept here too, like any failed message."""
        exception = getattr(message, "_exception", None)
        if isinstance(exception, ActorNotFound):
            self._keep(message, exception)

    def _keep(self, message: MessageProxy, exception: BaseException) -> None:
        payload = message.args[0] if len(message.args) == 1 else {"args": len(message.args)}
        self._deadletters.add(
            message.queue_name,
            # Any sender's text for an unknown actor: kept short.
            str(message.actor_name)[:MAX_ACTOR_NAME],
            str(message.message_id),
            f"failed: {type(exception).__name__} (not retried any more)",
            payload,
        )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
