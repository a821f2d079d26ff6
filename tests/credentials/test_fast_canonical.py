"""The shape-cached RDFC-1.0 path gives pyld's URDNA2015 output byte for byte, or steps aside.

Every credential here is canonicalized twice: through ``canonicalize_by_shape`` (credentials/
rdfc.py) and through ``canonicalize_with_pyld``, pyld's expansion and URDNA2015 with no
caching, which is the independent reference. Proofs made on the fast path are checked against
a signature computed over the reference's N-Quads.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credentials import (
    Achievement,
    Alignment,
    CanonicalizationError,
    InvalidProofError,
    IssuerProfile,
    Recipient,
    UndefinedTermError,
    canonicalize,
    frozen_document_loader,
)
from credentials.jsonld import canonicalize_by_shape
from credentials.multikey import decode_multibase_base58btc
from credentials.openbadges import build_credential
from credentials.proofs import data_integrity
from credentials.status_list import status_entry

from ..helpers import NOW, key_of, make_signer, reference_canonical

SKILLS = [
    "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da",
    "http://data.europa.eu/esco/skill/2cae39d6-78c2-4ce3-bee8-628504371463",
    "http://data.europa.eu/esco/skill/ee5e2297-39cc-4ed6-89e5-d58016118a7f",
]


def credential(
    *,
    name: str = "Amina Haddad",
    achievement_name: str = "Operate a forklift truck",
    description: str = "Operates a forklift safely.",
    alignments: int = 1,
    did: str | None = None,
    status: bool = True,
    issuer_url: str | None = None,
    valid_until: bool = False,
    evidence: list[dict[str, Any]] | None = None,
    index: int = 7,
    achievement_type: str = "Competency",
) -> dict[str, Any]:
    achievement = Achievement(
        id="https://tessera.test/orgs/northside/achievements/5b1c",
        name=achievement_name,
        description=description,
        criteria_narrative="Observed at work by an assessor.",
        achievement_type=achievement_type,
        alignments=tuple(
            Alignment.esco_skill(f"{SKILLS[n % 3]}{'' if n < 3 else n}", f"Skill {n}")
            for n in range(alignments)
        ),
    )
    document = build_credential(
        credential_id=f"urn:uuid:0b5a3c1e-0000-4000-8000-{index:012d}",
        issuer=IssuerProfile(
            id="did:web:tessera.test:orgs:northside", name="Northside Centre", url=issuer_url
        ),
        achievement=achievement,
        recipient=Recipient(name=name, email="amina@example.org", salt="5a1t" * 8, did=did),
        valid_from=NOW,
        valid_until=NOW + timedelta(days=365) if valid_until else None,
        credential_status=(
            status_entry("https://tessera.test/orgs/northside/status/1", index) if status else None
        ),
    )
    if evidence is not None:
        document["evidence"] = evidence
    return document


VARIED = {
    "plain": credential(),
    "unicode name": credential(name="Zoë Åström-Nguyễn 陈伟 عائشة 👷"),
    "quotes and backslashes": credential(name='O\'Brien "the \\ welder"'),
    "newlines, tabs, carriage returns": credential(description="Line one\nline\ttwo\r\nthree"),
    "control characters": credential(name="bell\x07 back\x08space form\x0cfeed"),
    "no alignment": credential(alignments=0),
    "many alignments": credential(alignments=12),
    "subject did": credential(did="did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"),
    "no status": credential(status=False),
    "issuer url and valid until": credential(
        issuer_url="https://northside.example", valid_until=True
    ),
    "evidence with and without id": credential(
        evidence=[
            {"id": "https://portfolio.example.org/amina/1", "type": ["Evidence"]},
            {"type": ["Evidence"], "name": "Logbook", "narrative": "Signed by\nthe assessor."},
            {"type": ["Evidence"], "name": "Video", "description": 'Reversing a "Class 2".'},
        ]
    ),
    "another achievement type": credential(achievement_type="Certificate"),
    "empty strings": credential(name="", description=""),
}


@pytest.mark.parametrize("document", VARIED.values(), ids=VARIED.keys())
def test_fast_path_matches_pyld_byte_for_byte(document):
    fast = canonicalize_by_shape(document)

    assert fast is not None, "an issued credential's shape should take the fast path"
    assert fast == reference_canonical(document)


def test_second_credential_of_a_shape_differs_only_where_its_strings_do():
    first = canonicalize_by_shape(credential(name="Ada", index=1))
    second = canonicalize_by_shape(credential(name="Grace", index=2))

    assert first != second
    assert second == reference_canonical(credential(name="Grace", index=2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(max_size=40),
    description=st.text(max_size=40),
    alignments=st.integers(min_value=0, max_value=4),
    index=st.integers(min_value=0, max_value=131_071),
)
def test_any_text_canonicalizes_as_pyld_does(name, description, alignments, index):
    document = credential(name=name, description=description, alignments=alignments, index=index)

    assert canonicalize(document) == reference_canonical(document)


def test_identical_blank_nodes_take_the_fast_path_and_still_agree():
    document = credential(
        evidence=[
            {"type": ["Evidence"], "name": "Same"},
            {"type": ["Evidence"], "name": "Same"},
        ]
    )

    # Two evidence nodes with equal first-degree hashes need Hash N-Degree Quads.
    assert canonicalize_by_shape(document) == reference_canonical(document)
    assert canonicalize(document) == reference_canonical(document)


@pytest.mark.parametrize(
    "credential_id",
    ["relative/id", "_:b7", "xsd:string", "schema:Thing", "https://ok.example/x", "urn:ok:1"],
)
def test_ids_are_kept_or_resolved_exactly_as_pyld_does(credential_id):
    document = credential()
    document["id"] = credential_id

    try:
        expected: str | type[Exception] = reference_canonical(document)
    except UndefinedTermError:
        expected = UndefinedTermError
    if expected is UndefinedTermError:
        with pytest.raises(UndefinedTermError):
            canonicalize(document)
    else:
        assert canonicalize(document) == expected


def test_undefined_property_is_refused_on_the_fast_path_too():
    document = credential()
    document["credentialSubject"]["favouriteColour"] = "green"

    with pytest.raises(UndefinedTermError, match="favouriteColour"):
        canonicalize(document)
    with pytest.raises(UndefinedTermError, match="favouriteColour"):
        canonicalize(document)  # the second time the shape is cached


@pytest.mark.parametrize(
    "name", ["lone surrogate \ud800", 12.5, None], ids=["surrogate", "number", "null"]
)
def test_odd_values_get_the_same_answer_as_from_pyld(name):
    document = credential()
    document["credentialSubject"]["name"] = name

    try:
        expected: str | type[Exception] = reference_canonical(document)
    except CanonicalizationError:
        expected = CanonicalizationError
    if expected is CanonicalizationError:
        with pytest.raises(CanonicalizationError):
            canonicalize(document)
    else:
        assert canonicalize(document) == expected


def test_embedded_context_is_left_to_pyld():
    document = credential()
    document["credentialSubject"]["@context"] = {"nickname": "https://schema.org/alternateName"}
    document["credentialSubject"]["nickname"] = "Mina"

    assert canonicalize_by_shape(document) is None
    assert canonicalize(document) == reference_canonical(document)


def _reference_signature_valid(secured: dict[str, Any], public_key: Any) -> bool:
    """Check a proof with pyld's canonicalization only (the independent implementation)."""
    proof = dict(secured["proof"][0])
    signature = decode_multibase_base58btc(proof.pop("proofValue"))
    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    config = {**proof, "@context": unsecured["@context"]}
    hash_data = (
        hashlib.sha256(reference_canonical(config).encode()).digest()
        + hashlib.sha256(reference_canonical(unsecured).encode()).digest()
    )
    try:
        public_key.verify(signature, hash_data)
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize(
    "name", ["plain", "unicode name", "many alignments", "evidence with and without id"]
)
def test_fast_path_proofs_verify_with_an_independent_canonicalization(name):
    signer = make_signer("EdDSA")
    secured = data_integrity.add_proof(VARIED[name], signer, created=NOW)

    data_integrity.verify_proof(secured, secured["proof"][0], key_of(signer))
    assert _reference_signature_valid(secured, key_of(signer).public_key)


def test_a_tampered_document_fails_both_ways():
    signer = make_signer("EdDSA")
    secured = data_integrity.add_proof(credential(), signer, created=NOW)
    secured["credentialSubject"]["name"] = "Someone Else"

    with pytest.raises(InvalidProofError, match="does not verify"):
        data_integrity.verify_proof(secured, secured["proof"][0], key_of(signer))
    assert not _reference_signature_valid(secured, key_of(signer).public_key)


def test_a_foreign_key_does_not_verify_the_reference_way_either():
    secured = data_integrity.add_proof(credential(), make_signer("EdDSA"), created=NOW)

    assert not _reference_signature_valid(secured, Ed25519PrivateKey.generate().public_key())


def test_shapes_are_cached_per_loader():
    loader = frozen_document_loader.with_documents({})
    document = credential(name="Loader test")

    assert canonicalize_by_shape(document, document_loader=loader) == reference_canonical(document)
    assert json.dumps(document)  # the document itself is left as it was
    assert document["credentialSubject"]["name"] == "Loader test"
