"""One bench run: a Redis (private, or ``--redis URL`` under a prefix of its own, deleted
afterwards), both systems measured round after round in alternating order, the results as
one dictionary (:mod:`services.bench.report` renders it)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from services.bench.chain import BaselineChain
from services.bench.measure import cost_between, process_cpu_seconds, sample_redis
from services.bench.pipeline import Pipeline
from services.bench.server import private_redis
from services.bench.systems import SystemUnderTest
from services.bench.trace import latency_metrics, steady_rate, summary


@dataclass(frozen=True)
class BenchOptions:
    payments: int = 400
    rounds: int = 3
    rates: tuple[float, ...] = (5.0, 50.0)
    paced_seconds: float = 4.0
    idle_seconds: float = 3.0
    threads: int = 8
    redis_url: str | None = None


Progress = Callable[[str], None]


@contextmanager
def redis_for(url: str | None) -> Iterator[tuple[str, str]]:
    """(URL, key prefix): a private server with a plain prefix, or the given one with a
    prefix of its own whose keys are deleted afterwards."""
    if url is None:
        with private_redis() as private:
            yield private, "bench:"
        return
    prefix = f"b2bpay-bench-{secrets.token_hex(3)}:"
    try:
        yield url, prefix
    finally:
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(match=f"{prefix.rstrip(':')}*", count=1000):
            client.delete(key)
        client.close()


def paced_count(rate: float, seconds: float) -> int:
    return max(3, int(rate * seconds))


def rate_name(rate: float) -> str:
    return f"{rate:g}".replace(".", "_")


def run_bench(options: BenchOptions, progress: Progress) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="b2bpay-bench-"))
    try:
        with redis_for(options.redis_url) as (url, prefix):
            client = redis.Redis.from_url(url)
            version = str(client.info("server")["redis_version"])
            per_round = options.payments + sum(
                paced_count(r, options.paced_seconds) for r in options.rates
            )
            # Two warm-up payments each time the workers start.
            people = options.rounds * (per_round + 2) + 2
            pipeline = Pipeline(url, prefix, options.threads, workdir, people)
            began = time.monotonic()
            pipeline.seed()
            progress(f"seeded {people} desks in {time.monotonic() - began:.1f} s")
            chain = BaselineChain(url, prefix, options.threads, workdir)
            rounds = []
            for r in range(options.rounds):
                order: list[SystemUnderTest] = (
                    [chain, pipeline] if r % 2 == 0 else [pipeline, chain]
                )
                measured = {}
                for system in order:
                    progress(f"round {r + 1}/{options.rounds}: {system.name}")
                    measured[system.name] = measure(system, client, options)
                rounds.append({"order": [s.name for s in order], **measured})
            client.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "settings": {
            "payments": options.payments,
            "rounds": options.rounds,
            "rates": list(options.rates),
            "paced_seconds": options.paced_seconds,
            "idle_seconds": options.idle_seconds,
            "threads": options.threads,
            "redis": "private" if options.redis_url is None else "given",
            "redis_version": version,
            "hops": 5,
            "processes": 4,
        },
        "rounds": rounds,
        "summary": summarize(rounds),
    }


def measure(system: SystemUnderTest, client: redis.Redis, options: BenchOptions) -> dict[str, Any]:
    """Burst, then each paced rate, then idle, on freshly started workers."""
    system.start()
    try:
        metrics: dict[str, Any] = {}
        pids = system.pids()
        n = options.payments
        named = system.named_pids()
        each0 = {name: process_cpu_seconds([pid]) for name, pid in named.items()}
        driver0 = process_cpu_seconds([os.getpid()])
        cpu0, before, t0 = process_cpu_seconds(pids), sample_redis(client), time.monotonic()
        traces = system.drive(n, None, 60 + n / 5)
        cost = cost_between(
            before, sample_redis(client), cpu0, process_cpu_seconds(pids), time.monotonic() - t0
        )
        # The people (or the chain's starter) in this process: what an API in front costs.
        driver = process_cpu_seconds([os.getpid()]) - driver0
        metrics["burst_driver_cpu_ms_per_payment"] = _round(driver * 1000 / n)
        # Per process: the data of a capacity model (cores per stage at a given rate).
        metrics["burst_worker_cpu_ms_per_payment_by_process"] = {
            name: round((process_cpu_seconds([pid]) - each0[name]) * 1000 / n, 3)
            for name, pid in named.items()
        }
        done = [t for t in traces if t.finished_at is not None and t.failed is None]
        metrics["burst_payments_per_s"] = _round(steady_rate([t.finished_at or 0 for t in done]))
        metrics["burst_worker_cpu_ms_per_payment"] = _round(cost.worker_cpu_seconds * 1000 / n)
        metrics["burst_redis_cpu_ms_per_payment"] = _round(cost.redis_cpu_seconds * 1000 / n)
        metrics["burst_redis_commands_per_payment"] = _round(cost.redis_commands / n)
        metrics["burst_memory_bytes_per_payment"] = _round(cost.memory_bytes / n)
        metrics.update(latency_metrics(traces, "burst"))
        metrics["burst_unfinished"] = n - len(done)
        metrics["burst_commands"] = {
            name: round(calls / n, 2)
            for name, calls in sorted(cost.per_command.items(), key=lambda kv: -kv[1])
        }
        for rate in options.rates:
            count = paced_count(rate, options.paced_seconds)
            traces = system.drive(count, rate, 60 + count / 5)
            metrics.update(latency_metrics(traces, f"paced_{rate_name(rate)}"))
            unfinished = [t for t in traces if t.finished_at is None or t.failed]
            metrics[f"paced_{rate_name(rate)}_unfinished"] = len(unfinished)
        cpu0, t0 = process_cpu_seconds(pids), time.monotonic()
        time.sleep(options.idle_seconds)  # measuring idle workers: nothing is sent meanwhile
        idle = process_cpu_seconds(pids) - cpu0
        metrics["idle_cores"] = _round(idle / (time.monotonic() - t0), 4)
        return metrics
    finally:
        system.stop()


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and range per metric and system, and of the ratio b2bpay / baseline per round."""
    names = [k for k, v in rounds[0]["b2bpay"].items() if isinstance(v, int | float) or v is None]
    out: dict[str, Any] = {"baseline": {}, "b2bpay": {}, "ratio": {}}
    for name in names:
        for system in ("baseline", "b2bpay"):
            out[system][name] = summary([r[system].get(name) for r in rounds])
        ratios = []
        for r in rounds:
            a, b = r["b2bpay"].get(name), r["baseline"].get(name)
            ratios.append(a / b if a is not None and b else None)
        out["ratio"][name] = summary(ratios)
    key = "burst_worker_cpu_ms_per_payment_by_process"
    out["cpu_ms_per_payment_by_process"] = {
        system: {
            name: summary([r[system][key].get(name) for r in rounds])
            for name in rounds[0][system][key]
        }
        for system in ("baseline", "b2bpay")
    }
    return out
