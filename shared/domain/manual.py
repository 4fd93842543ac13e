"""The sixteen steps of the manual (Bank of China, paying a Liandong order by B2B online
payment), and which recorded status marks each one done: one mapping, used by the demo's
report (:mod:`services.demo.report`) and the web's progress timeline (:mod:`services.web`)."""

from __future__ import annotations

#: (step, what the manual calls it, what b2bpay records for it; ``{...}`` filled by the demo).
MANUAL_STEPS: list[tuple[int, str, str]] = [
    (
        1,
        "choose online payment (some customers only)",
        "payer {enterprise} eligible; order {order} locked to this payment",
    ),
    (2, "confirm the payment content", "content hash {hash} frozen"),
    (3, "choose a B2B-enabled bank", "bank {bank}: B2B enabled, payer holds a contract"),
    (4, "applicant login", "session of {applicant} (applicant)"),
    (5, "applicant dynamic password", "one-time code checked, used once"),
    (6, "code accepted: payment started", "status otp_verified"),
    (7, "reviewer login", "session of {reviewer} (reviewer)"),
    (8, "login success", "review stage takes it in: pending_review"),
    (9, "order review", "{reviewer} approves"),
    (10, "review success, awaiting authorization", "status pending_auth"),
    (11, "authorizer login", "session of {authorizer} (authorizer)"),
    (12, "authorize", "{authorizer} approves"),
    (
        13,
        "authorizer dynamic password",
        "one-time code answering the payment's challenge (amount, payee), used once",
    ),
    (14, "authorization success", "status authorized"),
    (
        15,
        "interbank processing, nobody can affect it",
        "end-to-end id {e2e}: submitted, then settled",
    ),
    (16, "real-time progress query", "read model: {final}"),
]

#: The status whose event marks a step done (steps without one are done with the next that
#: has one: a login leaves no status of its own).
STEP_EVENT: dict[int, str] = {
    1: "requested",
    2: "requested",
    3: "requested",
    # The applicant's login and code are checked when the payment becomes otp_verified (for
    # a platform's request, when the applicant confirms it on the pay page).
    4: "otp_verified",
    5: "otp_verified",
    6: "otp_verified",
    8: "pending_review",
    10: "pending_auth",
    14: "authorized",
    15: "settled",
}

#: Who acts at each step: ``applicant``, ``reviewer``, ``authorizer``; the others are the
#: platform's or the bank's own.
STEP_ROLE: dict[int, str] = {
    **dict.fromkeys((4, 5, 6), "applicant"),
    **dict.fromkeys((7, 8, 9, 10), "reviewer"),
    **dict.fromkeys((11, 12, 13, 14), "authorizer"),
}
