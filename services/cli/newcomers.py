"""What someone new to b2bpay runs first, without a deployment: the demo (the whole flow on
an embedded Redis, or a Redis of theirs) and the message contracts' JSON Schemas (to write a
client)."""

from __future__ import annotations

import json
import sys

import typer

from services.cli.options import JSON
from services.cli.output import fail


def demo(
    payments: int = typer.Option(200, "--payments", min=10, max=100_000),
    redis_url: str | None = typer.Option(
        None, "--redis", help="Run on this Redis instead of an embedded one."
    ),
    threads: int = typer.Option(4, "--threads", min=1, max=64),
    as_json: bool = JSON,
    serve: bool = typer.Option(
        False,
        "--serve",
        help="Afterwards keep the stages and the web screens running (Ctrl-C stops), with "
        "alice, bob and carol's passwords and tokens printed and payments waiting.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="With --serve: address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="With --serve: port."),
) -> None:
    """Run the whole flow: seed data, push payments through every stage, report."""
    from services.demo.run import Serve, run_demo

    where = Serve(host, port) if serve else None
    raise typer.Exit(run_demo(payments, redis_url, threads, as_json, where))


def schema(
    name: str | None = typer.Argument(
        None,
        help="payment_request | review_decision | auth_decision | cancel_payment | handoff | "
        "status_event",
    ),
    as_json: bool = typer.Option(True, "--json", help="Always JSON; accepted for symmetry."),
) -> None:
    """Print the JSON Schema of the message contracts (all of them, or one)."""
    from shared.domain.contracts import CONTRACTS

    if name is not None and name not in CONTRACTS:
        fail(f"unknown contract {name!r}; choose from {', '.join(CONTRACTS)}", True)
    chosen = {name: CONTRACTS[name]} if name else CONTRACTS
    schemas = {key: model.model_json_schema(by_alias=True) for key, model in chosen.items()}
    sys.stdout.write(json.dumps(schemas[name] if name else schemas, indent=2) + "\n")
