"""API fixtures: the stages as separate worker processes on the real test Redis and
``b2bpay serve`` as a real uvicorn process on a free port (:func:`tests.stack.launched`), with
a world of people seeded in-process (:mod:`shared.testing`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.bootstrap import bootstrap
from shared.domain.parties import Role
from shared.redis.directory import Directory
from shared.redis.keys import Keys
from shared.testing import World, cheap_hasher
from tests.stack import Stack, launched

STAGES = ("apply", "review", "authorize", "interbank", "query", "audit", "webhooks")
E1, E2 = "ACME-01", "OTHER-02"
ACC1, ACC2 = "62166001000011", "62166001000022"
#: name -> (role, enterprise)
ROSTER: dict[str, tuple[Role, str]] = {
    **{f"app{i}": ("applicant", E1) for i in range(1, 10)},
    "rev1": ("reviewer", E1),
    "auth1": ("authorizer", E1),
    "app_b": ("applicant", E2),
    "rev_b": ("reviewer", E2),
    "throttled": ("applicant", E1),
}


@contextmanager
def running_stack(
    redis_url: str,
    workdir: Path,
    roster: dict[str, tuple[Role, str]],
    extra_env: dict[str, str] | None = None,
    prefix_tag: str = "api",
) -> Iterator[Stack]:
    """The stages as worker processes and ``b2bpay serve``, with ``roster``'s people enrolled
    in two enterprises (E1, E2) banking with BOC; everything stopped and deleted after."""

    def enrol(stack: Stack) -> None:
        # Passwords hashed at argon2's cheapest, as in the fault suite: the server checks
        # each with the cost written in its hash, so every login costs the loaded machine
        # little (no test here is about the hash's cost).
        directory = Directory(stack.redis, Keys(stack.prefix), cheap_hasher())
        world = World(bootstrap(stack.settings_like(), stack.redis, directory))
        world.bank("BOC", "Bank of China")
        world.enterprise(E1, "Acme", ["BOC"], [ACC1])
        world.enterprise(E2, "Other", ["BOC"], [ACC2])
        stack.passwords.update({name: secrets.token_urlsafe(12) for name in roster})
        for name, (role, enterprise) in roster.items():
            world.enrol(name, enterprise, role, stack.passwords[name])
        stack.world = world

    env = {
        "B2BPAY_HTTP_WAIT_SECONDS": "8",
        # Every test logs in from 127.0.0.1: only the per-username limit is under test.
        "B2BPAY_LOGIN_CLIENT_MAX_FAILURES": "1000",
        **(extra_env or {}),
    }
    with launched(redis_url, workdir, STAGES, tag=prefix_tag, env=env, before=enrol) as stack:
        yield stack


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(redis_url, tmp_path_factory.mktemp("api"), ROSTER) as running:
        yield running
