"""Errors raised by the credential core.

Every class carries a stable machine ``code`` that APIs, the CLI and the verifier report;
callers branch on the class, people read the message.
"""

from __future__ import annotations


class CredentialError(Exception):
    """Base class of every error the credential core raises."""

    code = "credential-error"


class MalformedCredentialError(CredentialError):
    """The input is not a well-formed credential (bad JSON, missing or wrong-type fields)."""

    code = "malformed-credential"


class CredentialTooLargeError(MalformedCredentialError):
    """The input is larger than the configured limit."""

    code = "too-large"


class UnknownContextError(CredentialError):
    """A JSON-LD context URL is not one Tessera bundles; it is never fetched."""

    code = "unknown-context"


class UndefinedTermError(CredentialError):
    """The document uses a term that none of its contexts defines."""

    code = "undefined-term"


class CanonicalizationError(CredentialError):
    """JSON-LD processing (expansion or RDFC-1.0 canonicalization) failed."""

    code = "canonicalization-failed"


class InvalidProofError(CredentialError):
    """A proof is missing, malformed, or its signature does not verify."""

    code = "invalid-proof"


class UnsupportedAlgorithmError(InvalidProofError):
    """The proof uses an algorithm or cryptosuite Tessera does not accept."""

    code = "unsupported-algorithm"


class KeyMismatchError(InvalidProofError):
    """The signing key does not belong to the issuer the credential names."""

    code = "key-mismatch"


class ClaimMismatchError(InvalidProofError):
    """A VC-JWT's registered claims disagree with the credential it carries."""

    code = "claim-mismatch"


class UnresolvableKeyError(CredentialError):
    """The verification method (key) named by a proof could not be resolved."""

    code = "unresolvable-key"


class ExpiredError(CredentialError):
    """The credential's ``validUntil`` is in the past."""

    code = "expired"


class NotYetValidError(CredentialError):
    """The credential's ``validFrom`` is in the future."""

    code = "not-yet-valid"


class SchemaValidationError(CredentialError):
    """The credential does not satisfy the Open Badges 3.0 JSON Schema."""

    code = "schema-invalid"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class StatusUnavailableError(CredentialError):
    """The credential's status list could not be obtained or trusted: status unknown."""

    code = "status-unavailable"


class StaleStatusError(StatusUnavailableError):
    """The only status data at hand is older than the verifier accepts: status unknown."""

    code = "stale-status"
