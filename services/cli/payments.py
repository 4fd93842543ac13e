"""People's commands on payments: ``submit``, ``confirm``, ``review``, ``challenge``, ``authorize``,
``cancel``. Each parses its input, calls :mod:`shared.client` and renders the verdict."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import typer

from services.cli import context
from services.cli.options import JSON, NO_WAIT, SESSION, WAIT, wait_seconds
from services.cli.output import NO_VERDICT, OK, REFUSED, console, emit, fail, fail_client
from shared import client
from shared.domain.errors import Refusal


def _render(sent: client.Sent, as_json: bool) -> None:
    """Print the verdict (or that the command is still queued) and exit with its code."""
    if sent.waited is None:
        queued = {"command_id": sent.command_id, "payment_id": sent.payment_id}
        emit({**queued, "outcome": "queued", "status": None}, as_json)
        raise typer.Exit(OK)
    if sent.verdict is None:
        emit(
            {
                "command_id": sent.command_id,
                "payment_id": sent.payment_id,
                "outcome": "queued",
                "status": None,
                "reason": f"no verdict within {sent.waited:g} s; the command is still queued",
            },
            as_json,
        )
        raise typer.Exit(NO_VERDICT)
    emit(sent.verdict.model_dump(), as_json, title="verdict")
    raise typer.Exit(REFUSED if sent.verdict.outcome == "refused" else OK)


def _approves(approve: bool, reject: bool, as_json: bool) -> bool:
    if approve == reject:
        fail("give exactly one of --approve or --reject", as_json)
    return approve


def _invalid(error: client.ClientError, as_json: bool) -> NoReturn:
    if isinstance(error, client.ReasonRequired):
        fail("--reject needs --reason", as_json)
    fail_client(error, as_json)


def _send(command: client.Command, wait: float | None, no_wait: bool, as_json: bool) -> None:
    # The command is checked before the dependencies are built: bad input is told as such
    # even when Redis or a setting is missing.
    deps = context.deps()
    _render(client.send(deps, command, wait_seconds(wait, no_wait)), as_json)


def submit(
    file: str = typer.Argument(
        ..., help="JSON file with the PaymentRequest fields, or - for stdin."
    ),
    session: str = SESSION,
    otp: str = typer.Option(..., "--otp", help="The applicant's one-time code."),
    wait: float | None = WAIT,
    no_wait: bool = NO_WAIT,
    as_json: bool = JSON,
) -> None:
    """Start a payment as applicant (seed steps 4-6)."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        fail(f"cannot read a JSON payment request from {file}: {e.__class__.__name__}", as_json)
    if not isinstance(data, dict):
        fail("the payment request must be a JSON object", as_json)
    if "session" in data or "otp" in data:
        fail("the file must not hold session or otp; pass --session and --otp", as_json)
    try:
        request = client.payment_request(data, session=session, otp=otp)
    except client.ClientError as error:
        _invalid(error, as_json)
    _send(request, wait, no_wait, as_json)


def confirm(
    payment_id: str,
    session: str = SESSION,
    otp: str = typer.Option(..., "--otp", help="The applicant's one-time code."),
    bank: str | None = typer.Option(
        None, "--bank", help="The B2B bank CODE to pay through, if the request named none."
    ),
    wait: float | None = WAIT,
    no_wait: bool = NO_WAIT,
    as_json: bool = JSON,
) -> None:
    """Take up a platform's payment request as applicant: choose the bank, confirm with a
    one-time code (seed steps 3-6)."""
    try:
        command = client.confirmation(payment_id, session=session, otp=otp, bank=bank)
    except client.ClientError as error:
        _invalid(error, as_json)
    _send(command, wait, no_wait, as_json)


def review(
    payment_id: str,
    approve: bool = typer.Option(False, "--approve"),
    reject: bool = typer.Option(False, "--reject"),
    reason: str = typer.Option("", "--reason"),
    session: str = SESSION,
    wait: float | None = WAIT,
    no_wait: bool = NO_WAIT,
    as_json: bool = JSON,
) -> None:
    """Review a payment as reviewer (seed steps 7-10)."""
    ok = _approves(approve, reject, as_json)
    try:
        decision = client.review_decision(payment_id, approve=ok, session=session, reason=reason)
    except client.ClientError as error:
        _invalid(error, as_json)
    _send(decision, wait, no_wait, as_json)


def authorize(
    payment_id: str,
    approve: bool = typer.Option(False, "--approve"),
    reject: bool = typer.Option(False, "--reject"),
    reason: str = typer.Option("", "--reason"),
    session: str = SESSION,
    otp: str = typer.Option(..., "--otp", help="The authorizer's one-time code."),
    wait: float | None = WAIT,
    no_wait: bool = NO_WAIT,
    as_json: bool = JSON,
) -> None:
    """Authorize a payment as authorizer, with a one-time code (seed steps 11-14)."""
    ok = _approves(approve, reject, as_json)
    try:
        decision = client.auth_decision(
            payment_id, approve=ok, session=session, otp=otp, reason=reason
        )
    except client.ClientError as error:
        _invalid(error, as_json)
    _send(decision, wait, no_wait, as_json)


def cancel(
    payment_id: str,
    session: str = SESSION,
    reason: str = typer.Option("", "--reason"),
    wait: float | None = WAIT,
    no_wait: bool = NO_WAIT,
    as_json: bool = JSON,
) -> None:
    """Withdraw a payment as applicant; only before it is authorized."""
    try:
        command = client.cancellation(payment_id, session=session, reason=reason)
    except client.ClientError as error:
        _invalid(error, as_json)
    _send(command, wait, no_wait, as_json)


def challenge(payment_id: str, session: str = SESSION, as_json: bool = JSON) -> None:
    """What the authorizer signs: your enterprise's payment's amount, currency and payee, and
    the challenge to answer with the token (`b2bpay otp --challenge C`)."""
    try:
        shown = client.challenge(context.deps(), payment_id, session=session)
    except client.ClientError as error:
        fail_client(error, as_json)
    except Refusal as refusal:
        # Nothing of a payment whose stored fields the content hash does not cover is shown:
        # not its amount, not its challenge.
        fail(refusal.detail, as_json, REFUSED, reason_code=refusal.reason_code.value)
    emit(shown, as_json, title=f"authorize {payment_id}")
    if not as_json and shown["challenge"]:
        console.print(
            f"Check amount and payee, then answer: [bold]b2bpay otp --challenge "
            f"{shown['challenge']}[/bold] (your token's URI on stdin)"
        )
