"""The health file against a local user who can write where it lives (``/tmp``): a symlink
planted at its path is never followed by the worker (which would create or touch any file
the worker may write), and ``b2bpay health`` takes neither a symlink nor another user's file
as a sign of life (anyone could make a dead worker look alive)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.runtime.health import say_alive as _say_alive


def _health(path: Path) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("B2BPAY_")}
    env["B2BPAY_HEALTH_FILE"] = str(path)
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", "health", "--max-age", "30"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    ).returncode  # fmt: skip


def test_the_worker_never_follows_a_symlink_planted_at_the_health_file(tmp_path: Path) -> None:
    target = tmp_path / "made-by-the-worker"
    planted = tmp_path / "b2bpay-alive"
    planted.symlink_to(target)
    _say_alive(planted)
    assert not target.exists()


def test_the_worker_touches_its_own_file(tmp_path: Path) -> None:
    path = tmp_path / "b2bpay-alive"
    _say_alive(path)
    assert path.is_file() and not path.is_symlink()
    assert _health(path) == 0


def test_a_symlink_is_no_sign_of_life(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.touch()
    (tmp_path / "b2bpay-alive").symlink_to(fresh)
    assert _health(tmp_path / "b2bpay-alive") == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file another user's")
def test_another_users_file_is_no_sign_of_life(tmp_path: Path) -> None:
    path = tmp_path / "b2bpay-alive"
    path.touch()
    os.chown(path, 65534, 65534)
    assert _health(path) == 1
