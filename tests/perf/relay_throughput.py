"""The AMQP relay's throughput and end-to-end lag: status events from the Redis events stream
to a subscriber of the topic exchange ``b2bpay.events``, through ``b2bpay worker relay`` run
as a process of its own.

Not a test (pytest does not collect it): a measurement for the closing notes and for anyone
sizing a deployment. It uses the machine's Redis (db 15, a key prefix of its own, deleted
afterwards) and RabbitMQ (a vhost of its own, deleted afterwards; ``rabbitmqctl`` as for the
relay's tests):

    .venv/bin/python -m tests.perf.relay_throughput [--burst 2000] [--rate 100] \
        [--seconds 15] [--pipeline-rate 60 [--pipeline-seconds 15]] [--redis URL] [--json]

1. burst: ``--burst`` payments are settled through the store's atomic write (seven events
   each, exactly the pipeline's), then the relay is started; events/s from the first to the
   last delivery at a subscriber's queue bound to ``#``, and the relay's CPU over that span.
2. paced: with the relay running, ``--rate`` payments/s move through their six writes (a new
   payment each tick, every one in flight one write further) for ``--seconds``: the lag from
   each event's write (its stream entry id, Redis's clock) to its arrival at the subscriber
   (p50/p95/p99/max), and the relay's CPU per event (``/proc``).
3. pipeline (with ``--pipeline-rate``): payments through the stage workers, each its own
   process (:mod:`tests.perf.relay_pipeline`), at that rate: the settled payments/s reached,
   the events each settled payment wrote, and the relay's lag and CPU over them.

The write time is the stream entry id's millisecond (Redis's clock, truncated), so a lag is
over-stated by up to 1 ms. The subscriber is a process of its own (no GIL shared with the
writer). Everything shares the machine: read the load average printed with the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import redis

from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.domain.status_events import decode_status_event
from shared.redis.replies import stream_entries
from tests.perf import relay_pipeline
from tests.perf.relay_parts import CpuSampler, Flow, Writer, fresh_vhost, subscribe


def _percentile(ordered: list[float], p: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 1)


def _stream_times(client: redis.Redis, stream: str) -> dict[str, float]:
    """Each event's id -> the moment it was written (its stream entry id, in seconds)."""
    times: dict[str, float] = {}
    start = "-"
    while True:
        batch = stream_entries(client.xrange(stream, min=start, count=5000))
        for sid, body in batch:
            if body is not None:
                times[decode_status_event(body).event_id] = int(sid.split("-")[0]) / 1000
        if len(batch) < 5000:
            return times
        last = batch[-1][0]
        ms, n = last.split("-")
        start = f"{ms}-{int(n) + 1}"


class Subscriber:
    """The subscriber process and its pipe."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(target=subscribe, args=(url, "#", theirs), daemon=True)
        self._process.start()
        if not self._pipe.poll(30) or self._pipe.recv() != "ready":
            raise SystemExit("the subscriber did not bind its queue in 30 s")

    def ask(self, command: str) -> Any:
        self._pipe.send(command)
        return self._pipe.recv()

    def wait_for(self, count: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (got := self.ask("count")) < count and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the subscriber's count, bounded by the deadline
        return int(got)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send("stop")
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


def _burst(args: Any, writer: Writer, start_relay: Any, sub: Subscriber) -> dict[str, Any]:
    began = time.monotonic()
    for i in range(args.burst):
        writer.settle(i)
    write_s = time.monotonic() - began
    expected = writer.written
    relay, sampler = start_relay()
    started = time.time()
    got = sub.wait_for(expected, timeout=max(60.0, expected / 50))
    received = sub.ask("dump")
    ids = {m for m, _t in received}
    times = sorted(t for _m, t in received)
    first, last = times[0], times[-1]
    span = last - first
    cpu = sampler.at(last + 0.05) - sampler.at(first)
    return {
        "payments": args.burst,
        "events": expected,
        "delivered": got,
        "distinct": len(ids),
        "write_events_per_s": round(expected / write_s),
        "relay_start_to_first_s": round(first - started, 2),
        "first_to_last_s": round(span, 2),
        "events_per_s": round((len(times) - 1) / span) if span > 0 else None,
        "relay_cpu_s": round(cpu, 2),
        "relay_cpu_ms_per_event": round(cpu * 1000 / len(times), 3),
        "_relay": relay,
        "_sampler": sampler,
    }


def _paced(args: Any, writer: Writer, sampler: CpuSampler, sub: Subscriber) -> dict[str, Any]:
    before_count = sub.ask("count")
    cpu0, t0 = sampler.at(time.time()), time.time()
    written0 = writer.written
    in_flight: list[Flow] = []
    n = int(args.rate * args.seconds)
    start = time.monotonic()
    late = 0.0
    for i in range(n):
        delay = start + i / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the load generator, not waiting on the relay
        else:
            late = max(late, -delay)
        in_flight = [f for f in in_flight if writer.advance(f)]
        in_flight.append(writer.start(i))
    while in_flight:
        in_flight = [f for f in in_flight if writer.advance(f)]
    write_s = time.monotonic() - start
    events = writer.written - written0
    got = sub.wait_for(before_count + events, timeout=60) - before_count
    last_arrival = time.time()
    cpu = sampler.at(last_arrival) - cpu0
    received = sub.ask("dump")[before_count:]
    return {
        "rate_payments_per_s": args.rate,
        "payments": n,
        "events": events,
        "delivered": got,
        "write_seconds": round(write_s, 2),
        "achieved_payments_per_s": round(n / write_s, 1),
        "achieved_events_per_s": round(events / write_s),
        "writer_max_late_ms": round(late * 1000, 1),
        "received": received,
        "relay_cpu_s": round(cpu, 2),
        "relay_cpu_ms_per_event": round(cpu * 1000 / max(1, got), 3),
        "relay_cpu_share": round(cpu / (last_arrival - t0), 3),
    }


def _pipeline(
    args: Any,
    deps: Any,
    env: dict[str, str],
    workdir: Path,
    sampler: CpuSampler,
    sub: Subscriber,
    procs: list[subprocess.Popen[bytes]],
) -> dict[str, Any]:
    """Payments through the stage workers at ``--pipeline-rate``; the relay's lag and CPU
    over what they write."""
    count = int(args.pipeline_rate * args.pipeline_seconds)
    people = relay_pipeline.People(deps, count)
    procs.extend(relay_pipeline.start_stages(env, workdir, args.threads))
    before_count = sub.ask("count")
    cpu0, t0 = sampler.at(time.time()), time.time()
    result = relay_pipeline.drive(deps, people, args.pipeline_rate, count)
    ours = result.pop("_payment_ids")
    result.pop("_began")
    events = [
        e
        for _sid, e in deps.store.read_events(count=1_000_000)
        if e.payment_id in ours and e.seq > 0
    ]
    got = sub.wait_for(before_count + len(events), timeout=60) - before_count
    last_arrival = time.time()
    cpu = sampler.at(last_arrival) - cpu0
    received = [(m, t) for m, t in sub.ask("dump")[before_count:] if m.rsplit(":", 1)[0] in ours]
    settled = max(1, result["settled"])
    return {
        **result,
        "events": len(events),
        "delivered": got,
        "events_per_settled_payment": round(len(events) / settled, 2),
        "received": received,
        "relay_cpu_ms_per_event": round(cpu * 1000 / max(1, got), 3),
        "relay_cpu_share": round(cpu / (last_arrival - t0), 3),
    }


def _lags(received: list[tuple[str, float]], written: dict[str, float]) -> dict[str, Any]:
    lags = sorted(t - written[m] for m, t in received if m in written)
    return {
        "n": len(lags),
        "p50_ms": _percentile(lags, 50),
        "p95_ms": _percentile(lags, 95),
        "p99_ms": _percentile(lags, 99),
        "max_ms": round(lags[-1] * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=2000, help="payments settled before")
    parser.add_argument("--rate", type=float, default=100.0, help="payments per second")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--pipeline-rate",
        type=float,
        default=0.0,
        help="also payments/s through the stage workers (0: not measured)",
    )
    parser.add_argument("--pipeline-seconds", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=2, help="threads per stage worker")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    prefix = f"b2bpay-perf-{secrets.token_hex(4)}:"
    workdir = Path(tempfile.mkdtemp(prefix="b2bpay-relayperf-"))
    client = redis.Redis.from_url(args.redis)
    settings = Settings(
        redis_url=args.redis, prefix=prefix, session_secret=secrets.token_hex(32), dev_mode=True
    )
    deps = bootstrap(settings, client)
    log = open(workdir / "relay.log", "w")  # noqa: SIM115
    try:
        with fresh_vhost() as url:
            report = _measure(args, deps, client, url, workdir, log, prefix)
    finally:
        log.close()
        stem = prefix.rstrip(":")
        for key in client.scan_iter(match=f"{stem}*", count=1000):
            client.delete(key)
        client.close()
    _print(report, args.json)
    phases = [report["burst"], report["paced"], report["pipeline"] or {"delivered": 0, "events": 0}]
    if all(phase["delivered"] >= phase["events"] for phase in phases):
        shutil.rmtree(workdir)
        return 0
    print(f"events were not all delivered; the processes' logs are in {workdir}", file=sys.stderr)
    return 1


def _measure(
    args: Any, deps: Any, client: redis.Redis, url: str, workdir: Path, log: IO[str], prefix: str
) -> dict[str, Any]:
    """Both measurements on the vhost at ``url``; the relay and the subscriber are stopped
    before it is deleted."""
    procs: list[subprocess.Popen[bytes]] = []
    samplers: list[CpuSampler] = []
    env = {
        **os.environ,
        "B2BPAY_REDIS_URL": args.redis,
        "B2BPAY_PREFIX": prefix,
        "B2BPAY_AMQP_URL": url,
        "B2BPAY_DATABASE_URL": f"sqlite:///{workdir / 'read.db'}",
        "B2BPAY_SESSION_SECRET": deps.settings.session_secret.get_secret_value(),
        "B2BPAY_LOG_FORMAT": "json",
        "B2BPAY_LOG_LEVEL": "WARNING",
        "B2BPAY_DEV_MODE": "1",
    }

    def start_relay() -> tuple[subprocess.Popen[bytes], CpuSampler]:
        cmd = [sys.executable, "-m", "services.cli.main", "worker", "relay"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
        samplers.append(CpuSampler(procs[-1].pid))
        return procs[-1], samplers[-1]

    sub = Subscriber(url)
    try:
        burst = _burst(args, Writer(deps.store, "B"), start_relay, sub)
        sampler = burst.pop("_sampler")
        burst.pop("_relay")
        paced = _paced(args, Writer(deps.store, "P"), sampler, sub)
        pipeline = None
        if args.pipeline_rate > 0:
            pipeline = _pipeline(args, deps, env, workdir, sampler, sub, procs)
        written = _stream_times(client, deps.keys.events)
        paced["lag"] = _lags(paced.pop("received"), written)
        if pipeline is not None:
            pipeline["relay_lag"] = _lags(pipeline.pop("received"), written)
        loadavg = Path("/proc/loadavg").read_text().split()[:3]
        return {
            "burst": burst,
            "paced": paced,
            "pipeline": pipeline,
            "loadavg_1_5_15": [float(x) for x in loadavg],
            "cpus": os.cpu_count(),
        }
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
        for s in samplers:
            s.stop()
        sub.close()


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report))
        return
    b, p, lag = report["burst"], report["paced"], report["paced"]["lag"]
    rows = [
        ("burst events", f"{b['delivered']}/{b['events']} ({b['payments']} payments)"),
        ("burst events/s (first→last delivery)", str(b["events_per_s"])),
        ("burst relay CPU ms/event", str(b["relay_cpu_ms_per_event"])),
        (
            "paced payments/s (asked → reached)",
            f"{p['rate_payments_per_s']} → {p['achieved_payments_per_s']}",
        ),
        ("paced events/s written", str(p["achieved_events_per_s"])),
        (
            "paced lag p50/p95/p99/max ms",
            f"{lag['p50_ms']} / {lag['p95_ms']} / {lag['p99_ms']} / {lag['max_ms']}",
        ),
        ("paced relay CPU ms/event", str(p["relay_cpu_ms_per_event"])),
        ("paced relay CPU share of a core", str(p["relay_cpu_share"])),
        *_pipeline_rows(report.get("pipeline")),
        ("load average 1/5/15 min", " ".join(map(str, report["loadavg_1_5_15"]))),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _pipeline_rows(pipe: dict[str, Any] | None) -> list[tuple[str, str]]:
    if pipe is None:
        return []
    lag = pipe["relay_lag"]
    return [
        (
            "pipeline payments/s (asked → settled)",
            f"{pipe['asked_payments_per_s']} → {pipe['settled_payments_per_s']} "
            f"({pipe['settled']}/{pipe['payments']} settled)",
        ),
        ("pipeline events per settled payment", str(pipe["events_per_settled_payment"])),
        (
            "pipeline apply→settled p50/p99 ms",
            f"{pipe['apply_to_settled_p50_ms']} / {pipe['apply_to_settled_p99_ms']}",
        ),
        (
            "pipeline relay lag p50/p95/p99/max ms",
            f"{lag['p50_ms']} / {lag['p95_ms']} / {lag['p99_ms']} / {lag['max_ms']}",
        ),
        ("pipeline relay CPU ms/event", str(pipe["relay_cpu_ms_per_event"])),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
