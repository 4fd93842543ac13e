"""The dead-letter queue keeps no secret, whatever the field is called and however deep it
sits, and keeps no byte of a body that is not even a message; it is capped per queue."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import context
from services.cli.main import app
from shared.app.deps import Deps

SECRETS = ("v1.SESSIONTOKEN.sig", "493817", "hunter2-password", "s3cr3t-value", "AUTHCODE77")

#: A message an attacker (or a confused client) sends with secrets under other names.
MESSAGE: dict[str, Any] = {
    "request_id": "r-1",
    "command_id": "cmd-1",
    "session_token": SECRETS[0],
    "OTP": SECRETS[1],
    "a": [{"Password": SECRETS[2]}, {"deeper": {"ClientSecret": SECRETS[3]}}],
    "auth_code": SECRETS[4],
    "payee": {"bank_code": "PAYEEBK", "account": "DE0012345678"},
    "reason_code": "invalid_request",
}


def _cli(monkeypatch: pytest.MonkeyPatch, deps: Deps, *args: str) -> str:
    monkeypatch.setattr(context, "deps", lambda: deps)
    monkeypatch.setattr(context, "settings", lambda: deps.settings)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.stdout
    return result.stdout


def _stored(deps: Deps) -> str:
    """Every byte the dead-letter queue holds in Redis."""
    values = []
    for key in deps.redis.scan_iter(match=f"{deps.keys.dead_letters}*"):
        if deps.redis.type(key) == b"hash":
            values.append(json.dumps({str(k): str(v) for k, v in deps.redis.hgetall(key).items()}))
    return "\n".join(values)


def test_secrets_under_any_name_at_any_depth_never_reach_a_dead_letter(
    monkeypatch: pytest.MonkeyPatch, deps: Deps
) -> None:
    dead_letter_id = deps.deadletters.add("apply", "apply_payment", "m-1", "invalid", MESSAGE)

    letter = deps.deadletters.get(dead_letter_id)
    assert letter is not None
    shown = _cli(monkeypatch, deps, "dlq", "show", dead_letter_id, "--json")
    listed = _cli(monkeypatch, deps, "dlq", "list", "--json")
    for secret in SECRETS:
        assert secret not in _stored(deps)
        assert secret not in shown
        assert secret not in listed
    assert letter.payload["session_token"] == letter.payload["OTP"] == "[removed]"
    assert letter.payload["a"] == [
        {"Password": "[removed]"},
        {"deeper": {"ClientSecret": "[removed]"}},
    ]
    # Fields of our own contracts that only look like secrets stay, so a letter stays useful.
    assert letter.payload["payee"] == {"bank_code": "PAYEEBK", "account": "DE0012345678"}
    assert (letter.payload["command_id"], letter.payload["reason_code"]) == (
        "cmd-1",
        "invalid_request",
    )


def test_an_undecodable_body_is_kept_only_as_its_size_and_hash(
    monkeypatch: pytest.MonkeyPatch, deps: Deps
) -> None:
    body = b'\xff\xfe{"otp": "493817", "password": "hunter2-password"} and garbage'

    dead_letter_id = deps.deadletters.add_undecodable("apply", "m-2", "undecodable", body)

    letter = deps.deadletters.get(dead_letter_id)
    assert letter is not None
    assert letter.payload == {
        "undecodable": True,
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    shown = _cli(monkeypatch, deps, "dlq", "show", dead_letter_id, "--json")
    for secret in ("493817", "hunter2", "otp", "garbage"):
        assert secret not in _stored(deps)
        assert secret not in shown
