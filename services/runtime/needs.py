"""What a worker needs before it starts: the server keys of its stages, and the checks that
refuse a worker that would only fail later.

The keys derive from the two declarations of the stages: the routes table for the queue
stages (:data:`shared.messaging.routes.ROUTES`) and :data:`~services.runtime.followers.
FOLLOWERS` for the others.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from services.runtime.followers import FOLLOWERS
from shared.app.deps import Deps
from shared.domain.stages import Stage
from shared.messaging.routes import QUEUE_STAGES, SIGNING_STAGES, routes_of
from shared.redis.deployment import check_authorizer_otp
from shared.security.keyneeds import KeyNeed, MissingKeys

log = structlog.get_logger()


def _queue_stage_needs(stage: Stage) -> frozenset[KeyNeed]:
    # Every queue stage holds a key pair and verifies what the stage before handed on. One
    # whose commands carry a person's session authenticates people: it reads user records,
    # whose MAC key derives from the TOTP key ring, so it needs TOTP as well as SESSION.
    people = any("session" in route.contract.model_fields for route in routes_of(stage))
    return frozenset({KeyNeed.SIGNING} | ({KeyNeed.SESSION, KeyNeed.TOTP} if people else set()))


#: What each worker stage uses.
WORKER_NEEDS: dict[str, frozenset[KeyNeed]] = {
    **{stage: _queue_stage_needs(stage) for stage in QUEUE_STAGES},
    **{follower.stage: follower.needs for follower in FOLLOWERS},
}


def worker_needs(stages: Iterable[str]) -> frozenset[KeyNeed]:
    """Every key a worker of ``stages`` uses."""
    return frozenset().union(*(WORKER_NEEDS.get(s, frozenset()) for s in stages))


def check_can_start(deps: Deps, stages: list[str]) -> None:
    """Refuse to start a worker that would fail later: a signing stage without its own
    private key, or a mode of the authorizer's code other than the deployment's."""
    unsigned = [s for s in stages if s in SIGNING_STAGES and not deps.signer.can_sign(s)]
    if unsigned:
        # Better now than a hand-off that can never be signed, retried for ever.
        log.error("no private signing key for these stages", stages=unsigned)
        raise MissingKeys(
            f"B2BPAY_SIGNING_KEY_{s.upper()} (or {s}.key in B2BPAY_SIGNING_KEYS_DIR)"
            for s in unsigned
        )
    if KeyNeed.TOTP in worker_needs(stages):
        check_authorizer_otp(
            deps.redis, deps.keys, deps.directory.totp_keys, str(deps.settings.authorizer_otp)
        )
