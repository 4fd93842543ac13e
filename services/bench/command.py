"""``b2bpay bench``: the command line of :mod:`services.bench.run`."""

from __future__ import annotations

import typer
from rich.console import Console

from services.bench.report import render
from services.bench.run import BenchOptions, run_bench


def bench(
    payments: int = typer.Option(400, "--payments", min=5, help="Payments (and chains) per burst."),
    rounds: int = typer.Option(3, "--rounds", min=1, max=20, help="Rounds, alternating order."),
    rate: list[float] = typer.Option(
        [5.0, 50.0], "--rate", min=0.1, help="Paced rates, payments per second (repeatable)."
    ),
    paced_seconds: float = typer.Option(4.0, "--paced-seconds", min=0.5),
    idle_seconds: float = typer.Option(3.0, "--idle-seconds", min=0.5),
    threads: int = typer.Option(8, "--threads", min=1, max=64, help="Threads per worker process."),
    redis_url: str | None = typer.Option(
        None,
        "--redis",
        help="Redis URL to run on (a key prefix of its own, deleted afterwards); "
        "default: a private redis-server on a free port.",
    ),
    memory: list[int] = typer.Option(
        [],
        "--memory",
        min=10,
        help="Instead: Redis memory and cost per payment for N payments, before and after "
        "trimming the events stream (repeatable: --memory 1000 --memory 10000).",
    ),
    as_json: bool = typer.Option(False, "--json", help="The whole result as JSON on stdout."),
) -> None:
    """Measure b2bpay against a bare dramatiq chain of the same hop count, in one run."""
    from shared.logging import configure_logging

    console = Console()
    configure_logging("json", "WARNING", stream=open("/dev/null", "w"))  # noqa: SIM115
    options = BenchOptions(
        payments=payments,
        rounds=rounds,
        rates=tuple(rate),
        paced_seconds=paced_seconds,
        idle_seconds=idle_seconds,
        threads=threads,
        redis_url=redis_url,
    )
    progress = Console(stderr=True)
    if memory:
        from services.bench.memory import measure_memory
        from services.bench.report import render_memory

        sizes = sorted(memory)
        rows = [
            measure_memory(n, threads, redis_url, lambda line: progress.print(f"[dim]{line}"))
            for n in sizes
        ]
        render_memory(
            rows, as_json, Console() if as_json else Console(width=max(console.width, 132))
        )
        return
    result = run_bench(options, lambda line: progress.print(f"[dim]{line}"))
    # A table of ratios is unreadable wrapped at 80 columns when written to a file or a pipe.
    render(result, as_json, Console() if as_json else Console(width=max(console.width, 132)))
