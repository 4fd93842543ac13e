"""What an operator needs to see of the whole installation, read from Redis at the moment it
is asked for: each queue's depth and the age of its next message, each reader of the events
stream's lag, and the dead letters. Read by the ``/metrics`` collectors
(:mod:`shared.metrics.collectors`) and by ``b2bpay top``.

Every read is bounded: a fixed number of commands per queue, per consumer group and per
queue's dead letters, never KEYS or SCAN, so its cost does not grow with the number of
payments or messages.

The queues are read through a :class:`QueueProbe`: :class:`RedisQueueProbe` knows dramatiq's
layout on Redis; :mod:`shared.metrics.rabbitmq_queues` asks RabbitMQ instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any, Protocol

import redis

from shared.redis.keys import Keys
from shared.redis.replies import as_text

#: Most consumer groups reported: any subscriber may create its own group on the stream.
MAX_GROUPS = 50


@dataclass(frozen=True)
class QueueState:
    """One queue of the stages, as its broker holds it now."""

    queue: str
    #: Messages waiting to be fetched.
    ready: int
    #: Retries waiting for their delay to pass (dramatiq's delay queue ``<queue>.DQ``).
    delayed: int
    #: Fetched by a worker (prefetched or being handled) and not yet acknowledged; None
    #: when the broker does not say.
    in_flight: int | None = None
    #: Seconds since the message next in line was first enqueued; None when the queue is
    #: empty or the broker does not say.
    oldest_age_seconds: float | None = None


class QueueProbe(Protocol):
    """Reads the stages' queues from their broker."""

    def read(self, queues: Sequence[str]) -> list[QueueState]: ...


#: Every queue's lengths and next message, in one round trip (see the script).
_READ_QUEUES = resources.files("shared.metrics").joinpath("read_queues.lua").read_text()


class RedisQueueProbe:
    """dramatiq's queues on Redis, under the broker's namespace."""

    def __init__(
        self, client: redis.Redis, namespace: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._namespace = namespace
        self._clock = clock
        self._script = client.register_script(_READ_QUEUES)

    def read(self, queues: Sequence[str]) -> list[QueueState]:
        replies: list[Any] = self._script(keys=[], args=[self._namespace, *queues])
        now = self._clock()
        states = []
        for queue, (ready, bodies, delayed, head) in zip(queues, replies, strict=True):
            states.append(
                QueueState(
                    queue=queue,
                    ready=int(ready),
                    delayed=int(delayed),
                    in_flight=max(int(bodies) - int(ready), 0),
                    oldest_age_seconds=_age(head, now),
                )
            )
        return states


def _age(body: bytes | str, now: float) -> float | None:
    """Seconds since a dramatiq message was first enqueued (its ``message_timestamp``, in
    ms, which a retry keeps), or None for no message or one that is not JSON."""
    if not body:
        return None
    try:
        stamp = json.loads(body)["message_timestamp"]
        return max(now - float(stamp) / 1000, 0.0)
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class GroupState:
    """One consumer group of the events stream (query, audit, relay, webhooks, or a
    subscriber's own)."""

    group: str
    consumers: int
    #: Entries delivered to the group's consumers and not yet acknowledged.
    pending: int
    #: Entries not yet delivered to the group; None when Redis cannot tell (after
    #: entries were deleted from the middle of the stream).
    lag: int | None
    #: Seconds since the oldest entry not yet delivered to the group was written; 0 when
    #: it has read everything.
    lag_seconds: float


@dataclass(frozen=True)
class SystemSnapshot:
    """The installation's queues, stream readers and dead letters at one moment."""

    at: float
    queues: list[QueueState]
    groups: list[GroupState]
    #: Entries on the events stream (trimmed by the sweeper past retention).
    stream_length: int
    #: Dead letters kept, per queue.
    dead_letters: dict[str, int]
    #: Dead letters dropped over the per-queue cap so far, per queue.
    dead_letters_dropped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_groups(client: redis.Redis, stream: str, now: float) -> list[GroupState]:
    """Every consumer group of ``stream`` (at most :data:`MAX_GROUPS`): XINFO GROUPS, then
    for each group that has not read everything one XRANGE of a single entry, for the
    time its oldest unread entry was written."""
    try:
        infos: list[dict[str, Any]] = client.xinfo_groups(stream)[:MAX_GROUPS]
    except redis.ResponseError as error:
        if "no such key" in str(error).lower():
            return []  # no event yet: no group either
        raise
    pipe = client.pipeline(transaction=False)
    for info in infos:
        pipe.xrange(stream, f"({as_text(info['last-delivered-id'])}", "+", count=1)
    firsts = pipe.execute()
    groups = []
    for info, first in zip(infos, firsts, strict=True):
        lag_seconds = 0.0
        if first:
            written_ms = int(as_text(first[0][0]).split("-")[0])
            lag_seconds = max(now - written_ms / 1000, 0.0)
        lag = info.get("lag")
        groups.append(
            GroupState(
                group=as_text(info["name"]),
                consumers=int(info["consumers"]),
                pending=int(info["pending"]),
                lag=None if lag is None else int(lag),
                lag_seconds=lag_seconds,
            )
        )
    return groups


def read_dead_letters(
    client: redis.Redis, keys: Keys, queues: Sequence[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Dead letters kept per queue (one ZCARD each) and dropped over the cap per queue."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.zcard(keys.dead_letters_of(queue))
    pipe.hgetall(keys.dead_letters_dropped)
    *counts, dropped = pipe.execute()
    kept = {queue: int(n) for queue, n in zip(queues, counts, strict=True)}
    return kept, {as_text(k): int(as_text(v)) for k, v in dropped.items() if as_text(k) in kept}


def read_system(
    client: redis.Redis,
    keys: Keys,
    probe: QueueProbe,
    queues: Sequence[str],
    clock: Callable[[], float] = time.time,
) -> SystemSnapshot:
    """The snapshot: queues through ``probe``, stream readers and dead letters from
    ``client`` (the Redis that holds the state)."""
    now = clock()
    kept, dropped = read_dead_letters(client, keys, queues)
    return SystemSnapshot(
        at=now,
        queues=probe.read(queues),
        groups=read_groups(client, keys.events, now),
        stream_length=int(client.xlen(keys.events)),
        dead_letters=kept,
        dead_letters_dropped=dropped,
    )
