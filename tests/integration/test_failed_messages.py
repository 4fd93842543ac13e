"""A message that fails for good (here: a bug in a handler) reaches the dead-letter queue
without its secrets, and dramatiq's own copy with them does not linger."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest

from shared.deps import Deps
from shared.messaging import routes as q
from shared.messaging.actor import stage_actor
from shared.messaging.guard import Outcome
from tests.integration.support import wait_until

pytestmark = pytest.mark.integration


def _buggy(message: Any, deps: Deps) -> Outcome:
    raise RuntimeError("a bug, not a refusal")


def test_a_message_failing_for_good_is_kept_without_its_secrets(deps: Deps) -> None:
    stage_actor(deps.broker, deps, _buggy, q.APPLY, "buggy_actor")
    worker = dramatiq.Worker(deps.broker, queues={q.APPLY}, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        deps.dispatch(
            q.APPLY,
            "buggy_actor",
            {"request_id": "r-1", "session": "v1.TOKEN.sig", "otp": "493817"},
        )
        [letter] = wait_until(lambda: deps.deadletters.list(), what="a dead letter")
    finally:
        worker.stop()

    assert letter.actor == "buggy_actor"
    assert letter.reason.startswith("failed: RuntimeError")
    assert letter.payload == {"request_id": "r-1", "session": "[removed]", "otp": "[removed]"}
    assert deps.broker.dead_message_ttl == deps.settings.dead_message_ttl_ms == 60_000  # type: ignore[attr-defined]
