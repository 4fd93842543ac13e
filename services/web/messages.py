"""A refusal in words a person understands: every reason code has its sentence in each
catalogue; the warning that the next failed code locks the user is added when it applies."""

from __future__ import annotations

from services.web.i18n import Translator
from shared.app import client
from shared.domain.contracts import Verdict
from shared.domain.errors import Refusal
from shared.redis.throttle import Throttled
from shared.security.disclosure import for_person
from shared.security.totp import LAST_ATTEMPT_WARNING


def refusal_lines(t: Translator, reason_code: str | None, reason: str | None) -> list[str]:
    """What to show for a refusal: its sentence, and the lock warning if it applies. The
    precise authentication code is never shown (the generic one is)."""
    code, told = for_person(reason_code, reason)
    key = f"reason.{code}"
    lines = [t(key) if t.has(key) else t("reason.unknown", code=code or "?")]
    if told and LAST_ATTEMPT_WARNING in told:
        lines.append(t("reason.last_attempt"))
    return lines


def of_verdict(t: Translator, verdict: Verdict) -> list[str]:
    return refusal_lines(t, verdict.reason_code, verdict.reason)


def of_error(t: Translator, error: Exception) -> list[str]:
    """The sentence for an error of the application client (nothing was sent)."""
    if isinstance(error, Throttled):
        return [t("reason.rate_limited", seconds=max(1, error.retry_after_seconds))]
    if isinstance(error, client.ReasonRequired):
        return [t("reason.reason_required")]
    if isinstance(error, client.PaymentNotFound):
        return [t("reason.payment_not_found")]
    if isinstance(error, client.AuthenticationFailed):
        return [t("reason.authentication_failed")]
    if isinstance(error, Refusal):
        return refusal_lines(t, error.reason_code.value, error.detail)
    if isinstance(error, client.InvalidCommand):
        return [t("reason.invalid_request")]
    return [t("reason.unknown", code="error")]
