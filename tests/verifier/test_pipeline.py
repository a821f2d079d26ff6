"""verify_credential: the verdict and the named checks a person reads, for every kind of input."""

from __future__ import annotations

import copy
import json
import random
from datetime import timedelta
from typing import Any

import pytest
from jwt.utils import base64url_encode

from credentials.dates import format_datetime
from verifier import DidKeyResolver, Outcome, Verdict, verify_credential

from ..helpers import (
    ISSUER_DID,
    NOW,
    StaticResolver,
    make_credential,
    make_signer,
    signed_json,
    signed_jwt,
)

FORMS = ("json", "jwt")
TRUSTED = frozenset({ISSUER_DID})
FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def signer():
    return make_signer("EdDSA")


@pytest.fixture(scope="module")
def resolver(signer):
    return StaticResolver(signer)


def sign(form: str, signer, credential: dict[str, Any] | None = None) -> Any:
    """The credential secured as JSON with a Data Integrity proof, or as a VC-JWT."""
    return signed_json(signer, credential) if form == "json" else signed_jwt(signer, credential)


def verify(data: Any, resolver, *, now=NOW, trusted=TRUSTED):
    return verify_credential(data, resolver=resolver, now=now, trusted_issuers=trusted)


def flip_payload_character(token: str) -> str:
    header, payload, signature = token.split(".")
    middle = len(payload) // 2
    payload = payload[:middle] + ("B" if payload[middle] != "B" else "C") + payload[middle + 1 :]
    return f"{header}.{payload}.{signature}"


def status_entry() -> dict[str, Any]:
    return {
        "id": "https://tessera.test/status/1#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": "https://tessera.test/status/1",
    }


# -- valid credentials and recognised issuers ----------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_valid_credential_from_a_trusted_issuer_is_valid(signer, resolver, form):
    result = verify(sign(form, signer), resolver)

    assert result.verdict == Verdict.VALID
    assert result.verified
    assert result.form == form
    assert all(c.outcome == Outcome.PASSED for c in result.checks)
    assert {c.name for c in result.checks} >= {
        "format",
        "proof",
        "dates",
        "status",
        "schema",
        "issuer",
    }
    assert result.credential["credentialSubject"]["name"] == "Amina Haddad"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_valid_jwt_with_rsa_or_ecdsa_keys_is_valid(alg):
    signer = make_signer(alg)

    result = verify(signed_jwt(signer), StaticResolver(signer))

    assert result.verdict == Verdict.VALID


@pytest.mark.parametrize("form", FORMS)
def test_good_signature_from_an_unlisted_issuer_is_not_recognised(signer, resolver, form):
    result = verify(sign(form, signer), resolver, trusted=())

    assert result.verdict == Verdict.ISSUER_NOT_RECOGNISED
    assert not result.verified
    assert result.check("proof").outcome == Outcome.PASSED
    assert result.check("issuer").outcome == Outcome.FAILED
    assert result.check("issuer").code == "issuer-not-recognised"


@pytest.mark.parametrize("form", FORMS)
def test_did_key_issuer_verifies_offline_without_a_database(form):
    signer = make_signer("EdDSA", did="did:key")
    did = signer.verification_method.partition("#")[0]

    result = verify(sign(form, signer), DidKeyResolver(), trusted={did})

    assert result.verdict == Verdict.VALID
    assert result.credential["issuer"]["id"] == did


# -- dates ---------------------------------------------------------------------------------


def _expiring(days: int = 1) -> dict[str, Any]:
    return make_credential(validUntil=format_datetime(NOW + timedelta(days=days)))


@pytest.mark.parametrize("form", FORMS)
def test_expired_credential_is_expired(signer, resolver, form):
    result = verify(sign(form, signer, _expiring()), resolver, now=NOW + timedelta(days=30))

    assert result.verdict == Verdict.EXPIRED
    assert result.check("proof").outcome == Outcome.PASSED
    assert result.check("dates").outcome == Outcome.FAILED
    assert result.check("dates").code == "expired"


@pytest.mark.parametrize("form", FORMS)
def test_credential_is_not_valid_before_valid_from(signer, resolver, form):
    result = verify(sign(form, signer), resolver, now=NOW - timedelta(days=1))

    assert result.verdict == Verdict.NOT_YET_VALID
    assert result.check("dates").code == "not-yet-valid"


@pytest.mark.parametrize("form", FORMS)
def test_expired_and_tampered_is_invalid_not_merely_expired(signer, resolver, form):
    secured = sign(form, signer, _expiring())
    if form == "json":
        secured["credentialSubject"]["name"] = "Mallory"
    else:
        secured = flip_payload_character(secured)

    result = verify(secured, resolver, now=NOW + timedelta(days=30))

    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED


# -- tampering with a Data Integrity credential ---------------------------------------------


def _set_subject_name(c):
    c["credentialSubject"]["name"] = "Amina Haddaf"


def _set_achievement_name(c):
    c["credentialSubject"]["achievement"]["name"] = "Perform TIG welding on structural steel"


def _set_issuer_name(c):
    c["issuer"]["name"] = "Northside Skills Centre Ltd"


def _set_valid_from(c):
    c["validFrom"] = "2026-01-14T09:30:00Z"


def _set_proof_created(c):
    c["proof"][0]["created"] = "2026-01-15T09:30:01Z"


def _flip_proof_value(c):
    value = c["proof"][0]["proofValue"]
    middle = len(value) // 2
    c["proof"][0]["proofValue"] = (
        value[:middle] + ("2" if value[middle] != "2" else "3") + value[middle + 1 :]
    )


@pytest.mark.parametrize(
    "tamper",
    [
        _set_subject_name,
        _set_achievement_name,
        _set_issuer_name,
        _set_valid_from,
        _set_proof_created,
        _flip_proof_value,
    ],
)
def test_tampered_json_credential_is_invalid(signer, resolver, tamper):
    secured = signed_json(signer)
    assert verify(secured, resolver).verdict == Verdict.VALID
    tamper(secured)

    result = verify(secured, resolver)

    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED
    assert result.check("proof").code == "invalid-proof"


def test_property_no_context_defines_is_invalid(signer, resolver):
    secured = signed_json(signer)
    secured["foo"] = 1

    result = verify(secured, resolver)

    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED
    assert result.check("proof").code == "undefined-term"


def test_unknown_context_is_invalid_and_never_fetched(signer, resolver, no_network):
    secured = signed_json(signer)
    secured["@context"].append("https://attacker.test/contexts/redefine.jsonld")

    result = verify(secured, resolver)

    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED
    assert result.check("proof").code == "unknown-context"
    assert no_network == []


# -- keys and proofs -------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_issuer_whose_keys_cannot_be_looked_up_could_not_be_checked(signer, form):
    result = verify(sign(form, signer), StaticResolver())

    assert result.verdict == Verdict.COULD_NOT_CHECK
    assert result.check("proof").outcome == Outcome.COULD_NOT_CHECK
    assert not result.verified


@pytest.mark.parametrize("proof", [None, []], ids=["absent", "empty-list"])
def test_credential_without_a_proof_is_invalid(resolver, proof):
    credential = make_credential()
    if proof is not None:
        credential["proof"] = proof

    result = verify(credential, resolver)

    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED
    assert result.check("proof").code == "no-proof"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"type": "Ed25519Signature2020"}, id="type"),
        pytest.param({"cryptosuite": "eddsa-jcs-2022"}, id="eddsa-jcs-2022"),
        pytest.param({"cryptosuite": "ecdsa-rdfc-2019"}, id="ecdsa-rdfc-2019"),
    ],
)
def test_proof_of_another_type_or_cryptosuite_is_invalid(signer, resolver, changes):
    secured = signed_json(signer)
    secured["proof"][0].update(changes)

    result = verify(secured, resolver)

    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED
    assert result.check("proof").code == "unsupported-algorithm"


@pytest.mark.parametrize("form", FORMS)
def test_credential_naming_an_issuer_whose_key_did_not_sign_it_is_invalid(form):
    outsider = make_signer("EdDSA", did="did:web:attacker.test")
    # Claims to be from the trusted centre, signed with a key the attacker does publish.
    secured = sign(form, outsider, make_credential())

    result = verify(secured, StaticResolver(outsider))

    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED
    assert result.check("proof").code == "key-mismatch"


def test_unsigned_jwt_with_alg_none_is_invalid(signer, resolver):
    payload = signed_jwt(signer).split(".")[1]
    unsigned_header = base64url_encode(
        json.dumps({"alg": "none", "typ": "JWT", "kid": signer.verification_method}).encode()
    ).decode()

    result = verify(f"{unsigned_header}.{payload}.", resolver)

    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED
    assert result.check("proof").code == "unsupported-algorithm"


# -- bad input never raises ------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("{not json", id="malformed-json"),
        pytest.param('{"@context": ["https://www.w3.org/ns/credentials/v2"', id="truncated-json"),
        pytest.param('[{"type": ["VerifiableCredential"]}]', id="json-array"),
        pytest.param(b'[{"type": ["VerifiableCredential"]}]', id="json-array-bytes"),
        pytest.param("null", id="json-null"),
        pytest.param("", id="empty-string"),
        pytest.param(b"", id="empty-bytes"),
        pytest.param("   \n\t ", id="whitespace"),
        pytest.param({}, id="empty-object"),
        pytest.param(random.Random(20260115).randbytes(4096), id="random-bytes"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(256), id="png"),
        pytest.param("eyJhbGciOiJub25lIn0.e30", id="two-segment-jwt"),
    ],
)
def test_bad_input_is_an_invalid_format_not_a_crash(resolver, data):
    result = verify(data, resolver)

    assert result.verdict == Verdict.INVALID
    assert result.check("format").outcome == Outcome.FAILED
    assert result.check("proof") is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("{" + " " * FIFTY_MB + "}", id="str"),
        pytest.param(b"x" * FIFTY_MB, id="bytes"),
    ],
)
def test_fifty_megabytes_is_refused_as_too_large(resolver, data):
    result = verify(data, resolver)

    assert result.verdict == Verdict.INVALID
    assert result.check("format").outcome == Outcome.FAILED
    assert result.check("format").code == "too-large"


def _nested_dict(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(depth):
        node = {"a": node}
    return node


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("[" * 10_000 + "]" * 10_000, id="arrays-text"),
        pytest.param('{"a":' + "[" * 10_000 + "]" * 10_000 + "}", id="arrays-in-object"),
        pytest.param('{"a":' * 10_000 + "1" + "}" * 10_000, id="objects-text"),
        pytest.param(('{"a":' * 10_000 + "1" + "}" * 10_000).encode(), id="objects-bytes"),
        pytest.param(_nested_dict(10_000), id="objects-dict"),
    ],
)
def test_deeply_nested_json_is_invalid_without_recursion_error(resolver, data):
    result = verify(data, resolver)

    assert result.verdict == Verdict.INVALID
    assert result.check("format").outcome == Outcome.FAILED


# -- input forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda c: c, id="dict"),
        pytest.param(json.dumps, id="str"),
        pytest.param(lambda c: json.dumps(c).encode("utf-8"), id="bytes"),
        pytest.param(lambda c: "\n  " + json.dumps(c, indent=2) + "\n", id="pretty-str"),
    ],
)
def test_json_credential_is_accepted_as_dict_str_or_bytes(signer, resolver, encode):
    result = verify(encode(signed_json(signer)), resolver)

    assert result.verdict == Verdict.VALID
    assert result.form == "json"


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda t: t, id="str"),
        pytest.param(lambda t: t.encode("ascii"), id="bytes"),
        pytest.param(lambda t: t + "\n", id="trailing-newline"),
    ],
)
def test_jwt_credential_is_accepted_as_str_or_bytes(signer, resolver, encode):
    result = verify(encode(signed_jwt(signer)), resolver)

    assert result.verdict == Verdict.VALID
    assert result.form == "jwt"


def _enveloped(token: str, media_type: str = "application/vc+jwt") -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": "EnvelopedVerifiableCredential",
        "id": f"data:{media_type},{token}",
    }


@pytest.mark.parametrize("media_type", ["application/vc+jwt", "application/vc-ld+jwt"])
@pytest.mark.parametrize(
    "encode", [pytest.param(lambda e: e, id="dict"), pytest.param(json.dumps, id="str")]
)
def test_enveloped_verifiable_credential_is_accepted(signer, resolver, encode, media_type):
    result = verify(encode(_enveloped(signed_jwt(signer), media_type)), resolver)

    assert result.verdict == Verdict.VALID
    assert result.form == "jwt"
    assert result.credential["issuer"]["id"] == ISSUER_DID


def test_enveloped_credential_with_a_tampered_jwt_is_invalid(signer, resolver):
    result = verify(_enveloped(flip_payload_character(signed_jwt(signer))), resolver)

    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED


# -- status and schema -----------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_credential_with_a_status_entry_is_never_reported_as_not_revoked(signer, resolver, form):
    result = verify(sign(form, signer, make_credential(credentialStatus=status_entry())), resolver)

    assert result.check("proof").outcome == Outcome.PASSED
    assert result.check("status").outcome == Outcome.COULD_NOT_CHECK
    assert result.verdict == Verdict.COULD_NOT_CHECK
    assert not result.verified


@pytest.mark.parametrize("form", FORMS)
def test_signed_credential_that_breaks_the_ob3_schema_is_invalid(signer, resolver, form):
    credential = make_credential()
    del credential["credentialSubject"]["achievement"]["criteria"]

    result = verify(sign(form, signer, copy.deepcopy(credential)), resolver)

    assert result.check("proof").outcome == Outcome.PASSED
    assert result.check("schema").outcome == Outcome.FAILED
    assert result.check("schema").code == "schema-invalid"
    assert result.verdict == Verdict.INVALID


@pytest.mark.parametrize("proof", [[1, 2], "a proof", [None], [{"type": "DataIntegrityProof"}, 3]])
def test_a_proof_that_is_not_an_object_is_invalid_not_a_crash(proof):
    signer = make_signer()
    credential = signed_json(signer)
    credential["proof"] = proof
    result = verify_credential(credential, resolver=StaticResolver(signer), now=NOW)
    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ('{"a": ' + "1" * 5000 + "}", "a number too long to read"),
        ("\ud800", "not valid Unicode text"),
        ({"name": "\ud800"}, "not valid Unicode (a lone surrogate)"),
        ({"name": 10**400}, "a number JSON-LD cannot represent"),
        ({"name": float("nan")}, "a number JSON-LD cannot represent"),
    ],
)
def test_text_and_numbers_no_proof_can_cover_are_a_failed_format_not_a_crash(data, words):
    """Found by the property tests: each of these escaped verify_credential as an exception."""
    signer = make_signer("EdDSA")
    if isinstance(data, dict):
        data = {**signed_json(signer), **data}
    result = verify_credential(data, resolver=StaticResolver(signer), now=NOW)
    assert result.verdict == Verdict.INVALID
    assert result.check("format").outcome == Outcome.FAILED
    assert words in result.check("format").message
