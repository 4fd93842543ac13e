"""Schemathesis against the API's own /openapi.json (in-process, on the real test Redis, no
workers: commands answer 202): no 5xx, and every answer matches the documented schema."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import openapi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.api.app import create_app
from services.api.dependencies import Api
from services.query.readmodel import ReadModel, make_engine
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.testing import World
from tests.api.conftest import ACC1, E1

pytestmark = pytest.mark.integration

TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    prefix = f"b2bpay-test-oas-{secrets.token_hex(4)}:"
    client = redis.Redis.from_url(redis_url)
    deps = bootstrap(Settings(redis_url=redis_url, prefix=prefix, dev_mode=True), client)
    world = World(deps)
    world.bank("BOC", "Bank of China")
    world.enterprise(E1, "Acme", ["BOC"], [ACC1])
    world.enrol("rev1", E1, "reviewer", secrets.token_urlsafe(12))
    TOKEN["rev1"] = world.session("rev1")
    read_model = ReadModel(
        make_engine(f"sqlite:///{Path(tmp_path_factory.mktemp('oas')) / 'r.db'}")
    )
    app = create_app(
        Api(deps=deps, views=lambda: read_model, wait_seconds=0.05, events_block_ms=50)
    )
    try:
        yield openapi.from_asgi("/openapi.json", app).exclude(path="/v1/events")
    finally:
        for key in client.scan_iter(match=f"{prefix.rstrip(':')}*", count=1000):
            client.delete(key)
        client.close()


def test_the_api_answers_every_generated_request_without_a_server_error_and_as_documented(
    api_schema: schemathesis.BaseSchema,
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {TOKEN['rev1']}"},
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )

        answers_as_documented()
