"""DID documents (did:web) and JWKS built from a controller's published keys.

did:web: https://w3c-ccg.github.io/did-method-web/ . Verification-method ids are absolute
DID URLs: some conforming verifiers reject relative ``#key-1`` references.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from credentials.multikey import ed25519_to_multikey
from credentials.proofs.base import VerificationKey

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
JWK_CONTEXT = "https://w3id.org/security/suites/jws-2020/v1"


def did_web(public_url: str, *path: str) -> str:
    """The did:web DID for ``public_url`` plus optional path segments.

    ``did_web("https://badges.example.org", "orgs", "acme")`` is
    ``did:web:badges.example.org:orgs:acme``; a port is percent-encoded (``%3A``).
    """
    parts = urlsplit(public_url)
    if not parts.hostname:
        raise ValueError(f"public URL {public_url!r} has no host")
    host = parts.hostname + (f"%3A{parts.port}" if parts.port else "")
    segments = [quote(s, safe="") for s in (*parts.path.strip("/").split("/"), *path) if s]
    return ":".join(["did:web", host, *segments])


def did_web_document_url(did: str) -> str:
    """The HTTPS URL a did:web DID document is served at (did:web spec §3.2.2)."""
    if not did.startswith("did:web:"):
        raise ValueError(f"{did!r} is not a did:web")
    host, *path = did.removeprefix("did:web:").split(":")
    host = host.replace("%3A", ":").replace("%3a", ":")
    suffix = "/".join(path) + "/did.json" if path else ".well-known/did.json"
    return f"https://{host}/{suffix}"


def did_document(
    did: str, keys: Iterable[tuple[VerificationKey, dict[str, Any]]]
) -> dict[str, Any]:
    """Build the DID document of ``did`` listing each ``(key, jwk)`` pair.

    Ed25519 keys are published as ``Multikey`` (what Data Integrity verifiers expect), other
    keys as ``JsonWebKey``. Every listed key is an ``assertionMethod``.
    """
    methods: list[dict[str, Any]] = []
    for key, jwk in keys:
        if key.algorithm == "EdDSA":
            methods.append(
                {
                    "id": key.id,
                    "type": "Multikey",
                    "controller": did,
                    "publicKeyMultibase": ed25519_to_multikey(key.public_key),  # type: ignore[arg-type]
                }
            )
        else:
            public = {k: v for k, v in jwk.items() if k not in ("use",)}
            methods.append(
                {"id": key.id, "type": "JsonWebKey", "controller": did, "publicKeyJwk": public}
            )
    document: dict[str, Any] = {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT, JWK_CONTEXT],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods],
        "authentication": [m["id"] for m in methods],
    }
    return document
