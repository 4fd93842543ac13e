"""A payment as the read side shows it: what the query service's read model returns, what
:func:`shared.app.client.status` and :func:`shared.app.client.list_payments` give a person, what the
HTTP API answers (and its ``/openapi.json`` describes), and what the CLI, the web screens and
the demo render.

The write side's entity is :class:`shared.domain.payment.Payment`; these are its projection
from the status events (:class:`shared.domain.contracts.StatusEvent`), one field per column of
the read model. They are frozen: a view is read, never changed in place (a changed copy is
``model_copy(update=...)``). The field order is the order of the JSON keys people see.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.states import PaymentStatus

_VIEW = ConfigDict(frozen=True, extra="forbid")


class HistoryEntry(BaseModel):
    """One step a payment took: a transition, in ``seq`` order."""

    model_config = _VIEW

    status: PaymentStatus = Field(description="The status the payment moved to.")
    at: str = Field(description="When, in UTC (ISO 8601, milliseconds).")
    stage: str = Field(description="The stage that moved it (apply, review, authorize...).")
    actor_role: str | None = Field(
        description="The role of the person who acted; null when the system did."
    )
    actor_id: str | None = Field(description="The username of the person who acted, if any.")
    reason_code: str | None = Field(
        description="Why, for a rejection, a failure, an expiry or a cancellation."
    )
    reason: str | None = Field(description="The reason in words, if one was given.")
    seq: int = Field(description="The step's place in the payment's history, from 1.")


class RefusalEntry(BaseModel):
    """A command on the payment that its stage refused: nothing changed, the refusal is
    recorded."""

    model_config = _VIEW

    at: str = Field(description="When, in UTC (ISO 8601, milliseconds).")
    stage: str = Field(description="The stage that refused the command.")
    actor_role: str | None = Field(description="The role of the person who sent it, if known.")
    actor_id: str | None = Field(description="The username of the person who sent it, if known.")
    reason_code: str | None = Field(description="Why it was refused (a reason code).")
    reason: str | None = Field(description="The reason in words.")
    command_id: str | None = Field(description="The refused command's id.")
    seq: int = Field(
        description="The payment's history length when it was refused (0: not about the "
        "payment, never shown to its people)."
    )


class PaymentListItem(BaseModel):
    """A payment as a list shows it: one row of the read model, without its history."""

    model_config = _VIEW

    payment_id: str = Field(description="The payment's id (derived from its request id).")
    status: PaymentStatus = Field(description="Where the payment stands now.")
    order_id: str | None = Field(description="The upstream order the payment is for.")
    enterprise_id: str | None = Field(description="The paying enterprise.")
    amount: str | None = Field(description='The amount, in figures ("1250.00").')
    currency: str | None = Field(description="The ISO 4217 currency code.")
    seq: int = Field(description="The seq of the payment's latest step.")
    created_at: str = Field(description="When the payment was created, in UTC (ISO 8601).")
    updated_at: str = Field(description="When it last changed status, in UTC (ISO 8601).")


class PaymentView(PaymentListItem):
    """A payment as its people see it: the list's row, with every step it took and every
    command refused on it."""

    history: tuple[HistoryEntry, ...] = Field(description="Its steps, in seq order.")
    refusals: tuple[RefusalEntry, ...] = Field(
        description="The commands refused on it, in seq order."
    )
