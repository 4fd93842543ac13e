"""The stages of b2bpay: the names ``b2bpay worker`` runs, that status events carry in their
``stage`` field, and that stage keys and settings are named after.

Which queues a stage consumes, with which handlers, and whether it signs, is declared once in
the routes table (:mod:`shared.messaging.routes`); this module only names the stages, so the
domain (the state machine) can speak of them without knowing about queues.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """A worker of ``b2bpay worker``, in the order the command lists them."""

    #: Takes upstream payment requests (seed steps 1-6) and applicants' cancellations;
    #: signs the application and hands the payment to review.
    APPLY = "apply"
    #: Takes handed-on payments in for review and applies reviewers' decisions (steps 7-10);
    #: signs the approval.
    REVIEW = "review"
    #: Applies authorizers' decisions, each with its one-time code (steps 11-14); signs the
    #: authorization and hands the payment to interbank.
    AUTHORIZE = "authorize"
    #: Submits authorized payments to clearing and records the outcome (step 15).
    INTERBANK = "interbank"
    #: Projects the events stream into the read model behind ``b2bpay query``; no queue.
    QUERY = "query"
    #: Expires payments nobody acted on in time and trims the events stream; no queue.
    SWEEPER = "sweeper"
    #: Chains every status event into the audit log; no queue.
    AUDIT = "audit"
    #: Sends each platform's webhooks: the events of its payments, signed, retried; no queue.
    WEBHOOKS = "webhooks"
    #: Publishes every status event to the AMQP topic exchange ``b2bpay.events``; no queue.
    RELAY = "relay"
    #: Takes plain-JSON payment requests from the AMQP queue ``b2bpay.requests`` (any
    #: platform's AMQP client) and forwards them to apply; no queue of b2bpay's own.
    INTAKE = "intake"
