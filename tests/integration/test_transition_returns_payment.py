"""The payment a create or transition returns is built from what the script wrote onto the
payment as it was read (no second read): it must equal a fresh read, field for field."""

from __future__ import annotations

import pytest
import redis

from shared.app.deps import Deps
from shared.domain.contracts import payment_id_for
from shared.domain.payment import Actor, Record, Step
from shared.domain.states import PaymentStatus
from shared.redis.keys import Keys
from shared.redis.lease import LeaseLost, Leases
from shared.redis.store import PaymentStore
from tests.integration.support import APPLY_ACTOR, application, must_get, requested_steps

pytestmark = pytest.mark.integration


def test_every_returned_payment_equals_a_fresh_read_through_a_whole_life(
    deps: Deps, prefix: str, redis_client: redis.Redis
) -> None:
    # Deadlines for the waiting statuses, so deadline_at is written, moved and deleted.
    store = PaymentStore(
        redis_client,
        Keys(prefix),
        deadlines={
            PaymentStatus.OTP_VERIFIED: 600.0,
            PaymentStatus.PENDING_REVIEW: 600.0,
            PaymentStatus.PENDING_AUTH: 600.0,
        },
    )
    payment_id = payment_id_for("ent-1", "req-life")
    created = store.create(
        application("req-life", "ord-life"), requested_steps(), APPLY_ACTOR, "cmd-create"
    )
    assert created.payment == must_get(deps, payment_id)
    assert created.payment is not None and created.payment.deadline_ms is not None

    taken = store.transition(
        created.payment, [Step(PaymentStatus.PENDING_REVIEW)], Actor("review"), None
    )
    assert taken == must_get(deps, payment_id)
    reviewed = store.transition(
        taken,
        [Step(PaymentStatus.PENDING_AUTH)],
        Actor("review", "reviewer", "rev-1"),
        "cmd-review",
        Record(reviewer_id="rev-1", review_signature="sig-review"),
        enforce_deadline=True,
    )
    assert reviewed == must_get(deps, payment_id)
    assert reviewed.commands == {"cmd-create": "otp_verified", "cmd-review": "pending_auth"}
    authorized = store.transition(
        reviewed,
        [Step(PaymentStatus.AUTHORIZED)],
        Actor("authorize", "authorizer", "auth-1"),
        "cmd-auth",
        Record(authorizer_id="auth-1", authorize_signature="sig-auth"),
        enforce_deadline=True,
    )
    fresh = must_get(deps, payment_id)
    assert authorized == fresh
    assert fresh.deadline_ms is None and fresh.authorize_signature == "sig-auth"
    settled = store.transition(
        authorized,
        [Step(PaymentStatus.SUBMITTED), Step(PaymentStatus.SETTLED)],
        Actor("interbank"),
        None,
    )
    assert settled == must_get(deps, payment_id)
    assert [e.status for e in settled.history][-2:] == ["submitted", "settled"]
    assert settled.version == len(settled.history) == 7


def test_a_transition_under_a_lease_taken_over_meanwhile_writes_nothing(
    deps: Deps, prefix: str, redis_client: redis.Redis
) -> None:
    payment_id = payment_id_for("ent-1", "req-lease")
    created = deps.store.create(
        application("req-lease", "ord-lease"), requested_steps(), APPLY_ACTOR, "cmd-lease"
    )
    assert created.payment is not None
    leases = Leases(redis_client, prefix)
    with leases.hold(f"clearing:{payment_id}", 30_000) as lease:
        # Another worker holds it now (ours expired during a long call, say).
        redis_client.set(lease.key, "another-worker")
        with pytest.raises(LeaseLost):
            deps.store.transition(
                created.payment,
                [Step(PaymentStatus.PENDING_REVIEW)],
                Actor("review"),
                None,
                lease=lease,
            )
        assert not lease.renew()  # lost for good: never renewed again
    after = must_get(deps, payment_id)
    assert (after.status, after.version) == (PaymentStatus.OTP_VERIFIED, 2)
    assert after == created.payment
    # The other worker's lease was left alone.
    assert redis_client.get(f"{prefix}lease:clearing:{payment_id}") == b"another-worker"
