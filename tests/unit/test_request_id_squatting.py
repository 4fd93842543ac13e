"""Two platforms registered for the same payer: may one take the other's request ids (or
order ids) first, so that the other's genuine request is refused? A platform's request (v2)
has a payment id scoped to the platform as well as the payer, so no."""

from __future__ import annotations

from services.apply.handlers import handle_platform_request
from shared.app.deps import platforms_of
from tests.unit.support import PAYER, World
from tests.unit.test_platform_requests import _request


def test_another_platform_of_the_same_payer_cannot_squat_a_request_id(world: World) -> None:
    platforms = platforms_of(world.deps)
    for platform_id in ("liandong", "squatter"):
        platforms.add(platform_id, platform_id, [PAYER], lambda e: True)
    squatted = _request(world, platform_id="squatter", order_id="SQ-1", amount="1.00")
    assert handle_platform_request(squatted, world.deps).outcome == "accepted"
    genuine = handle_platform_request(_request(world), world.deps)
    assert genuine.outcome == "accepted", genuine
