"""Stage signing keys as an operator meets them: ``b2bpay admin keys`` writes them, and a
stage worker without its own private key refuses to start."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from shared.security.signing import STAGES

pytestmark = pytest.mark.e2e


def _b2bpay(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def env(redis_url: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("B2BPAY_")}
    return {
        **inherited,
        "B2BPAY_REDIS_URL": redis_url,
        "B2BPAY_PREFIX": prefix,
        "B2BPAY_DATABASE_URL": f"sqlite:///{tmp_path / 'read.db'}",
        "B2BPAY_SESSION_SECRET": "e2e-" + "0" * 60,
        # Stages need their TOTP keys too (user records, one-time codes), or refuse to start.
        "B2BPAY_TOTP_KEYS": "k1:" + base64.b64encode(bytes(32)).decode(),
        "B2BPAY_LOG_FORMAT": "json",
    }


def test_admin_keys_writes_a_pair_per_stage_and_prints_the_settings_to_use(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "keys"

    done = _b2bpay("admin", "keys", "--dir", str(folder), "--json", env=env)

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["env"]["B2BPAY_SIGNING_KEYS_DIR"] == str(folder.resolve())
    assert sorted(shown["private_keys"]) == sorted(STAGES)
    for stage in STAGES:
        assert stat.S_IMODE((folder / f"{stage}.key").stat().st_mode) == 0o600
        assert f"{stage}:" in shown["env"]["B2BPAY_SIGNING_PUBLIC_KEYS"]
    assert "PRIVATE KEY" not in done.stdout
    again = _b2bpay("admin", "keys", "--dir", str(folder), "--json", env=env)
    assert again.returncode == 2 and "already holds" in again.stdout


def test_a_stage_worker_without_its_own_private_key_refuses_to_start(
    env: dict[str, str], tmp_path: Path
) -> None:
    every = tmp_path / "every"
    assert _b2bpay("admin", "keys", "--dir", str(every), env=env).returncode == 0
    # The review process gets every public key and only the apply private key.
    review_folder = tmp_path / "review-host"
    review_folder.mkdir()
    for stage in STAGES:
        shutil.copy(every / f"{stage}.pub", review_folder)
    shutil.copy(every / "apply.key", review_folder)

    started = _b2bpay(
        "worker", "review", env={**env, "B2BPAY_SIGNING_KEYS_DIR": str(review_folder)}
    )

    assert started.returncode == 2
    assert "no private signing key" in started.stdout + started.stderr
