"""Secrets at rest (shared.security.keyring): AES-256-GCM under a ring of named keys."""

from __future__ import annotations

import base64

import fakeredis
import pytest

from shared.redis.keys import Keys
from shared.redis.server_keys import DEV_KEY_ID, totp_key_ring
from shared.security.keyring import CryptoError, KeyRing, KeyRingError

OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def spec(*entries: tuple[str, bytes]) -> str:
    return ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in entries)


def flip(text: str, index: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.parse(spec(("k1", OLD_KEY)))


def test_an_encrypted_secret_decrypts_to_itself(ring: KeyRing) -> None:
    sealed = ring.encrypt(SECRET, "alice")
    assert ring.decrypt(sealed, "alice") == SECRET


def test_the_stored_form_is_key_id_nonce_and_ciphertext_without_the_secret(ring: KeyRing) -> None:
    sealed = ring.encrypt(SECRET, "alice")
    kid, nonce, body = sealed.split(":")
    assert kid == "k1"
    assert len(base64.b64decode(nonce)) == 12
    assert len(base64.b64decode(body)) == len(SECRET) + 16  # ciphertext + GCM tag
    assert SECRET not in sealed


def test_each_encryption_uses_a_fresh_nonce(ring: KeyRing) -> None:
    first, second = ring.encrypt(SECRET, "alice"), ring.encrypt(SECRET, "alice")
    assert first != second
    assert first.split(":")[1] != second.split(":")[1]


@pytest.mark.parametrize("part", [1, 2], ids=["nonce", "ciphertext"])
def test_a_tampered_secret_does_not_decrypt(ring: KeyRing, part: int) -> None:
    parts = ring.encrypt(SECRET, "alice").split(":")
    for index in (0, len(base64.b64decode(parts[part])) - 1):
        tampered = list(parts)
        tampered[part] = flip(parts[part], index)
        with pytest.raises(CryptoError):
            ring.decrypt(":".join(tampered), "alice")


def test_a_secret_copied_onto_another_user_does_not_decrypt(ring: KeyRing) -> None:
    with pytest.raises(CryptoError):
        ring.decrypt(ring.encrypt(SECRET, "alice"), "mallory")


def test_a_secret_under_a_key_the_ring_does_not_hold_does_not_decrypt(ring: KeyRing) -> None:
    other = KeyRing.parse(spec(("k9", NEW_KEY)))
    with pytest.raises(CryptoError, match="key this key ring does not hold"):
        ring.decrypt(other.encrypt(SECRET, "alice"), "alice")


def test_a_secret_relabelled_with_another_key_id_does_not_decrypt() -> None:
    both = KeyRing.parse(spec(("k2", NEW_KEY), ("k1", OLD_KEY)))
    _kid, nonce, body = both.encrypt(SECRET, "alice").split(":")
    with pytest.raises(CryptoError):
        both.decrypt(f"k1:{nonce}:{body}", "alice")


@pytest.mark.parametrize(
    "garbage", ["", "k1", "k1:", "k1:a:b", "k1:!!!:???", "k1:a:b:c", "plain-secret"]
)
def test_garbage_does_not_decrypt(ring: KeyRing, garbage: str) -> None:
    with pytest.raises(CryptoError):
        ring.decrypt(garbage, "alice")


def test_after_rotation_the_new_key_encrypts_and_the_old_one_still_decrypts() -> None:
    old_ring = KeyRing.parse(spec(("k1", OLD_KEY)))
    before = old_ring.encrypt(SECRET, "alice")
    rotated = KeyRing.parse(spec(("k2", NEW_KEY), ("k1", OLD_KEY)))
    assert rotated.current_id == "k2"
    assert rotated.decrypt(before, "alice") == SECRET
    after = rotated.encrypt(SECRET, "alice")
    assert rotated.key_id_of(after) == "k2"
    # Once the old key is dropped, only what was re-encrypted still decrypts.
    new_only = KeyRing.parse(spec(("k2", NEW_KEY)))
    assert new_only.decrypt(after, "alice") == SECRET
    with pytest.raises(CryptoError):
        new_only.decrypt(before, "alice")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "expected <id>:<base64 key>"),
        ("k1", "expected <id>:<base64 key>"),
        (f"k1:{base64.b64encode(OLD_KEY[:16]).decode()}", "exactly 32 bytes"),
        ("k1:not base64!", "not valid base64"),
        (f"k 1:{base64.b64encode(OLD_KEY).decode()}", "the id must be"),
        (spec(("k1", OLD_KEY), ("k1", NEW_KEY)), "used twice"),
    ],
    ids=["empty", "no-key", "short-key", "not-base64", "bad-id", "duplicate-id"],
)
def test_a_malformed_key_ring_is_refused_without_echoing_key_material(
    bad: str, message: str
) -> None:
    with pytest.raises(KeyRingError, match=message) as raised:
        KeyRing.parse(bad)
    for entry in bad.split(","):
        key_material = entry.partition(":")[2]
        if key_material:
            assert key_material not in str(raised.value)


def test_in_development_mode_without_a_configured_ring_one_key_is_made_and_shared_via_redis(
    redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    first = totp_key_ring(redis_client, keys, None, dev_mode=True)
    second = totp_key_ring(redis_client, keys, None, dev_mode=True)
    assert first.current_id == second.current_id == DEV_KEY_ID
    assert second.decrypt(first.encrypt(SECRET, "alice"), "alice") == SECRET
    assert len(base64.b64decode(redis_client.get(keys.totp_dev_key) or b"")) == 32


def test_a_configured_ring_leaves_redis_alone(
    redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    ring = totp_key_ring(redis_client, keys, spec(("k1", OLD_KEY)), dev_mode=True)
    assert ring.current_id == "k1"
    assert redis_client.exists(keys.totp_dev_key) == 0
