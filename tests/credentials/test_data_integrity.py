"""eddsa-rdfc-2022 Data Integrity proofs: the W3C known-answer vector, round trips, tampering."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import base58
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credentials import (
    InvalidProofError,
    UndefinedTermError,
    UnsupportedAlgorithmError,
    VerificationKey,
    frozen_document_loader,
)
from credentials.multikey import multikey_to_ed25519
from credentials.proofs import data_integrity
from keys.crypto import LocalSigner

from ..helpers import NOW, deep_copy, key_of, make_signer, signed_json

VECTORS = Path(__file__).parent.parent / "vectors"


@pytest.fixture(scope="module")
def w3c():
    document = json.loads((VECTORS / "w3c-eddsa-rdfc-2022-signed.json").read_text())
    key_pair = json.loads((VECTORS / "w3c-eddsa-key-pair.json").read_text())
    loader = frozen_document_loader.with_documents(
        {
            "https://www.w3.org/ns/credentials/examples/v2": json.loads(
                (VECTORS / "credentials-examples-v2.jsonld").read_text()
            )
        }
    )
    return document, key_pair, loader


def test_w3c_vector_verifies(w3c):
    document, key_pair, loader = w3c
    method = document["proof"]["verificationMethod"]
    key = VerificationKey(
        method,
        "https://vc.example/issuers/5678",
        "EdDSA",
        multikey_to_ed25519(key_pair["publicKeyMultibase"]),
    )
    data_integrity.verify_proof(document, document["proof"], key, document_loader=loader)


def test_signing_the_w3c_vector_reproduces_its_proof_exactly(w3c):
    document, key_pair, loader = w3c
    secret = base58.b58decode(key_pair["privateKeyMultibase"][1:])
    assert secret[:2] == b"\x80\x26"  # multicodec ed25519-priv
    signer = LocalSigner(
        document["proof"]["verificationMethod"],
        "EdDSA",
        Ed25519PrivateKey.from_private_bytes(secret[2:]),
    )
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    proof = data_integrity.create_proof(
        unsigned,
        signer,
        created=datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC),
        document_loader=loader,
    )
    assert proof == document["proof"]


def test_round_trip_and_proof_shape():
    signer = make_signer()
    secured = signed_json(signer)
    assert isinstance(secured["proof"], list) and len(secured["proof"]) == 1
    proof = secured["proof"][0]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["created"] == "2026-01-15T09:30:00Z"
    assert proof["proofValue"].startswith("z")
    data_integrity.verify_proof(secured, proof, key_of(signer))


def test_signing_is_deterministic():
    signer = make_signer()
    assert signed_json(signer) == signed_json(signer)


def _flip(value: str) -> str:
    return value[:-1] + ("A" if value[-1] != "A" else "B")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["credentialSubject"].update(name="Someone Else"),
        lambda d: d["credentialSubject"]["achievement"].update(name="Brain surgery"),
        lambda d: d["credentialSubject"]["identifier"][0].update(identityHash="sha256$" + "0" * 64),
        lambda d: d["issuer"].update(name="A Famous University"),
        lambda d: d.update(validFrom="2020-01-01T00:00:00Z"),
        lambda d: d.update(validUntil="2099-01-01T00:00:00Z"),
        lambda d: d.update(id="urn:uuid:00000000-0000-4000-8000-000000000000"),
        lambda d: d["proof"][0].update(created="2020-01-01T00:00:00Z"),
        lambda d: d["proof"][0].update(proofPurpose="authentication"),
        lambda d: d["proof"][0].update(proofValue=_flip(d["proof"][0]["proofValue"])),
    ],
    ids=[
        "holder",
        "achievement",
        "identity-hash",
        "issuer-name",
        "valid-from",
        "valid-until",
        "id",
        "created",
        "purpose",
        "signature",
    ],
)
def test_tampering_with_any_part_fails(tamper):
    signer = make_signer()
    secured = deep_copy(signed_json(signer))
    tamper(secured)
    with pytest.raises(InvalidProofError):
        data_integrity.verify_proof(secured, secured["proof"][0], key_of(signer))


def test_an_added_undefined_claim_is_refused_not_ignored():
    signer = make_signer()
    secured = deep_copy(signed_json(signer))
    secured["credentialSubject"]["hiddenClaim"] = "admin"
    with pytest.raises(UndefinedTermError):
        data_integrity.verify_proof(secured, secured["proof"][0], key_of(signer))


def test_another_key_does_not_verify():
    signer, other = make_signer(), make_signer()
    secured = signed_json(signer)
    wrong = VerificationKey(
        signer.verification_method, key_of(signer).controller, "EdDSA", other.public_key
    )
    with pytest.raises(InvalidProofError, match="does not verify"):
        data_integrity.verify_proof(secured, secured["proof"][0], wrong)


def test_a_key_for_another_verification_method_is_refused():
    signer = make_signer()
    secured = signed_json(signer)
    key = key_of(make_signer(fragment="key-9"))
    with pytest.raises(InvalidProofError, match="different verification method"):
        data_integrity.verify_proof(secured, secured["proof"][0], key)


@pytest.mark.parametrize("field", ["type", "cryptosuite"])
def test_other_proof_types_are_unsupported(field):
    signer = make_signer()
    secured = deep_copy(signed_json(signer))
    secured["proof"][0][field] = "Ed25519Signature2020" if field == "type" else "eddsa-jcs-2022"
    with pytest.raises(UnsupportedAlgorithmError):
        data_integrity.verify_proof(secured, secured["proof"][0], key_of(signer))


@pytest.mark.parametrize("value", ["", "z", "not-multibase", "z" + "1" * 200, 12])
def test_malformed_proof_values_fail_cleanly(value):
    signer = make_signer()
    secured = deep_copy(signed_json(signer))
    secured["proof"][0]["proofValue"] = value
    with pytest.raises(InvalidProofError):
        data_integrity.verify_proof(secured, secured["proof"][0], key_of(signer))


def test_only_ed25519_keys_create_these_proofs():
    with pytest.raises(UnsupportedAlgorithmError):
        signed_json(make_signer("ES256"))


def test_proof_may_be_a_single_object_too():
    signer = make_signer()
    secured = deep_copy(signed_json(signer))
    secured["proof"] = secured["proof"][0]
    (proof,) = data_integrity.embedded_proofs(secured)
    data_integrity.verify_proof(secured, proof, key_of(signer))


def test_proof_context_must_prefix_the_documents():
    signer = make_signer()
    secured = deep_copy(signed_json(signer))
    secured["proof"][0]["@context"] = ["https://www.w3.org/ns/credentials/v2", "https://x.test"]
    with pytest.raises(InvalidProofError, match="@context"):
        data_integrity.verify_proof(secured, secured["proof"][0], key_of(signer))


def test_created_uses_the_time_passed_in():
    signer = make_signer()
    proof = data_integrity.create_proof(
        {k: v for k, v in signed_json(signer).items() if k != "proof"}, signer, created=NOW
    )
    assert proof["created"] == "2026-01-15T09:30:00Z"
