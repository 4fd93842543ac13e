"""How the CLI speaks: one JSON object (or JSON lines) with ``--json``, rich tables without.
Exit codes: 0 ok, 1 refused, 2 bad input, 3 no verdict in time, 4 Redis unreachable.

Data is never printed as rich markup: every value shown (names, reasons, ids, anything read
from Redis or typed by someone) goes through :func:`inert`, so ``[/bold]`` prints as those
characters instead of crashing the command, ``[conceal]`` hides nothing, and an escape
sequence cannot rewrite what the person sees (say, the amount they are about to authorize).
Markup is kept for the CLI's own fixed strings only.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shared.client import ClientError
from shared.domain.contracts import INVISIBLE_CATEGORIES

OK, REFUSED, BAD_INPUT, NO_VERDICT, UNAVAILABLE = 0, 1, 2, 3, 4
# No highlighting or emoji codes: they would restyle data (":smile:" in a payee name).
console = Console(highlight=False, emoji=False)
errors = Console(stderr=True, highlight=False, emoji=False)


def _shown(ch: str) -> str:
    if unicodedata.category(ch) not in INVISIBLE_CATEGORIES:
        return ch
    # Shown as its escape, so that the person sees something is there.
    return f"\\x{ord(ch):02x}" if ord(ch) <= 0xFF else f"\\u{ord(ch):04x}"


def inert(value: object) -> Text:
    """A value as text that shows exactly its characters: no markup is interpreted (a
    :class:`Text` is never parsed as markup) and every control or format character (escape
    sequences, carriage returns, bidirectional overrides...) is shown as its escape."""
    text = "" if value is None else str(value)
    return Text("".join(_shown(ch) for ch in text))


def emit(data: dict[str, Any], as_json: bool, title: str | None = None) -> None:
    if as_json:
        # json.dumps escapes every control and non-ASCII character (ensure_ascii).
        sys.stdout.write(json.dumps(data, default=str) + "\n")
        sys.stdout.flush()
        return
    table = Table(title=None if title is None else inert(title), show_header=False, box=None)
    for key, value in data.items():
        if isinstance(value, list | dict):
            value = json.dumps(value, default=str)
        table.add_row(Text(inert(key).plain, style="bold"), inert(value))
    console.print(table)


def fail(message: str, as_json: bool, code: int = BAD_INPUT, **extra: Any) -> NoReturn:
    """Print a clear error (to stdout as JSON with --json, else to stderr) and exit."""
    if as_json:
        sys.stdout.write(json.dumps({"error": message, **extra}) + "\n")
    else:
        errors.print(Text.assemble(("error:", "red"), " ", inert(message)))
    raise typer.Exit(code)


def fail_client(error: ClientError, as_json: bool) -> NoReturn:
    """Show why the client sent or showed nothing: bad input (exit 2), or a refusal with its
    reason code (exit 1)."""
    if error.reason_code is None:
        fail(str(error), as_json)
    fail(str(error), as_json, REFUSED, reason_code=error.reason_code)
