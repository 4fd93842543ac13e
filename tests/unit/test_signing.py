"""Stage signatures (shared.security.signing): canonical encoding, sign and verify, tampering, keys
from files, the environment or (development) Redis, and the checks each stage makes."""

from __future__ import annotations

import base64
import dataclasses
import json
import stat
from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from services.review.handlers import handle_intake
from shared.config import Settings
from shared.domain.contracts import Handoff, payment_id_for
from shared.domain.errors import Refusal
from shared.domain.payment import Payment
from shared.messaging import routes as q
from shared.redis.keys import Keys
from shared.redis.server_keys import stage_signer
from shared.security.signing import (
    DOMAIN,
    STAGES,
    SigningKeyError,
    StageSigner,
    canonical,
    load_configured,
    parse_public_keys,
    public_keys_spec,
    write_key_pairs,
)
from shared.security.stage_signatures import (
    HANDOFF,
    check_authorization,
    check_handoff,
    check_review_approval,
    review_approval,
    signed_handoff,
)
from tests.unit.support import PAYER, World, queued

DOCUMENT = {"payment_id": "pay_1", "content_hash": "a" * 64, "status": "otp_verified", "v": 2}


def fresh_signer(*, only: tuple[str, ...] = STAGES) -> StageSigner:
    private = {stage: Ed25519PrivateKey.generate() for stage in STAGES}
    return StageSigner(
        {s: k for s, k in private.items() if s in only},
        {s: k.public_key() for s, k in private.items()},
    )


@pytest.fixture
def signer() -> StageSigner:
    return fresh_signer()


def refused_as_invalid_signature(call: Callable[[], object]) -> str:
    with pytest.raises(Refusal) as refused:
        call()
    assert refused.value.reason_code == "invalid_signature"
    return refused.value.detail


# -- canonical encoding --------------------------------------------------------------------


def test_the_canonical_encoding_is_the_domain_tag_and_compact_sorted_ascii_json() -> None:
    encoded = canonical({"b": "é", "a": 1})
    assert encoded == DOMAIN + b'{"a":1,"b":"\\u00e9"}'


def test_equal_documents_encode_alike_whatever_their_field_order() -> None:
    reordered = dict(reversed(list(DOCUMENT.items())))
    assert canonical(reordered) == canonical(DOCUMENT)


@pytest.mark.parametrize("value", [1.5, True, None, ["x"], {"k": "v"}], ids=repr)
def test_a_document_holds_only_strings_and_integers(value: object) -> None:
    with pytest.raises(TypeError):
        canonical({"field": value})  # type: ignore[dict-item]


# -- sign and verify -----------------------------------------------------------------------


def test_a_stage_signature_verifies_under_that_stages_public_key(signer: StageSigner) -> None:
    signature = signer.sign("apply", HANDOFF, DOCUMENT)
    signer.verify("apply", HANDOFF, DOCUMENT, signature)
    assert len(base64.urlsafe_b64decode(signature + "==")) == 64


@pytest.mark.parametrize("field", sorted(DOCUMENT))
def test_changing_any_signed_field_breaks_the_signature(signer: StageSigner, field: str) -> None:
    signature = signer.sign("apply", HANDOFF, DOCUMENT)
    value = DOCUMENT[field]
    tampered = {**DOCUMENT, field: value + 1 if isinstance(value, int) else value + "x"}
    refused_as_invalid_signature(lambda: signer.verify("apply", HANDOFF, tampered, signature))


def test_an_added_field_breaks_the_signature(signer: StageSigner) -> None:
    signature = signer.sign("apply", HANDOFF, DOCUMENT)
    longer = {**DOCUMENT, "extra": "x"}
    refused_as_invalid_signature(lambda: signer.verify("apply", HANDOFF, longer, signature))


def test_one_stages_signature_does_not_pass_for_another_stage(signer: StageSigner) -> None:
    signature = signer.sign("review", HANDOFF, DOCUMENT)
    refused_as_invalid_signature(lambda: signer.verify("apply", HANDOFF, DOCUMENT, signature))


def test_a_signature_made_for_one_purpose_does_not_pass_for_another(signer: StageSigner) -> None:
    signature = signer.sign("review", "review_approval", DOCUMENT)
    refused_as_invalid_signature(lambda: signer.verify("review", HANDOFF, DOCUMENT, signature))


def test_a_signature_by_another_installations_key_is_refused(signer: StageSigner) -> None:
    stranger = fresh_signer().sign("apply", HANDOFF, DOCUMENT)
    refused_as_invalid_signature(lambda: signer.verify("apply", HANDOFF, DOCUMENT, stranger))


@pytest.mark.parametrize(
    "signature",
    [None, "", "not base64 at all!", "A" * 10, "A" * 86 + "==", "A" * 87],
    ids=["none", "empty", "garbage", "short", "padded", "too-long"],
)
def test_a_missing_or_malformed_signature_is_refused(
    signer: StageSigner, signature: str | None
) -> None:
    refused_as_invalid_signature(lambda: signer.verify("apply", HANDOFF, DOCUMENT, signature))


def test_a_flipped_bit_in_the_signature_is_refused(signer: StageSigner) -> None:
    raw = bytearray(base64.urlsafe_b64decode(signer.sign("apply", HANDOFF, DOCUMENT) + "=="))
    raw[10] ^= 0x01
    flipped = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    refused_as_invalid_signature(lambda: signer.verify("apply", HANDOFF, DOCUMENT, flipped))


def test_a_process_without_a_stages_private_key_cannot_sign_as_it() -> None:
    review_only = fresh_signer(only=("review",))
    assert review_only.can_sign("review") and not review_only.can_sign("apply")
    with pytest.raises(SigningKeyError, match="apply"):
        review_only.sign("apply", HANDOFF, DOCUMENT)


def test_keys_that_are_not_a_pair_or_incomplete_are_refused_at_start() -> None:
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    publics = {s: a.public_key() for s in STAGES}
    with pytest.raises(SigningKeyError, match="not a pair"):
        StageSigner({"apply": b}, publics)
    with pytest.raises(SigningKeyError, match="no public key for stage"):
        StageSigner({}, {"apply": a.public_key()})


# -- hand-offs and stored approvals --------------------------------------------------------


def verified_payment(world: World) -> tuple[Payment, Handoff]:
    assert world.apply().outcome == "accepted"
    [wire] = queued(world.deps, q.OTP_VERIFIED)
    payment = world.deps.store.get(payment_id_for(PAYER, "req-1"))
    assert payment is not None
    return payment, Handoff.model_validate(wire)


def test_the_apply_stage_signs_its_hand_off_for_the_payments_stored_state(world: World) -> None:
    payment, handoff = verified_payment(world)
    assert (handoff.status, handoff.version, handoff.from_stage) == ("otp_verified", 2, "apply")
    assert handoff.signature
    check_handoff(world.deps.signer, handoff, "apply", payment)


@pytest.mark.parametrize(
    "change",
    [{"version": 1}, {"status": "pending_auth"}, {"command_id": "cmd-other"}],
    ids=["version", "status", "command"],
)
def test_a_signed_hand_off_changed_in_transit_is_refused(
    world: World, change: dict[str, object]
) -> None:
    payment, handoff = verified_payment(world)
    tampered = handoff.model_copy(update=change)
    refused_as_invalid_signature(
        lambda: check_handoff(world.deps.signer, tampered, "apply", payment)
    )


def test_a_hand_off_signed_by_another_stage_is_refused_as_mis_signed(world: World) -> None:
    payment, _ = verified_payment(world)
    by_review = signed_handoff(world.deps.signer, payment, "review", "cmd-x")
    detail = refused_as_invalid_signature(
        lambda: check_handoff(world.deps.signer, by_review, "apply", payment)
    )
    assert "signed by apply, not review" in detail


def test_a_genuine_hand_off_is_refused_when_the_stored_payment_disagrees(world: World) -> None:
    payment, handoff = verified_payment(world)
    # The record rewritten in Redis: the same version, but history says otherwise.
    rewritten_history = [
        event.model_copy(update={"status": "pending_auth"}) if i == 1 else event
        for i, event in enumerate(payment.history)
    ]
    rewritten = dataclasses.replace(payment, history=rewritten_history)
    refused_as_invalid_signature(
        lambda: check_handoff(world.deps.signer, handoff, "apply", rewritten)
    )
    # ...or the payment (and its history) is younger than the signed version.
    younger = dataclasses.replace(payment, version=1, history=payment.history[:1])
    refused_as_invalid_signature(
        lambda: check_handoff(world.deps.signer, handoff, "apply", younger)
    )


def test_a_hand_off_whose_payment_content_hash_was_rewritten_is_refused(world: World) -> None:
    payment, handoff = verified_payment(world)
    rewritten = dataclasses.replace(
        payment, content=dataclasses.replace(payment.content, content_hash="b" * 64)
    )
    with pytest.raises(Refusal) as refused:
        check_handoff(world.deps.signer, handoff, "apply", rewritten)
    assert refused.value.reason_code == "content_mismatch"


def test_the_intake_refuses_an_unsigned_hand_off_and_records_the_refusal(world: World) -> None:
    payment, handoff = verified_payment(world)
    unsigned = handoff.model_copy(update={"signature": None}).to_wire()

    outcome = handle_intake(unsigned, world.deps)

    assert (outcome.outcome, outcome.reason_code) == ("refused", "invalid_signature")
    [refusal] = world.refusals()
    assert (refusal.payment_id, refusal.stage, refusal.reason_code) == (
        payment.payment_id,
        "review",
        "invalid_signature",
    )
    after = world.deps.store.get(payment.payment_id)
    assert after is not None and (after.status, after.version) == (payment.status, 2)


def test_a_review_approval_is_bound_to_the_payment_its_content_and_its_reviewer(
    world: World,
) -> None:
    payment, _ = verified_payment(world)
    signer = world.deps.signer
    approved = payment.recorded(review_approval(signer, payment, "bob"))
    check_review_approval(signer, approved)
    for changed in [
        dataclasses.replace(approved, reviewer_id="mallory"),
        dataclasses.replace(
            approved, content=dataclasses.replace(approved.content, content_hash="c" * 64)
        ),
    ]:
        refused_as_invalid_signature(lambda p=changed: check_review_approval(signer, p))
    other = dataclasses.replace(approved, payment_id=payment_id_for(PAYER, "req-other"))
    refused_as_invalid_signature(lambda: check_review_approval(signer, other))
    missing = dataclasses.replace(approved, review_signature=None)
    refused_as_invalid_signature(lambda: check_review_approval(signer, missing))


def test_an_authorization_without_the_authorize_stages_signature_is_refused(
    world: World,
) -> None:
    payment, _ = verified_payment(world)
    # The review stage's key signing what only the authorize stage may sign.
    forged = world.deps.signer.sign("review", "authorization", {"payment_id": payment.payment_id})
    record = dataclasses.replace(payment, authorizer_id="carol", authorize_signature=forged)
    refused_as_invalid_signature(lambda: check_authorization(world.deps.signer, record))


# -- keys ----------------------------------------------------------------------------------


def test_in_development_mode_every_process_shares_one_dev_key_pair_per_stage_in_redis(
    prefix: str,
) -> None:
    server = fakeredis.FakeServer()
    keys = Keys(prefix)
    first = stage_signer(
        fakeredis.FakeRedis(server=server), keys, Settings(prefix=prefix, dev_mode=True)
    )
    second = stage_signer(
        fakeredis.FakeRedis(server=server), keys, Settings(prefix=prefix, dev_mode=True)
    )
    assert first.development and second.development
    assert first.public_keys() == second.public_keys()
    signature = first.sign("authorize", HANDOFF, DOCUMENT)
    second.verify("authorize", HANDOFF, DOCUMENT, signature)
    stored = fakeredis.FakeRedis(server=server).hgetall(keys.signing_dev_keys)
    assert sorted(k.decode() for k in stored) == sorted(STAGES)


def test_configured_keys_never_touch_redis(prefix: str, tmp_path: Path) -> None:
    write_key_pairs(tmp_path)
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    signer = stage_signer(client, Keys(prefix), Settings(prefix=prefix, signing_keys_dir=tmp_path))
    assert not signer.development
    assert client.keys("*") == []


def test_admin_keys_writes_private_keys_readable_by_the_owner_only(tmp_path: Path) -> None:
    pairs = write_key_pairs(tmp_path / "keys")
    assert [p.stage for p in pairs] == list(STAGES)
    for pair in pairs:
        assert stat.S_IMODE(pair.private_path.stat().st_mode) == 0o600
        assert pair.private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
        assert pair.public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


def test_admin_keys_refuses_to_replace_existing_keys_unless_forced(tmp_path: Path) -> None:
    first = write_key_pairs(tmp_path)
    with pytest.raises(SigningKeyError, match="already holds"):
        write_key_pairs(tmp_path)
    replaced = write_key_pairs(tmp_path, overwrite=True)
    assert [p.public_key for p in first] != [p.public_key for p in replaced]


def test_a_stage_given_the_public_keys_and_only_its_own_private_key_signs_only_as_itself(
    tmp_path: Path,
) -> None:
    write_key_pairs(tmp_path)
    for stage in STAGES:
        if stage != "review":
            (tmp_path / f"{stage}.key").unlink()
    signer = load_configured(Settings(signing_keys_dir=tmp_path))
    assert [s for s in STAGES if signer.can_sign(s)] == ["review"]
    verifier = load_configured(Settings(signing_public_keys=public_keys_spec(signer.public_keys())))
    assert not any(verifier.can_sign(s) for s in STAGES)
    verifier.verify("review", HANDOFF, DOCUMENT, signer.sign("review", HANDOFF, DOCUMENT))


def test_keys_can_come_from_the_environment_as_pem_or_base64(tmp_path: Path) -> None:
    pairs = {p.stage: p for p in write_key_pairs(tmp_path)}
    public = ",".join(f"{s}:{pairs[s].public_key}" for s in STAGES)
    pem = pairs["apply"].private_path.read_text()
    signer = load_configured(Settings(signing_public_keys=public, signing_key_apply=SecretStr(pem)))
    assert signer.can_sign("apply") and not signer.can_sign("review")
    stranger = base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()
    with pytest.raises(SigningKeyError, match="not a pair"):
        load_configured(
            Settings(signing_public_keys=public, signing_key_review=SecretStr(stranger))
        )


@pytest.mark.parametrize(
    "spec",
    ["apply", "bank:AAAA", "apply:not-base64!", f"apply:{base64.b64encode(b'x' * 31).decode()}"],
)
def test_malformed_public_keys_are_refused_without_echoing_them(spec: str) -> None:
    with pytest.raises(SigningKeyError) as refused:
        parse_public_keys(spec)
    given = spec.partition(":")[2]
    assert not given or given not in str(refused.value)


def test_a_missing_public_key_is_named_at_start(tmp_path: Path) -> None:
    write_key_pairs(tmp_path)
    (tmp_path / "interbank.pub").unlink()
    (tmp_path / "interbank.key").unlink()
    with pytest.raises(SigningKeyError, match="interbank"):
        load_configured(Settings(signing_keys_dir=tmp_path))


def test_the_handoff_schema_publishes_its_signature_fields() -> None:
    schema = Handoff.model_json_schema(by_alias=True)
    assert {"status", "version", "signature"} <= set(schema["properties"])
    assert json.dumps(schema).count("b2bpay.handoff.v2") >= 1
