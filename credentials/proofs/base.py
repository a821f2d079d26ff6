"""What every proof format needs from a key, without ever seeing private key bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

PublicKey = Ed25519PublicKey | RSAPublicKey | EllipticCurvePublicKey

#: JWS algorithm names Tessera signs and verifies with. Never ``none``, never HMAC.
SUPPORTED_ALGORITHMS = ("EdDSA", "RS256", "ES256")


class Signer(Protocol):
    """A private key that signs, named by the DID URL that publishes its public half."""

    @property
    def algorithm(self) -> str:
        """The JWS ``alg`` this key signs with: ``EdDSA``, ``RS256`` or ``ES256``."""
        ...

    @property
    def verification_method(self) -> str:
        """Absolute DID URL of the public key (``did:web:host:orgs:slug#key-1``)."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Sign ``message``; the signature is in JWS encoding (ES256: raw ``r || s``)."""
        ...


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key as resolved from its issuer's published keys.

    ``controller`` is the DID that controls the key; a proof only counts for a credential
    whose issuer is that DID. ``algorithm`` is fixed by the key record, never by the token.
    """

    id: str
    controller: str
    algorithm: str
    public_key: PublicKey
