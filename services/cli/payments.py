"""People's commands on payments: ``submit``, ``confirm``, ``review``, ``challenge``, ``authorize``,
``cancel``. Each parses its input, sends one request to the HTTP API (:mod:`.api_client`) and
renders its answer: the stage's verdict, or that the command is still queued."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.text import Text

from services.cli.api_client import Answer, Api, ApiProblem, ApiUnreachable, quoted
from services.cli.options import API_URL, JSON, NO_WAIT, SESSION, WAIT, wait_seconds
from services.cli.output import NO_VERDICT, OK, console, emit, fail, fail_api, inert
from shared.domain.text import INVISIBLE_TEXT, is_visible_text

#: The only PaymentRequest schema a person submits (v2 is a platform's, over its API key).
REQUEST_SCHEMA = "b2bpay.payment_request.v1"
#: How often a command the API answered 202 is asked for its verdict.
POLL_SECONDS = 0.2


def _verdict(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "command_id": body.get("command_id"),
        "outcome": body.get("outcome"),
        "payment_id": body.get("payment_id"),
        "status": body.get("status"),
        "reason_code": None,
        "reason": None,
    }


def _queued(body: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    shown = {"command_id": body.get("command_id"), "payment_id": body.get("payment_id")}
    shown.update({"outcome": "queued", "status": None})
    return shown if reason is None else {**shown, "reason": reason}


def _render(api: Api, answer: Answer, wait: float | None, as_json: bool) -> NoReturn:
    """Print the verdict (or that the command is still queued) and exit with its code. A 202
    is asked again at its Location until ``wait`` seconds have passed since the command."""
    deadline = time.monotonic() + (wait or 0)
    body: dict[str, Any] = answer.body or {}
    while answer.status == 202:
        if wait is None:
            emit(_queued(body), as_json)
            raise typer.Exit(OK)
        if time.monotonic() >= deadline:
            told = f"no verdict within {wait:g} s; the command is still queued"
            emit(_queued(body, told), as_json)
            raise typer.Exit(NO_VERDICT)
        time.sleep(POLL_SECONDS)  # bounded by the deadline above
        location = answer.headers.get("location") or f"/v1/commands/{body.get('command_id')}"
        polled = api.call("GET", location)
        if polled.body and polled.body.get("outcome") != "queued":
            answer, body = polled, {**body, **polled.body}
    emit(_verdict(body), as_json, title="verdict")
    raise typer.Exit(OK)


def _send(
    api_url: str,
    session: str,
    path: str,
    body: dict[str, Any],
    wait: float | None,
    as_json: bool,
    headers: dict[str, str] | None = None,
) -> NoReturn:
    api = Api(api_url, session)
    if wait is None:
        # --no-wait: the server answers 202 with the command's URL at once (RFC 7240).
        headers = {**(headers or {}), "Prefer": "respond-async"}
    try:
        _render(api, api.call("POST", path, body, headers=headers), wait, as_json)
    except (ApiProblem, ApiUnreachable) as error:
        fail_api(error, api_url, as_json)


def _visible(reason: str, as_json: bool) -> None:
    # Checked here too: free text is bad input (exit 2) whoever the session is.
    if not is_visible_text(reason):
        fail(f"reason: {INVISIBLE_TEXT}", as_json)


def _approves(approve: bool, reject: bool, reason: str, as_json: bool) -> bool:
    if approve == reject:
        fail("give exactly one of --approve or --reject", as_json)
    if reject and not reason.strip():
        fail("--reject needs --reason", as_json)
    _visible(reason, as_json)
    return approve


def _request_file(file: str, as_json: bool) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        fail(f"cannot read a JSON payment request from {file}: {e.__class__.__name__}", as_json)
    if not isinstance(data, dict):
        fail("the payment request must be a JSON object", as_json)
    if "session" in data or "otp" in data:
        fail("the file must not hold session or otp; pass --session and --otp", as_json)
    return data


def submit(
    file: str = typer.Argument(
        ..., help="JSON file with the PaymentRequest fields, or - for stdin."
    ),
    session: str = SESSION,
    otp: str = typer.Option(..., "--otp", help="The applicant's one-time code."),
    wait: float = WAIT,
    no_wait: bool = NO_WAIT,
    api_url: str = API_URL,
    as_json: bool = JSON,
) -> None:
    """Start a payment as applicant (seed steps 4-6)."""
    data = _request_file(file, as_json)
    if data.pop("schema", REQUEST_SCHEMA) != REQUEST_SCHEMA:
        fail(f"invalid payment request: schema: a person submits {REQUEST_SCHEMA}", as_json)
    request_id = data.pop("request_id", None)
    if not isinstance(request_id, str) or not request_id:
        fail("invalid payment request: request_id: a non-empty string is required", as_json)
    # The API names the attempt itself: a command id is not the sender's to choose there.
    data.pop("command_id", None)
    headers = {"Idempotency-Key": request_id}
    body = {**data, "otp": otp}
    _send(api_url, session, "/v1/payments", body, wait_seconds(wait, no_wait), as_json, headers)


def confirm(
    payment_id: str,
    session: str = SESSION,
    otp: str = typer.Option(..., "--otp", help="The applicant's one-time code."),
    bank: str | None = typer.Option(
        None, "--bank", help="The B2B bank CODE to pay through, if the request named none."
    ),
    wait: float = WAIT,
    no_wait: bool = NO_WAIT,
    api_url: str = API_URL,
    as_json: bool = JSON,
) -> None:
    """Take up a platform's payment request as applicant: choose the bank, confirm with a
    one-time code (seed steps 3-6)."""
    body: dict[str, Any] = {"otp": otp} if bank is None else {"otp": otp, "bank": bank}
    path = f"/v1/payments/{quoted(payment_id)}/confirmation"
    _send(api_url, session, path, body, wait_seconds(wait, no_wait), as_json)


def review(
    payment_id: str,
    approve: bool = typer.Option(False, "--approve"),
    reject: bool = typer.Option(False, "--reject"),
    reason: str = typer.Option("", "--reason"),
    session: str = SESSION,
    wait: float = WAIT,
    no_wait: bool = NO_WAIT,
    api_url: str = API_URL,
    as_json: bool = JSON,
) -> None:
    """Review a payment as reviewer (seed steps 7-10)."""
    body = {"approve": _approves(approve, reject, reason, as_json), "reason": reason}
    path = f"/v1/payments/{quoted(payment_id)}/review"
    _send(api_url, session, path, body, wait_seconds(wait, no_wait), as_json)


def authorize(
    payment_id: str,
    approve: bool = typer.Option(False, "--approve"),
    reject: bool = typer.Option(False, "--reject"),
    reason: str = typer.Option("", "--reason"),
    session: str = SESSION,
    otp: str = typer.Option(..., "--otp", help="The authorizer's one-time code."),
    wait: float = WAIT,
    no_wait: bool = NO_WAIT,
    api_url: str = API_URL,
    as_json: bool = JSON,
) -> None:
    """Authorize a payment as authorizer, with a one-time code (seed steps 11-14)."""
    ok = _approves(approve, reject, reason, as_json)
    body = {"approve": ok, "reason": reason, "otp": otp}
    path = f"/v1/payments/{quoted(payment_id)}/authorization"
    _send(api_url, session, path, body, wait_seconds(wait, no_wait), as_json)


def cancel(
    payment_id: str,
    session: str = SESSION,
    reason: str = typer.Option("", "--reason"),
    wait: float = WAIT,
    no_wait: bool = NO_WAIT,
    api_url: str = API_URL,
    as_json: bool = JSON,
) -> None:
    """Withdraw a payment as applicant; only before it is authorized."""
    _visible(reason, as_json)
    path = f"/v1/payments/{quoted(payment_id)}/cancellation"
    _send(api_url, session, path, {"reason": reason}, wait_seconds(wait, no_wait), as_json)


def challenge(
    payment_id: str, session: str = SESSION, api_url: str = API_URL, as_json: bool = JSON
) -> None:
    """What the authorizer signs: your enterprise's payment's amount, currency and payee, and
    the challenge to answer with the token (`b2bpay otp --challenge C`)."""
    try:
        shown = Api(api_url, session).call("GET", f"/v1/payments/{quoted(payment_id)}/challenge")
    except (ApiProblem, ApiUnreachable) as error:
        # A payment whose stored fields the content hash does not cover is refused: nothing
        # of it is shown, not its amount, not its challenge.
        fail_api(error, api_url, as_json)
    emit(shown.body, as_json, title=f"authorize {payment_id}")
    if not as_json and shown.body.get("challenge"):
        answer = Text.assemble(("b2bpay otp --challenge ", "bold"), inert(shown.body["challenge"]))
        console.print(
            Text.assemble("Check amount and payee, then answer: ", answer),
            "(your token's URI on stdin)",
        )
