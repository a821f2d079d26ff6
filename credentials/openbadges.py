"""Build Open Badges 3.0 ``OpenBadgeCredential`` documents.

Spec: https://www.imsglobal.org/spec/ob/v3p0/ (data model §4, ``AchievementCredential``), on
the W3C Verifiable Credentials Data Model 2.0 (https://www.w3.org/TR/vc-data-model-2.0/).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .dates import format_datetime
from .jsonld import OB_V3_CONTEXT, VC_V2_CONTEXT
from .model import ACHIEVEMENT_TYPES, Achievement, Alignment, IssuerProfile, Recipient

CREDENTIAL_CONTEXT: tuple[str, ...] = (VC_V2_CONTEXT, OB_V3_CONTEXT)
CREDENTIAL_TYPE: tuple[str, ...] = ("VerifiableCredential", "OpenBadgeCredential")


def is_valid_achievement_type(value: str) -> bool:
    """True for an OB 3.0 achievement type or an ``ext:`` extension of it."""
    if value in ACHIEVEMENT_TYPES:
        return True
    name = value.removeprefix("ext:")
    return (
        value.startswith("ext:")
        and bool(name)
        and all(c.isascii() and (c.isalnum() or c in ".-_") for c in name)
    )


def _alignment(alignment: Alignment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": ["Alignment"],
        "targetName": alignment.target_name,
        "targetUrl": alignment.target_url,
    }
    if alignment.target_framework:
        out["targetFramework"] = alignment.target_framework
    if alignment.target_code:
        out["targetCode"] = alignment.target_code
    if alignment.target_type:
        out["targetType"] = alignment.target_type
    return out


def achievement_document(achievement: Achievement) -> dict[str, Any]:
    """The ``achievement`` object of a credential subject."""
    criteria: dict[str, Any] = {"narrative": achievement.criteria_narrative}
    if achievement.criteria_id:
        criteria = {"id": achievement.criteria_id, **criteria}
    out: dict[str, Any] = {
        "id": achievement.id,
        "type": ["Achievement"],
        "achievementType": achievement.achievement_type,
        "name": achievement.name,
        "description": achievement.description,
        "criteria": criteria,
    }
    if achievement.alignments:
        out["alignment"] = [_alignment(a) for a in achievement.alignments]
    return out


def issuer_document(issuer: IssuerProfile) -> dict[str, Any]:
    """The ``issuer`` object: a ``Profile`` whose id is the DID that controls the signing keys."""
    out: dict[str, Any] = {"id": issuer.id, "type": ["Profile"], "name": issuer.name}
    if issuer.url:
        out["url"] = issuer.url
    if issuer.email:
        out["email"] = issuer.email
    return out


def build_credential(
    *,
    credential_id: str,
    issuer: IssuerProfile,
    achievement: Achievement,
    recipient: Recipient,
    valid_from: datetime,
    valid_until: datetime | None = None,
    credential_status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return an unsigned ``OpenBadgeCredential`` as a JSON-LD document.

    The subject carries the recipient's name and salted e-mail hash (``IdentityObject``), and
    their DID as ``id`` when they have one.

    Raises:
        ValueError: an achievement type outside OB 3.0's vocabulary, naive or inverted dates.
    """
    if not is_valid_achievement_type(achievement.achievement_type):
        raise ValueError(f"unknown achievement type {achievement.achievement_type!r}")
    if valid_until is not None and valid_until <= valid_from:
        raise ValueError("validUntil must be later than validFrom")
    subject: dict[str, Any] = {}
    if recipient.did:
        subject["id"] = recipient.did
    subject |= {
        "type": ["AchievementSubject"],
        "name": recipient.name,
        "identifier": [
            {
                "type": "IdentityObject",
                "identityHash": recipient.identity_hash,
                "identityType": "emailAddress",
                "hashed": True,
                "salt": recipient.salt,
            }
        ],
        "achievement": achievement_document(achievement),
    }
    credential: dict[str, Any] = {
        "@context": list(CREDENTIAL_CONTEXT),
        "id": credential_id,
        "type": list(CREDENTIAL_TYPE),
        "name": achievement.name,
        "issuer": issuer_document(issuer),
        "validFrom": format_datetime(valid_from),
    }
    if valid_until is not None:
        credential["validUntil"] = format_datetime(valid_until)
    credential["credentialSubject"] = subject
    if credential_status is not None:
        credential["credentialStatus"] = credential_status
    return credential


def issuer_id(credential: dict[str, Any]) -> str:
    """The issuer's id, whether ``issuer`` is an IRI string or a ``Profile`` object."""
    issuer = credential.get("issuer")
    if isinstance(issuer, str):
        return issuer
    if isinstance(issuer, dict) and isinstance(issuer.get("id"), str):
        return str(issuer["id"])
    return ""
