"""Keys from files: ``b2bpay admin secrets`` writes every key a deployment needs (mode 0600),
a worker given only ``B2BPAY_SECRETS_DIR`` (no key in its environment, no development mode)
starts with them, says it is alive to ``b2bpay health``, and logs none of them."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.cli.secret_files import secret_values
from shared.config import SettingsError, load_settings

pytestmark = pytest.mark.e2e


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _bare_env() -> dict[str, str]:
    """This machine's environment without any b2bpay setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("B2BPAY_")}


def test_admin_secrets_writes_every_key_once_with_mode_0600(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    made = _cli(_bare_env(), "admin", "secrets", "--out", str(out), "--json")
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(secret_values())
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        assert path.read_text().strip() not in made.stdout
    again = _cli(_bare_env(), "admin", "secrets", "--out", str(out), "--json")
    assert again.returncode == 2 and "already holds" in again.stdout


def test_settings_come_from_the_secrets_folder_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "B2BPAY_SESSION_SECRET").write_text("from-the-file-" + "x" * 40 + "\n")
    (tmp_path / "B2BPAY_AUDIT_KEYS").write_text("a1:ZmlsZQ==\n")
    monkeypatch.setenv("B2BPAY_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("B2BPAY_AUDIT_KEYS", "a2:ZW52")
    settings = load_settings()
    assert settings.session_secret is not None
    assert settings.session_secret.get_secret_value() == "from-the-file-" + "x" * 40
    assert settings.audit_keys is not None and settings.audit_keys.get_secret_value() == "a2:ZW52"
    assert "from-the-file" not in repr(settings)
    monkeypatch.setenv("B2BPAY_SECRETS_DIR", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="B2BPAY_SECRETS_DIR"):
        load_settings()


def test_a_worker_runs_on_keys_from_files_alone_and_logs_none_of_them(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    out = tmp_path / "secrets"
    assert _cli(_bare_env(), "admin", "secrets", "--out", str(out)).returncode == 0
    env = {
        **_bare_env(),
        "B2BPAY_REDIS_URL": redis_url,
        "B2BPAY_PREFIX": prefix,
        "B2BPAY_SECRETS_DIR": str(out),
        "B2BPAY_HEALTH_FILE": str(tmp_path / "alive"),
        "B2BPAY_LOG_FORMAT": "json",
        "B2BPAY_LOG_LEVEL": "DEBUG",
    }
    assert _cli(env, "health").returncode == 1  # nothing has said it is alive yet
    log = tmp_path / "apply.log"
    with log.open("w") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "worker", "apply", "--threads", "1"],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while _cli(env, "health", "--max-age", "5").returncode != 0:
                assert worker.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, "the worker never said it was alive"
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert "worker started" in text
    for path in out.iterdir():
        value = path.read_text().strip()
        for line in value.splitlines():
            if len(line) > 8 and not line.startswith("-----"):
                assert line not in text, path.name
