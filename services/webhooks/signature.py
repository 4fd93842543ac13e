"""The webhook signature: ``B2bpay-Signature: t=<unix>,v1=<hex HMAC-SHA-256(secret,
"<t>.<body>")>``, the key being the endpoint's secret as UTF-8.

:func:`verify` is what a platform runs (the README shows it): it recomputes the MAC over the
exact body received, compares in constant time, and refuses a timestamp older than its
tolerance, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

#: How old a signature a receiver accepts by default (seconds).
TOLERANCE_SECONDS = 300


def mac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={mac(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, now: float, tolerance: float = TOLERANCE_SECONDS
) -> bool:
    """Whether ``header`` signs ``body`` under ``secret``, made within ``tolerance`` of
    ``now``."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
