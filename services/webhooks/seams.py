"""Where webhooks meet platforms — the two seams wired when platforms (``b2bpay admin
add-platform``, the ``Platform`` record, ``Payment.platform_id``) are merged.

Until then no payment has an owner, so the worker records no delivery; tests pass their own
``owner_of``.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.deps import Deps

#: The platform that created a payment, or None (a person's v1 request, or unknown).
OwnerOf = Callable[[str], str | None]


def platform_exists(deps: Deps, platform_id: str) -> bool:
    """Whether ``platform_id`` names a registered platform."""
    # TODO(platforms): return the platforms registry's lookup (shared/redis/platforms.py).
    return True


def owner_of(deps: Deps) -> OwnerOf:
    """The creating platform of a payment, read from the payment store."""
    # TODO(platforms): lambda pid: (p := deps.store.get(pid)) and p.platform_id or None.
    return lambda payment_id: None
