"""One-time-code bookkeeping under concurrent workers, on a real Redis."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pyotp
import pytest
import redis

from shared.app.deps import Deps
from shared.domain.errors import ReasonCode, Refusal
from shared.redis.keys import Keys
from shared.redis.otp import OtpVerifier
from shared.security.totp import code_for
from tests.integration.support import run_in_threads, wrong_code

pytestmark = pytest.mark.integration

CONTENDERS = 10
MAX_FAILURES = 5
USER = "alice"


def _verifiers(
    client_factory: Callable[[], redis.Redis], prefix: str, max_failures: int = MAX_FAILURES
) -> list[OtpVerifier]:
    return [
        OtpVerifier(client_factory(), Keys(prefix), max_failures=max_failures)
        for _ in range(CONTENDERS)
    ]


def _outcome(result: object) -> str:
    if result is None:
        return "ok"
    assert isinstance(result, Refusal), repr(result)
    return result.reason_code.value


def _otp_state(deps: Deps) -> dict[str, str]:
    raw = deps.redis.hgetall(deps.keys.otp_state(USER))
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_ten_concurrent_wrong_codes_lock_the_user_after_exactly_five_counted_failures(
    deps: Deps, prefix: str, client_factory: Callable[[], redis.Redis]
) -> None:
    secret = pyotp.random_base32()
    bad = wrong_code(secret)
    verifiers = _verifiers(client_factory, prefix)

    results = run_in_threads(CONTENDERS, lambda i: verifiers[i].verify(USER, secret, bad))

    outcomes = Counter(_outcome(r) for r in results)
    # Failures 1-4 are "invalid"; the 5th locks the user; once locked nothing more is counted.
    assert outcomes == {
        ReasonCode.OTP_INVALID.value: MAX_FAILURES - 1,
        ReasonCode.USER_LOCKED.value: CONTENDERS - MAX_FAILURES + 1,
    }
    state = _otp_state(deps)
    assert state["failures"] == str(MAX_FAILURES)
    assert state["locked"] == "1"
    assert deps.otp.is_locked(USER)

    with pytest.raises(Refusal) as refused:
        deps.otp.verify(USER, secret, code_for(secret))
    assert refused.value.reason_code == ReasonCode.USER_LOCKED
    assert _otp_state(deps)["failures"] == str(MAX_FAILURES)
    assert "last_step" not in _otp_state(deps)


def test_a_right_code_is_accepted_again_only_after_an_unlock(deps: Deps) -> None:
    secret = pyotp.random_base32()
    for _ in range(MAX_FAILURES):
        with pytest.raises(Refusal):
            deps.otp.verify(USER, secret, wrong_code(secret))
    assert deps.otp.is_locked(USER)

    deps.otp.unlock(USER)

    deps.otp.verify(USER, secret, code_for(secret))
    assert not deps.otp.is_locked(USER)
    assert _otp_state(deps)["failures"] == "0"


def test_ten_concurrent_uses_of_one_valid_code_accept_it_exactly_once(
    deps: Deps, prefix: str, client_factory: Callable[[], redis.Redis]
) -> None:
    secret = pyotp.random_base32()
    code = code_for(secret)
    # Each replay counts as a failed attempt; a limit above the number of contenders keeps
    # the lockout out of this test (the next test shows the two together).
    verifiers = _verifiers(client_factory, prefix, max_failures=CONTENDERS + 1)

    results = run_in_threads(CONTENDERS, lambda i: verifiers[i].verify(USER, secret, code))

    outcomes = Counter(_outcome(r) for r in results)
    assert outcomes == {"ok": 1, ReasonCode.OTP_REPLAYED.value: CONTENDERS - 1}
    assert _otp_state(deps)["failures"] == str(CONTENDERS - 1)


def test_concurrent_replays_of_a_used_code_count_towards_the_lockout(
    deps: Deps, prefix: str, client_factory: Callable[[], redis.Redis]
) -> None:
    secret = pyotp.random_base32()
    code = code_for(secret)
    verifiers = _verifiers(client_factory, prefix)

    results = run_in_threads(CONTENDERS, lambda i: verifiers[i].verify(USER, secret, code))

    outcomes = Counter(_outcome(r) for r in results)
    assert outcomes["ok"] == 1
    assert outcomes[ReasonCode.OTP_REPLAYED.value] == MAX_FAILURES - 1
    assert outcomes[ReasonCode.USER_LOCKED.value] == CONTENDERS - MAX_FAILURES
    assert _otp_state(deps)["failures"] == str(MAX_FAILURES)
    assert deps.otp.is_locked(USER)


def test_one_code_shown_at_once_for_one_purpose_is_accepted_by_all_and_replayed_for_another(
    deps: Deps, prefix: str, client_factory: Callable[[], redis.Redis]
) -> None:
    secret = pyotp.random_base32()
    code = code_for(secret)
    verifiers = _verifiers(client_factory, prefix)

    results = run_in_threads(
        CONTENDERS, lambda i: verifiers[i].verify(USER, secret, code, purpose="apply:req-1")
    )

    assert [_outcome(r) for r in results] == ["ok"] * CONTENDERS
    with pytest.raises(Refusal) as refused:
        deps.otp.verify(USER, secret, code, purpose="apply:req-2")
    assert refused.value.reason_code == ReasonCode.OTP_REPLAYED
    with pytest.raises(Refusal) as without_purpose:
        deps.otp.verify(USER, secret, code)
    assert without_purpose.value.reason_code == ReasonCode.OTP_REPLAYED
    assert _otp_state(deps)["failures"] == "2"
