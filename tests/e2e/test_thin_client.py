"""The attack from issue 9: "with exactly what her own login needs, an applicant minted her
reviewer's and authorizer's sessions, decrypted the authorizer's secret..." - because every
people's command ran the engine with the server's Redis URL and secrets. Now a person's
process holds only the API's address and their session, and never opens Redis."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import code_of
from tests.stack import Stack, wait_until
from tests.unit.test_cli_imports import PROBE

E1, ACC1 = "THIN-E1", "62166001000077"
REDIS_PORT = 6379


def as_person(
    e2e: Stack, out: Path, *args: str, session: str | None = None, stdin: str = ""
) -> Any:
    """Run a people's command with nothing but the API's URL (and the session) in its
    environment; assert it touched nothing but the API."""
    env = {"B2BPAY_API_URL": e2e.base_url}
    if session is not None:
        env["B2BPAY_SESSION"] = session
    done = subprocess.run(
        [sys.executable, str(PROBE), str(out), *args, "--json"],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    probe = json.loads(out.read_text())
    api_port = e2e.base_url.rsplit(":", 1)[1]
    assert probe["connects"], "the command reached nothing"
    assert all(c.endswith(f", {api_port})") for c in probe["connects"]), probe["connects"]
    assert not any(f", {REDIS_PORT})" in c for c in probe["connects"])
    assert not [m for m in probe["modules"] if m.split(".")[0] in ("redis", "dramatiq")]
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def test_the_peoples_commands_work_end_to_end_with_only_the_api_url_and_never_open_redis(
    e2e: Stack, tmp_path: Path
) -> None:
    for args in (
        ("admin", "add-bank", "BOC", "--name", "Bank of China"),
        ("admin", "add-bank", "ICBC", "--name", "ICBC"),
        ("admin", "add-enterprise", E1, "--name", "Thin", "--bank", "BOC", "--account", ACC1),
    ):
        assert e2e.cli(*args, "--json").code in (0, 2)  # the banks may exist already
    people: dict[str, tuple[str, str]] = {}
    for name, role in (
        ("thin_app", "applicant"),
        ("thin_rev", "reviewer"),
        ("thin_auth", "authorizer"),
    ):
        password = secrets.token_urlsafe(12)
        added = e2e.cli(
            "admin", "add-user", name, "--enterprise", E1, "--role", role, "--password-stdin",
            "--json", stdin=password + "\n",
        )  # fmt: skip
        assert added.code == 0, added.stdout
        login = as_person(e2e, tmp_path / "login.json", "login", name, "--password-stdin",
                          stdin=password + "\n")  # fmt: skip
        people[name] = (added.data["totp_uri"], login["token"])
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "request_id": "thin-1",
                "order_id": "THIN-ORDER-1",
                "payer": {"enterprise_id": E1, "account": ACC1, "name": "Payer Co."},
                "payee": {"bank_code": "ICBC", "account": "62220200001234", "name": "Supplier"},
                "amount": "99.00",
                "currency": "CNY",
                "bank": "BOC",
                "purpose": "order payment",
            }
        )
    )
    uri, token = people["thin_app"]
    out = tmp_path / "probe.json"
    submitted = as_person(e2e, out, "submit", str(request), "--otp", code_of(uri), session=token)
    pid = submitted["payment_id"]
    assert submitted["outcome"] == "accepted"

    def reached(status: str) -> bool:
        shown = as_person(e2e, out, "status", pid, session=people["thin_rev"][1])
        return bool(shown.get("status") == status)

    wait_until("the payment to await review", lambda: reached("pending_review"))
    assert (
        as_person(e2e, out, "review", pid, "--approve", session=people["thin_rev"][1])["outcome"]
        == "accepted"
    )
    auth_uri, auth_token = people["thin_auth"]
    wait_until("the payment to await authorization", lambda: reached("pending_auth"))
    shown = as_person(e2e, out, "challenge", pid, session=auth_token)
    # The software token talks to no one (and may run anywhere).
    answer = e2e.cli("otp", "--challenge", shown["challenge"], "--json", stdin=auth_uri + "\n").data
    authorized = as_person(
        e2e, out, "authorize", pid, "--approve", "--otp", answer["code"], session=auth_token
    )
    assert authorized["outcome"] == "accepted"
    wait_until("the payment to settle", lambda: reached("settled"))
    listed = as_person(e2e, out, "list", "--status", "settled", session=token)
    assert pid in [p["payment_id"] for p in listed["payments"]]
    events = as_person(e2e, out, "events", "--payment", pid, session=token)
    assert events["payment_id"] == pid and events["status"] == "settled"
    assert as_person(e2e, out, "logout", session=token) == {"logged_out": True}
