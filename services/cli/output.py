"""How the CLI speaks: one JSON object (or JSON lines) with ``--json``, rich tables without.
Exit codes: 0 ok, 1 refused, 2 bad input, 3 no verdict in time, 4 Redis unreachable."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

OK, REFUSED, BAD_INPUT, NO_VERDICT, UNAVAILABLE = 0, 1, 2, 3, 4
console = Console()
errors = Console(stderr=True)


def emit(data: dict[str, Any], as_json: bool, title: str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, default=str) + "\n")
        sys.stdout.flush()
        return
    table = Table(title=title, show_header=False, box=None)
    for key, value in data.items():
        if isinstance(value, list | dict):
            value = json.dumps(value, default=str)
        table.add_row(f"[bold]{key}[/bold]", "" if value is None else str(value))
    console.print(table)


def fail(message: str, as_json: bool, code: int = BAD_INPUT, **extra: Any) -> NoReturn:
    """Print a clear error (to stdout as JSON with --json, else to stderr) and exit."""
    if as_json:
        sys.stdout.write(json.dumps({"error": message, **extra}) + "\n")
    else:
        errors.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)
