"""Multikey encoding of Ed25519 public keys and the ``did:key`` method.

See https://www.w3.org/TR/controller-document/#multikey and
https://w3c-ccg.github.io/did-key-spec/ (Ed25519: multicodec 0xed01, base58-btc, ``z6Mk...``).
"""

from __future__ import annotations

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import UnresolvableKeyError

_ED25519_PUB_PREFIX = b"\xed\x01"


def multibase_base58btc(data: bytes) -> str:
    """Encode bytes as a base58-btc multibase string (prefix ``z``)."""
    return "z" + base58.b58encode(data).decode("ascii")


def decode_multibase_base58btc(value: str) -> bytes:
    """Decode a base58-btc multibase string.

    Raises:
        ValueError: not a ``z``-prefixed base58-btc string.
    """
    if not isinstance(value, str) or not value.startswith("z") or len(value) > 512:
        raise ValueError("not a base58-btc multibase value")
    return base58.b58decode(value[1:])


def ed25519_to_multikey(public_key: Ed25519PublicKey) -> str:
    """Return the Multikey ``publicKeyMultibase`` (``z6Mk...``) of an Ed25519 public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return multibase_base58btc(_ED25519_PUB_PREFIX + raw)


def multikey_to_ed25519(value: str) -> Ed25519PublicKey:
    """Decode a Multikey ``z6Mk...`` value into an Ed25519 public key.

    Raises:
        UnresolvableKeyError: the value is not an Ed25519 Multikey.
    """
    try:
        data = decode_multibase_base58btc(value)
    except ValueError as e:
        raise UnresolvableKeyError(f"{value[:60]!r} is not a Multikey value") from e
    if len(data) != 34 or not data.startswith(_ED25519_PUB_PREFIX):
        raise UnresolvableKeyError("only Ed25519 Multikey values (z6Mk...) are supported")
    return Ed25519PublicKey.from_public_bytes(data[2:])


def did_key_from_ed25519(public_key: Ed25519PublicKey) -> str:
    """Return the ``did:key`` DID of an Ed25519 public key."""
    return "did:key:" + ed25519_to_multikey(public_key)


def did_key_verification_method(did: str) -> str:
    """Return the verification-method DID URL of a ``did:key`` (``did:key:z6Mk...#z6Mk...``)."""
    return f"{did}#{did.removeprefix('did:key:')}"


def resolve_did_key(did_url: str) -> tuple[str, Ed25519PublicKey]:
    """Resolve a ``did:key`` DID or DID URL offline.

    Returns:
        The DID (controller) and its Ed25519 public key.

    Raises:
        UnresolvableKeyError: not an Ed25519 ``did:key``, or the fragment names another key.
    """
    did, _, fragment = did_url.partition("#")
    if not did.startswith("did:key:"):
        raise UnresolvableKeyError(f"{did_url[:80]!r} is not a did:key")
    multikey = did.removeprefix("did:key:")
    if fragment and fragment != multikey:
        raise UnresolvableKeyError("the did:key fragment does not name the DID's own key")
    return did, multikey_to_ed25519(multikey)
