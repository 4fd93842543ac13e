"""The CLI's access commands and what it shows of refusals, on a fake Redis (no workers)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from services.cli import context
from services.cli.main import app
from shared.app.deps import Deps
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.domain.contracts import Verdict
from shared.redis.directory import TOTP_FIELD, Directory
from shared.redis.keys import Keys
from shared.security.disclosure import AUTHENTICATION_FAILED
from shared.security.keyring import KeyRing
from shared.security.totp import LAST_ATTEMPT_WARNING
from tests.unit.cli_api import serve_in_process
from tests.unit.support import PAYER, PAYER_ACCOUNT, World

OLD = "k1:" + base64.b64encode(bytes(range(32))).decode()
NEW = "k2:" + base64.b64encode(bytes(range(100, 132))).decode()


def run(monkeypatch: pytest.MonkeyPatch, deps: Deps, *args: str, stdin: str = "") -> Any:
    monkeypatch.setattr(context, "deps", lambda: deps)
    monkeypatch.setattr(context, "settings", lambda: deps.settings)
    serve_in_process(monkeypatch, deps)
    result = CliRunner().invoke(app, [*args, "--json"], input=stdin)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, json.loads(lines[-1]) if lines else {}


def test_login_prints_a_token_with_its_lifetime_and_idle_timeout(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    code, data = run(
        monkeypatch, world.deps, "login", "alice", "--password-stdin", stdin="alice-password\n"
    )
    assert code == 0
    assert (data["username"], data["role"], data["idle_seconds"]) == ("alice", "applicant", 300)
    assert world.deps.sessions.verify(data["token"]).username == "alice"


def test_a_refused_login_says_only_that_authentication_failed(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    wrong = run(monkeypatch, world.deps, "login", "alice", "--password-stdin", stdin="nope\n")
    unknown = run(monkeypatch, world.deps, "login", "ghost", "--password-stdin", stdin="nope\n")
    world.deps.directory.set_active("alice", False)
    disabled = run(
        monkeypatch, world.deps, "login", "alice", "--password-stdin", stdin="alice-password\n"
    )
    assert wrong == unknown == disabled
    assert wrong[0] == 1 and wrong[1]["reason_code"] == AUTHENTICATION_FAILED


def test_after_repeated_failed_logins_the_cli_says_when_to_try_again_alike_for_any_username(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    def login(name: str, password: str) -> tuple[int, dict[str, Any]]:
        return run(monkeypatch, world.deps, "login", name, "--password-stdin", stdin=password)

    for name in ("alice", "ghost"):
        assert [login(name, "nope\n")[0] for _ in range(5)] == [1] * 5
    known, unknown = login("alice", "alice-password\n"), login("ghost", "alice-password\n")
    assert (
        known
        == unknown
        == (
            1,
            {
                "error": "too many failed logins; try again in 15 minutes",
                "reason_code": "rate_limited",
            },
        )
    )


def test_logout_ends_the_session(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    token = world.session(world.applicant)
    assert run(monkeypatch, world.deps, "logout", "--session", token) == (
        0,
        {"logged_out": True},
    )
    code, data = run(monkeypatch, world.deps, "logout", "--session", token[:-3] + "AAA")
    assert (code, data["reason_code"]) == (1, AUTHENTICATION_FAILED)


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (("admin", "disable", "alice"), {"username": "alice", "active": False}),
        (("admin", "enable", "alice"), {"username": "alice", "active": True}),
        (("admin", "revoke", "alice"), {"username": "alice", "sessions_revoked": True}),
        (("admin", "unlock", "alice"), {"username": "alice", "locked": False}),
    ],
)
def test_the_admin_access_commands_report_what_they_did_and_refuse_unknown_users(
    monkeypatch: pytest.MonkeyPatch, world: World, command: tuple[str, ...], shown: dict[str, Any]
) -> None:
    assert run(monkeypatch, world.deps, *command) == (0, shown)
    code, data = run(monkeypatch, world.deps, *command[:-1], "ghost")
    assert code == 2 and "unknown user" in data["error"]


def test_rotate_totp_key_re_encrypts_under_the_new_key_and_then_has_nothing_to_do(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    redis_client: fakeredis.FakeRedis,
    keys: Keys,
) -> None:
    before = Directory(redis_client, keys, totp_keys=KeyRing.parse(OLD))
    before.add_bank("BANK", "Bank", True)
    before.add_enterprise(PAYER, "Acme", ["BANK"], [PAYER_ACCOUNT], True)
    users = [before.add_user(n, PAYER, "applicant", "password1")[0] for n in ("ann", "ben")]
    deps = bootstrap(
        settings.model_copy(update={"totp_keys": SecretStr(f"{NEW},{OLD}")}), redis_client
    )

    assert run(monkeypatch, deps, "admin", "rotate-totp-key") == (
        0,
        {"users": 2, "reencrypted": 2, "key_id": "k2"},
    )
    assert run(monkeypatch, deps, "admin", "rotate-totp-key")[1]["reencrypted"] == 0
    after = Directory(redis_client, keys, totp_keys=KeyRing.parse(NEW))
    for user in users:
        assert redis_client.hget(keys.user(user.username), TOTP_FIELD).startswith(b"k2:")
        found = after.user(user.username)
        assert found is not None and found.totp_secret == user.totp_secret


def _submit_answered_by(
    monkeypatch: pytest.MonkeyPatch, world: World, tmp_path: Path, verdict: Verdict
) -> tuple[int, dict[str, Any]]:
    """Submit through the CLI (and the API); the stage answers with ``verdict``, under the id
    the API gave the command (shown back as ``data["sent"]``)."""
    request = {k: v for k, v in world.request().items() if k not in ("session", "otp")}
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    sent: list[str] = []

    def answered(queue: str, actor_name: str, payload: dict[str, Any]) -> str:
        sent.append(payload["command_id"])
        answer = verdict.model_copy(update={"command_id": payload["command_id"]})
        world.deps.redis.rpush(world.deps.keys.verdict(answer.command_id), answer.model_dump_json())
        return "m-1"

    monkeypatch.setattr(world.deps, "dispatch", answered)
    code, data = run(
        monkeypatch,
        world.deps,
        "submit",
        str(path),
        "--session",
        world.session(world.applicant),
        "--otp",
        "123456",
    )
    assert len(sent) == 1
    return code, {**data, "sent": sent[0]}


@pytest.mark.parametrize("reason_code", ["otp_invalid", "session_revoked", "user_locked"])
def test_an_authentication_refusal_is_shown_without_saying_which_factor_failed(
    monkeypatch: pytest.MonkeyPatch, world: World, tmp_path: Path, reason_code: str
) -> None:
    verdict = Verdict(
        command_id="cmd-1",
        outcome="refused",
        payment_id="pay_x",
        status=None,
        reason_code=reason_code,
        reason="the precise reason",
    )
    code, data = _submit_answered_by(monkeypatch, world, tmp_path, verdict)
    assert code == 1
    assert (data["command_id"], data["reason_code"]) == (data["sent"], AUTHENTICATION_FAILED)
    assert "precise" not in data["reason"]


def test_the_warning_before_the_last_attempt_is_shown(
    monkeypatch: pytest.MonkeyPatch, world: World, tmp_path: Path
) -> None:
    verdict = Verdict(
        command_id="cmd-2",
        outcome="refused",
        payment_id="pay_x",
        status=None,
        reason_code="otp_invalid",
        reason=f"one-time code is not valid; {LAST_ATTEMPT_WARNING}",
    )
    code, data = _submit_answered_by(monkeypatch, world, tmp_path, verdict)
    assert (code, data["reason_code"]) == (1, AUTHENTICATION_FAILED)
    assert data["reason"].endswith(LAST_ATTEMPT_WARNING)
    assert "one-time code is not valid" not in data["reason"]


def test_other_refusals_are_shown_with_their_own_code(
    monkeypatch: pytest.MonkeyPatch, world: World, tmp_path: Path
) -> None:
    verdict = Verdict(
        command_id="cmd-3",
        outcome="refused",
        payment_id="pay_x",
        status=None,
        reason_code="wrong_role",
        reason="this step needs the applicant role",
    )
    code, data = _submit_answered_by(monkeypatch, world, tmp_path, verdict)
    assert (code, data["reason_code"], data["reason"]) == (
        1,
        "wrong_role",
        "this step needs the applicant role",
    )


def test_migrate_users_seals_records_from_before_once_and_lists_them(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    deps, key = world.deps, world.deps.keys.user("alice")
    deps.redis.hdel(key, "mac", TOTP_FIELD)
    deps.redis.hset(key, "totp_secret", world.applicant.totp_secret)
    assert deps.directory.user("alice") is None

    assert run(monkeypatch, deps, "admin", "migrate-users", "--trust-unsealed") == (
        0,
        {"users": 3, "migrated": ["alice"], "refused": [], "unsealed": []},
    )
    assert run(monkeypatch, deps, "admin", "migrate-users")[1]["migrated"] == []
    assert deps.directory.user("alice") == world.applicant


def test_migrate_users_without_trust_lists_records_lacking_their_seal_and_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    deps, key = world.deps, world.deps.keys.user("alice")
    deps.redis.hdel(key, "mac", TOTP_FIELD)
    deps.redis.hset(key, "totp_secret", world.applicant.totp_secret)

    code, data = run(monkeypatch, deps, "admin", "migrate-users")

    assert (code, data["migrated"], data["unsealed"]) == (1, [], ["alice"])
    assert data["error"].startswith("record lacks its seal: alice; ")
    assert deps.directory.user("alice") is None


def test_migrate_users_lists_a_record_that_fails_its_check_and_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    world.deps.redis.hset(world.deps.keys.user("bob"), "role", "authorizer")
    code, data = run(monkeypatch, world.deps, "admin", "migrate-users")
    assert (code, data["refused"]) == (1, ["bob"])


def test_enabling_a_tampered_user_is_refused_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    world.deps.redis.hset(world.deps.keys.user("alice"), "active", "0")
    code, data = run(monkeypatch, world.deps, "admin", "enable", "alice")
    assert code == 2 and "does not verify" in data["error"]
