"""Every Redis key b2bpay uses, in one place, under the installation's prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "b2bpay:"

    def payment(self, payment_id: str) -> str:
        return f"{self.prefix}payment:{payment_id}"

    def history(self, payment_id: str) -> str:
        return f"{self.prefix}payment:{payment_id}:history"

    def event_seq(self, payment_id: str) -> str:
        return f"{self.prefix}payment:{payment_id}:seq"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    @property
    def unattached_refusals(self) -> str:
        """Numbers the refusal events attached to no payment's own sequence."""
        return f"{self.prefix}refusals:unattached"

    def refusal_count(self, window: int, scope: str, name: str) -> str:
        """How many refusals of one window named this payment id (scope ``payment``) or were
        made by this claimed actor (scope ``actor``)."""
        return f"{self.prefix}refusals:{window}:{scope}:{len(name)}:{name}"

    def verdict(self, command_id: str) -> str:
        return f"{self.prefix}verdict:{command_id}"

    def idempotency(self, payment_id: str) -> str:
        """The request a payment was made from (its id derives from payer and request id)."""
        return f"{self.prefix}request:{payment_id}"

    def order_lock(self, enterprise_id: str, order_id: str) -> str:
        # Length-prefixed: enterprise "A:B" with order "C" is not enterprise "A" with "B:C".
        return f"{self.prefix}order:{len(enterprise_id)}:{enterprise_id}:{order_id}"

    def bank(self, code: str) -> str:
        return f"{self.prefix}bank:{code}"

    @property
    def banks(self) -> str:
        return f"{self.prefix}banks"

    def enterprise(self, enterprise_id: str) -> str:
        return f"{self.prefix}enterprise:{enterprise_id}"

    @property
    def enterprises(self) -> str:
        return f"{self.prefix}enterprises"

    def platform(self, platform_id: str) -> str:
        return f"{self.prefix}platform:{platform_id}"

    def platform_key(self, key_digest: str) -> str:
        """The platform whose API key has this SHA-256 digest."""
        return f"{self.prefix}platform_key:{key_digest}"

    def platform_amqp_user(self, amqp_user: str) -> str:
        """The platform that publishes to the AMQP intake as this RabbitMQ user."""
        return f"{self.prefix}platform_amqp_user:{len(amqp_user)}:{amqp_user}"

    def user(self, username: str) -> str:
        return f"{self.prefix}user:{username}"

    @property
    def users(self) -> str:
        return f"{self.prefix}users"

    @property
    def users_migrated(self) -> str:
        """When the user records were first sealed by ``migrate-users``, with a MAC."""
        return f"{self.prefix}users:migrated"

    def otp_state(self, username: str) -> str:
        return f"{self.prefix}otp:{username}"

    @property
    def session_secret(self) -> str:
        return f"{self.prefix}secret:session"

    def session(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def session_epoch(self, username: str) -> str:
        """Raised to revoke every session of a user opened before."""
        return f"{self.prefix}session-epoch:{username}"

    def login_failures(self, kind: str, subject_digest: str) -> str:
        """Recent failed logins of one username or one client (``kind`` "user" or
        "client"), named by a digest so that any string makes one bounded key."""
        return f"{self.prefix}login-failures:{kind}:{subject_digest}"

    @property
    def totp_dev_key(self) -> str:
        return f"{self.prefix}secret:totp"

    @property
    def audit_dev_key(self) -> str:
        return f"{self.prefix}secret:audit"

    @property
    def audit_log(self) -> str:
        """The hash-chained audit entries, oldest first (a list)."""
        return f"{self.prefix}audit:log"

    @property
    def audit_head(self) -> str:
        """The seq and mac of the last audit entry."""
        return f"{self.prefix}audit:head"

    @property
    def audit_sources(self) -> str:
        """Events stream id -> seq of its audit entry: each event is chained once."""
        return f"{self.prefix}audit:sources"

    @property
    def recorded_authorizer_otp(self) -> str:
        """The deployment's authorizer code mode, recorded (with a MAC) by the first worker."""
        return f"{self.prefix}deployment:authorizer-otp"

    @property
    def signing_dev_keys(self) -> str:
        """Development only: the stage signing keys generated when none are configured."""
        return f"{self.prefix}secret:signing"

    def clearing(self, end_to_end_id: str) -> str:
        return f"{self.prefix}clearing:{end_to_end_id}"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}dlq"

    def dead_letter(self, dead_letter_id: str) -> str:
        return f"{self.prefix}dlq:{dead_letter_id}"

    def dead_letters_of(self, queue: str) -> str:
        """The dead letters of one queue, by time: what the per-queue cap counts."""
        return f"{self.prefix}dlq-queue:{queue}"

    @property
    def dead_letters_dropped(self) -> str:
        """Queue -> how many of its dead letters were dropped over the cap."""
        return f"{self.prefix}dlq-dropped"

    @property
    def deadlines(self) -> str:
        return f"{self.prefix}deadlines"

    @property
    def clearing_faults(self) -> str:
        return f"{self.prefix}clearing:faults"

    def fault_hold(self, actor_name: str) -> str:
        return f"{self.prefix}fault:hold:{actor_name}"

    def fault_release(self, actor_name: str) -> str:
        return f"{self.prefix}fault:release:{actor_name}"

    def fault_held(self, actor_name: str) -> str:
        return f"{self.prefix}fault:held:{actor_name}"

    @property
    def clearing_log(self) -> str:
        return f"{self.prefix}clearing:submissions"

    def lease(self, name: str) -> str:
        """One worker at a time for a side effect (:mod:`shared.redis.lease`)."""
        return f"{self.prefix}lease:{name}"

    def api_sender(self, command_id: str) -> str:
        """Who sent a command through the HTTP API whose verdict was not in yet: only they
        may ask for it later."""
        return f"{self.prefix}api:sender:{command_id}"

    def webhook(self, endpoint_id: str) -> str:
        """A webhook endpoint: its platform, URL, patterns and sealed signing secret."""
        return f"{self.prefix}webhook:{endpoint_id}"

    def webhooks_of(self, platform_id: str) -> str:
        """The ids of one platform's webhook endpoints (a set)."""
        return f"{self.prefix}webhooks:platform:{len(platform_id)}:{platform_id}"

    def webhook_delivery(self, delivery_id: str) -> str:
        return f"{self.prefix}webhook-delivery:{delivery_id}"

    def webhook_lane(self, endpoint_id: str, payment_id: str) -> str:
        """One endpoint's undelivered deliveries of one payment, by seq: only the first is due."""
        return f"{self.prefix}webhook-lane:{endpoint_id}:{payment_id}"

    @property
    def webhook_due(self) -> str:
        """Delivery id -> when it may next be attempted; only each lane's first is here."""
        return f"{self.prefix}webhook-due"

    @property
    def webhook_deliveries(self) -> str:
        """Every delivery id, by creation time (what ``webhooks deliveries`` lists)."""
        return f"{self.prefix}webhook-deliveries"

    @property
    def webhook_failed(self) -> str:
        """Deliveries given up on, by when."""
        return f"{self.prefix}webhook-failed"
