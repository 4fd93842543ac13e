"""Session tokens (shared.sessions): signed, expiring, bound to user, enterprise and role."""

from __future__ import annotations

import base64
import json

import pytest

from shared.errors import ReasonCode, Refusal
from shared.sessions import Session, SessionSigner
from tests.unit.support import Clock

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
TTL = 900


@pytest.fixture
def signer(clock: Clock) -> SessionSigner:
    return SessionSigner(KEY, TTL, clock=clock)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def refusal_of(signer: SessionSigner, token: str) -> Refusal:
    with pytest.raises(Refusal) as raised:
        signer.verify(token)
    return raised.value


def test_an_issued_token_verifies_to_its_session(signer: SessionSigner, clock: Clock) -> None:
    token, issued = signer.issue("alice", "ACME", "applicant")
    assert issued == Session("alice", "ACME", "applicant", int(clock()) + TTL)
    assert signer.verify(token) == issued


def test_a_token_verifies_with_any_signer_holding_the_same_key(clock: Clock) -> None:
    token, issued = SessionSigner(KEY, TTL, clock=clock).issue("bob", "ACME", "reviewer")
    assert SessionSigner(KEY, 60, clock=clock).verify(token) == issued


def test_two_tokens_for_the_same_person_differ(signer: SessionSigner) -> None:
    first, _ = signer.issue("alice", "ACME", "applicant")
    second, _ = signer.issue("alice", "ACME", "applicant")
    assert first != second


def test_a_token_is_valid_until_just_before_it_expires(signer: SessionSigner, clock: Clock) -> None:
    token, issued = signer.issue("alice", "ACME", "applicant")
    clock.now = issued.expires_at - 0.001
    assert signer.verify(token).username == "alice"


@pytest.mark.parametrize("late_by", [0, 1, 86_400])
def test_an_expired_token_is_refused_as_expired(
    signer: SessionSigner, clock: Clock, late_by: int
) -> None:
    token, issued = signer.issue("alice", "ACME", "applicant")
    clock.now = issued.expires_at + late_by
    refusal = refusal_of(signer, token)
    assert refusal.reason_code is ReasonCode.SESSION_EXPIRED


def test_a_tampered_payload_is_refused(signer: SessionSigner) -> None:
    token, _ = signer.issue("alice", "ACME", "applicant")
    version, payload, mac = token.split(".")
    data = json.loads(unb64(payload))
    for field, value in (
        ("r", "authorizer"),
        ("e", "GLOBEX"),
        ("u", "mallory"),
        ("x", data["x"] + 10**6),
    ):
        forged = b64(json.dumps({**data, field: value}, separators=(",", ":")).encode())
        refusal = refusal_of(signer, f"{version}.{forged}.{mac}")
        assert refusal.reason_code is ReasonCode.SESSION_INVALID, field


def test_a_tampered_signature_is_refused(signer: SessionSigner) -> None:
    token, _ = signer.issue("alice", "ACME", "applicant")
    version, payload, mac = token.split(".")
    raw = bytearray(unb64(mac))
    for index in (0, len(raw) // 2, len(raw) - 1):
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        refusal = refusal_of(signer, f"{version}.{payload}.{b64(bytes(flipped))}")
        assert refusal.reason_code is ReasonCode.SESSION_INVALID, index


def test_a_truncated_signature_is_refused(signer: SessionSigner) -> None:
    token, _ = signer.issue("alice", "ACME", "applicant")
    version, payload, mac = token.split(".")
    short = b64(unb64(mac)[:16])
    assert (
        refusal_of(signer, f"{version}.{payload}.{short}").reason_code is ReasonCode.SESSION_INVALID
    )
    assert refusal_of(signer, f"{version}.{payload}.").reason_code is ReasonCode.SESSION_INVALID


def test_a_token_signed_with_another_key_is_refused(signer: SessionSigner, clock: Clock) -> None:
    token, _ = SessionSigner(OTHER_KEY, TTL, clock=clock).issue("alice", "ACME", "applicant")
    assert refusal_of(signer, token).reason_code is ReasonCode.SESSION_INVALID


def test_a_token_of_another_version_is_refused(signer: SessionSigner) -> None:
    token, _ = signer.issue("alice", "ACME", "applicant")
    _version, payload, _mac = token.split(".")
    # Even correctly signed under the other version label, the label itself is checked.
    mac = signer._mac(f"v2.{payload}".encode()).finalize()
    assert refusal_of(signer, f"v2.{payload}.{b64(mac)}").reason_code is ReasonCode.SESSION_INVALID


def test_a_signed_payload_that_is_not_a_session_is_refused(signer: SessionSigner) -> None:
    for body in (
        b"not json",
        b"[1, 2]",
        b'{"u": "alice"}',
        b'{"u":"a","e":"b","r":"c","x":"soon"}',
    ):
        payload = b64(body)
        mac = b64(signer._mac(f"v1.{payload}".encode()).finalize())
        assert (
            refusal_of(signer, f"v1.{payload}.{mac}").reason_code is ReasonCode.SESSION_INVALID
        ), body


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        ".",
        "..",
        "v1..",
        "v1.a.b",
        "a.b.c",
        "v1.a.b.c",
        "v1.%%%.%%%",
        "v1.\u00e9\u00e9.\u00e9",
        "v1." + "A" * 5000 + ".B",
        "Bearer v1.x.y",
    ],
    ids=[
        "empty",
        "word",
        "dot",
        "two-dots",
        "empty-parts",
        "short-parts",
        "no-version",
        "four-parts",
        "not-base64",
        "not-ascii",
        "huge",
        "bearer-prefix",
    ],
)
def test_garbage_is_refused_as_invalid(signer: SessionSigner, garbage: str) -> None:
    assert refusal_of(signer, garbage).reason_code is ReasonCode.SESSION_INVALID


def test_the_refusal_never_contains_the_token(signer: SessionSigner, clock: Clock) -> None:
    token, issued = signer.issue("alice", "ACME", "applicant")
    version, payload, mac = token.split(".")
    forged = f"{version}.{payload}.{mac[::-1]}"
    invalid = refusal_of(signer, forged)
    clock.now = issued.expires_at
    expired = refusal_of(signer, token)
    for refusal, shown in ((invalid, forged), (expired, token)):
        for text in (str(refusal), repr(refusal), refusal.detail, *map(str, refusal.args)):
            assert shown not in text
            assert payload not in text
            assert mac not in text
        # Nothing chained either: a traceback of the refusal shows no decoding error.
        assert refusal.__cause__ is None
        assert refusal.__context__ is None or refusal.__suppress_context__


def test_a_key_shorter_than_32_bytes_is_rejected() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SessionSigner(b"k" * 31, TTL)
