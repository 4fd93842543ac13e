"""Real ``b2bpay`` processes as an operator starts them, without ``B2BPAY_DEV_MODE``: without
its keys a worker (or an admin command) exits with the missing setting named, never keeping
generated keys in Redis; with them it starts; and an authorize worker whose
``B2BPAY_AUTHORIZER_OTP`` differs from the deployment's is refused."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from shared.redis.deployment import check_authorizer_otp
from shared.redis.keys import Keys
from shared.security.keyring import KeyRing
from tests.stack import wait_until

pytestmark = pytest.mark.e2e
TOTP_KEYS = "k1:" + base64.b64encode(bytes(range(32))).decode()


def _b2bpay(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def keyless(redis_url: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    """An operator's environment with Redis and nothing else: no key, no development mode."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("B2BPAY_")}
    return {
        **inherited,
        "B2BPAY_REDIS_URL": redis_url,
        "B2BPAY_PREFIX": prefix,
        "B2BPAY_DATABASE_URL": f"sqlite:///{tmp_path / 'read.db'}",
        "B2BPAY_LOG_FORMAT": "json",
    }


@pytest.fixture
def keyed(keyless: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The same environment with every server key configured."""
    folder = tmp_path / "signing"
    assert _b2bpay("admin", "keys", "--dir", str(folder), env=keyless).returncode == 0
    return {
        **keyless,
        "B2BPAY_SESSION_SECRET": "e2e-" + "1" * 60,
        "B2BPAY_TOTP_KEYS": TOTP_KEYS,
        "B2BPAY_AUDIT_KEYS": "a1:" + base64.b64encode(bytes(range(1, 33))).decode(),
        "B2BPAY_SIGNING_KEYS_DIR": str(folder),
    }


def generated_secrets(redis_url: str, prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return list(client.scan_iter(match=f"{prefix}secret:*"))
    finally:
        client.close()


@pytest.mark.parametrize(
    ("stage", "named"),
    [
        ("apply", ("B2BPAY_SESSION_SECRET", "B2BPAY_TOTP_KEYS", "B2BPAY_SIGNING_KEYS_DIR")),
        ("audit", ("B2BPAY_AUDIT_KEYS",)),
    ],
)
def test_a_worker_started_without_its_keys_exits_naming_the_missing_settings(
    keyless: dict[str, str], redis_url: str, prefix: str, stage: str, named: tuple[str, ...]
) -> None:
    done = _b2bpay("worker", stage, env=keyless)
    assert done.returncode == 2, done.stdout + done.stderr
    for setting in named:
        assert setting in done.stderr
    assert "Traceback" not in done.stderr
    assert generated_secrets(redis_url, prefix) == []


def test_admin_add_user_without_the_totp_keys_exits_naming_the_setting(
    keyless: dict[str, str], redis_url: str, prefix: str
) -> None:
    assert (
        _b2bpay("admin", "add-bank", "BOC", "--name", "Bank of China", env=keyless).returncode == 0
    )
    enterprise = (
        "admin",
        "add-enterprise",
        "ACME",
        "--name",
        "Acme",
        "--bank",
        "BOC",
        "--account",
        "A",
    )
    assert _b2bpay(*enterprise, env=keyless).returncode == 0
    done = subprocess.run(
        [
            *(sys.executable, "-m", "services.cli.main", "admin", "add-user", "alice"),
            *("--enterprise", "ACME", "--role", "applicant", "--password-stdin"),
        ],
        input="alice-password\n",
        capture_output=True,
        text=True,
        env=keyless,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "B2BPAY_TOTP_KEYS" in done.stderr and "Traceback" not in done.stderr
    assert generated_secrets(redis_url, prefix) == []


def _start(env: dict[str, str], stage: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "worker", stage, "--threads", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_a_worker_with_all_its_keys_starts_without_development_mode(
    keyed: dict[str, str], redis_url: str, prefix: str, tmp_path: Path
) -> None:
    log = tmp_path / "apply.log"
    proc = _start(keyed, "apply", log)
    try:
        wait_until(
            "the apply worker to start",
            lambda: "worker started" in log.read_text() or proc.poll() is not None,
            30,
        )
        assert proc.poll() is None, log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()
    assert generated_secrets(redis_url, prefix) == []


def test_an_authorize_worker_with_another_code_mode_than_the_deployment_is_refused(
    keyed: dict[str, str], redis_url: str, prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        # The deployment's first worker recorded dynamic linking.
        check_authorizer_otp(client, Keys(prefix), KeyRing.parse(TOTP_KEYS), "ocra")
    finally:
        client.close()
    done = _b2bpay("worker", "authorize", env={**keyed, "B2BPAY_AUTHORIZER_OTP": "totp"})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "B2BPAY_AUTHORIZER_OTP is 'totp' here but 'ocra'" in done.stderr


@pytest.mark.parametrize("stages", [("query", "sweeper"), ("audit",)])
def test_a_worker_that_needs_no_signing_key_starts_without_one(
    keyless: dict[str, str], redis_url: str, prefix: str, tmp_path: Path, stages: tuple[str, ...]
) -> None:
    env = {**keyless, "B2BPAY_AUDIT_KEYS": "a1:" + base64.b64encode(bytes(range(1, 33))).decode()}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "worker", *stages, "--threads", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            f"the {stages} worker to start",
            lambda: "worker started" in log.read_text() or proc.poll() is not None,
            30,
        )
        assert proc.poll() is None, log.read_text()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()
    assert generated_secrets(redis_url, prefix) == []
