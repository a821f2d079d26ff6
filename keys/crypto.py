"""Key recipes: generate, sign, encrypt at rest, publish. Callers never pick curves or padding."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jwt
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from credentials.proofs.base import SUPPORTED_ALGORITHMS, PublicKey

from .errors import InvalidKekError, KeyDecryptionError

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_JWS_ALGORITHMS = get_default_algorithms()


def generate_private_key(algorithm: str) -> PrivateKey:
    """Generate a new private key for a JWS algorithm: Ed25519, RSA-2048 or P-256.

    Raises:
        ValueError: an algorithm Tessera does not sign with.
    """
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported algorithm {algorithm!r}; use one of {SUPPORTED_ALGORITHMS}")


def algorithm_of(public_key: PublicKey) -> str:
    """The JWS algorithm a public key verifies, fixed by its type."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
        public_key.curve, ec.SECP256R1
    ):
        return "ES256"
    raise ValueError("unsupported public key type")


@dataclass(frozen=True, slots=True)
class LocalSigner:
    """A private key held in memory that signs for one verification method.

    Implements :class:`credentials.Signer`. The private key is never part of ``repr``.
    """

    verification_method: str
    algorithm: str
    _private_key: PrivateKey = field(repr=False)

    def sign(self, message: bytes) -> bytes:
        """Sign in JWS encoding; PyJWT's algorithm classes handle the per-algorithm details."""
        return _JWS_ALGORITHMS[self.algorithm].sign(message, self._private_key)

    @property
    def public_key(self) -> PublicKey:
        return self._private_key.public_key()


def public_jwk(public_key: PublicKey, *, kid: str, algorithm: str) -> dict[str, Any]:
    """The public JWK of a key, with ``kid``, ``alg`` and ``use: sig``."""
    jwk: dict[str, Any] = _JWS_ALGORITHMS[algorithm].to_jwk(public_key, as_dict=True)
    return {"kid": kid, "alg": algorithm, "use": "sig"} | jwk


def load_public_jwk(jwk: dict[str, Any]) -> PublicKey:
    """Load a public key from a JWK, refusing private members."""
    if "d" in jwk:
        raise ValueError("a published JWK must not contain a private key")
    algorithm = jwk.get("alg") or {"OKP": "EdDSA", "RSA": "RS256", "EC": "ES256"}.get(
        jwk.get("kty", ""), ""
    )
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported JWK algorithm {algorithm!r}")
    try:
        key: PublicKey = _JWS_ALGORITHMS[algorithm].from_jwk(json.dumps(jwk))
    except (jwt.PyJWTError, TypeError) as e:
        raise ValueError(f"not a valid {algorithm} JWK") from e
    # The key's own type decides its algorithm (a P-384 key is not ES256, whatever it says).
    try:
        actual = algorithm_of(key)
    except ValueError:
        actual = None
    if actual != algorithm:
        raise ValueError(f"the JWK is not a {algorithm} key")
    return key


def load_kek(value: str | None) -> MultiFernet:
    """Build the key-encryption key from ``TESSERA_KEK``: comma-separated Fernet keys.

    The first key encrypts; all of them decrypt, so a new key can be put in front and the
    old one kept until every private key has been re-encrypted (``MultiFernet.rotate``).

    Raises:
        InvalidKekError: empty, or a member that is not a Fernet key.
    """
    if not value or not value.strip():
        raise InvalidKekError("TESSERA_KEK is not set")
    try:
        return MultiFernet([Fernet(part.strip()) for part in value.split(",") if part.strip()])
    except (ValueError, TypeError) as e:
        raise InvalidKekError(
            "TESSERA_KEK must be one or more comma-separated Fernet keys "
            "(generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        ) from e


def new_kek() -> str:
    """A fresh Fernet key, for the embedded default's generated secrets."""
    return Fernet.generate_key().decode("ascii")


def encrypt_private_key(kek: MultiFernet, private_key: PrivateKey) -> bytes:
    """Serialize (PKCS#8 DER) and encrypt a private key under the key-encryption key."""
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return kek.encrypt(der)


def decrypt_private_key(kek: MultiFernet, token: bytes) -> PrivateKey:
    """Decrypt a private key encrypted by :func:`encrypt_private_key`.

    Decrypted keys are kept in memory per (key-encryption key, ciphertext): loading and
    validating an RSA key costs tens of milliseconds, far more than signing with it. Another
    KEK object never hits the cache, so a KEK that cannot open a key still fails.

    Raises:
        KeyDecryptionError: no configured key-encryption key opens it.
    """
    return _decrypt_cached(kek, bytes(token))


@lru_cache(maxsize=256)
def _decrypt_cached(kek: MultiFernet, token: bytes) -> PrivateKey:
    try:
        der = kek.decrypt(token)
    except InvalidToken as e:
        raise KeyDecryptionError(
            "a signing key cannot be decrypted: TESSERA_KEK does not contain the key it was "
            "encrypted with"
        ) from e
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    ):
        raise KeyDecryptionError("stored key has an unsupported type")
    return key
