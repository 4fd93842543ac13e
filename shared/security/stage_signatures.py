"""What each stage signs and checks (keys and mechanism: :mod:`shared.security.signing`):

- a :class:`~shared.domain.contracts.Handoff` (apply -> ``otp-verified``, authorize
  -> ``interbank``), by the stage named in ``from_stage``: every field but the signature,
  including the payment's status and version at hand-off;
- the application, by the apply stage, stored in the payment record (``apply_signature``)
  and verified by the review stage before any decision;
- the reviewer's approval, by the review stage, stored in the payment record
  (``review_signature``) and verified by the authorize stage before any decision;
- the authorization, by the authorize stage, stored in the payment record
  (``authorize_signature``) and verified by the interbank stage before it submits.
"""

from __future__ import annotations

from shared.domain.contracts import Handoff
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.payment import Application, Payment, Record
from shared.domain.stages import Stage
from shared.security.signing import StageSigner

HANDOFF = "handoff"
APPLICATION = "application"
REVIEW_APPROVAL = "review_approval"
AUTHORIZATION = "authorization"


def signed_handoff(
    signer: StageSigner, payment: Payment, from_stage: str, command_id: str
) -> Handoff:
    """The hand-off of ``payment`` as it is now (status, version), signed by ``from_stage``."""
    unsigned = Handoff.model_validate(
        {
            "payment_id": payment.payment_id,
            "content_hash": payment.content.content_hash,
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
    if handoff.content_hash != payment.content.content_hash:
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


def _application_document(
    payment_id: str, content_hash: str, applicant_id: str | None, end_to_end_id: str | None
) -> dict[str, str | int]:
    return {
        "payment_id": payment_id,
        "content_hash": content_hash,
        "status": "otp_verified",
        "applicant_id": applicant_id or "",
        "end_to_end_id": end_to_end_id or "",
    }


def application_signature(signer: StageSigner, application: Application) -> str:
    """What the apply stage stores with a new payment: its signature over the content the
    applicant confirmed (seed step 2), so a later rewrite of content and hash together in
    Redis is caught before anyone reviews it."""
    document = _application_document(
        application.payment_id,
        application.content.content_hash,
        application.applicant_id,
        application.end_to_end_id,
    )
    return signer.sign(Stage.APPLY, APPLICATION, document)


def check_application(signer: StageSigner, payment: Payment) -> None:
    """Refuse unless the apply stage signed this payment's content and applicant."""
    document = _application_document(
        payment.payment_id,
        payment.content.content_hash,
        payment.applicant_id,
        payment.end_to_end_id,
    )
    signer.verify(Stage.APPLY, APPLICATION, document, payment.apply_signature)


def _review_document(payment: Payment, reviewer_id: str) -> dict[str, str | int]:
    return {
        "payment_id": payment.payment_id,
        "content_hash": payment.content.content_hash,
        "status": "pending_auth",
        "reviewer_id": reviewer_id,
    }


def review_approval(signer: StageSigner, payment: Payment, reviewer_id: str) -> Record:
    """What the review stage records with its approval (the move to pending_auth)."""
    document = _review_document(payment, reviewer_id)
    return Record(
        reviewer_id=reviewer_id,
        review_signature=signer.sign(Stage.REVIEW, REVIEW_APPROVAL, document),
    )


def check_review_approval(signer: StageSigner, payment: Payment) -> None:
    """Refuse unless the review stage signed this payment's approval, for its content and
    its reviewer."""
    document = _review_document(payment, payment.reviewer_id or "")
    signer.verify(Stage.REVIEW, REVIEW_APPROVAL, document, payment.review_signature)


def _authorization_document(payment: Payment, authorizer_id: str) -> dict[str, str | int]:
    return {
        "payment_id": payment.payment_id,
        "content_hash": payment.content.content_hash,
        "status": "authorized",
        "authorizer_id": authorizer_id,
        "reviewer_id": payment.reviewer_id or "",
        # Bound too: clearing knows a payment by it, so a rewritten id would submit again.
        "end_to_end_id": payment.end_to_end_id or "",
    }


def authorization(signer: StageSigner, payment: Payment, authorizer_id: str) -> Record:
    """What the authorize stage records with its approval (the move to authorized)."""
    document = _authorization_document(payment, authorizer_id)
    return Record(
        authorizer_id=authorizer_id,
        authorize_signature=signer.sign(Stage.AUTHORIZE, AUTHORIZATION, document),
    )


def check_authorization(signer: StageSigner, payment: Payment) -> None:
    """Refuse unless the authorize stage signed this payment's authorization."""
    document = _authorization_document(payment, payment.authorizer_id or "")
    signer.verify(Stage.AUTHORIZE, AUTHORIZATION, document, payment.authorize_signature)
