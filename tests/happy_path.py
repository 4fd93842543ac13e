"""The happy path declared once: who acts, in which order, and the statuses a payment goes
through on it. No I/O, so every layer (unit to web) imports it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    #: Who acts, what they do (a :class:`Walker` method), and where the payment is after.
    role: str
    action: str
    reaches: str


#: The happy path: the applicant confirms, the reviewer approves, the authorizer approves,
#: and the payment settles.
HAPPY_PATH = (
    Step("applicant", "confirm", "pending_review"),
    Step("reviewer", "review", "pending_auth"),
    Step("authorizer", "authorize", "settled"),
)

#: Every status a payment that took the happy path went through, in order.
FULL_HISTORY = [
    "requested",
    "otp_verified",
    "pending_review",
    "pending_auth",
    "authorized",
    "submitted",
    "settled",
]
