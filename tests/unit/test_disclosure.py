"""What a person is told about a refusal (shared.security.disclosure): never which factor failed."""

from __future__ import annotations

import pytest

from shared.domain.errors import ReasonCode
from shared.security.disclosure import AUTHENTICATION_FAILED, GENERIC_REASON, for_person
from shared.security.totp import LAST_ATTEMPT_WARNING

HIDDEN = [
    ("session_invalid", "session token is not valid"),
    ("session_expired", "session has expired; log in again"),
    ("session_revoked", "session was ended (logout or revoked)"),
    ("otp_invalid", "one-time code is not valid"),
    ("otp_replayed", "one-time code was already used"),
    ("user_locked", "too many failed one-time codes; user locked"),
]


@pytest.mark.parametrize(("code", "reason"), HIDDEN, ids=[c for c, _ in HIDDEN])
def test_every_authentication_refusal_is_shown_as_the_same_generic_failure(
    code: str, reason: str
) -> None:
    assert for_person(code, reason) == (AUTHENTICATION_FAILED, GENERIC_REASON)


def test_the_generic_reason_names_no_single_factor() -> None:
    for _code, precise in HIDDEN:
        assert precise not in GENERIC_REASON


@pytest.mark.parametrize("code", ["otp_invalid", "otp_replayed"])
def test_the_warning_before_the_last_attempt_is_kept(code: str) -> None:
    shown_code, shown_reason = for_person(code, f"whatever failed; {LAST_ATTEMPT_WARNING}")
    assert shown_code == AUTHENTICATION_FAILED
    assert shown_reason == f"{GENERIC_REASON}; {LAST_ATTEMPT_WARNING}"
    assert "whatever failed" not in (shown_reason or "")


@pytest.mark.parametrize(
    "code",
    [
        ReasonCode.WRONG_ROLE,
        ReasonCode.WRONG_ENTERPRISE,
        ReasonCode.SAME_PERSON,
        ReasonCode.ILLEGAL_TRANSITION,
        ReasonCode.DUPLICATE_ORDER,
    ],
)
def test_refusals_that_are_not_about_authentication_are_shown_as_they_are(
    code: ReasonCode,
) -> None:
    assert for_person(code.value, "the detail") == (code.value, "the detail")


def test_a_verdict_without_a_reason_code_is_shown_as_it_is() -> None:
    assert for_person(None, None) == (None, None)
