"""Builders and fakes shared by the tests (no mocks: fakes implement the real protocols)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pyld.nquads

from credentials import (
    Achievement,
    Alignment,
    IssuerProfile,
    Recipient,
    UnresolvableKeyError,
    VerificationKey,
    build_credential,
)
from credentials.jsonld import canonicalize_with_pyld
from credentials.multikey import did_key_from_ed25519, did_key_verification_method
from credentials.proofs import data_integrity, jwt_vc
from keys.crypto import LocalSigner, generate_private_key

NOW = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
ISSUER_DID = "did:web:tessera.test:orgs:northside"
WELDING_SKILL = "http://data.europa.eu/esco/skill/60ff3eac-7d4d-4e51-87b8-74c3b5d62498"


def make_signer(
    algorithm: str = "EdDSA", *, did: str = ISSUER_DID, fragment: str | None = None
) -> LocalSigner:
    """A fresh key that signs as ``did#fragment`` (a did:key names itself)."""
    private_key = generate_private_key(algorithm)
    if did == "did:key":
        did = did_key_from_ed25519(private_key.public_key())  # type: ignore[arg-type]
        return LocalSigner(did_key_verification_method(did), algorithm, private_key)
    return LocalSigner(f"{did}#{fragment or 'key-' + algorithm.lower()}", algorithm, private_key)


def key_of(signer: LocalSigner) -> VerificationKey:
    return VerificationKey(
        id=signer.verification_method,
        controller=signer.verification_method.partition("#")[0],
        algorithm=signer.algorithm,
        public_key=signer.public_key,
    )


class StaticResolver:
    """A KeyResolver over a fixed set of keys, as a remote issuer's DID document would give."""

    def __init__(self, *signers: LocalSigner) -> None:
        self.keys = {s.verification_method: key_of(s) for s in signers}

    def resolve(self, key_id: str) -> VerificationKey:
        if key_id not in self.keys:
            raise UnresolvableKeyError(f"unknown key {key_id}")
        return self.keys[key_id]


def make_credential(*, issuer_did: str = ISSUER_DID, **overrides: Any) -> dict[str, Any]:
    """An unsigned OpenBadgeCredential; keyword overrides replace top-level members."""
    credential = build_credential(
        credential_id="urn:uuid:0b5a1c3e-7f38-4a8e-9d0c-2f7e1a9b6c41",
        issuer=IssuerProfile(id=issuer_did, name="Northside Skills Centre"),
        achievement=Achievement(
            id="https://tessera.test/orgs/northside/achievements/1",
            name="Perform MAG welding on structural steel",
            description="Lays fillet and butt welds with metal active gas welding.",
            criteria_narrative="Passed visual and bend tests.",
            achievement_type="ext:JobTask",
            alignments=(Alignment.esco_skill(WELDING_SKILL, "perform metal active gas welding"),),
        ),
        recipient=Recipient(name="Amina Haddad", email="amina@example.org", salt="c0ffee"),
        valid_from=NOW,
    )
    credential.update(overrides)
    return credential


def signed_json(signer: LocalSigner, credential: dict[str, Any] | None = None) -> dict[str, Any]:
    credential = (
        credential
        if credential is not None
        else make_credential(issuer_did=signer.verification_method.partition("#")[0])
    )
    return data_integrity.add_proof(credential, signer, created=NOW)


def signed_jwt(signer: LocalSigner, credential: dict[str, Any] | None = None) -> str:
    credential = (
        credential
        if credential is not None
        else make_credential(issuer_did=signer.verification_method.partition("#")[0])
    )
    return jwt_vc.encode_vc_jwt(credential, signer)


def deep_copy(document: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(document)


def rdfc_escape(value: str) -> str:
    """Canonical N-Quads literal escaping (RDFC-1.0 appendix A), written out character by
    character, independently of credentials/rdfc.py."""
    named = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"}
    out = []
    for character in value:
        code = ord(character)
        if code in named:
            out.append(named[code])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(character)
    return "".join(out)


def reference_canonical(document: dict[str, Any]) -> str:
    """``document`` canonicalized by an implementation independent of Tessera's: pyld's
    expansion and URDNA2015, with RDFC-1.0's literal escaping (the only way RDFC-1.0 differs
    from URDNA2015) put in place of pyld's older one."""
    with mock.patch.object(pyld.nquads, "escape", rdfc_escape):
        return canonicalize_with_pyld(document)


def look_alike_results(levels: int) -> list[dict[str, Any]]:
    """Two identical result descriptions, each with ``levels`` identical rubric levels: blank
    nodes that only trying every permutation tells apart (a poisoned dataset for RDFC-1.0
    once ``levels`` passes five or so)."""

    def result() -> dict[str, Any]:
        return {
            "type": ["ResultDescription"],
            "name": "Result",
            "resultType": "RubricCriterionLevel",
            "rubricCriterionLevel": [
                {"type": ["RubricCriterionLevel"], "name": "Level"} for _ in range(levels)
            ],
        }

    return [result(), result()]
