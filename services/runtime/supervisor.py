"""``--processes N``: N worker processes of the same stages, each started as ``python -m
services.runtime``, sent on the signals this one receives."""

from __future__ import annotations

import signal
import subprocess
import sys
from types import FrameType


def supervise(stages: list[str], processes: int, threads: int, metrics_port: int | None) -> int:
    """Run ``processes`` children until they end; the worst exit code of theirs."""
    argv = [
        sys.executable,
        "-m",
        "services.runtime",
        *stages,
        "--processes",
        "1",
        "--threads",
        str(threads),
    ]
    # Each child serves its own /metrics: one port cannot be bound twice, so child i takes
    # the configured port + i (its counters are its own; Prometheus sums the targets).
    children = [
        subprocess.Popen(
            argv if metrics_port is None else [*argv, "--metrics-port", str(metrics_port + i)]
        )
        for i in range(processes)
    ]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)
