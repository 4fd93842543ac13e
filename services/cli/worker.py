"""``b2bpay worker STAGE…``: parse the options, then run the worker runtime
(:mod:`services.runtime`)."""

from __future__ import annotations

import os

import typer

from services.cli.output import fail


def worker(
    stages: list[str] = typer.Argument(
        ...,
        help="apply review authorize interbank query sweeper audit webhooks relay intake (any of)",
    ),
    processes: int = typer.Option(1, "--processes", min=1, max=64),
    threads: int = typer.Option(4, "--threads", min=1, max=64),
    as_json: bool = typer.Option(False, "--json", help="Log JSON lines even on a terminal."),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve /metrics on this port (instead of B2BPAY_METRICS_PORT); with "
        "--processes N, process i uses this port + i.",
    ),
) -> None:
    """Run stage workers in this process (or N processes)."""
    from services.runtime.process import STAGES, run

    if as_json:
        os.environ["B2BPAY_LOG_FORMAT"] = "json"

    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        fail(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}", False)
    raise typer.Exit(run(stages, processes, threads, metrics_port))
