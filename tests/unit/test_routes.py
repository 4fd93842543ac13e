"""The routes table is the pipeline's one declaration: every route has a handler, every
handler a route, and what the broker, the workers and the signer use derives from it."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import services
from services.cli.worker import STAGES, handler_of
from shared.app.deps import Deps
from shared.config import Settings
from shared.domain.contracts import CONTRACTS
from shared.domain.stages import Stage
from shared.messaging.routes import (
    QUEUE_STAGES,
    QUEUES,
    ROUTES,
    SIGNING_STAGES,
    STAGE_OF_QUEUE,
    routes_of,
    routes_on,
)
from shared.security import signing


def _handlers() -> dict[str, object]:
    """Every ``handle_*`` function defined in a ``services/<stage>/handlers.py``, by path."""
    found: dict[str, object] = {}
    for path in sorted(Path(services.__file__).parent.glob("*/handlers.py")):
        module = importlib.import_module(f"services.{path.parent.name}.handlers")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("handle_") and function.__module__ == module.__name__:
                found[f"{module.__name__}:{name}"] = function
    return found


def test_every_route_has_a_handler_in_its_own_stage_package() -> None:
    for route in ROUTES:
        handler = handler_of(route)
        assert inspect.isfunction(handler), route
        assert handler.__module__ == f"services.{route.stage}.handlers", route
        assert handler.__name__.startswith("handle_"), route


def test_every_handler_has_exactly_one_route() -> None:
    routed = [route.handler for route in ROUTES]
    assert sorted(routed) == sorted(_handlers())


def test_the_queue_names_are_exactly_the_designs() -> None:
    assert QUEUES == ("apply", "otp-verified", "pending-review", "pending-auth", "interbank")


def test_each_queue_belongs_to_one_stage_and_each_actor_name_to_one_route() -> None:
    for queue in QUEUES:
        assert {route.stage for route in routes_on(queue)} == {STAGE_OF_QUEUE[queue]}
    actors = [route.actor for route in ROUTES]
    assert len(actors) == len(set(actors))


def test_every_message_on_a_queue_is_a_published_contract() -> None:
    published = set(CONTRACTS.values())
    for route in ROUTES:
        assert route.contract in published, route


def test_only_the_pipeline_stages_consume_queues_and_three_of_them_sign() -> None:
    assert QUEUE_STAGES == (Stage.APPLY, Stage.REVIEW, Stage.AUTHORIZE, Stage.INTERBANK)
    assert SIGNING_STAGES == (Stage.APPLY, Stage.REVIEW, Stage.AUTHORIZE)
    for stage in (Stage.QUERY, Stage.SWEEPER, Stage.AUDIT, Stage.WEBHOOKS, Stage.RELAY):
        assert routes_of(stage) == ()


def test_the_worker_command_lists_every_stage_in_its_usual_order() -> None:
    assert [str(s) for s in STAGES] == [
        "apply",
        "review",
        "authorize",
        "interbank",
        "query",
        "sweeper",
        "audit",
        "webhooks",
        "relay",
        "intake",
    ]


def test_each_stage_with_a_key_pair_has_its_own_private_key_setting_and_no_other_does() -> None:
    settings = {name for name in Settings.model_fields if name.startswith("signing_key_")}
    assert settings == {f"signing_key_{stage}" for stage in signing.STAGES}


def test_the_broker_declares_every_routed_queue(deps: Deps) -> None:
    assert set(QUEUES) <= deps.broker.get_declared_queues()
