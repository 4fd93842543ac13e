"""``b2bpay bench`` runs from the command line and reports every field, on a tiny load: a
check that the command never rots. Numbers are never asserted here: they live in the bench
output and the closing notes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from services.bench.trace import HOP_NAMES

pytestmark = pytest.mark.timeout(240)


def test_a_tiny_bench_runs_both_systems_and_reports_every_field_as_json() -> None:
    argv = [
        sys.executable,
        "-m",
        "services.cli.main",
        "bench",
        "--payments",
        "6",
        "--rounds",
        "1",
        "--rate",
        "5",
        "--paced-seconds",
        "0.6",
        "--idle-seconds",
        "0.5",
        "--threads",
        "2",
        "--json",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=220)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    (measured,) = result["rounds"]
    assert measured["order"] == ["baseline", "b2bpay"]
    for system in ("baseline", "b2bpay"):
        metrics = measured[system]
        assert metrics["burst_unfinished"] == 0, (system, metrics)
        assert metrics["paced_5_unfinished"] == 0, (system, metrics)
        for name in (
            "burst_payments_per_s",
            "burst_worker_cpu_ms_per_payment",
            "burst_driver_cpu_ms_per_payment",
            "burst_redis_cpu_ms_per_payment",
            "burst_redis_commands_per_payment",
            "burst_memory_bytes_per_payment",
            "paced_5_e2e_p50_ms",
            "paced_5_e2e_p99_ms",
            "idle_cores",
            *(f"paced_5_{hop}_p50_ms" for hop in HOP_NAMES),
        ):
            assert isinstance(metrics[name], int | float), (system, name, metrics[name])
        assert metrics["burst_commands"], system
    for name in ("burst_payments_per_s", "burst_redis_commands_per_payment", "idle_cores"):
        assert set(result["summary"]["ratio"][name]) == {"median", "min", "max"}
    assert {t["target"] for t in result["targets"]} >= {
        "burst throughput, b2bpay / baseline",
        "worker CPU per payment (ms)",
    }


def test_the_memory_mode_reports_memory_per_payment_before_and_after_trimming() -> None:
    argv = [sys.executable, "-m", "services.cli.main", "bench", "--memory", "10", "--threads",
            "2", "--json"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=220)
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = json.loads(done.stdout)["memory"]
    assert row["payments"] == 10 and row["settled"] == 10
    for name in (
        "memory_bytes_per_payment",
        "memory_bytes_per_payment_after_trim",
        "worker_cpu_ms_per_payment",
        "redis_commands_per_payment",
    ):
        assert isinstance(row[name], int | float), (name, row[name])
    assert row["events_trimmed"] > 0
