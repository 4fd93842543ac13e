"""The routes table is the pipeline's one declaration: every route has a handler, every
handler a route, and what the broker, the workers and the signer use derives from it."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import get_args

import services
from services.runtime.consumers import handler_of
from services.runtime.process import STAGES
from shared.app import client
from shared.app.deps import Deps
from shared.config import Settings
from shared.domain.contracts import CONTRACTS, Handoff
from shared.domain.stages import Stage
from shared.domain.states import STAGE_ACTIONS, Action
from shared.messaging.routes import (
    QUEUE_STAGES,
    QUEUES,
    ROUTES,
    SIGNING_STAGES,
    STAGE_OF_QUEUE,
    routes_of,
    routes_on,
)
from shared.redis.group_consumer import GroupConsumer
from shared.redis.trimming import FOLLOWER_GROUPS
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


# -- what derives from the stages and the routes ----------------------------------------------
def test_the_client_sends_each_command_to_the_one_route_of_its_contract() -> None:
    commands = set(get_args(client.Command))
    assert set(client.ROUTE) == commands
    for command in commands:
        (route,) = [route for route in ROUTES if route.contract is command]
        assert client.ROUTE[command] == (route.queue, route.actor)


def test_each_action_belongs_to_one_stage_and_only_the_queue_stages_and_the_sweeper_act() -> None:
    assert set(STAGE_ACTIONS) == {*QUEUE_STAGES, Stage.SWEEPER}
    assert all(isinstance(stage, Stage) for stage in STAGE_ACTIONS)
    performed = [action for actions in STAGE_ACTIONS.values() for action in actions]
    assert sorted(performed) == sorted(Action)


def test_a_handoff_is_signed_by_a_stage_that_signs() -> None:
    # A Literal, so that the JSON Schema and the refusal's wording stay as published; it
    # cannot import the routes table (the domain sits below messaging), so this pins it.
    from_stage = Handoff.model_fields["from_stage"].annotation
    assert get_args(from_stage) == tuple(s.value for s in SIGNING_STAGES)


def test_trimming_waits_for_consumer_groups_of_b2bpays_own_followers() -> None:
    import services.runtime.followers

    for module in services.runtime.followers.FOLLOWER_MODULES:  # so every consumer class
        importlib.import_module(module)
    followers = {str(f.stage) for f in services.runtime.followers.FOLLOWERS}
    consumers = [
        cls for cls in GroupConsumer.__subclasses__() if cls.__module__.startswith("services.")
    ]
    assert consumers
    for cls in consumers:
        assert cls.group in followers, cls  # a follower's group is named after its stage
    assert set(FOLLOWER_GROUPS) <= {cls.group for cls in consumers}
