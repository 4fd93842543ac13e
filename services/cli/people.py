"""People's commands about themselves: ``login``, ``logout``, and ``otp`` (a software token)."""

from __future__ import annotations

import time

import typer

from services.cli.api_client import Api, ApiProblem, ApiUnreachable
from services.cli.options import API_URL, JSON, PASSWORD_STDIN, SESSION, read_secret_line
from services.cli.output import emit, fail, fail_api

#: What ``login`` prints of the new session, in order.
LOGIN_FIELDS = ("token", "expires_at", "idle_seconds", "username", "role")


def login(
    username: str,
    password_stdin: bool = PASSWORD_STDIN,
    api_url: str = API_URL,
    as_json: bool = JSON,
) -> None:
    """Check the password and print a signed session token; the session ends at
    expires_at, or earlier after idle_seconds without use, or at logout."""
    if not password_stdin:
        fail("pass --password-stdin and the password on standard input", as_json)
    password = read_secret_line("password", as_json)
    try:
        # Failures from one address count together at the server (the throttle's "client").
        opened = Api(api_url).call(
            "POST", "/v1/sessions", {"username": username, "password": password}
        )
    except (ApiProblem, ApiUnreachable) as error:
        # rate_limited is shown as it is: it is told alike for every username, known or not.
        fail_api(error, api_url, as_json)
    emit({k: opened.body.get(k) for k in LOGIN_FIELDS}, as_json)


def logout(session: str = SESSION, api_url: str = API_URL, as_json: bool = JSON) -> None:
    """End a session now: every stage refuses its token from then on."""
    try:
        Api(api_url, session).call("DELETE", "/v1/sessions/current")
    except (ApiProblem, ApiUnreachable) as error:
        fail_api(error, api_url, as_json)
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
    from shared.security.totp import STEP_SECONDS, code_for

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
