"""Where webhooks meet platforms: whether a platform is registered (its sealed record
verifies, :mod:`shared.redis.platforms`), and which platform created a payment
(``Payment.platform_id``; a person's v1 request has none, and gets no webhook)."""

from __future__ import annotations

from collections.abc import Callable

from shared.app.deps import Deps, platforms_of
from shared.domain.errors import Refusal

#: The platform that created a payment, or None (a person's v1 request, or unknown).
OwnerOf = Callable[[str], str | None]


def platform_exists(deps: Deps, platform_id: str) -> bool:
    """Whether ``platform_id`` names a registered platform."""
    try:
        platforms_of(deps).get(platform_id)
    except Refusal:
        return False
    return True


def owner_of(deps: Deps) -> OwnerOf:
    """The creating platform of a payment, read from the payment store."""

    def owner(payment_id: str) -> str | None:
        payment = deps.store.get(payment_id)
        return payment.platform_id if payment is not None else None

    return owner
