"""Stage signatures: each stage signs what it hands on (Ed25519, one key pair per stage), and
the next stage verifies the signature and that the payment's stored state agrees with it.

What is signed:

- a :class:`~shared.domain.contracts.Handoff` (apply -> ``otp-verified``, authorize
  -> ``interbank``), by the stage named in ``from_stage``: every field but the signature,
  including the payment's status and version at hand-off;
- the reviewer's approval, by the review stage, stored in the payment record
  (``review_signature``) and verified by the authorize stage before any decision;
- the authorization, by the authorize stage, stored in the payment record
  (``authorize_signature``) and verified by the interbank stage before it submits.

Every signature is over a canonical encoding (:func:`canonical`) of a flat document that
names its purpose and the signing stage, so a signature made for one purpose or by one stage
never verifies as another.

Keys come from settings (a folder written by ``b2bpay admin keys``, or environment
variables). With none configured, in development mode only (``B2BPAY_DEV_MODE``), a key pair
per stage is generated once and kept in Redis, since anyone who can read Redis can then sign
as every stage; outside it, a process without keys refuses to start.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import redis
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from pydantic import SecretStr

from shared.config import Settings
from shared.domain.contracts import Handoff
from shared.domain.errors import B2bpayError, ReasonCode, Refusal
from shared.messaging import routes
from shared.redis.keys import Keys
from shared.redis.store import Payment
from shared.security.keyneeds import SETTING_OF, KeyNeed, MissingKeys

#: The stages that hold a key pair; which of them sign: :data:`routes.SIGNING_STAGES`.
STAGES: tuple[str, ...] = routes.QUEUE_STAGES
#: Domain separation: these bytes start every signed message, so no other protocol's
#: signature (made with the same key by mistake) can be mistaken for a stage signature.
DOMAIN = b"b2bpay.stage-signature.v1\n"
SIGNATURE_BYTES = 64
KEY_BYTES = 32

HANDOFF = "handoff"
APPLICATION = "application"
REVIEW_APPROVAL = "review_approval"
AUTHORIZATION = "authorization"

Document = Mapping[str, str | int]


class SigningKeyError(B2bpayError):
    """Raised when signing keys are configured wrongly (missing, malformed, not a pair); the
    message never holds key material."""


def canonical(document: Document) -> bytes:
    """The one byte string a document is signed as: the domain tag, then compact JSON with
    sorted keys and ASCII only. Values are strings or integers (no floats, whose spelling
    varies, and no nesting), so equal documents always encode alike."""
    for name, value in document.items():
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"field {name!r}: a signed document holds str keys, str/int values")
    body = json.dumps(dict(document), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return DOMAIN + body.encode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signature_bytes(text: str) -> bytes:
    """Strict decoding: exactly the spelling :func:`_b64url` makes, exactly 64 bytes."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(data) != SIGNATURE_BYTES or _b64url(data) != text:
        raise ValueError("not a canonical Ed25519 signature")
    return data


class StageSigner:
    """The private keys of the stages this process may sign as, and the public keys of every
    stage. Signing as a stage whose private key is absent raises :class:`SigningKeyError`;
    a signature that does not verify raises a ``invalid_signature`` :class:`Refusal`."""

    def __init__(
        self,
        private: Mapping[str, Ed25519PrivateKey],
        public: Mapping[str, Ed25519PublicKey],
        development: bool = False,
    ) -> None:
        unknown = sorted((set(private) | set(public)) - set(STAGES))
        if unknown:
            raise SigningKeyError(f"unknown stage(s) {', '.join(unknown)}")
        missing = [s for s in STAGES if s not in public]
        if missing:
            raise SigningKeyError(f"no public key for stage(s) {', '.join(missing)}")
        for stage, key in private.items():
            if _raw_public(key.public_key()) != _raw_public(public[stage]):
                raise SigningKeyError(f"the {stage} private and public keys are not a pair")
        self._private = dict(private)
        self._public = dict(public)
        #: True for the generated keys kept in Redis: no protection against Redis access.
        self.development = development

    def can_sign(self, stage: str) -> bool:
        return stage in self._private

    def sign(self, stage: str, purpose: str, fields: Document) -> str:
        key = self._private.get(stage)
        if key is None:
            raise SigningKeyError(f"this process holds no private key of the {stage} stage")
        return _b64url(key.sign(canonical(_document(stage, purpose, fields))))

    def verify(self, stage: str, purpose: str, fields: Document, signature: str | None) -> None:
        """Refuse (``invalid_signature``) unless ``signature`` is ``stage``'s signature of
        ``fields`` for ``purpose``."""
        if not signature:
            raise Refusal(ReasonCode.INVALID_SIGNATURE, f"not signed by the {stage} stage")
        try:
            self._public[stage].verify(
                _signature_bytes(signature), canonical(_document(stage, purpose, fields))
            )
        except (ValueError, binascii.Error, InvalidSignature):
            raise Refusal(
                ReasonCode.INVALID_SIGNATURE, f"the {stage} stage's signature does not verify"
            ) from None

    def public_keys(self) -> dict[str, str]:
        """Every stage's public key, base64 of its 32 raw bytes."""
        return {s: base64.b64encode(_raw_public(self._public[s])).decode() for s in STAGES}


def _document(stage: str, purpose: str, fields: Document) -> dict[str, str | int]:
    if "purpose" in fields or "signed_by" in fields:
        raise TypeError("purpose and signed_by are set by the signer")
    return {"purpose": purpose, "signed_by": stage, **fields}


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# -- what each stage signs and checks ------------------------------------------------------


def signed_handoff(
    signer: StageSigner, payment: Payment, from_stage: str, command_id: str
) -> Handoff:
    """The hand-off of ``payment`` as it is now (status, version), signed by ``from_stage``."""
    unsigned = Handoff.model_validate(
        {
            "payment_id": payment.payment_id,
            "content_hash": payment.fields["content_hash"],
            "from_stage": from_stage,
            "command_id": command_id,
            "status": payment.status.value,
            "version": payment.version,
        }
    )
    signature = signer.sign(from_stage, HANDOFF, unsigned.signed_content())
    return unsigned.model_copy(update={"signature": signature})


def check_handoff(signer: StageSigner, handoff: Handoff, from_stage: str, payment: Payment) -> None:
    """Refuse a hand-off unless ``from_stage`` signed it and the stored payment agrees: the
    same content hash, and at the signed version it had the signed status (so a payment
    whose record was rewritten, or reset to replay an old hand-off, is refused)."""
    if handoff.from_stage != from_stage:
        raise Refusal(
            ReasonCode.INVALID_SIGNATURE,
            f"this queue takes hand-offs signed by {from_stage}, not {handoff.from_stage}",
        )
    signer.verify(from_stage, HANDOFF, handoff.signed_content(), handoff.signature)
    if handoff.content_hash != payment.fields.get("content_hash"):
        raise Refusal(ReasonCode.CONTENT_MISMATCH, "the signed content hash is not the stored one")
    if _status_at(payment, handoff.version) != handoff.status:
        raise Refusal(
            ReasonCode.INVALID_SIGNATURE,
            f"the hand-off was signed for {handoff.status} at version {handoff.version}; "
            "the stored payment does not agree",
        )


def _status_at(payment: Payment, version: int) -> str | None:
    """The status the payment had at ``version``: every transition adds one history entry
    and one version, so entry ``version - 1`` is the one that made it."""
    if not 1 <= version <= min(payment.version, len(payment.history)):
        return None
    return payment.history[version - 1].status


def _application_document(payment_id: str, fields: Mapping[str, str]) -> dict[str, str | int]:
    return {
        "payment_id": payment_id,
        "content_hash": fields.get("content_hash", ""),
        "status": "otp_verified",
        "applicant_id": fields.get("applicant_id", ""),
        "end_to_end_id": fields.get("end_to_end_id", ""),
    }


def application_fields(
    signer: StageSigner, payment_id: str, fields: Mapping[str, str]
) -> dict[str, str]:
    """What the apply stage stores with a new payment: its signature over the content the
    applicant confirmed (seed step 2), so a later rewrite of content and hash together in
    Redis is caught before anyone reviews it."""
    document = _application_document(payment_id, fields)
    return {"apply_signature": signer.sign("apply", APPLICATION, document)}


def check_application(signer: StageSigner, payment: Payment) -> None:
    """Refuse unless the apply stage signed this payment's content and applicant."""
    document = _application_document(payment.payment_id, payment.fields)
    signer.verify("apply", APPLICATION, document, payment.get("apply_signature"))


def _review_document(payment: Payment, reviewer_id: str) -> dict[str, str | int]:
    return {
        "payment_id": payment.payment_id,
        "content_hash": payment.fields.get("content_hash", ""),
        "status": "pending_auth",
        "reviewer_id": reviewer_id,
    }


def review_approval_fields(
    signer: StageSigner, payment: Payment, reviewer_id: str
) -> dict[str, str]:
    """The fields the review stage stores with its approval (the move to pending_auth)."""
    document = _review_document(payment, reviewer_id)
    return {
        "reviewer_id": reviewer_id,
        "review_signature": signer.sign("review", REVIEW_APPROVAL, document),
    }


def check_review_approval(signer: StageSigner, payment: Payment) -> None:
    """Refuse unless the review stage signed this payment's approval, for its content and
    its reviewer."""
    document = _review_document(payment, payment.fields.get("reviewer_id", ""))
    signer.verify("review", REVIEW_APPROVAL, document, payment.get("review_signature"))


def _authorization_document(payment: Payment, authorizer_id: str) -> dict[str, str | int]:
    return {
        "payment_id": payment.payment_id,
        "content_hash": payment.fields.get("content_hash", ""),
        "status": "authorized",
        "authorizer_id": authorizer_id,
        "reviewer_id": payment.fields.get("reviewer_id", ""),
        # Bound too: clearing knows a payment by it, so a rewritten id would submit again.
        "end_to_end_id": payment.fields.get("end_to_end_id", ""),
    }


def authorization_fields(
    signer: StageSigner, payment: Payment, authorizer_id: str
) -> dict[str, str]:
    """The fields the authorize stage stores with its approval (the move to authorized)."""
    document = _authorization_document(payment, authorizer_id)
    return {
        "authorizer_id": authorizer_id,
        "authorize_signature": signer.sign("authorize", AUTHORIZATION, document),
    }


def check_authorization(signer: StageSigner, payment: Payment) -> None:
    """Refuse unless the authorize stage signed this payment's authorization."""
    document = _authorization_document(payment, payment.fields.get("authorizer_id", ""))
    signer.verify("authorize", AUTHORIZATION, document, payment.get("authorize_signature"))


# -- keys ----------------------------------------------------------------------------------


def stage_signer(client: redis.Redis, keys: Keys, settings: Settings) -> StageSigner:
    """The configured keys, or (development mode only) a key pair per stage generated once
    and kept in Redis, shared by every process of the installation. Neither:
    :class:`~shared.security.keyneeds.MissingKeys`."""
    if configured(settings):
        return load_configured(settings)
    if not settings.dev_mode:
        raise MissingKeys([SETTING_OF[KeyNeed.SIGNING]])
    for stage in STAGES:
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        client.hsetnx(keys.signing_dev_keys, stage, base64.b64encode(seed))
    stored = client.hgetall(keys.signing_dev_keys)
    private = {
        _text(stage): Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))
        for stage, seed in stored.items()
    }
    return StageSigner(private, {s: k.public_key() for s, k in private.items()}, development=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _private_settings(settings: Settings) -> dict[str, str]:
    """``B2BPAY_SIGNING_KEY_<STAGE>``: the setting ``signing_key_<stage>`` of each stage."""
    given: dict[str, SecretStr | None] = {
        stage: getattr(settings, f"signing_key_{stage}") for stage in STAGES
    }
    return {stage: value.get_secret_value() for stage, value in given.items() if value}


def configured(settings: Settings) -> bool:
    return bool(
        settings.signing_keys_dir or settings.signing_public_keys or _private_settings(settings)
    )


def load_configured(settings: Settings) -> StageSigner:
    """Keys from the folder (``<stage>.key``, ``<stage>.pub``) and the environment (which
    wins); a public key may also be derived from its private key."""
    private: dict[str, Ed25519PrivateKey] = {}
    public: dict[str, Ed25519PublicKey] = {}
    folder = settings.signing_keys_dir
    if folder is not None:
        if not folder.is_dir():
            raise SigningKeyError(f"signing keys folder {folder} does not exist")
        for stage in STAGES:
            if (folder / f"{stage}.key").is_file():
                private[stage] = _private_key(_read(folder / f"{stage}.key"), f"{stage}.key")
            if (folder / f"{stage}.pub").is_file():
                public[stage] = _public_key(_read(folder / f"{stage}.pub"), f"{stage}.pub")
    if settings.signing_public_keys:
        public.update(parse_public_keys(settings.signing_public_keys))
    for stage, value in _private_settings(settings).items():
        private[stage] = _private_key(value.encode(), f"B2BPAY_SIGNING_KEY_{stage.upper()}")
    for stage, key in private.items():
        public.setdefault(stage, key.public_key())
    return StageSigner(private, public)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SigningKeyError(f"cannot read {path}: {error.strerror}") from None


def _private_key(data: bytes, where: str) -> Ed25519PrivateKey:
    """A PEM (PKCS#8) private key, or base64 of its 32 raw bytes."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(_raw_base64(data))
    except (ValueError, TypeError, binascii.Error):
        raise SigningKeyError(f"{where}: not an Ed25519 private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{where}: not an Ed25519 private key")
    return key


def _public_key(data: bytes, where: str) -> Ed25519PublicKey:
    """A PEM (SubjectPublicKeyInfo) public key, or base64 of its 32 raw bytes."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(_raw_base64(data))
    except (ValueError, TypeError, binascii.Error):
        raise SigningKeyError(f"{where}: not an Ed25519 public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{where}: not an Ed25519 public key")
    return key


def _raw_base64(data: bytes) -> bytes:
    raw = base64.b64decode(data.strip(), validate=True)
    if len(raw) != KEY_BYTES:
        raise ValueError("an Ed25519 key is 32 bytes")
    return raw


def parse_public_keys(spec: str) -> dict[str, Ed25519PublicKey]:
    """Public keys from ``apply:<base64>,review:<base64>,...``."""
    found: dict[str, Ed25519PublicKey] = {}
    for position, entry in enumerate(spec.split(","), start=1):
        stage, sep, encoded = entry.strip().partition(":")
        if not sep or stage not in STAGES:
            raise SigningKeyError(
                f"B2BPAY_SIGNING_PUBLIC_KEYS entry {position}: expected <stage>:<base64 key>"
            )
        found[stage] = _public_key(encoded.encode(), f"B2BPAY_SIGNING_PUBLIC_KEYS {stage}")
    return found


def public_keys_spec(public: Mapping[str, str]) -> str:
    """The ``B2BPAY_SIGNING_PUBLIC_KEYS`` value for these base64 public keys."""
    return ",".join(f"{stage}:{public[stage]}" for stage in STAGES)


@dataclass(frozen=True)
class WrittenPair:
    stage: str
    private_path: Path
    public_path: Path
    public_key: str  # base64 of the 32 raw bytes


def write_key_pairs(
    folder: Path, overwrite: bool = False, stages: Iterable[str] = STAGES
) -> list[WrittenPair]:
    """Generate a key pair per stage into ``folder``: ``<stage>.key`` (PKCS#8 PEM, mode 0600,
    created with that mode so it is never readable by others, not even briefly) and
    ``<stage>.pub`` (PEM). Existing keys are kept unless ``overwrite``: replacing them would
    make every signature already handed on fail."""
    stages = list(stages)
    if not overwrite:
        present = [
            p.name for s in stages for p in (folder / f"{s}.key", folder / f"{s}.pub") if p.exists()
        ]
        if present:
            raise SigningKeyError(f"{folder} already holds {', '.join(present)}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    for stage in stages:
        key = Ed25519PrivateKey.generate()
        private_path, public_path = folder / f"{stage}.key", folder / f"{stage}.pub"
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(private_path, pem, 0o600)
        public = key.public_key()
        _write(
            public_path,
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            0o644,
        )
        raw = base64.b64encode(_raw_public(public)).decode()
        written.append(WrittenPair(stage, private_path, public_path, raw))
    return written


def _write(path: Path, data: bytes, mode: int) -> None:
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, mode)  # the umask may have narrowed the mode given to open
