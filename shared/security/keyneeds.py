"""Which server keys a process needs, and the refusal to run without them.

Outside development mode (``B2BPAY_DEV_MODE``), no key is ever generated and kept in Redis:
anyone who can write Redis could then read the TOTP secrets, forge sessions, rewrite the
audit chain or sign as every stage. A process checks at start for the keys it uses
(:func:`require`); a key it was not expected to use is still refused at first use
(:class:`MissingKeys` from the composition root's stand-ins), never generated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import NoReturn, TypeVar

from shared.config import Settings
from shared.domain.errors import B2bpayError


class KeyNeed(StrEnum):
    """A kind of server key a process may need."""

    #: ``B2BPAY_SESSION_SECRET``: issue and check people's session tokens.
    SESSION = "session"
    #: ``B2BPAY_TOTP_KEYS``: decrypt one-time-code secrets and check user-record MACs.
    TOTP = "totp"
    #: ``B2BPAY_AUDIT_KEYS``: extend and verify the audit chain.
    AUDIT = "audit"
    #: The stage signing keys: every stage's public key (and the own private key of each
    #: signing stage the process runs, checked once the keys are loaded).
    SIGNING = "signing"


#: The setting(s) that provide each kind of key, as named in error messages.
SETTING_OF = {
    KeyNeed.SESSION: "B2BPAY_SESSION_SECRET",
    KeyNeed.TOTP: "B2BPAY_TOTP_KEYS",
    KeyNeed.AUDIT: "B2BPAY_AUDIT_KEYS",
    KeyNeed.SIGNING: "B2BPAY_SIGNING_KEYS_DIR or B2BPAY_SIGNING_PUBLIC_KEYS",
}


class MissingKeys(B2bpayError):
    """Raised when a process outside development mode lacks a server key it needs; names
    the settings to set, never any key material."""

    def __init__(self, settings: Iterable[str]) -> None:
        self.settings = list(settings)
        super().__init__(
            f"missing {', '.join(self.settings)}: this process refuses to run without its "
            "keys (set them, or B2BPAY_DEV_MODE=1 for development only, which keeps "
            "generated keys in Redis)"
        )


def configured(settings: Settings, need: KeyNeed) -> bool:
    if need is KeyNeed.SESSION:
        return settings.session_secret is not None
    if need is KeyNeed.TOTP:
        return settings.totp_keys is not None
    if need is KeyNeed.AUDIT:
        return settings.audit_keys is not None
    return bool(settings.signing_keys_dir or settings.signing_public_keys)


def missing(settings: Settings, needs: Iterable[KeyNeed]) -> list[str]:
    """The settings of ``needs`` that are not set, in a stable order."""
    return [SETTING_OF[n] for n in KeyNeed if n in set(needs) and not configured(settings, n)]


def require(settings: Settings, needs: Iterable[KeyNeed]) -> None:
    """Refuse (:class:`MissingKeys`) unless every key of ``needs`` is configured, or the
    process runs in development mode."""
    if settings.dev_mode:
        return
    absent = missing(settings, needs)
    if absent:
        raise MissingKeys(absent)


K = TypeVar("K")


def key_or_dev_key(
    need: KeyNeed, configured: K | None, dev_mode: bool, dev_key: Callable[[], K]
) -> K:
    """The configured key; without one, in development mode only, ``dev_key()`` (a key
    generated once and kept in Redis, see :func:`shared.redis.server_keys.kept_in_redis`);
    else :class:`MissingKeys` naming the setting of ``need``."""
    if configured is not None:
        return configured
    if not dev_mode:
        raise MissingKeys([SETTING_OF[need]])
    return dev_key()


class Unconfigured:
    """Stands in for a dependency whose key this process was not given (outside development
    mode): every use raises the :class:`MissingKeys` that building it raised, so nothing
    falls back to a key kept in Redis."""

    def __init__(self, missing: MissingKeys) -> None:
        self._missing = missing

    def __getattr__(self, name: str) -> NoReturn:
        raise MissingKeys(self._missing.settings)
