"""Tessera's credential core: build, sign and verify Open Badges 3.0 credentials.

Pure Python: no web framework, no database, no clock and no configuration. Times and keys
are passed in, so every function is deterministic and testable.
"""

from __future__ import annotations

from .errors import (
    CanonicalizationError,
    ClaimMismatchError,
    CredentialError,
    CredentialTooLargeError,
    ExpiredError,
    InvalidProofError,
    KeyMismatchError,
    MalformedCredentialError,
    NotYetValidError,
    SchemaValidationError,
    UndefinedTermError,
    UnknownContextError,
    UnresolvableKeyError,
    UnsupportedAlgorithmError,
)
from .jsonld import canonicalize, frozen_document_loader
from .model import Achievement, Alignment, IssuerProfile, Recipient, hash_email, normalize_email
from .openbadges import build_credential, issuer_id
from .proofs.base import SUPPORTED_ALGORITHMS, Signer, VerificationKey
from .schema import validate_open_badge

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Achievement",
    "Alignment",
    "CanonicalizationError",
    "ClaimMismatchError",
    "CredentialError",
    "CredentialTooLargeError",
    "ExpiredError",
    "InvalidProofError",
    "IssuerProfile",
    "KeyMismatchError",
    "MalformedCredentialError",
    "NotYetValidError",
    "Recipient",
    "SchemaValidationError",
    "Signer",
    "UndefinedTermError",
    "UnknownContextError",
    "UnresolvableKeyError",
    "UnsupportedAlgorithmError",
    "VerificationKey",
    "build_credential",
    "canonicalize",
    "frozen_document_loader",
    "hash_email",
    "issuer_id",
    "normalize_email",
    "validate_open_badge",
]
