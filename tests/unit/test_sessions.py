"""Sessions (shared.redis.sessions): signed, expiring tokens bound to user, enterprise and role,
and
their server-side records: idle timeout, logout, revocation."""

from __future__ import annotations

import base64
import json

import fakeredis
import pytest

from shared.domain.errors import ReasonCode, Refusal
from shared.redis.keys import Keys
from shared.redis.sessions import Sessions
from shared.security.session_tokens import Session, SessionSigner
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
    assert issued == Session("alice", "ACME", "applicant", int(clock()) + TTL, issued.session_id)
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


# -- server-side session records (shared.redis.sessions.Sessions) ---------------------

IDLE = 300


@pytest.fixture
def sessions(redis_client: fakeredis.FakeRedis, keys: Keys, clock: Clock) -> Sessions:
    return Sessions(redis_client, keys, SessionSigner(KEY, TTL, clock=clock), IDLE)


def refusal_of_record(sessions: Sessions, token: str) -> ReasonCode:
    with pytest.raises(Refusal) as raised:
        sessions.verify(token)
    return raised.value.reason_code


def record(redis_client: fakeredis.FakeRedis, keys: Keys, session: Session) -> dict[str, str]:
    raw = redis_client.hgetall(keys.session(session.session_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_the_session_id_is_the_tokens_nonce(signer: SessionSigner) -> None:
    token, issued = signer.issue("alice", "ACME", "applicant")
    payload = json.loads(unb64(token.split(".")[1]))
    assert payload["n"] == issued.session_id
    assert len(issued.session_id) == 32


def test_a_signed_token_without_a_proper_nonce_is_refused(signer: SessionSigner) -> None:
    for nonce in (None, 42, "", "not-hex!", "ab"):
        body = {"u": "alice", "e": "ACME", "r": "applicant", "x": 10**12, "n": nonce}
        payload = b64(json.dumps(body).encode())
        mac = b64(signer._mac(f"v1.{payload}".encode()).finalize())
        assert (
            refusal_of(signer, f"v1.{payload}.{mac}").reason_code is ReasonCode.SESSION_INVALID
        ), nonce


def test_login_stores_a_record_named_by_the_session_id_that_lives_as_long_as_the_idle_timeout(
    sessions: Sessions, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    _token, issued = sessions.issue("alice", "ACME", "applicant")
    assert record(redis_client, keys, issued)["username"] == "alice"
    assert 0 < redis_client.ttl(keys.session(issued.session_id)) <= IDLE


def test_a_live_session_verifies_to_its_session(sessions: Sessions) -> None:
    token, issued = sessions.issue("alice", "ACME", "applicant")
    assert sessions.verify(token) == issued


def test_a_session_whose_record_is_gone_is_refused_as_expired(
    sessions: Sessions, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    token, issued = sessions.issue("alice", "ACME", "applicant")
    redis_client.delete(keys.session(issued.session_id))
    assert refusal_of_record(sessions, token) is ReasonCode.SESSION_EXPIRED


def test_a_validly_signed_token_that_was_never_issued_here_is_refused(
    sessions: Sessions, clock: Clock
) -> None:
    # Signed with the right key, but no login ever stored its record.
    token, _ = SessionSigner(KEY, TTL, clock=clock).issue("alice", "ACME", "applicant")
    assert refusal_of_record(sessions, token) is ReasonCode.SESSION_EXPIRED


def test_a_session_unused_for_the_idle_timeout_is_refused_as_expired(
    sessions: Sessions, clock: Clock
) -> None:
    token, _ = sessions.issue("alice", "ACME", "applicant")
    clock.advance(IDLE - 1)
    sessions.verify(token)
    clock.advance(1)
    assert refusal_of_record(sessions, token) is ReasonCode.SESSION_EXPIRED
    # And it stays ended, even if time went back.
    clock.advance(-IDLE)
    assert refusal_of_record(sessions, token) is ReasonCode.SESSION_EXPIRED


def test_verifying_alone_does_not_count_as_a_use(sessions: Sessions, clock: Clock) -> None:
    token, _ = sessions.issue("alice", "ACME", "applicant")
    clock.advance(IDLE - 1)
    sessions.verify(token)
    clock.advance(1)
    assert refusal_of_record(sessions, token) is ReasonCode.SESSION_EXPIRED


def test_each_successful_use_restarts_the_idle_timeout(
    sessions: Sessions, clock: Clock, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    token, issued = sessions.issue("alice", "ACME", "applicant")
    for _ in range(3):  # 3 x 299 s: longer than the idle timeout, within the lifetime
        clock.advance(IDLE - 1)
        sessions.refresh(sessions.verify(token))
        assert 0 < redis_client.ttl(keys.session(issued.session_id)) <= IDLE
    clock.advance(IDLE)
    assert refusal_of_record(sessions, token) is ReasonCode.SESSION_EXPIRED


def test_an_active_session_still_ends_at_the_end_of_its_lifetime(
    sessions: Sessions, clock: Clock
) -> None:
    token, issued = sessions.issue("alice", "ACME", "applicant")
    while clock() + IDLE - 1 < issued.expires_at:
        clock.advance(IDLE - 1)
        sessions.refresh(sessions.verify(token))
    clock.now = issued.expires_at
    assert refusal_of_record(sessions, token) is ReasonCode.SESSION_EXPIRED


def test_a_refresh_does_not_revive_an_idle_session(sessions: Sessions, clock: Clock) -> None:
    token, issued = sessions.issue("alice", "ACME", "applicant")
    clock.advance(IDLE)
    with pytest.raises(Refusal) as raised:
        sessions.refresh(issued)
    assert raised.value.reason_code is ReasonCode.SESSION_EXPIRED
    assert refusal_of_record(sessions, token) is ReasonCode.SESSION_EXPIRED


def test_a_logged_out_session_is_refused_as_revoked(sessions: Sessions) -> None:
    token, _ = sessions.issue("alice", "ACME", "applicant")
    assert sessions.revoke(token) is True
    assert refusal_of_record(sessions, token) is ReasonCode.SESSION_REVOKED


def test_a_refresh_does_not_revive_a_revoked_session(sessions: Sessions) -> None:
    token, issued = sessions.issue("alice", "ACME", "applicant")
    sessions.revoke(token)
    with pytest.raises(Refusal) as raised:
        sessions.refresh(issued)
    assert raised.value.reason_code is ReasonCode.SESSION_REVOKED


def test_a_revoked_record_is_kept_until_the_token_would_have_expired(
    sessions: Sessions, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    token, issued = sessions.issue("alice", "ACME", "applicant")
    sessions.revoke(token)
    assert IDLE < redis_client.ttl(keys.session(issued.session_id)) <= TTL


def test_logging_out_twice_or_after_the_session_ended_is_harmless(
    sessions: Sessions, clock: Clock
) -> None:
    token, _ = sessions.issue("alice", "ACME", "applicant")
    assert sessions.revoke(token) is True
    assert sessions.revoke(token) is False
    idle, _ = sessions.issue("alice", "ACME", "applicant")
    clock.advance(IDLE + 1)
    assert sessions.revoke(idle) is False


def test_logging_out_ends_only_that_session(sessions: Sessions) -> None:
    token, _ = sessions.issue("alice", "ACME", "applicant")
    other, _ = sessions.issue("alice", "ACME", "applicant")
    sessions.revoke(token)
    assert sessions.verify(other).username == "alice"


def test_a_forged_token_cannot_log_anyone_out(sessions: Sessions) -> None:
    token, _ = sessions.issue("alice", "ACME", "applicant")
    version, payload, mac = token.split(".")
    with pytest.raises(Refusal) as raised:
        sessions.revoke(f"{version}.{payload}.{mac[::-1]}")
    assert raised.value.reason_code is ReasonCode.SESSION_INVALID
    assert sessions.verify(token).username == "alice"


def test_revoking_a_user_ends_all_of_their_sessions_and_no_one_elses(sessions: Sessions) -> None:
    alices = [sessions.issue("alice", "ACME", "applicant")[0] for _ in range(3)]
    bobs = sessions.issue("bob", "ACME", "reviewer")[0]
    sessions.revoke_user("alice")
    for token in alices:
        assert refusal_of_record(sessions, token) is ReasonCode.SESSION_REVOKED
    assert sessions.verify(bobs).username == "bob"


def test_a_session_opened_after_a_revocation_is_live(sessions: Sessions) -> None:
    old, _ = sessions.issue("alice", "ACME", "applicant")
    sessions.revoke_user("alice")
    new, _ = sessions.issue("alice", "ACME", "applicant")
    assert sessions.verify(new).username == "alice"
    assert refusal_of_record(sessions, old) is ReasonCode.SESSION_REVOKED


def test_a_revocation_is_seen_by_every_worker(
    sessions: Sessions, redis_client: fakeredis.FakeRedis, keys: Keys, clock: Clock
) -> None:
    other_worker = Sessions(redis_client, keys, SessionSigner(KEY, TTL, clock=clock), IDLE)
    token, _ = sessions.issue("alice", "ACME", "applicant")
    assert other_worker.verify(token).username == "alice"
    sessions.revoke_user("alice")
    assert refusal_of_record(other_worker, token) is ReasonCode.SESSION_REVOKED


def test_a_record_of_another_user_does_not_serve_a_token(
    sessions: Sessions, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    token, issued = sessions.issue("alice", "ACME", "applicant")
    redis_client.hset(keys.session(issued.session_id), "username", "mallory")
    assert refusal_of_record(sessions, token) is ReasonCode.SESSION_INVALID


def test_an_idle_timeout_must_be_positive(
    redis_client: fakeredis.FakeRedis, keys: Keys, signer: SessionSigner
) -> None:
    with pytest.raises(ValueError, match="positive"):
        Sessions(redis_client, keys, signer, 0)


def test_logging_out_a_session_past_its_lifetime_is_harmless(
    sessions: Sessions, clock: Clock
) -> None:
    token, issued = sessions.issue("alice", "ACME", "applicant")
    clock.now = issued.expires_at
    assert sessions.revoke(token) is False
