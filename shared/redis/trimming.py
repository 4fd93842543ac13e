"""Trimming of the events stream: an entry is removed only once every consumer group has
read it and acknowledged it, and only once it is older than the retention setting.

What "read and acknowledged" means per group, from ``XINFO GROUPS`` and ``XPENDING``: every
entry up to the group's last-delivered id has been delivered, and every one of those below
the group's oldest pending (delivered, unacknowledged) entry is acknowledged. The stream is
cut below the lowest such point of every group and below ``now - retention``; nothing a
group still needs is ever removed, however far behind it is.

What this does *not* keep: a consumer that reads without a group (``b2bpay events``, a
``query rebuild``) sees only what is left, and a group created after a trim starts at the
oldest entry still kept. Whoever needs the full history reads it into cold storage before it
is trimmed, with a group of its own (see :data:`ARCHIVE_HINT`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from shared.domain.stages import Stage
from shared.redis.keys import Keys
from shared.redis.replies import as_text

#: Where the full history goes before it is trimmed; printed by ``b2bpay stream trim``.
ARCHIVE_HINT = (
    "events are trimmed once every consumer group has read and acknowledged them and they are "
    "older than B2BPAY_EVENTS_RETENTION_SECONDS; to keep them all, follow the stream into "
    "cold storage with a consumer group of its own (it holds back trimming until it has read "
    "them), or run `b2bpay events --follow >> events.jsonl`"
)

StreamId = tuple[int, int]

#: b2bpay's own followers that every deployment runs (the query projector, the auditor), by
#: their consumer groups, each named after its stage: until each has created its group,
#: nothing is trimmed, since a group is created from the stream's first entry and would
#: otherwise miss what was trimmed before it started. (The followers are declared in
#: ``services.runtime.followers``, which ``shared/`` does not import; ``tests/unit/
#: test_routes.py`` checks each group is its follower's.)
FOLLOWER_GROUPS: tuple[str, ...] = (Stage.QUERY.value, Stage.AUDIT.value)


def parse_id(value: str) -> StreamId:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def format_id(value: StreamId) -> str:
    return f"{value[0]}-{value[1]}"


@dataclass(frozen=True)
class TrimResult:
    #: How many entries were removed.
    removed: int
    #: Every entry below this id may have been removed; None when nothing could be.
    below: str | None
    #: Per consumer group: the id below which it has read and acknowledged everything.
    groups: dict[str, str] = field(default_factory=dict)
    #: Why nothing more was removed, for the operator.
    held_by: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "removed": self.removed,
            "below": self.below,
            "groups": self.groups,
            "held_by": self.held_by,
        }


def _group_floor(client: redis.Redis, stream: str, group: dict[str, object]) -> StreamId:
    """The id below which ``group`` has read and acknowledged every entry."""
    name = as_text(group["name"])
    delivered = parse_id(as_text(group["last-delivered-id"]))
    # Everything up to last-delivered was delivered: the first id after it is not.
    floor = (delivered[0], delivered[1] + 1)
    if int(str(group["pending"])) > 0:
        summary = client.xpending(stream, name)
        if summary and summary.get("min"):
            floor = min(floor, parse_id(as_text(summary["min"])))
    return floor


def trim_events(
    client: redis.Redis,
    keys: Keys,
    retention_seconds: float,
    now: float,
    required_groups: tuple[str, ...] = FOLLOWER_GROUPS,
) -> TrimResult:
    """Remove the entries every group has read and acknowledged and that are older than
    ``retention_seconds`` at ``now`` (seconds since the epoch). While a group of
    ``required_groups`` does not exist yet, nothing is removed."""
    stream = keys.events
    if not client.exists(stream):
        return TrimResult(0, None, held_by="no events stream")
    groups = client.xinfo_groups(stream)
    missing = sorted(set(required_groups) - {as_text(g["name"]) for g in groups})
    if missing or not groups:
        return TrimResult(0, None, held_by=f"group {missing[0] if missing else '?'} not created")
    floors = {as_text(g["name"]): _group_floor(client, stream, g) for g in groups}
    retention_floor: StreamId = (int((now - retention_seconds) * 1000), 0)
    lowest_group = min(floors, key=lambda name: floors[name])
    below = min(floors[lowest_group], retention_floor)
    held_by = f"group {lowest_group}" if floors[lowest_group] <= retention_floor else "retention"
    # Exact MINID (no "~"): removes exactly the entries with a smaller id, none at or above.
    removed = int(client.xtrim(stream, minid=format_id(below), approximate=False))
    return TrimResult(
        removed,
        format_id(below),
        {name: format_id(floor) for name, floor in sorted(floors.items())},
        held_by,
    )
