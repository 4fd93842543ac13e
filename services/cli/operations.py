"""Operators' commands: running workers, the demo, the contracts' schemas, and the audit trail.
The dead-letter, read-model and stream commands are in :mod:`services.cli.ops`."""

from __future__ import annotations

import json
import os
import re
import sys

import typer
from rich.table import Table
from rich.text import Text

from services.cli import context
from services.cli.options import JSON
from services.cli.output import BAD_INPUT, REFUSED, console, emit, fail, inert
from shared.security.keyring import KeyRingError

audit = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")

_ANCHOR = re.compile(r"([1-9][0-9]*):([0-9a-f]{64})")


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
    from services.cli.worker import STAGES, run

    if as_json:
        os.environ["B2BPAY_LOG_FORMAT"] = "json"

    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        fail(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}", False)
    raise typer.Exit(run(stages, processes, threads, metrics_port))


def health(
    max_age: float = typer.Option(
        30.0, "--max-age", min=1, help="Seconds since the worker last said it was alive."
    ),
) -> None:
    """Exit 0 if this host's worker touched its B2BPAY_HEALTH_FILE within --max-age seconds,
    else 1: a container's health check. Reads nothing else (no Redis)."""
    import time

    found = context.settings().health_file
    if found is None:
        fail("B2BPAY_HEALTH_FILE is not set: the worker keeps no health file", False)
    import os
    import stat

    try:
        st = found.lstat()
    except OSError:
        raise typer.Exit(REFUSED) from None
    # A symlink, or a file of another user, is no worker's sign of life: anyone may make one.
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        raise typer.Exit(REFUSED)
    age = time.time() - st.st_mtime
    raise typer.Exit(0 if age <= max_age else REFUSED)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
) -> None:
    """Run the HTTP API (OpenAPI at /openapi.json, docs at /docs) until interrupted."""
    from services.api.app import serve as run_api
    from shared.logging import configure_logging

    settings = context.settings()
    # A server, not a one-shot command: its INFO lines (failed logins, throttling) are the
    # operator's record, as the workers' are.
    configure_logging(settings.log_format, settings.log_level)
    run_api(settings, host, port)


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


@audit.command("verify")
def audit_verify(
    anchor: str | None = typer.Option(
        None,
        "--anchor",
        help="SEQ:MAC of an entry recorded earlier (from a previous verify, kept outside "
        "Redis): it must still be in the chain, unchanged.",
    ),
    as_json: bool = JSON,
) -> None:
    """Check the hash chain from its first entry; name the first broken entry (exit 1), or
    print the head to record as a later anchor (exit 0)."""
    from services.audit.auditor import audit_log_of

    pinned: tuple[int, str] | None = None
    if anchor is not None:
        match = _ANCHOR.fullmatch(anchor.strip().lower())
        if match is None:
            fail("--anchor is SEQ:MAC, e.g. 1200:<64 hex digits>", as_json, BAD_INPUT)
        pinned = (int(match[1]), match[2])
    deps = context.deps()
    try:
        log = audit_log_of(deps)
    except KeyRingError as err:
        fail(f"B2BPAY_AUDIT_KEYS: {err}", as_json, BAD_INPUT)
    result = log.verify(pinned)
    shown = result.as_dict()
    shown["events_not_yet_chained"] = max(0, int(deps.redis.xlen(deps.keys.events)) - log.audited())
    if as_json:
        emit(shown, True)
    else:
        table = Table(show_header=False, box=None)
        table.add_column("what")
        table.add_column("value", overflow="fold")  # the head is recorded whole, as an anchor
        table.add_row("[bold]entries verified[/bold]", str(result.entries))
        table.add_row("[bold]head[/bold]", f"{result.head_seq}:{result.head_mac}")
        table.add_row("[bold]events not yet chained[/bold]", str(shown["events_not_yet_chained"]))
        console.print(table)
        if result.broken is None:
            console.print("[green]The audit chain is intact.[/green]")
        else:
            console.print(
                Text.assemble(
                    ("The audit chain is broken:", "red"), " ", inert(result.broken.reason)
                )
            )
    raise typer.Exit(0 if result.ok else REFUSED)
