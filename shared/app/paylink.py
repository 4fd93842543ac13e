"""The pay page's link: ``/pay/{payment_id}?k=<capability>``.

A payment id is derived from the payer and the platform's request id (often a counter), so it
is guessable; the pay page shows the order and the payer's contracted banks before anyone
logs in (seed steps 1-3). The link therefore carries a capability: an HMAC of the payment id
under a key derived from the session secret, which only the server can make and which is
compared in constant time. The platform gets the whole link in ``pay_url``; a page asked for
without it (or with a wrong one) shows nothing of the payment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from shared.app.deps import Deps
from shared.redis.server_keys import session_key

_LABEL = b"b2bpay.web.v1\n"


def web_key(deps: Deps) -> bytes:
    """The key of the web's own MACs (pay links, CSRF tokens), derived from the session key
    so every server process holds it without another setting."""
    configured = deps.settings.session_secret
    secret = configured.get_secret_value().encode() if configured else None
    root = session_key(deps.redis, deps.keys, secret, deps.settings.dev_mode)
    return hmac.new(root, _LABEL, hashlib.sha256).digest()


def _mac(key: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(key, f"{purpose}\n{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def capability(key: bytes, payment_id: str) -> str:
    return _mac(key, "pay-link", payment_id)


def check_capability(key: bytes, payment_id: str, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(capability(key, payment_id).encode(), given.encode())


def pay_url(deps: Deps, payment_id: str) -> str:
    return f"/pay/{payment_id}?k={capability(web_key(deps), payment_id)}"


def csrf_token(key: bytes, cookie: str) -> str:
    """The form token that goes with a browser's CSRF cookie."""
    return _mac(key, "csrf", cookie)


def check_csrf(key: bytes, cookie: str | None, given: str | None) -> bool:
    if not cookie or not given:
        return False
    return hmac.compare_digest(csrf_token(key, cookie).encode(), given.encode())
