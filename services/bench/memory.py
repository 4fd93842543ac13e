"""``b2bpay bench --memory N``: Redis memory and cost per payment as the number of payments
grows. For each N, on a fresh private Redis (or a prefix of its own): the stages and the
stream followers (query, audit) as worker processes, N payments in a burst, then memory per
payment once the followers have read everything, and again after the events stream is
trimmed (retention 0: what every group has read and acknowledged goes)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from services.bench.measure import cost_between, process_cpu_seconds, sample_redis
from services.bench.pipeline import Pipeline
from services.bench.run import Progress, redis_for
from shared.redis.replies import as_text
from shared.redis.trimming import FOLLOWER_GROUPS, trim_events

CATCH_UP_SECONDS = 120.0


def _caught_up(client: redis.Redis, stream: str) -> bool:
    """Every follower group has read and acknowledged the whole stream."""
    last: Any = client.xrevrange(stream, count=1)
    if not last:
        return True
    end = as_text(last[0][0])
    groups: Any = client.xinfo_groups(stream)
    found = {as_text(g["name"]): g for g in groups}
    return all(
        name in found
        and as_text(found[name]["last-delivered-id"]) == end
        and int(found[name]["pending"]) == 0
        for name in FOLLOWER_GROUPS
    )


def measure_memory(
    size: int, threads: int, redis_url: str | None, progress: Progress
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="b2bpay-bench-memory-"))
    try:
        with redis_for(redis_url) as (url, prefix):
            client = redis.Redis.from_url(url)
            pipeline = Pipeline(url, prefix, threads, workdir, size + 4)
            began = time.monotonic()
            pipeline.seed()
            progress(f"memory {size}: seeded {size + 4} desks in {time.monotonic() - began:.1f} s")
            pipeline.start(followers=("query", "audit"))
            try:
                pids = pipeline.pids()
                cpu0, before, t0 = process_cpu_seconds(pids), sample_redis(client), time.monotonic()
                traces = pipeline.drive(size, None, 120 + size / 5)
                stream = pipeline.deps.keys.events
                deadline = time.monotonic() + CATCH_UP_SECONDS
                while not _caught_up(client, stream) and time.monotonic() < deadline:
                    time.sleep(0.2)  # polling the followers' progress, bounded by the deadline
                after = sample_redis(client)
                cost = cost_between(
                    before, after, cpu0, process_cpu_seconds(pids), time.monotonic() - t0
                )
                trimmed = trim_events(client, pipeline.deps.keys, 0, time.time())
                after_trim = sample_redis(client)
            finally:
                pipeline.stop()
            client.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    done = sum(1 for t in traces if t.finished_at is not None and t.failed is None)
    return {
        "payments": size,
        "settled": done,
        "memory_bytes_per_payment": round((after.used_memory - before.used_memory) / size, 1),
        "memory_bytes_per_payment_after_trim": round(
            (after_trim.used_memory - before.used_memory) / size, 1
        ),
        "events_trimmed": trimmed.removed,
        "worker_cpu_ms_per_payment": round(cost.worker_cpu_seconds * 1000 / size, 2),
        "redis_commands_per_payment": round(cost.redis_commands / size, 2),
        "redis_cpu_ms_per_payment": round(cost.redis_cpu_seconds * 1000 / size, 3),
    }
