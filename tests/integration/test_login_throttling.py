"""Login throttling on a real Redis: repeated failed logins for a username, or from one
client, are refused for a while (``rate_limited``) without the password even being checked;
the count is shared by every process; unknown usernames are counted exactly like known ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
import structlog
from argon2 import PasswordHasher

from shared.app import access
from shared.app.deps import Deps
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.domain.errors import ReasonCode, Refusal
from shared.redis.directory import Directory
from shared.redis.throttle import LoginThrottle, Throttled
from tests.integration.support import World, run_in_threads, seed_world
from tests.unit.support import Clock

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"  # as enrolled by seed_world
WRONG = "wrong horse battery"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def with_clock(deps: Deps, clock: Clock) -> Deps:
    """The deps, counting failed logins on the test's clock, with argon2 at its cheapest
    (these tests check many passwords; the cost is not what they are about)."""
    deps.logins = LoginThrottle.from_settings(deps.redis, deps.keys, deps.settings, clock=clock)
    fast = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    deps.directory = Directory(
        deps.redis, deps.keys, hasher=fast, totp_keys=deps.directory.totp_keys
    )
    return deps


@pytest.fixture
def world(deps: Deps, clock: Clock) -> World:
    return seed_world(with_clock(deps, clock))


def attempt(deps: Deps, username: str, password: str, client: str | None = None) -> str:
    """What one login attempt came to: "ok", "failed" or the reason code of a refusal."""
    try:
        opened = access.login(deps, username, password, client=client)
    except Refusal as refusal:
        return refusal.reason_code.value
    return "failed" if opened is None else "ok"


def test_after_five_wrong_passwords_even_the_right_one_is_refused_rate_limited(
    world: World,
) -> None:
    name = world.applicant.username
    outcomes = [attempt(world.deps, name, WRONG) for _ in range(6)]
    assert outcomes == ["failed"] * 5 + ["rate_limited"]
    assert attempt(world.deps, name, PASSWORD) == "rate_limited"


def test_a_refused_login_says_when_to_try_again_and_the_log_has_no_password(
    world: World,
) -> None:
    name = world.applicant.username
    with structlog.testing.capture_logs() as logs:
        for _ in range(5):
            attempt(world.deps, name, WRONG, client="203.0.113.7")
        with pytest.raises(Throttled) as raised:
            access.login(world.deps, name, PASSWORD, client="203.0.113.7")
    assert raised.value.reason_code is ReasonCode.RATE_LIMITED
    assert raised.value.retry_after_seconds == world.deps.settings.login_lockout_seconds
    assert "try again in 15 minutes" in str(raised.value)
    throttled = [e for e in logs if e["event"] == "login throttled"]
    assert throttled and throttled[-1]["username"] == name
    assert throttled[-1]["client"] == "203.0.113.7"
    assert throttled[-1]["reason_code"] == "rate_limited"
    assert not any(PASSWORD in str(e) or WRONG in str(e) for e in logs)


def test_a_second_process_shares_the_count(
    world: World,
    settings: Settings,
    clock: Clock,
    client_factory: Callable[[], redis.Redis],
) -> None:
    other = with_clock(bootstrap(settings, client_factory()), clock)
    name = world.applicant.username
    for deps in (world.deps, other, world.deps, other, world.deps):
        assert attempt(deps, name, WRONG) == "failed"
    assert attempt(other, name, PASSWORD) == "rate_limited"
    assert attempt(world.deps, name, PASSWORD) == "rate_limited"


def test_parallel_attempts_from_separate_processes_get_no_more_tries_than_the_threshold(
    world: World,
    settings: Settings,
    clock: Clock,
    client_factory: Callable[[], redis.Redis],
) -> None:
    contenders = [with_clock(bootstrap(settings, client_factory()), clock) for _ in range(12)]
    name = world.applicant.username
    outcomes = run_in_threads(12, lambda i: attempt(contenders[i], name, WRONG))
    assert sorted(map(str, outcomes)) == ["failed"] * 5 + ["rate_limited"] * 7


def test_after_the_lockout_the_right_password_works_again(world: World, clock: Clock) -> None:
    name = world.applicant.username
    for _ in range(6):
        attempt(world.deps, name, WRONG)
    clock.advance(world.deps.settings.login_lockout_seconds - 1)
    assert attempt(world.deps, name, PASSWORD) == "rate_limited"
    clock.advance(1)
    assert attempt(world.deps, name, PASSWORD) == "ok"


def test_failures_older_than_the_window_are_forgotten(world: World, clock: Clock) -> None:
    name = world.applicant.username
    for _ in range(4):
        assert attempt(world.deps, name, WRONG) == "failed"
    clock.advance(world.deps.settings.login_window_seconds)
    for _ in range(5):
        assert attempt(world.deps, name, WRONG) == "failed"
    assert attempt(world.deps, name, PASSWORD) == "rate_limited"


def test_a_success_resets_the_usernames_count(world: World) -> None:
    name = world.applicant.username
    for _ in range(4):
        assert attempt(world.deps, name, WRONG) == "failed"
    assert attempt(world.deps, name, PASSWORD) == "ok"
    for _ in range(5):
        assert attempt(world.deps, name, WRONG) == "failed"
    assert attempt(world.deps, name, PASSWORD) == "rate_limited"


def test_an_unknown_username_is_counted_and_refused_exactly_like_a_known_one(
    world: World,
) -> None:
    known = [attempt(world.deps, world.applicant.username, WRONG) for _ in range(7)]
    unknown = [attempt(world.deps, "nobody-at-all", WRONG) for _ in range(7)]
    assert known == unknown == ["failed"] * 5 + ["rate_limited"] * 2


def test_one_client_guessing_across_many_usernames_is_refused_after_its_own_threshold(
    world: World,
) -> None:
    limit = world.deps.settings.login_client_max_failures
    guesses = [attempt(world.deps, f"user-{n}", WRONG, client="198.51.100.9") for n in range(limit)]
    assert guesses == ["failed"] * limit
    # Every username is new, so only the client's count can stop this one, even with the
    # right password; another client is not affected.
    assert attempt(world.deps, world.applicant.username, PASSWORD, "198.51.100.9") == (
        "rate_limited"
    )
    assert attempt(world.deps, world.applicant.username, PASSWORD, "192.0.2.1") == "ok"


def test_a_locked_out_login_does_not_check_the_password(world: World) -> None:
    name = world.applicant.username
    for _ in range(5):
        attempt(world.deps, name, WRONG)
    checked: list[str] = []
    real = world.deps.directory.check_login

    def spy(username: str, password: str) -> object:
        checked.append(username)
        return real(username, password)

    world.deps.directory.check_login = spy  # type: ignore[method-assign]
    assert attempt(world.deps, name, PASSWORD) == "rate_limited"
    assert checked == []


def test_admin_unlock_lifts_the_login_lockout(world: World) -> None:
    name = world.applicant.username
    for _ in range(6):
        attempt(world.deps, name, WRONG)
    assert access.unlock(world.deps, name)
    assert attempt(world.deps, name, PASSWORD) == "ok"
