"""The options several commands share, each defined once, and reading a secret from stdin."""

from __future__ import annotations

import sys

import typer

from services.cli.api_client import DEFAULT_API_URL
from services.cli.output import fail

JSON = typer.Option(False, "--json", help="Print one JSON object (or JSON lines).")
SESSION = typer.Option(
    ...,
    "--session",
    envvar="B2BPAY_SESSION",
    help="Session token from `b2bpay login` (or $B2BPAY_SESSION).",
)
#: A people's command's session, where it may go without (``events``: the operators' stream).
MAYBE_SESSION = typer.Option(
    None,
    "--session",
    envvar="B2BPAY_SESSION",
    help="Session token from `b2bpay login` (or $B2BPAY_SESSION).",
)
API_URL = typer.Option(
    DEFAULT_API_URL,
    "--api-url",
    envvar="B2BPAY_API_URL",
    help="The b2bpay HTTP API (`b2bpay serve`) the people's commands speak to.",
)
WAIT = typer.Option(
    10.0,
    "--wait",
    envvar="B2BPAY_WAIT_SECONDS",
    help="Seconds to wait for the stage's verdict (default $B2BPAY_WAIT_SECONDS or 10).",
)
NO_WAIT = typer.Option(False, "--no-wait", help="Enqueue and return at once.")
PASSWORD_STDIN = typer.Option(False, "--password-stdin", help="Read the password from stdin.")


def wait_seconds(wait: float, no_wait: bool) -> float | None:
    """How long a command waits for its verdict: None with --no-wait, else --wait (or
    $B2BPAY_WAIT_SECONDS)."""
    return None if no_wait else wait


def read_secret_line(what: str, as_json: bool) -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail(f"expected the {what} on standard input", as_json)
    return line
