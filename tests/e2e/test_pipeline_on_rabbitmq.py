"""The pipeline's end-to-end tests that matter most for the broker, run again with every
stage's queues on RabbitMQ (``B2BPAY_BROKER_URL=amqp://…``, a vhost of this module's own):
the happy path, a rejection and a cancellation, every refusal with its reason code, and a
platform's request taken up by its applicant. The state, events and sessions stay on Redis.

They are the very tests of :mod:`tests.e2e.test_pipeline` and
:mod:`tests.e2e.test_platform_requests`, collected here a second time under the ``broker``
parameter; the rest of those modules (sessions, lockout, audit, logs) does not depend on the
broker and runs on Redis only, which keeps the suite's time in bounds."""

from __future__ import annotations

import pytest

from tests.e2e import test_pipeline as pipeline
from tests.e2e import test_platform_requests as platform

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True),
]

world = pipeline.world
deps = platform.deps

test_a_payment_goes_from_request_to_settled_through_five_worker_processes = (
    pipeline.test_a_payment_goes_from_request_to_settled_through_five_worker_processes
)
test_a_reviewer_rejection_and_an_applicant_cancellation_end_the_payments = (
    pipeline.test_a_reviewer_rejection_and_an_applicant_cancellation_end_the_payments
)
test_every_refusal_has_its_reason_code_and_changes_nothing = (
    pipeline.test_every_refusal_has_its_reason_code_and_changes_nothing
)
test_bad_input_is_refused_before_anything_is_enqueued = (
    pipeline.test_bad_input_is_refused_before_anything_is_enqueued
)
test_a_platform_creates_the_applicant_confirms_and_the_payment_settles = (
    platform.test_a_platform_creates_the_applicant_confirms_and_the_payment_settles
)
