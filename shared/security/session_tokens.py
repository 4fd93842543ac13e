"""Session tokens: signed, expiring, bound to user, enterprise and role.

The token (:class:`SessionSigner`) proves who logged in and until when at the latest; what
makes a session end early (idle, logout, revocation) is its record in Redis
(:class:`shared.redis.sessions.Sessions`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from shared.domain.errors import ReasonCode, Refusal

TOKEN_VERSION = "v1"  # noqa: S105 - a format tag, not a secret
_SESSION_ID = re.compile(r"[0-9a-f]{16,64}")


@dataclass(frozen=True)
class Session:
    username: str
    enterprise_id: str
    role: str
    expires_at: int
    #: The token's random nonce; names the session's record in Redis.
    session_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict: only the one spelling ``_b64`` produces is accepted, so a token has exactly
    one valid form (it may serve as a key, e.g. for revocation)."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("non-canonical base64")
    return data


class SessionSigner:
    """HMAC-SHA256 tokens ``v1.<payload>.<mac>``; verification is constant-time."""

    def __init__(
        self, key: bytes, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        if len(key) < 32:
            raise ValueError("session key must have at least 32 bytes")
        self._key = key
        self._ttl = ttl_seconds
        self.clock = clock

    def _mac(self, message: bytes) -> hmac.HMAC:
        mac = hmac.HMAC(self._key, hashes.SHA256())
        mac.update(message)
        return mac

    def issue(self, username: str, enterprise_id: str, role: str) -> tuple[str, Session]:
        session = Session(
            username, enterprise_id, role, int(self.clock()) + self._ttl, secrets.token_hex(16)
        )
        payload = _b64(
            json.dumps(
                {
                    "u": username,
                    "e": enterprise_id,
                    "r": role,
                    "x": session.expires_at,
                    "n": session.session_id,
                },
                separators=(",", ":"),
            ).encode()
        )
        signed = f"{TOKEN_VERSION}.{payload}"
        return f"{signed}.{_b64(self._mac(signed.encode()).finalize())}", session

    def verify(self, token: str) -> Session:
        """The session a token stands for; refuses forged, malformed or expired tokens."""
        session = self.decode(token)
        if self.clock() >= session.expires_at:
            raise Refusal(ReasonCode.SESSION_EXPIRED, "session has expired; log in again")
        return session

    def decode(self, token: str) -> Session:
        """The session a genuine token stands for, expired or not; refuses forged or
        malformed tokens."""
        try:
            version, payload, mac = token.split(".")
            if version != TOKEN_VERSION:
                raise ValueError("version")
            self._mac(f"{version}.{payload}".encode()).verify(_unb64(mac))
            data = json.loads(_unb64(payload))
            nonce = data["n"]
            if not isinstance(nonce, str) or not _SESSION_ID.fullmatch(nonce):
                raise ValueError("nonce")
            return Session(str(data["u"]), str(data["e"]), str(data["r"]), int(data["x"]), nonce)
        except (ValueError, KeyError, TypeError, binascii.Error, InvalidSignature):
            raise Refusal(ReasonCode.SESSION_INVALID, "session token is not valid") from None
