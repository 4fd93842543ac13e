"""The people's commands are thin clients of the HTTP API: what their process loads. A
structural test, not a timed one: none of the engine (Redis, dramatiq, the composition root,
password hashing, key material) is imported to send one request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).parent.parent / "cli_probe.py"
#: What a person's machine never needs: a server's connections, secrets and keys.
SERVER_SIDE = (
    "redis",
    "dramatiq",
    "shared.bootstrap",
    "shared.config",
    "shared.app.client",
    "shared.redis",
    "shared.security",
    "argon2",
    "cryptography",
    "sqlalchemy",
    "httpx",
    "fastapi",
)


def loaded_by(tmp_path: Path, *args: str) -> list[str]:
    out = tmp_path / "probe.json"
    # Only the API's address: no Redis URL, no secret (a dead port: nothing answers).
    env = {"B2BPAY_API_URL": "http://127.0.0.1:9", "B2BPAY_SESSION": "t0ken"}
    subprocess.run(
        [sys.executable, str(PROBE), str(out), *args],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    modules: list[str] = json.loads(out.read_text())["modules"]
    return modules


def server_side(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in SERVER_SIDE or m.startswith(SERVER_SIDE)]


@pytest.mark.parametrize(
    "args",
    [
        ("login", "--help"),
        ("status", "--help"),
        ("status", "pay_1", "--json"),
        ("list", "--json"),
        ("review", "pay_1", "--approve", "--json"),
        ("authorize", "pay_1", "--approve", "--otp", "123456", "--json"),
        ("challenge", "pay_1", "--json"),
        ("events", "--json"),
        ("logout", "--json"),
    ],
)
def test_a_peoples_command_loads_nothing_of_the_engine(tmp_path: Path, args: tuple[str]) -> None:
    modules = loaded_by(tmp_path, *args)
    assert "services.cli.api_client" in modules  # the probe ran the command
    assert server_side(modules) == []


def test_a_server_side_command_still_loads_the_engine_it_needs(tmp_path: Path) -> None:
    # The probe itself would notice an engine import: an operator's command makes one.
    assert "shared.config" in loaded_by(tmp_path, "dlq", "list", "--json")


def test_an_unreachable_api_exits_4_and_says_nothing_was_changed(tmp_path: Path) -> None:
    env = {"B2BPAY_API_URL": "http://127.0.0.1:9", "B2BPAY_SESSION": "t0ken"}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "status", "pay_1", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 4
    error = json.loads(done.stdout)["error"]
    assert "not reachable" in error and "nothing was changed" in error and "t0ken" not in error
