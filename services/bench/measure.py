"""What a bench run measures besides time: CPU of worker processes (``/proc``), and the
Redis server's command count, CPU and memory (``INFO``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import redis

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (all their threads); a process
    that has gone counts nothing."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces) start after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


@dataclass(frozen=True)
class RedisSample:
    """The server's counters at one moment."""

    #: Commands executed since start, every command (as ``INFO commandstats`` counts them;
    #: commands run inside Lua scripts are counted too).
    commands: int
    #: Commands sent by clients (``INFO stats`` total_commands_processed): round trips, less
    #: pipelining.
    processed: int
    cpu_seconds: float
    used_memory: int
    per_command: dict[str, int]


def sample_redis(client: redis.Redis) -> RedisSample:
    stats: Any = client.info("commandstats")
    per_command = {
        name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()
    }
    cpu: Any = client.info("cpu")
    memory: Any = client.info("memory")
    processed: Any = client.info("stats")
    return RedisSample(
        commands=sum(per_command.values()),
        processed=int(processed["total_commands_processed"]),
        cpu_seconds=float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
        used_memory=int(memory["used_memory"]),
        per_command=per_command,
    )


@dataclass(frozen=True)
class Cost:
    """What a stretch of work cost, between two samples."""

    seconds: float
    worker_cpu_seconds: float
    redis_cpu_seconds: float
    redis_commands: int
    redis_processed: int
    memory_bytes: int
    per_command: dict[str, int]


def cost_between(
    before: RedisSample, after: RedisSample, cpu_before: float, cpu_after: float, seconds: float
) -> Cost:
    per_command = {
        name: calls - before.per_command.get(name, 0)
        for name, calls in after.per_command.items()
        if calls - before.per_command.get(name, 0) > 0
    }
    return Cost(
        seconds=seconds,
        worker_cpu_seconds=cpu_after - cpu_before,
        redis_cpu_seconds=after.cpu_seconds - before.cpu_seconds,
        # The INFO calls of the sampler itself are not the system's work.
        redis_commands=after.commands - before.commands - 4,
        redis_processed=after.processed - before.processed - 4,
        memory_bytes=after.used_memory - before.used_memory,
        per_command=per_command,
    )
