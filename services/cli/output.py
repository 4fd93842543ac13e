"""How the CLI speaks: one JSON object (or JSON lines) with ``--json``, rich tables without.
Exit codes: 0 ok, 1 refused, 2 bad input, 3 no verdict in time, 4 Redis (for the people's
commands: the API) unreachable.

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
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from services.cli.api_client import ApiProblem, ApiUnreachable
from shared.domain.text import INVISIBLE_CATEGORIES

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

OK, REFUSED, BAD_INPUT, NO_VERDICT, UNAVAILABLE = 0, 1, 2, 3, 4


@cache
def _console(stderr: bool) -> Console:
    # Built (and rich imported) on first use: a command that prints JSON never loads rich.
    from rich.console import Console

    # No highlighting or emoji codes: they would restyle data (":smile:" in a payee name).
    return Console(stderr=stderr, highlight=False, emoji=False)


def __getattr__(name: str) -> Console:
    # ``console`` (stdout) and ``errors`` (stderr), as module attributes built lazily.
    if name in ("console", "errors"):
        return _console(name == "errors")
    raise AttributeError(name)


def _shown(ch: str) -> str:
    if unicodedata.category(ch) not in INVISIBLE_CATEGORIES:
        return ch
    # Shown as its escape, so that the person sees something is there.
    return f"\\x{ord(ch):02x}" if ord(ch) <= 0xFF else f"\\u{ord(ch):04x}"


def inert(value: object) -> Text:
    """A value as text that shows exactly its characters: no markup is interpreted (a
    :class:`Text` is never parsed as markup) and every control or format character (escape
    sequences, carriage returns, bidirectional overrides...) is shown as its escape."""
    from rich.text import Text

    text = "" if value is None else str(value)
    return Text("".join(_shown(ch) for ch in text))


def emit(data: dict[str, Any], as_json: bool, title: str | None = None) -> None:
    if as_json:
        # json.dumps escapes every control and non-ASCII character (ensure_ascii).
        sys.stdout.write(json.dumps(data, default=str) + "\n")
        sys.stdout.flush()
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=None if title is None else inert(title), show_header=False, box=None)
    for key, value in data.items():
        if isinstance(value, list | dict):
            value = json.dumps(value, default=str)
        table.add_row(Text(inert(key).plain, style="bold"), inert(value))
    _console(False).print(table)


def fail(message: str, as_json: bool, code: int = BAD_INPUT, **extra: Any) -> NoReturn:
    """Print a clear error (to stdout as JSON with --json, else to stderr) and exit."""
    if as_json:
        sys.stdout.write(json.dumps({"error": message, **extra}) + "\n")
    else:
        from rich.text import Text

        _console(True).print(Text.assemble(("error:", "red"), " ", inert(message)))
    raise typer.Exit(code)


#: The reason codes the API gives for bad input: nothing was sent (exit 2).
BAD_INPUT_CODES = frozenset({"invalid_request", "reason_required"})


def fail_api(error: ApiProblem | ApiUnreachable, api_url: str, as_json: bool) -> NoReturn:
    """Show an API's refusal as the CLI always has: a stage's verdict (it names its command)
    as that verdict, exit 1; bad input, exit 2; any other refusal with its reason code, exit
    1; an API that is down or unreachable, exit 4."""
    if isinstance(error, ApiUnreachable):
        told = f"the API at {api_url} is not reachable ({error.cause}); nothing was changed"
        fail(told, as_json, UNAVAILABLE)
    if error.status >= 500:
        fail(f"the API is not available ({error.detail})", as_json, UNAVAILABLE)
    if error.command_id is not None:
        verdict = {
            "command_id": error.command_id,
            "outcome": "refused",
            "payment_id": error.payment_id,
            "status": None,
            "reason_code": error.reason_code,
            "reason": error.detail,
        }
        emit(verdict, as_json, title="verdict")
        raise typer.Exit(REFUSED)
    if error.reason_code in BAD_INPUT_CODES:
        fail(error.detail, as_json)
    fail(error.detail, as_json, REFUSED, reason_code=error.reason_code)
