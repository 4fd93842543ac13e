"""``B2BPAY_SECRETS_DIR`` against a local user on the same host: a folder or a file of it that
another user may change (swap a key, or add ``B2BPAY_DEV_MODE`` or another setting) is
refused, naming the path and never a value; a key others may read is started with, but
warned about."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.config import SettingsError, load_settings

SECRET = "from-the-file-" + "x" * 40


def _folder(tmp_path: Path, mode: int = 0o600) -> Path:
    folder = tmp_path / "run-secrets"
    folder.mkdir(mode=0o700)
    key = folder / "B2BPAY_SESSION_SECRET"
    key.write_text(SECRET)
    key.chmod(mode)
    return folder


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("B2BPAY_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_key_file_others_may_write_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    folder = _folder(tmp_path, mode)
    monkeypatch.setenv("B2BPAY_SECRETS_DIR", str(folder))
    with pytest.raises(SettingsError, match=r"B2BPAY_SESSION_SECRET.*writable by others") as e:
        load_settings()
    assert SECRET not in str(e.value)


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o770])
def test_a_folder_others_may_add_settings_to_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    folder = _folder(tmp_path)
    folder.chmod(mode)
    # What such a folder lets any local user do: switch development mode on.
    (folder / "B2BPAY_DEV_MODE").write_text("1")
    monkeypatch.setenv("B2BPAY_SECRETS_DIR", str(folder))
    with pytest.raises(SettingsError, match=r"B2BPAY_SECRETS_DIR.*writable by others"):
        load_settings()


def test_a_key_file_others_may_read_is_used_but_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("B2BPAY_SECRETS_DIR", str(_folder(tmp_path, 0o644)))
    settings = load_settings()
    assert settings.session_secret is not None
    err = capsys.readouterr().err
    assert "B2BPAY_SESSION_SECRET" in err and "readable by others" in err
    assert SECRET not in err


def test_a_key_file_of_mode_0600_is_read_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("B2BPAY_SECRETS_DIR", str(_folder(tmp_path)))
    settings = load_settings()
    assert settings.session_secret is not None
    assert settings.session_secret.get_secret_value() == SECRET
    assert capsys.readouterr().err == ""


def test_a_key_file_its_group_may_read_is_read_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("B2BPAY_SECRETS_DIR", str(_folder(tmp_path, 0o640)))
    assert load_settings().session_secret is not None
    assert capsys.readouterr().err == ""
