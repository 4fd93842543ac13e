"""Secrets at rest: AES-256-GCM under a ring of named keys.

A sealed value reads ``<key id>:<nonce, base64>:<ciphertext and tag, base64>``. The first key
of the ring encrypts; any key of the ring decrypts what it sealed, so keys can be rotated: add
the new key in front, re-encrypt everything (``b2bpay admin rotate-totp-key``), then drop the
old one. Each value is bound to associated data (for TOTP secrets: the username, enterprise
and role), so a sealed value copied onto another user does not decrypt.

The same ring also keys MACs (:meth:`KeyRing.seal_mac`), e.g. of user records: each key of
the ring yields, per purpose, its own HMAC-SHA-256 key by HKDF, so a MAC key is never the
encryption key and a MAC made for one purpose never verifies for another.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.domain.errors import B2bpayError

KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class CryptoError(B2bpayError):
    """Raised when a sealed value does not decrypt: malformed, sealed under a key the ring
    does not hold, tampered with, or bound to other associated data."""


class KeyRingError(B2bpayError):
    """Raised when a configured key ring is malformed; the message never holds key material."""


class KeyRing:
    """Named AES-256 keys; the first one encrypts."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        checked = check_keys(keys)
        self._keys: dict[str, AESGCM] = {key_id: AESGCM(key) for key_id, key in checked.items()}
        self._raw = checked
        self._derived: dict[tuple[str, bytes], bytes] = {}
        self.current_id = keys[0][0]

    def _mac_key(self, key_id: str, purpose: bytes) -> bytes | None:
        if key_id not in self._raw:
            return None
        derived = self._derived.get((key_id, purpose))
        if derived is None:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose)
            derived = self._derived[(key_id, purpose)] = hkdf.derive(self._raw[key_id])
        return derived

    def seal_mac(self, purpose: bytes, message: bytes) -> str:
        """``<key id>:<hex HMAC-SHA-256>`` of ``message`` under the current key's MAC key
        for ``purpose``."""
        key = self._mac_key(self.current_id, purpose)
        assert key is not None
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(message)
        return f"{self.current_id}:{mac.finalize().hex()}"

    def check_mac(self, purpose: bytes, message: bytes, sealed: str) -> bool:
        """Whether ``sealed`` is a MAC of ``message`` for ``purpose`` under a key of the ring;
        compared in constant time."""
        key_id, _, hex_tag = sealed.partition(":")
        key = self._mac_key(key_id, purpose)
        if key is None:
            return False
        try:
            tag = bytes.fromhex(hex_tag)
        except ValueError:
            return False
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(message)
        try:
            mac.verify(tag)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """A ring from ``kid1:<base64 of 32 bytes>,kid2:...`` (the first is current)."""
        return cls(parse_key_spec(spec))

    def key_id_of(self, sealed: str) -> str:
        return sealed.partition(":")[0]

    def encrypt(self, plaintext: str, associated_data: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._keys[self.current_id].encrypt(
            nonce, plaintext.encode(), associated_data.encode()
        )
        return f"{self.current_id}:{_b64(nonce)}:{_b64(sealed)}"

    def decrypt(self, sealed: str, associated_data: str) -> str:
        try:
            key_id, nonce_b64, body_b64 = sealed.split(":")
            aead = self._keys[key_id]
            nonce = base64.b64decode(nonce_b64, validate=True)
            if len(nonce) != NONCE_BYTES:
                raise ValueError("nonce length")
            plain = aead.decrypt(
                nonce, base64.b64decode(body_b64, validate=True), associated_data.encode()
            )
            return plain.decode()
        except KeyError:
            raise CryptoError("sealed under a key this key ring does not hold") from None
        except (ValueError, binascii.Error, InvalidTag, UnicodeDecodeError):
            raise CryptoError(
                "sealed value is malformed, tampered with or not bound here"
            ) from None


def check_keys(keys: Sequence[tuple[str, bytes]]) -> dict[str, bytes]:
    """Named 32-byte keys, in order, or a :class:`KeyRingError` (ids unique, well formed)."""
    if not keys:
        raise KeyRingError("a key ring needs at least one key")
    checked: dict[str, bytes] = {}
    for position, (key_id, key) in enumerate(keys, start=1):
        if not _KEY_ID.fullmatch(key_id):
            raise KeyRingError(f"key {position}: the id must be 1-32 letters, digits, '_' or '-'")
        if key_id in checked:
            raise KeyRingError(f"key {position}: the id {key_id!r} is used twice")
        if len(key) != KEY_BYTES:
            raise KeyRingError(f"key {key_id!r}: must be exactly {KEY_BYTES} bytes")
        checked[key_id] = key
    return checked


def parse_key_spec(spec: str) -> list[tuple[str, bytes]]:
    """``kid1:<base64 of 32 bytes>,kid2:...`` as ``(id, key)`` pairs, in order, checked."""
    keys: list[tuple[str, bytes]] = []
    for position, entry in enumerate(spec.split(","), start=1):
        key_id, sep, encoded = entry.strip().partition(":")
        if not sep:
            raise KeyRingError(f"key {position}: expected <id>:<base64 key>")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyRingError(f"key {key_id!r}: not valid base64") from None
        keys.append((key_id.strip(), key))
    check_keys(keys)
    return keys


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
