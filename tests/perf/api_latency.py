"""The HTTP API's latency at a fixed rate: payments created, then reviewed, at ``--rate``
requests per second against ``b2bpay serve`` with every stage as its own worker process.

Not a test (pytest does not collect it): a measurement for the closing notes and for anyone
sizing a deployment. Run on a Redis of your own (a private prefix, deleted afterwards):

    .venv/bin/python -m tests.perf.api_latency --rate 20 --seconds 15 [--redis URL] [--json]

It reports p50/p90/p99 of ``POST /v1/payments`` (create: apply stage's verdict included) and
of ``POST /v1/payments/{id}/review`` (a command round trip: the review stage's verdict), each
measured from the request leaving to the answer arriving.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.testing import World, cheap_hasher

ENTERPRISE, ACCOUNT = "PERF-BUYER", "6216600100001234"
STAGES = ("apply", "review", "authorize", "interbank", "query")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 1)

    return {
        "n": len(ordered),
        "p50_ms": at(50),
        "p90_ms": at(90),
        "p99_ms": at(99),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


def _paced(rate: float, jobs: list[Any], run: Any) -> list[float]:
    """Start one job every 1/rate seconds (each in its own thread); their latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    threads = []
    start = time.monotonic()

    def one(job: Any) -> None:
        began = time.monotonic()
        run(job)
        with lock:
            latencies.append(time.monotonic() - began)

    for i, job in enumerate(jobs):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the load generator, not waiting on the system under test
        t = threading.Thread(target=one, args=(job,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    n = int(args.rate * args.seconds)
    prefix = f"b2bpay-perf-{secrets.token_hex(4)}:"
    workdir = Path(tempfile.mkdtemp(prefix="b2bpay-perf-"))
    port = _free_port()
    env = {
        **os.environ,
        "B2BPAY_REDIS_URL": args.redis,
        "B2BPAY_PREFIX": prefix,
        "B2BPAY_DATABASE_URL": f"sqlite:///{workdir / 'read.db'}",
        "B2BPAY_SESSION_SECRET": secrets.token_hex(32),
        "B2BPAY_LOG_FORMAT": "json",
        "B2BPAY_LOG_LEVEL": "WARNING",
        "B2BPAY_DEV_MODE": "1",
        "B2BPAY_LOGIN_CLIENT_MAX_FAILURES": "1000",
    }
    client = redis.Redis.from_url(args.redis)
    settings = Settings(
        redis_url=args.redis,
        prefix=prefix,
        session_secret=env["B2BPAY_SESSION_SECRET"],
        dev_mode=True,
    )
    deps = bootstrap(settings, client)
    world = World(deps)
    world.deps.directory._hasher = cheap_hasher()
    world.bank("BOC", "Bank of China")
    world.enterprise(ENTERPRISE, "Perf Buyer", ["BOC"], [ACCOUNT])
    # One code per user per 30 s step: one applicant desk per payment.
    applicants = [f"app-{i:04d}" for i in range(n)]
    password = "perf-" + secrets.token_hex(8)
    for name in applicants:
        world.enrol(name, ENTERPRISE, "applicant", password)
    world.enrol("reviewer", ENTERPRISE, "reviewer", password)
    logs = [open(workdir / f"{s}.log", "w") for s in (*STAGES, "serve")]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "worker", stage, "--threads", "4"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for stage, log in zip(STAGES, logs, strict=False)
    ]
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=logs[-1],
            stderr=subprocess.STDOUT,
        )
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.1)  # polling a starting server, bounded by the deadline
        http = httpx.Client(base_url=base, timeout=30, limits=httpx.Limits(max_connections=200))
        tokens = {name: world.session(world.people[name]) for name in [*applicants, "reviewer"]}
        created: list[str] = []

        def create(i: int) -> None:
            name = applicants[i]
            body = {
                "order_id": f"PERF-ORDER-{i:05d}",
                "payer": {"enterprise_id": ENTERPRISE, "account": ACCOUNT, "name": "Perf Buyer"},
                "payee": {"bank_code": "BOC", "account": f"62220200{i:08d}", "name": "Supplier"},
                "amount": "1250.00",
                "currency": "CNY",
                "bank": "BOC",
                "otp": world.code(name),
            }
            r = http.post(
                "/v1/payments",
                json=body,
                headers={
                    "Authorization": f"Bearer {tokens[name]}",
                    "Idempotency-Key": f"PERF-REQ-{i:05d}",
                },
            )
            if r.status_code == 201:
                created.append(r.json()["payment_id"])

        create_latencies = _paced(args.rate, list(range(n)), create)
        # Let every created payment reach pending_review before reviewing.
        settle_by = time.monotonic() + 60
        store = deps.store

        def waiting(pid: str) -> bool:
            found = store.get(pid)
            return found is None or found.status.value != "pending_review"

        while time.monotonic() < settle_by and any(waiting(pid) for pid in created):
            time.sleep(0.2)  # polling the stages' progress, bounded by the deadline

        def review(pid: str) -> None:
            http.post(
                f"/v1/payments/{pid}/review",
                json={"approve": True},
                headers={"Authorization": f"Bearer {tokens['reviewer']}"},
            )

        review_latencies = _paced(args.rate, list(created), review)
        report = {
            "rate_per_second": args.rate,
            "created": len(created),
            "create": _percentiles(create_latencies),
            "review_round_trip": _percentiles(review_latencies),
        }
        print(json.dumps(report) if args.json else json.dumps(report, indent=2))
        return 0 if len(created) == n else 1
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT if p is procs[-1] else signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
        for log in logs:
            log.close()
        stem = prefix.rstrip(":")
        for key in client.scan_iter(match=f"{stem}*", count=1000):
            client.delete(key)
        client.close()


if __name__ == "__main__":
    raise SystemExit(main())
