"""Stage signatures: each stage signs what it hands on (Ed25519, one key pair per stage), and
the next stage verifies the signature and that the payment's stored state agrees with it.
This module holds the keys and the mechanism; what each stage signs and checks is in
:mod:`shared.security.stage_signatures`.

Every signature is over a canonical encoding (:func:`canonical`) of a flat document that
names its purpose and the signing stage, so a signature made for one purpose or by one stage
never verifies as another.

Keys come from settings (a folder written by ``b2bpay admin keys``, or environment
variables). With none configured, in development mode only (``B2BPAY_DEV_MODE``), a key pair
per stage is generated once and kept in Redis (:func:`shared.redis.server_keys.stage_signer`),
since anyone who can read Redis can then sign as every stage; outside it, a process without
keys refuses to start.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from pydantic import SecretStr

from shared.config import Settings
from shared.domain.errors import B2bpayError, ReasonCode, Refusal
from shared.messaging import routes

#: The stages that hold a key pair; which of them sign: :data:`routes.SIGNING_STAGES`.
STAGES: tuple[str, ...] = routes.QUEUE_STAGES
#: Domain separation: these bytes start every signed message, so no other protocol's
#: signature (made with the same key by mistake) can be mistaken for a stage signature.
DOMAIN = b"b2bpay.stage-signature.v1\n"
SIGNATURE_BYTES = 64
KEY_BYTES = 32

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


# -- keys ----------------------------------------------------------------------------------


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
