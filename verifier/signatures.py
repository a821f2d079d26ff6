"""The one rule for an embedded proof: the key it names, resolved from the issuer's own
published keys, must belong to that issuer and verify the proof. Credentials (the pipeline)
and status lists (verifier/status.py) are both checked with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credentials import InvalidProofError, KeyMismatchError, VerificationKey, issuer_id
from credentials.proofs import data_integrity

from .resolvers import KeyResolver


def verify_embedded_proof(
    document: Mapping[str, Any], proof: Mapping[str, Any], resolver: KeyResolver
) -> VerificationKey:
    """Verify one Data Integrity proof of ``document``; return the key that verified it.

    Raises:
        UnresolvableKeyError: the key cannot be looked up from here (could not check).
        InvalidProofError and subclasses: no method named, a key of another party
            (``KeyMismatchError``), or a signature that does not verify.
        CredentialError: the document cannot be canonicalized.
    """
    method = proof.get("verificationMethod")
    if not isinstance(method, str) or not method:
        raise InvalidProofError("the proof names no verification method")
    key = resolver.resolve(method)
    issuer = issuer_id(dict(document))
    if key.controller != issuer:
        raise KeyMismatchError(
            f"key {method} belongs to {key.controller}, not to the issuer {issuer}"
        )
    data_integrity.verify_proof(document, proof, key)
    return key
