"""The worker runtime's tables: every stage is a queue stage (the routes table) or a follower
(the follower table), what a worker needs derives from both, and neither the runtime, the
demo nor the bench goes through the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import services
from services.cli.output import BAD_INPUT, UNAVAILABLE
from services.runtime import errors
from services.runtime.followers import FOLLOWERS, followers_of
from services.runtime.needs import WORKER_NEEDS, worker_needs
from shared.domain.stages import Stage
from shared.messaging.routes import QUEUE_STAGES
from shared.security.keyneeds import KeyNeed

SESSION, TOTP, AUDIT, SIGNING = KeyNeed.SESSION, KeyNeed.TOTP, KeyNeed.AUDIT, KeyNeed.SIGNING


def test_every_stage_is_either_a_queue_stage_or_a_follower() -> None:
    followers = [f.stage for f in FOLLOWERS]
    assert len(followers) == len(set(followers))
    assert not set(followers) & set(QUEUE_STAGES)
    assert {*followers, *QUEUE_STAGES} == set(Stage)
    assert len({f.name for f in FOLLOWERS}) == len(FOLLOWERS)


def test_the_followers_of_some_stages_come_in_the_tables_order() -> None:
    chosen = followers_of(["intake", "apply", "query"])
    assert [f.stage for f in chosen] == [Stage.QUERY, Stage.INTAKE]


def test_what_each_worker_needs_is_what_it_always_needed() -> None:
    assert {
        Stage.APPLY: {SESSION, TOTP, SIGNING},
        Stage.REVIEW: {SESSION, TOTP, SIGNING},
        Stage.AUTHORIZE: {SESSION, TOTP, SIGNING},
        Stage.INTERBANK: {SIGNING},
        Stage.AUDIT: {AUDIT},
        Stage.QUERY: set(),
        Stage.SWEEPER: set(),
        Stage.WEBHOOKS: {TOTP},
        Stage.RELAY: set(),
        Stage.INTAKE: {TOTP},
    } == WORKER_NEEDS
    assert worker_needs(["interbank", "audit"]) == {SIGNING, AUDIT}
    assert worker_needs(["query", "sweeper"]) == frozenset()


def test_the_runtime_says_errors_with_the_clis_exit_codes() -> None:
    assert (errors.BAD_INPUT, errors.UNAVAILABLE) == (BAD_INPUT, UNAVAILABLE)


def _cli_references(path: Path) -> list[str]:
    """Imports of ``services.cli`` and strings naming it as a module to run."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("services.cli"):
            found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("services.cli")]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("services.cli")
        ):
            found.append(node.value)
    return found


def test_the_runtime_the_demo_and_the_bench_do_not_go_through_the_cli() -> None:
    root = Path(services.__file__).parent
    for package in ("runtime", "demo", "bench"):
        for path in sorted((root / package).glob("*.py")):
            assert _cli_references(path) == [], path
