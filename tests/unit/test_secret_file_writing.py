"""``b2bpay admin secrets`` against a local user on the same host: the folder the keys go to
must be one only its owner can change (else the files can be swapped for the attacker's own
keys after they were written), it ends 0700, and a file planted as a symlink is replaced,
never followed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from services.cli.secret_files import (
    SecretFilesRefused,
    UnsafeSecretFolder,
    secret_values,
    write_secret_files,
)


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o1777])
def test_a_folder_others_may_write_to_is_refused_and_nothing_written(
    tmp_path: Path, mode: int
) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    folder.chmod(mode)
    with pytest.raises(UnsafeSecretFolder, match="writable by others") as refused:
        write_secret_files(folder)
    assert isinstance(refused.value, SecretFilesRefused)
    assert list(folder.iterdir()) == []


def test_a_symlink_to_a_folder_others_may_write_to_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (tmp_path / "secrets").symlink_to(shared)
    with pytest.raises(UnsafeSecretFolder):
        write_secret_files(tmp_path / "secrets")
    assert list(shared.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the folder to another user")
def test_a_folder_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    with pytest.raises(UnsafeSecretFolder, match="owned by"):
        write_secret_files(folder)


def test_an_existing_folder_ends_0700(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    write_secret_files(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_file_planted_as_a_symlink_is_replaced_never_followed(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    victim.chmod(0o644)
    name = next(iter(secret_values()))
    (folder / name).symlink_to(victim)
    write_secret_files(folder, overwrite=True)
    assert victim.read_text() == "untouched"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not (folder / name).is_symlink()
    assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
