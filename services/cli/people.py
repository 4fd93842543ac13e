"""People's commands about themselves: ``login``, ``logout``, and ``otp`` (a software token)."""

from __future__ import annotations

import socket
import time

import typer

from services.cli import context
from services.cli.options import JSON, PASSWORD_STDIN, SESSION, read_secret_line
from services.cli.output import REFUSED, emit, fail, fail_client
from shared import client
from shared.security.throttle import Throttled


def login(username: str, password_stdin: bool = PASSWORD_STDIN, as_json: bool = JSON) -> None:
    """Check the password and print a signed session token; the session ends at
    expires_at, or earlier after idle_seconds without use, or at logout."""
    if not password_stdin:
        fail("pass --password-stdin and the password on standard input", as_json)
    password = read_secret_line("password", as_json)
    try:
        # The CLI's client is its host: failures from one machine count together.
        opened = client.login(
            context.deps(), username, password, client=f"host:{socket.gethostname()}"
        )
    except Throttled as throttled:
        # Shown as it is: it is told alike for every username, known or not.
        fail(throttled.detail, as_json, REFUSED, reason_code=throttled.reason_code.value)
    except client.AuthenticationFailed as failed:
        fail_client(failed, as_json)
    emit(
        {
            "token": opened.token,
            "expires_at": opened.session.expires_at,
            "idle_seconds": opened.idle_seconds,
            "username": opened.session.username,
            "role": opened.session.role,
        },
        as_json,
    )


def logout(session: str = SESSION, as_json: bool = JSON) -> None:
    """End a session now: every stage refuses its token from then on."""
    try:
        client.logout(context.deps(), session)
    except client.AuthenticationFailed as failed:
        fail_client(failed, as_json)
    emit({"logged_out": True}, as_json)


def otp(
    offset: int = typer.Option(0, "--offset", help="Steps of 30 s from now."),
    challenge: str | None = typer.Option(
        None,
        "--challenge",
        help="Answer this challenge (from `b2bpay challenge PAYMENT_ID`): the authorizer's "
        "code, bound to the payment.",
    ),
    as_json: bool = JSON,
) -> None:
    """A software token for demos and tests: reads an otpauth:// URI (or base32 secret) on
    stdin and prints the current one-time code, or with --challenge the OCRA response."""
    import pyotp

    from shared.security.ocra import ChallengeError, code_for_challenge, normalize_challenge
    from shared.security.otp import STEP_SECONDS, code_for

    if challenge is not None:
        try:
            challenge = normalize_challenge(challenge)
        except ChallengeError as err:
            fail(str(err), as_json)
    line = read_secret_line("otpauth:// URI or secret", as_json)
    at = time.time() + offset * STEP_SECONDS
    try:
        secret = pyotp.parse_uri(line).secret if line.startswith("otpauth://") else line
        if challenge is None:
            code = code_for(secret, at)
        else:
            code = code_for_challenge(secret, challenge, at)
    except (ValueError, TypeError):
        fail("not an otpauth:// URI or base32 secret", as_json)
    emit({"code": code}, as_json)
