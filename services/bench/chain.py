"""The baseline under test: the bare dramatiq chain of :mod:`services.bench.baseline`, its
four worker processes, and a driver that starts chains and follows their stream entries."""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import redis

from services.bench import baseline
from services.bench.processes import Workers
from services.bench.systems import SystemUnderTest, submit_paced
from services.bench.trace import HOP_NAMES, Trace
from shared.redis.replies import as_text


class BaselineChain(SystemUnderTest):
    name = "baseline"

    def __init__(self, url: str, prefix: str, threads: int, workdir: Path) -> None:
        self.url, self.prefix, self.threads = url, prefix, threads
        self.client = redis.Redis.from_url(url)
        self.broker = baseline.broker_for(url, prefix)
        env = {**os.environ, "B2BPAY_BENCH_REDIS_URL": url, "B2BPAY_BENCH_PREFIX": prefix}
        self.workers = Workers(workdir, env)
        self.stream = baseline.events_key(prefix)

    def start(self) -> None:
        for queues in baseline.PROCESSES:
            argv = ["services.bench.baseline", *queues, "--threads", str(self.threads)]
            self.workers.start("+".join(queues), argv)
        traces = self.drive(2, None, 60)
        if any(t.finished_at is None for t in traces):
            raise RuntimeError(f"the baseline workers did not start (see {self.workers.workdir})")

    def pids(self) -> list[int]:
        return self.workers.pids

    def named_pids(self) -> dict[str, int]:
        return self.workers.by_name

    def drive(self, count: int, rate: float | None, timeout: float) -> list[Trace]:
        run = secrets.token_hex(3)
        traces = {f"{run}-{i}": Trace(f"{run}-{i}", 0.0) for i in range(count)}
        last_at: dict[str, float] = {}
        last_id: Any = self._stream_end()
        stop = threading.Event()

        def submit(i: int) -> None:
            key = f"{run}-{i}"
            traces[key].submitted_at = time.time()
            baseline.send_first(self.broker, key)

        submitter = submit_paced(count, rate, submit, stop)
        deadline = time.monotonic() + timeout
        left = count
        try:
            while left and time.monotonic() < deadline:
                reply: Any = self.client.xread({self.stream: last_id}, block=100, count=1000)
                for _stream, entries in reply or []:
                    for entry_id, fields in entries:
                        last_id = entry_id
                        key = fields[b"chain"].decode()
                        trace = traces.get(key)
                        if trace is None:
                            continue
                        hop, at = int(fields[b"hop"]), float(fields[b"at"])
                        before = last_at.get(key, trace.submitted_at)
                        trace.hops[HOP_NAMES[hop]] = at - before
                        last_at[key] = at
                        if hop == len(HOP_NAMES) - 1:
                            trace.finished_at = at
                            left -= 1
        finally:
            stop.set()
            submitter.join(timeout=5)
        return list(traces.values())

    def _stream_end(self) -> str:
        found: Any = self.client.xrevrange(self.stream, count=1)
        return as_text(found[0][0]) if found else "0"

    def stop(self) -> None:
        self.workers.stop()
