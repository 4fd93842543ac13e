"""Settings that weaken authentication are bounded, and every worker of a deployment must use
the deployment's mode of the authorizer's code (dynamic linking cannot be turned off by one
process, nor by flipping the recorded mode in Redis)."""

from __future__ import annotations

import base64

import fakeredis
import pytest
from pydantic import ValidationError

from shared.config import Settings, SettingsError, load_settings
from shared.redis.deployment import (
    DeploymentMismatch,
    check_authorizer_otp,
    reseal_authorizer_otp,
)
from shared.redis.keys import Keys
from shared.security.keyring import KeyRing

K1 = ("k1", bytes(range(32)))
K2 = ("k2", bytes(range(50, 82)))


def ring(*entries: tuple[str, bytes]) -> KeyRing:
    return KeyRing.parse(",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in entries))


@pytest.mark.parametrize("value", [0, -1, 11, 1000])
def test_otp_max_failures_outside_one_to_ten_is_refused(value: int) -> None:
    with pytest.raises(ValidationError, match="otp_max_failures"):
        Settings(otp_max_failures=value)


@pytest.mark.parametrize("value", [1, 5, 10])
def test_otp_max_failures_from_one_to_ten_is_accepted(value: int) -> None:
    assert Settings(otp_max_failures=value).otp_max_failures == value


@pytest.mark.parametrize("value", [301, 3600])
def test_a_session_idle_timeout_over_five_minutes_is_refused(value: int) -> None:
    with pytest.raises(ValidationError, match="session_idle_seconds"):
        Settings(session_idle_seconds=value)


def test_an_out_of_bounds_environment_variable_is_named_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("B2BPAY_OTP_MAX_FAILURES", "50")
    monkeypatch.setenv("B2BPAY_SESSION_IDLE_SECONDS", "900")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "B2BPAY_OTP_MAX_FAILURES" in message and "B2BPAY_SESSION_IDLE_SECONDS" in message
    assert "50" not in message.replace("B2BPAY", "")  # never echoes the values


def test_the_first_worker_records_the_mode_and_a_worker_with_another_mode_is_refused(
    redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    check_authorizer_otp(redis_client, keys, ring(K1), "ocra")
    check_authorizer_otp(redis_client, keys, ring(K1), "ocra")
    with pytest.raises(DeploymentMismatch, match="B2BPAY_AUTHORIZER_OTP is 'totp' here"):
        check_authorizer_otp(redis_client, keys, ring(K1), "totp")


def test_a_recorded_mode_flipped_in_redis_is_refused(
    redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    check_authorizer_otp(redis_client, keys, ring(K1), "ocra")
    recorded = redis_client.get(keys.recorded_authorizer_otp)
    assert recorded is not None
    redis_client.set(keys.recorded_authorizer_otp, recorded.replace(b"ocra", b"totp", 1))
    with pytest.raises(DeploymentMismatch, match="integrity"):
        check_authorizer_otp(redis_client, keys, ring(K1), "totp")


def test_rotation_seals_the_recorded_mode_under_the_new_key(
    redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    check_authorizer_otp(redis_client, keys, ring(K1), "ocra")
    assert reseal_authorizer_otp(redis_client, keys, ring(K2, K1))
    check_authorizer_otp(redis_client, keys, ring(K2), "ocra")
