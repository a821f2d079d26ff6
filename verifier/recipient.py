"""Does this credential belong to that e-mail address? (OB 3.0 hashed ``IdentityObject``.)"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from credentials import normalize_email


def _subjects(credential: Mapping[str, Any]) -> list[dict[str, Any]]:
    subject = credential.get("credentialSubject")
    items = subject if isinstance(subject, list) else [subject]
    return [s for s in items if isinstance(s, dict)]


def belongs_to(credential: Mapping[str, Any], email: str) -> bool | None:
    """True if an e-mail identifier of the subject matches ``email``; None if it has none.

    Hashed identities (``sha256$``/``md5$`` with the credential's salt) and plaintext ones
    are both compared, after the same normalisation Tessera applies when issuing.
    """
    candidate = normalize_email(email)
    found = False
    for subject in _subjects(credential):
        identifiers = subject.get("identifier")
        for identity in identifiers if isinstance(identifiers, list) else [identifiers]:
            if not isinstance(identity, dict) or identity.get("identityType") != "emailAddress":
                continue
            value = identity.get("identityHash")
            if not isinstance(value, str):
                continue
            found = True
            if not identity.get("hashed"):
                if hmac.compare_digest(normalize_email(value), candidate):
                    return True
                continue
            algorithm, _, digest = value.partition("$")
            if algorithm not in ("sha256", "md5"):
                continue
            salt = identity.get("salt") if isinstance(identity.get("salt"), str) else ""
            computed = hashlib.new(algorithm, (candidate + salt).encode("utf-8")).hexdigest()
            if hmac.compare_digest(computed, digest.lower()):
                return True
    return False if found else None
