"""One-time codes (shared.redis.otp): +-1 step, each code once per user, lockout after 5
failures."""

from __future__ import annotations

import fakeredis
import pyotp
import pytest

from shared.domain.errors import ReasonCode, Refusal
from shared.redis.keys import Keys
from shared.redis.otp import OtpVerifier
from shared.security.totp import LAST_ATTEMPT_WARNING, STEP_SECONDS, code_for
from tests.unit.support import Clock, wrong_code

#: A fixed secret, so every code below is deterministic (no one-in-a-million collisions).
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
OTHER_SECRET = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
USER = "alice"


@pytest.fixture
def verifier(redis_client: fakeredis.FakeRedis, keys: Keys, clock: Clock) -> OtpVerifier:
    return OtpVerifier(redis_client, keys, max_failures=5, valid_window=1, clock=clock)


def code(clock: Clock, steps: int = 0, secret: str = SECRET) -> str:
    return code_for(secret, clock() + steps * STEP_SECONDS)


def refused(
    verifier: OtpVerifier, the_code: str, user: str = USER, secret: str = SECRET
) -> ReasonCode:
    with pytest.raises(Refusal) as raised:
        verifier.verify(user, secret, the_code)
    return raised.value.reason_code


def test_the_codes_of_neighbouring_steps_differ(clock: Clock) -> None:
    """Precondition of every test here: the five codes around T0 are all different."""
    assert len({code(clock, k) for k in range(-2, 3)}) == 5


def test_a_current_code_is_accepted(verifier: OtpVerifier, clock: Clock) -> None:
    verifier.verify(USER, SECRET, code(clock))
    assert not verifier.is_locked(USER)


def test_code_for_gives_what_the_users_token_shows(clock: Clock) -> None:
    assert code(clock) == pyotp.TOTP(SECRET).at(clock())
    assert len(code(clock)) == 6 and code(clock).isdigit()


@pytest.mark.parametrize("steps", [-1, 1], ids=["previous-step", "next-step"])
def test_a_code_one_step_away_is_accepted(verifier: OtpVerifier, clock: Clock, steps: int) -> None:
    verifier.verify(USER, SECRET, code(clock, steps))


@pytest.mark.parametrize(
    "steps", [-2, 2, -10], ids=["two-steps-back", "two-steps-ahead", "five-minutes-old"]
)
def test_a_code_two_steps_away_is_refused_as_invalid(
    verifier: OtpVerifier, clock: Clock, steps: int
) -> None:
    assert refused(verifier, code(clock, steps)) is ReasonCode.OTP_INVALID


def test_the_code_of_another_secret_is_refused(verifier: OtpVerifier, clock: Clock) -> None:
    assert code(clock, secret=OTHER_SECRET) != code(clock)
    assert refused(verifier, code(clock, secret=OTHER_SECRET)) is ReasonCode.OTP_INVALID


def test_a_code_is_accepted_only_once(verifier: OtpVerifier, clock: Clock) -> None:
    the_code = code(clock)
    verifier.verify(USER, SECRET, the_code)
    assert refused(verifier, the_code) is ReasonCode.OTP_REPLAYED


def test_a_code_is_accepted_only_once_even_later_in_its_window(
    verifier: OtpVerifier, clock: Clock
) -> None:
    the_code = code(clock)
    verifier.verify(USER, SECRET, the_code)
    clock.advance(STEP_SECONDS)  # the code is now "the previous step", still within the window
    assert refused(verifier, the_code) is ReasonCode.OTP_REPLAYED


def test_an_older_code_after_a_newer_one_is_refused_as_replayed(
    verifier: OtpVerifier, clock: Clock
) -> None:
    verifier.verify(USER, SECRET, code(clock, 1))
    assert refused(verifier, code(clock, 0)) is ReasonCode.OTP_REPLAYED
    assert refused(verifier, code(clock, -1)) is ReasonCode.OTP_REPLAYED


def test_the_next_steps_code_is_accepted_after_the_current_one(
    verifier: OtpVerifier, clock: Clock
) -> None:
    verifier.verify(USER, SECRET, code(clock))
    clock.advance(STEP_SECONDS)
    verifier.verify(USER, SECRET, code(clock))


def test_a_code_used_by_one_user_is_still_fresh_for_another(
    verifier: OtpVerifier, clock: Clock
) -> None:
    verifier.verify("alice", SECRET, code(clock))
    verifier.verify("bob", SECRET, code(clock))


def test_five_consecutive_failures_lock_the_user(verifier: OtpVerifier, clock: Clock) -> None:
    bad = wrong_code(SECRET, clock())
    for attempt in range(1, 5):
        assert refused(verifier, bad) is ReasonCode.OTP_INVALID, f"attempt {attempt}"
        assert not verifier.is_locked(USER)
    assert refused(verifier, bad) is ReasonCode.USER_LOCKED
    assert verifier.is_locked(USER)


def test_a_locked_user_is_refused_even_with_the_right_code(
    verifier: OtpVerifier, clock: Clock
) -> None:
    bad = wrong_code(SECRET, clock())
    for _ in range(5):
        refused(verifier, bad)
    assert refused(verifier, code(clock)) is ReasonCode.USER_LOCKED
    clock.advance(STEP_SECONDS)
    assert refused(verifier, code(clock)) is ReasonCode.USER_LOCKED


def test_the_lock_is_per_user(verifier: OtpVerifier, clock: Clock) -> None:
    bad = wrong_code(SECRET, clock())
    for _ in range(5):
        refused(verifier, bad, user="mallory")
    assert verifier.is_locked("mallory")
    assert not verifier.is_locked(USER)
    verifier.verify(USER, SECRET, code(clock))


def test_replayed_codes_count_as_failures(verifier: OtpVerifier, clock: Clock) -> None:
    the_code = code(clock)
    verifier.verify(USER, SECRET, the_code)
    reasons = [refused(verifier, the_code) for _ in range(5)]
    assert reasons == [ReasonCode.OTP_REPLAYED] * 4 + [ReasonCode.USER_LOCKED]


def test_a_success_resets_the_failure_count(verifier: OtpVerifier, clock: Clock) -> None:
    bad = wrong_code(SECRET, clock())
    for _ in range(4):
        assert refused(verifier, bad) is ReasonCode.OTP_INVALID
    verifier.verify(USER, SECRET, code(clock))
    clock.advance(STEP_SECONDS)
    bad = wrong_code(SECRET, clock())
    for attempt in range(1, 5):
        assert refused(verifier, bad) is ReasonCode.OTP_INVALID, (
            f"attempt {attempt} after the reset"
        )
    assert not verifier.is_locked(USER)
    assert refused(verifier, bad) is ReasonCode.USER_LOCKED


def test_unlock_clears_the_lock(verifier: OtpVerifier, clock: Clock) -> None:
    bad = wrong_code(SECRET, clock())
    for _ in range(5):
        refused(verifier, bad)
    assert verifier.is_locked(USER)
    verifier.unlock(USER)
    assert not verifier.is_locked(USER)
    verifier.verify(USER, SECRET, code(clock))


def test_unlock_also_clears_the_failure_count(verifier: OtpVerifier, clock: Clock) -> None:
    bad = wrong_code(SECRET, clock())
    for _ in range(5):
        refused(verifier, bad)
    verifier.unlock(USER)
    for attempt in range(1, 5):
        assert refused(verifier, bad) is ReasonCode.OTP_INVALID, f"attempt {attempt} after unlock"


def test_unlock_does_not_make_a_used_code_fresh_again(verifier: OtpVerifier, clock: Clock) -> None:
    the_code = code(clock)
    verifier.verify(USER, SECRET, the_code)
    verifier.unlock(USER)
    assert refused(verifier, the_code) is ReasonCode.OTP_REPLAYED


def test_a_window_of_zero_accepts_only_the_current_step(
    redis_client: fakeredis.FakeRedis, keys: Keys, clock: Clock
) -> None:
    strict = OtpVerifier(redis_client, keys, max_failures=5, valid_window=0, clock=clock)
    assert refused(strict, code(clock, -1)) is ReasonCode.OTP_INVALID
    assert refused(strict, code(clock, 1)) is ReasonCode.OTP_INVALID
    strict.verify(USER, SECRET, code(clock))


def test_matching_step_names_the_step_the_code_belongs_to(
    verifier: OtpVerifier, clock: Clock
) -> None:
    current = int(clock()) // STEP_SECONDS
    assert verifier.matching_step(SECRET, code(clock)) == current
    assert verifier.matching_step(SECRET, code(clock, -1)) == current - 1
    assert verifier.matching_step(SECRET, code(clock, 1)) == current + 1
    assert verifier.matching_step(SECRET, code(clock, 2)) == -1


def test_the_refusals_do_not_echo_the_code(verifier: OtpVerifier, clock: Clock) -> None:
    the_code = code(clock)
    verifier.verify(USER, SECRET, the_code)
    with pytest.raises(Refusal) as raised:
        verifier.verify(USER, SECRET, the_code)
    assert the_code not in str(raised.value)
    assert SECRET not in str(raised.value)


def test_the_same_code_for_the_very_same_purpose_is_accepted_again(
    verifier: OtpVerifier, clock: Clock
) -> None:
    """Two deliveries of one idempotent request may both show its code; the atomic create,
    not the code check, decides which wins."""
    the_code = code(clock)
    verifier.verify(USER, SECRET, the_code, purpose="apply:req-1:abc")
    verifier.verify(USER, SECRET, the_code, purpose="apply:req-1:abc")


def test_the_same_code_for_another_purpose_is_a_replay(verifier: OtpVerifier, clock: Clock) -> None:
    the_code = code(clock)
    verifier.verify(USER, SECRET, the_code, purpose="apply:req-1:abc")
    with pytest.raises(Refusal) as raised:
        verifier.verify(USER, SECRET, the_code, purpose="apply:req-2:def")
    assert raised.value.reason_code is ReasonCode.OTP_REPLAYED
    with pytest.raises(Refusal) as raised:
        verifier.verify(USER, SECRET, the_code)
    assert raised.value.reason_code is ReasonCode.OTP_REPLAYED


def test_a_purpose_does_not_revive_an_older_steps_code(verifier: OtpVerifier, clock: Clock) -> None:
    verifier.verify(USER, SECRET, code(clock, 0), purpose="authorize:cmd-1")
    verifier.verify(USER, SECRET, code(clock, 1), purpose="authorize:cmd-2")
    with pytest.raises(Refusal) as raised:
        verifier.verify(USER, SECRET, code(clock, 0), purpose="authorize:cmd-1")
    assert raised.value.reason_code is ReasonCode.OTP_REPLAYED


def refusal(verifier: OtpVerifier, the_code: str) -> Refusal:
    with pytest.raises(Refusal) as raised:
        verifier.verify(USER, SECRET, the_code)
    return raised.value


def test_the_failure_that_leaves_one_attempt_warns_of_the_lock(
    verifier: OtpVerifier, clock: Clock
) -> None:
    bad = wrong_code(SECRET, clock())
    refusals = [refusal(verifier, bad) for _ in range(5)]
    warned = [LAST_ATTEMPT_WARNING in r.detail for r in refusals]
    assert warned == [False, False, False, True, False]
    assert refusals[3].reason_code is ReasonCode.OTP_INVALID
    assert (
        refusals[3].detail == "one-time code is not valid; 1 attempt left before the user is locked"
    )
    assert refusals[4].reason_code is ReasonCode.USER_LOCKED


def test_a_replay_that_leaves_one_attempt_warns_of_the_lock(
    verifier: OtpVerifier, clock: Clock
) -> None:
    the_code = code(clock)
    verifier.verify(USER, SECRET, the_code)
    for _ in range(3):
        assert LAST_ATTEMPT_WARNING not in refusal(verifier, the_code).detail
    last = refusal(verifier, the_code)
    assert last.reason_code is ReasonCode.OTP_REPLAYED
    assert LAST_ATTEMPT_WARNING in last.detail


def test_the_warning_follows_the_configured_limit(
    redis_client: fakeredis.FakeRedis, keys: Keys, clock: Clock
) -> None:
    strict = OtpVerifier(redis_client, keys, max_failures=2, clock=clock)
    bad = wrong_code(SECRET, clock())
    first = refusal(strict, bad)
    assert (first.reason_code, LAST_ATTEMPT_WARNING in first.detail) == (
        ReasonCode.OTP_INVALID,
        True,
    )
    assert refusal(strict, bad).reason_code is ReasonCode.USER_LOCKED


def test_after_an_unlock_the_warning_comes_again_before_the_last_attempt(
    verifier: OtpVerifier, clock: Clock
) -> None:
    bad = wrong_code(SECRET, clock())
    for _ in range(5):
        refusal(verifier, bad)
    verifier.unlock(USER)
    warned = [LAST_ATTEMPT_WARNING in refusal(verifier, bad).detail for _ in range(4)]
    assert warned == [False, False, False, True]
