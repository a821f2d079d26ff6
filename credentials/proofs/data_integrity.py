"""Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite.

Spec: https://www.w3.org/TR/vc-di-eddsa/#eddsa-rdfc-2022 . Functions are named after the
spec's algorithm steps (§3.3.1 to §3.3.6).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..dates import format_datetime, parse_datetime
from ..errors import InvalidProofError, MalformedCredentialError, UnsupportedAlgorithmError
from ..jsonld import FrozenDocumentLoader, canonicalize, frozen_document_loader
from ..multikey import decode_multibase_base58btc, multibase_base58btc
from .base import Signer, VerificationKey

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"


def transformation(
    unsecured_document: Mapping[str, Any], document_loader: FrozenDocumentLoader
) -> str:
    """Transformation step (§3.3.3): RDFC-1.0 canonical N-Quads of the document."""
    return canonicalize(unsecured_document, document_loader=document_loader)


def proof_configuration(
    proof_options: Mapping[str, Any], context: Any, document_loader: FrozenDocumentLoader
) -> str:
    """Proof configuration step (§3.3.5): the canonical proof options, in the document's context."""
    if proof_options.get("type") != PROOF_TYPE or proof_options.get("cryptosuite") != CRYPTOSUITE:
        raise UnsupportedAlgorithmError(
            f"only {PROOF_TYPE} proofs with the {CRYPTOSUITE} cryptosuite are supported"
        )
    if "created" in proof_options:
        parse_datetime(proof_options["created"], "proof.created")
    config = dict(proof_options)
    config["@context"] = context
    if document_loader is frozen_document_loader:
        # Every credential of a batch (and every proof of one issuer's day) has the same
        # options and context: canonicalize them once. Keyed on the exact JSON text, so only
        # an identical configuration is ever answered from the cache.
        try:
            return _canonical_configuration(json.dumps(config, sort_keys=True))
        except (TypeError, ValueError):  # not JSON (a date object, say): pyld says what
            pass
    return canonicalize(config, document_loader=document_loader)


@lru_cache(maxsize=256)
def _canonical_configuration(config_json: str) -> str:
    return canonicalize(json.loads(config_json))


def hashing(transformed_document: str, canonical_proof_config: str) -> bytes:
    """Hashing step (§3.3.4): SHA-256(proof config) followed by SHA-256(document)."""
    return (
        hashlib.sha256(canonical_proof_config.encode("utf-8")).digest()
        + hashlib.sha256(transformed_document.encode("utf-8")).digest()
    )


def _without_proof(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "proof"}


def create_proof(
    unsecured_document: Mapping[str, Any],
    signer: Signer,
    *,
    created: datetime,
    proof_purpose: str = "assertionMethod",
    document_loader: FrozenDocumentLoader = frozen_document_loader,
) -> dict[str, Any]:
    """Create an ``eddsa-rdfc-2022`` proof over ``unsecured_document`` (§3.3.1).

    Signing is deterministic (Ed25519), so the same inputs always give the same proof.

    Raises:
        UnsupportedAlgorithmError: ``signer`` is not an Ed25519 key.
        CredentialError: the document cannot be canonicalized (see :func:`canonicalize`).
    """
    if signer.algorithm != "EdDSA":
        raise UnsupportedAlgorithmError(f"{CRYPTOSUITE} needs an Ed25519 key")
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": format_datetime(created),
        "verificationMethod": signer.verification_method,
        "proofPurpose": proof_purpose,
    }
    document = _without_proof(unsecured_document)
    hash_data = hashing(
        transformation(document, document_loader),
        proof_configuration(proof, document.get("@context"), document_loader),
    )
    proof["proofValue"] = multibase_base58btc(signer.sign(hash_data))
    return proof


def add_proof(
    unsecured_document: Mapping[str, Any], signer: Signer, *, created: datetime
) -> dict[str, Any]:
    """Return a copy of the document with an embedded proof, ``proof`` as an array.

    OB 3.0's JSON Schema requires ``proof`` to be an array; a proof set is one too.
    """
    secured = copy.deepcopy(dict(unsecured_document))
    secured["proof"] = [create_proof(unsecured_document, signer, created=created)]
    return secured


def embedded_proofs(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's proofs as a list (``proof`` may be one object or an array).

    Raises:
        MalformedCredentialError: ``proof`` is neither an object nor an array of objects.
    """
    proof = document.get("proof")
    if proof is None:
        return []
    proofs = proof if isinstance(proof, list) else [proof]
    if not all(isinstance(p, dict) for p in proofs):
        raise MalformedCredentialError("proof must be an object or an array of objects")
    return proofs


def verify_proof(
    secured_document: Mapping[str, Any],
    proof: Mapping[str, Any],
    key: VerificationKey,
    *,
    document_loader: FrozenDocumentLoader = frozen_document_loader,
) -> None:
    """Verify one embedded ``eddsa-rdfc-2022`` proof with ``key`` (§3.3.2).

    The caller resolves ``key`` from ``proof["verificationMethod"]`` and must check that the
    key's controller is the credential's issuer.

    Raises:
        InvalidProofError: malformed proof, wrong key, or a signature that does not verify.
        UnsupportedAlgorithmError: another proof type or cryptosuite.
        CredentialError: the document cannot be canonicalized.
    """
    if not isinstance(key.public_key, Ed25519PublicKey):
        raise UnsupportedAlgorithmError(f"{CRYPTOSUITE} proofs need an Ed25519 key")
    if proof.get("verificationMethod") != key.id:
        raise InvalidProofError("the proof names a different verification method")
    proof_options = {k: v for k, v in proof.items() if k != "proofValue"}
    try:
        proof_bytes = decode_multibase_base58btc(proof.get("proofValue", ""))
    except ValueError as e:
        raise InvalidProofError("proofValue is not a base58-btc multibase value") from e
    if len(proof_bytes) != 64:
        raise InvalidProofError("proofValue is not an Ed25519 signature")
    unsecured = _without_proof(secured_document)
    context = unsecured.get("@context")
    if "@context" in proof_options:
        # The proof's context must be a prefix of the document's (§3.3.2 step 4).
        proof_context = proof_options.pop("@context")
        doc_ctx = context if isinstance(context, list) else [context]
        proof_ctx = proof_context if isinstance(proof_context, list) else [proof_context]
        if doc_ctx[: len(proof_ctx)] != proof_ctx:
            raise InvalidProofError("the proof's @context does not match the document's")
        unsecured["@context"] = proof_context
        context = proof_context
    hash_data = hashing(
        transformation(unsecured, document_loader),
        proof_configuration(proof_options, context, document_loader),
    )
    try:
        key.public_key.verify(proof_bytes, hash_data)
    except InvalidSignature as e:
        raise InvalidProofError("the Data Integrity signature does not verify") from e
