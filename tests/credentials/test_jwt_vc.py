"""VC-JWT (OB 3.0 §8.2): round trips, tamper tests and the RFC 8725 attacks a verifier meets."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import OKPAlgorithm
from jwt.utils import base64url_decode, base64url_encode

from credentials import (
    ClaimMismatchError,
    CredentialError,
    InvalidProofError,
    KeyMismatchError,
    MalformedCredentialError,
    UnsupportedAlgorithmError,
)
from credentials.proofs import jwt_vc

from ..helpers import ISSUER_DID, NOW, StaticResolver, make_credential, make_signer

ALGORITHMS = ("EdDSA", "RS256", "ES256")
LEARNER_DID = "did:example:amina"
VALID_UNTIL = "2027-01-15T09:30:00Z"
OTHER_ISSUER = "did:web:elsewhere.test:orgs:southside"


@pytest.fixture(scope="module")
def signers():
    """One key per algorithm for the issuer; RSA generation is slow, so once per module."""
    return {alg: make_signer(alg) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def impostors():
    """Keys with the same DID URLs as ``signers`` but different key material."""
    return {alg: make_signer(alg) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def eddsa(signers):
    return signers["EdDSA"]


def full_credential() -> dict[str, Any]:
    """A credential that yields every optional claim: ``sub`` and ``exp``."""
    credential = make_credential(validUntil=VALID_UNTIL)
    credential["credentialSubject"] = {"id": LEARNER_DID, **credential["credentialSubject"]}
    return credential


def b64(data: bytes) -> str:
    return base64url_encode(data).decode("ascii")


def segment(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def sign_token(signer, header: dict[str, Any], payload: Any) -> str:
    """A compact JWS over exactly this header and payload, signed by ``signer``."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    return f"{signing_input}.{b64(signer.sign(signing_input.encode('ascii')))}"


def read_token(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return json.loads(base64url_decode(header)), json.loads(base64url_decode(payload))


def resign(signer, token: str, *, drop: tuple[str, ...] = (), **changes: Any) -> str:
    """Re-sign ``token``'s payload with some claims changed or dropped, same header."""
    header, payload = read_token(token)
    payload = {k: v for k, v in payload.items() if k not in drop} | changes
    return sign_token(signer, header, payload)


def replace_in_segment(token: str, index: int, old: bytes, new: bytes) -> str:
    """Change one byte inside a decoded segment and re-encode it properly."""
    assert len(old) == len(new)
    assert sum(a != b for a, b in zip(old, new, strict=True)) == 1
    parts = token.split(".")
    decoded = base64url_decode(parts[index])
    assert decoded.count(old) == 1
    parts[index] = b64(decoded.replace(old, new))
    return ".".join(parts)


def flip_character(token: str, index: int) -> str:
    """Change one base64url character in the middle of a segment (never the last one, whose
    low bits may be padding and decode to the same bytes)."""
    parts = token.split(".")
    text = parts[index]
    middle = len(text) // 2
    parts[index] = text[:middle] + ("B" if text[middle] != "B" else "C") + text[middle + 1 :]
    return ".".join(parts)


def xor_signature_byte(token: str, index: int = 10) -> str:
    parts = token.split(".")
    signature = bytearray(base64url_decode(parts[2]))
    signature[index] ^= 0x01
    parts[2] = b64(bytes(signature))
    return ".".join(parts)


def timestamp(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp())


# -- round trip --------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_round_trip_returns_the_signed_credential(signers, alg):
    signer = signers[alg]
    credential = make_credential()

    token = jwt_vc.encode_vc_jwt(credential, signer)
    decoded = jwt_vc.decode_vc_jwt(token, StaticResolver(signer).resolve)

    assert decoded.credential == credential
    assert decoded.shape == "ob3"
    assert decoded.key.id == signer.verification_method


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_token_follows_the_ob3_profile(signers, alg):
    signer = signers[alg]
    credential = make_credential()

    header, payload = read_token(jwt_vc.encode_vc_jwt(credential, signer))

    assert header == {"alg": alg, "kid": signer.verification_method, "typ": "JWT"}
    assert payload["iss"] == ISSUER_DID
    assert payload["jti"] == credential["id"]
    assert payload["nbf"] == int(NOW.timestamp())
    assert type(payload["nbf"]) is int
    assert "sub" not in payload
    assert "exp" not in payload
    assert "proof" not in payload


@pytest.mark.parametrize("subject_id", [None, LEARNER_DID])
@pytest.mark.parametrize("valid_until", [None, VALID_UNTIL])
def test_sub_and_exp_appear_exactly_when_the_credential_has_them(eddsa, subject_id, valid_until):
    credential = make_credential()
    if subject_id is not None:
        credential["credentialSubject"]["id"] = subject_id
    if valid_until is not None:
        credential["validUntil"] = valid_until

    token = jwt_vc.encode_vc_jwt(credential, eddsa)
    _, payload = read_token(token)

    assert payload.get("sub") == subject_id
    assert ("sub" in payload) == (subject_id is not None)
    assert payload.get("exp") == (timestamp(valid_until) if valid_until else None)
    assert ("exp" in payload) == (valid_until is not None)
    assert jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve).credential == credential


def test_an_embedded_proof_is_not_carried_into_the_token(eddsa):
    credential = make_credential(proof=[{"type": "DataIntegrityProof"}])

    _, payload = read_token(jwt_vc.encode_vc_jwt(credential, eddsa))

    assert "proof" not in payload


@pytest.mark.parametrize("alg", ["EdDSA", "RS256"])
def test_signing_is_deterministic(signers, alg):
    credential = full_credential()

    first = jwt_vc.encode_vc_jwt(credential, signers[alg])
    second = jwt_vc.encode_vc_jwt(credential, signers[alg])

    assert first == second


# -- tampering ---------------------------------------------------------------------------


def test_a_fresh_token_verifies_before_tampering(signers):
    # Guards the tamper tests below: they start from tokens that do verify.
    for signer in signers.values():
        token = jwt_vc.encode_vc_jwt(full_credential(), signer)
        assert jwt_vc.decode_vc_jwt(token, StaticResolver(signer).resolve).credential


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: flip_character(t, 1), id="payload-base64-character"),
        pytest.param(
            lambda t: replace_in_segment(t, 1, b"Amina Haddad", b"Amina Haddaf"),
            id="payload-learner-name",
        ),
        pytest.param(
            lambda t: replace_in_segment(t, 1, b"Lays fillet", b"Lays billet"),
            id="payload-achievement",
        ),
        pytest.param(lambda t: flip_character(t, 2), id="signature-base64-character"),
        pytest.param(xor_signature_byte, id="signature-byte"),
        pytest.param(lambda t: t.rsplit(".", 1)[0] + ".", id="signature-removed"),
    ],
)
def test_tampered_payload_or_signature_is_an_invalid_proof(signers, alg, tamper):
    signer = signers[alg]
    token = tamper(jwt_vc.encode_vc_jwt(full_credential(), signer))

    with pytest.raises(InvalidProofError) as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(signer).resolve)

    assert excinfo.type is InvalidProofError
    assert excinfo.value.code == "invalid-proof"


def test_tampered_kid_naming_another_key_of_the_issuer_is_an_invalid_proof():
    key_1 = make_signer("EdDSA", fragment="key-1")
    key_2 = make_signer("EdDSA", fragment="key-2")
    token = jwt_vc.encode_vc_jwt(full_credential(), key_1)
    token = replace_in_segment(token, 0, b"#key-1", b"#key-2")

    with pytest.raises(InvalidProofError) as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(key_1, key_2).resolve)

    assert excinfo.type is InvalidProofError


@pytest.mark.parametrize(
    ("tamper", "error", "code"),
    [
        pytest.param(
            lambda t: ("f" if t[0] != "f" else "g") + t[1:],
            MalformedCredentialError,
            "malformed-credential",
            id="header-not-json",
        ),
        pytest.param(
            lambda t: replace_in_segment(t, 0, b'"typ":"JWT"', b'"typ":"JWS"'),
            InvalidProofError,
            "invalid-proof",
            id="typ",
        ),
        pytest.param(
            lambda t: replace_in_segment(t, 0, b'"EdDSA"', b'"EdDSB"'),
            UnsupportedAlgorithmError,
            "unsupported-algorithm",
            id="alg",
        ),
    ],
)
def test_tampered_header_is_refused(eddsa, tamper, error, code):
    token = tamper(jwt_vc.encode_vc_jwt(full_credential(), eddsa))

    with pytest.raises(CredentialError) as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)

    assert excinfo.type is error
    assert excinfo.value.code == code


# -- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_different_key_under_the_same_kid_is_an_invalid_proof(signers, impostors, alg):
    token = jwt_vc.encode_vc_jwt(full_credential(), signers[alg])
    assert impostors[alg].verification_method == signers[alg].verification_method

    with pytest.raises(InvalidProofError) as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(impostors[alg]).resolve)

    assert excinfo.type is InvalidProofError


def test_a_key_controlled_by_another_did_is_a_key_mismatch():
    outsider = make_signer("EdDSA", did=OTHER_ISSUER)
    token = jwt_vc.encode_vc_jwt(full_credential(), outsider)  # issuer says ISSUER_DID

    with pytest.raises(KeyMismatchError) as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(outsider).resolve)

    assert excinfo.value.code == "key-mismatch"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(eddsa, alg):
    _, payload = read_token(jwt_vc.encode_vc_jwt(full_credential(), eddsa))
    header = {"alg": alg, "typ": "JWT", "kid": eddsa.verification_method}
    token = f"{segment(header)}.{segment(payload)}."

    with pytest.raises(UnsupportedAlgorithmError) as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)

    assert excinfo.value.code == "unsupported-algorithm"


@pytest.mark.parametrize(
    ("alg", "digest"),
    [("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)],
)
def test_hmac_signed_with_the_issuers_public_key_is_refused(signers, alg, digest):
    rsa = signers["RS256"]
    secret = rsa.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, payload = read_token(jwt_vc.encode_vc_jwt(full_credential(), rsa))
    header = {"alg": alg, "kid": rsa.verification_method, "typ": "JWT"}
    signing_input = f"{segment(header)}.{segment(payload)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), digest).digest()
    token = f"{signing_input}.{b64(mac)}"

    with pytest.raises(UnsupportedAlgorithmError):
        jwt_vc.decode_vc_jwt(token, StaticResolver(rsa).resolve)


@pytest.mark.parametrize(
    ("token_alg", "key_alg"), [("ES256", "EdDSA"), ("EdDSA", "RS256"), ("RS256", "ES256")]
)
def test_header_alg_must_match_the_key_records_algorithm(signers, token_alg, key_alg):
    _, payload = read_token(jwt_vc.encode_vc_jwt(full_credential(), signers[token_alg]))
    header = {"alg": token_alg, "kid": signers[key_alg].verification_method, "typ": "JWT"}
    token = sign_token(signers[token_alg], header, payload)

    with pytest.raises(UnsupportedAlgorithmError):
        jwt_vc.decode_vc_jwt(token, StaticResolver(signers[key_alg]).resolve)


def _attacker_jwk() -> dict[str, Any]:
    return OKPAlgorithm.to_jwk(make_signer("EdDSA").public_key, as_dict=True)


@pytest.mark.parametrize(
    ("member", "extra_header"),
    [
        pytest.param("jku", {"jku": "https://attacker.test/jwks.json"}, id="jku"),
        pytest.param("x5u", {"x5u": "https://attacker.test/cert.pem"}, id="x5u"),
        pytest.param("jwk", {"jwk": "attacker"}, id="jwk"),  # replaced by an attacker's JWK
        pytest.param("x5c", {"x5c": ["MIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGU="]}, id="x5c"),
        pytest.param("crit", {"crit": ["exp"]}, id="crit"),
        pytest.param("crit", {"crit": ["b64"], "b64": True}, id="crit-b64"),
    ],
)
def test_key_bearing_and_critical_header_members_are_refused(
    eddsa, no_network, member, extra_header
):
    _, payload = read_token(jwt_vc.encode_vc_jwt(full_credential(), eddsa))
    if "jwk" in extra_header:
        extra_header = {"jwk": _attacker_jwk()}
    header = {"alg": "EdDSA", "kid": eddsa.verification_method, "typ": "JWT"} | extra_header
    token = sign_token(eddsa, header, payload)

    with pytest.raises(InvalidProofError, match=rf"\b{re.escape(member)}\b") as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)

    assert excinfo.type is InvalidProofError
    assert no_network == []


def test_unknown_header_member_is_refused(eddsa):
    _, payload = read_token(jwt_vc.encode_vc_jwt(full_credential(), eddsa))
    header = {"alg": "EdDSA", "kid": eddsa.verification_method, "typ": "JWT", "foo": "bar"}
    token = sign_token(eddsa, header, payload)

    with pytest.raises(InvalidProofError, match=r"\bfoo\b") as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)

    assert excinfo.type is InvalidProofError


@pytest.mark.parametrize("kid", [None, "", "did:web:tessera.test#" + "k" * 3000])
def test_a_token_without_a_usable_kid_is_refused(eddsa, kid):
    _, payload = read_token(jwt_vc.encode_vc_jwt(full_credential(), eddsa))
    header = {"alg": "EdDSA", "typ": "JWT"} | ({} if kid is None else {"kid": kid})
    token = sign_token(eddsa, header, payload)

    with pytest.raises(InvalidProofError, match="kid") as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)

    assert excinfo.type is InvalidProofError


# -- claims against the credential -------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"iss": OTHER_ISSUER}, id="iss"),
        pytest.param({"jti": "urn:uuid:11111111-2222-4333-8444-555555555555"}, id="jti"),
        pytest.param({"sub": "did:example:someone-else"}, id="sub"),
        pytest.param({"nbf": int(NOW.timestamp()) - 86400}, id="nbf"),
        pytest.param({"exp": timestamp(VALID_UNTIL) + 86400}, id="exp"),
        pytest.param({"exp": "2027-01-15T09:30:00Z"}, id="exp-not-a-number"),
    ],
)
def test_claims_that_contradict_the_credential_are_a_claim_mismatch(eddsa, changes):
    token = resign(eddsa, jwt_vc.encode_vc_jwt(full_credential(), eddsa), **changes)

    with pytest.raises(ClaimMismatchError) as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)

    assert excinfo.value.code == "claim-mismatch"


def test_sub_claim_for_a_subject_without_id_is_a_claim_mismatch(eddsa):
    token = resign(eddsa, jwt_vc.encode_vc_jwt(make_credential(), eddsa), sub=LEARNER_DID)

    with pytest.raises(ClaimMismatchError):
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)


@pytest.mark.parametrize("claim", ["iss", "jti", "nbf", "exp"])
def test_ob3_token_missing_a_required_claim_is_a_claim_mismatch(eddsa, claim):
    token = resign(eddsa, jwt_vc.encode_vc_jwt(full_credential(), eddsa), drop=(claim,))

    with pytest.raises(ClaimMismatchError, match=claim):
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)


# -- other shapes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra_header", [{"typ": "vc+jwt"}, {"typ": "vc+jwt", "cty": "vc"}], ids=["typ", "typ-cty"]
)
def test_vc_jose_cose_shape_verifies(eddsa, extra_header):
    credential = full_credential()
    header = {"alg": "EdDSA", "kid": eddsa.verification_method} | extra_header
    token = sign_token(eddsa, header, credential)

    decoded = jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)

    assert decoded.shape == "vc-jose-cose"
    assert decoded.credential == credential


def test_vcdm_1_1_shape_verifies_and_returns_the_vc_claim(eddsa):
    vc = full_credential()
    vc["issuanceDate"] = vc.pop("validFrom")
    vc["expirationDate"] = vc.pop("validUntil")
    payload = {
        "iss": ISSUER_DID,
        "jti": vc["id"],
        "nbf": int(NOW.timestamp()),
        "exp": timestamp(VALID_UNTIL),
        "sub": LEARNER_DID,
        "vc": vc,
    }
    token = sign_token(
        eddsa, {"alg": "EdDSA", "kid": eddsa.verification_method, "typ": "JWT"}, payload
    )

    decoded = jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)

    assert decoded.shape == "vcdm1.1"
    assert decoded.credential == vc


def test_vcdm_1_1_shape_with_a_contradicting_nbf_is_a_claim_mismatch(eddsa):
    vc = make_credential()
    vc["issuanceDate"] = vc.pop("validFrom")
    payload = {"iss": ISSUER_DID, "jti": vc["id"], "nbf": int(NOW.timestamp()) + 1, "vc": vc}
    token = sign_token(
        eddsa, {"alg": "EdDSA", "kid": eddsa.verification_method, "typ": "JWT"}, payload
    )

    with pytest.raises(ClaimMismatchError):
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)


# -- malformed input ---------------------------------------------------------------------


def _with_header(token: str, header_segment: str) -> str:
    return ".".join([header_segment, *token.split(".")[1:]])


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[: len(t) // 2], id="truncated"),
        pytest.param(lambda t: ".".join(t.split(".")[:2]), id="two-segments"),
        pytest.param(lambda t: t + ".c2lnbmF0dXJl", id="four-segments"),
        pytest.param(lambda t: "%%%%.@@@@.####", id="not-base64"),
        pytest.param(lambda t: _with_header(t, "!!!!"), id="header-not-base64"),
        pytest.param(lambda t: _with_header(t, segment([1, 2])), id="header-json-array"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "not a token at all", id="prose"),
        pytest.param(
            lambda t: f"{t.split('.')[0]}.{'A' * 1_000_001}.{t.split('.')[2]}", id="too-long"
        ),
    ],
)
def test_malformed_tokens_are_refused_as_malformed(eddsa, mangle):
    token = mangle(jwt_vc.encode_vc_jwt(full_credential(), eddsa))

    with pytest.raises(MalformedCredentialError) as excinfo:
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)

    assert excinfo.value.code == "malformed-credential"


# -- relative kid ------------------------------------------------------------------------


def test_relative_kid_resolves_against_the_issuer(eddsa):
    credential = full_credential()
    _, payload = read_token(jwt_vc.encode_vc_jwt(credential, eddsa))
    token = sign_token(eddsa, {"alg": "EdDSA", "kid": "#key-eddsa", "typ": "JWT"}, payload)

    decoded = jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)

    assert decoded.key.id == f"{ISSUER_DID}#key-eddsa"
    assert decoded.credential == credential


@pytest.mark.parametrize("iss", [ISSUER_DID, OTHER_ISSUER])
def test_relative_kid_never_borrows_another_issuers_key(eddsa, iss):
    outsider = make_signer("EdDSA", did=OTHER_ISSUER, fragment="key-eddsa")
    _, payload = read_token(jwt_vc.encode_vc_jwt(full_credential(), eddsa))
    payload["iss"] = iss
    token = sign_token(outsider, {"alg": "EdDSA", "kid": "#key-eddsa", "typ": "JWT"}, payload)

    with pytest.raises(InvalidProofError):
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa, outsider).resolve)


# -- deeply nested parts (found by tests/property) ---------------------------------------


def test_a_header_nested_ten_thousand_deep_is_malformed_not_a_crash():
    deep = "[" * 10_000 + "]" * 10_000
    token = f"{b64(deep.encode())}.e30."

    with pytest.raises(MalformedCredentialError, match="header is nested deeper than 64"):
        jwt_vc.read_unverified_header(token)


def test_a_signed_payload_nested_deeper_than_the_limit_is_malformed(eddsa):
    _, payload = read_token(jwt_vc.encode_vc_jwt(full_credential(), eddsa))
    deep: Any = "leaf"
    for _ in range(70):
        deep = [deep]
    token = sign_token(
        eddsa, {"alg": "EdDSA", "kid": eddsa.verification_method}, payload | {"evidence": deep}
    )

    with pytest.raises(MalformedCredentialError, match="payload is nested deeper than 64"):
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)


# -- one spelling per token (the parts are read strictly, RFC 7515 §2) ---------------------


def _respelled(token: str, index: int, spell) -> str:
    parts = token.split(".")
    parts[index] = spell(parts[index])
    return ".".join(parts)


def _other_trailing_bits(part: str) -> str:
    """The same bytes spelled with a different unused low bit in the last character (a part
    whose length is not a multiple of 4 ends in a character with 2 or 4 bits to spare)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return part[:-1] + alphabet[alphabet.index(part[-1]) ^ 1]


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize(
    ("index", "spell"),
    [
        pytest.param(2, lambda p: p + "=" * (-len(p) % 4 or 4), id="signature-padded"),
        pytest.param(2, lambda p: p.replace("-", "+").replace("_", "/") + "+", id="signature-b64"),
        pytest.param(2, lambda p: p[:10] + " " + p[10:], id="signature-space"),
        pytest.param(1, lambda p: p[:10] + "\n" + p[10:], id="payload-newline"),
        pytest.param(
            1, lambda p: p + "A" * ((1 - len(p)) % 4 or 4), id="payload-impossible-length"
        ),
        pytest.param(0, lambda p: p[:5] + "*" + p[5:], id="header-junk"),
    ],
)
def test_a_part_that_is_not_strict_base64url_is_malformed(signers, alg, index, spell):
    signer = signers[alg]
    token = _respelled(jwt_vc.encode_vc_jwt(full_credential(), signer), index, spell)

    with pytest.raises(MalformedCredentialError, match="not base64url-encoded"):
        jwt_vc.decode_vc_jwt(token, StaticResolver(signer).resolve)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_signature_with_other_trailing_bits_is_refused_though_its_bytes_are_the_same(
    signers, alg
):
    signer = signers[alg]
    token = jwt_vc.encode_vc_jwt(full_credential(), signer)
    signature = token.rsplit(".", 1)[1]
    assert len(signature) % 4, f"{alg} signatures have no spare bits; pick a key whose do"
    respelled = _respelled(token, 2, _other_trailing_bits)
    assert base64url_decode(respelled.rsplit(".", 1)[1]) == base64url_decode(signature)

    with pytest.raises(MalformedCredentialError, match="signature is not base64url-encoded"):
        jwt_vc.decode_vc_jwt(respelled, StaticResolver(signer).resolve)


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        pytest.param([1, 2], "not a JSON object", id="array"),
        pytest.param("credential", "not a JSON object", id="string"),
    ],
)
def test_a_signed_payload_that_is_not_an_object_is_malformed(eddsa, payload, said):
    token = sign_token(eddsa, {"alg": "EdDSA", "kid": eddsa.verification_method}, payload)

    with pytest.raises(MalformedCredentialError, match=said):
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)


def test_a_signed_payload_that_is_not_json_is_malformed(eddsa):
    signing_input = f"{segment({'alg': 'EdDSA', 'kid': eddsa.verification_method})}.{b64(b'{')}"
    token = f"{signing_input}.{b64(eddsa.sign(signing_input.encode('ascii')))}"

    with pytest.raises(MalformedCredentialError, match="payload is not JSON"):
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)


@pytest.mark.parametrize("claim", ["sub", "jti"])
def test_a_signed_sub_or_jti_that_is_not_a_string_is_an_invalid_proof(eddsa, claim):
    token = resign(eddsa, jwt_vc.encode_vc_jwt(full_credential(), eddsa), **{claim: 42})

    with pytest.raises(InvalidProofError, match=f"its {claim} claim is not a string"):
        jwt_vc.decode_vc_jwt(token, StaticResolver(eddsa).resolve)


@pytest.mark.parametrize(("alg", "key_of_alg"), [("RS256", "EdDSA"), ("ES256", "RS256")])
def test_a_key_record_whose_key_does_not_suit_its_algorithm_is_an_invalid_proof(
    signers, alg, key_of_alg
):
    """A record saying RS256 over an Ed25519 key (say) verifies nothing, and says why."""
    token = jwt_vc.encode_vc_jwt(full_credential(), signers[alg])
    record = StaticResolver(signers[alg]).resolve(signers[alg].verification_method)
    wrong = StaticResolver(signers[key_of_alg]).resolve(signers[key_of_alg].verification_method)

    with pytest.raises(InvalidProofError, match=f"cannot verify {alg}"):
        jwt_vc.decode_vc_jwt(token, lambda kid: replace(record, public_key=wrong.public_key))


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_alone_accepts_what_we_accept(signers, alg):
    """Our reading of the compact form agrees with PyJWT's full decode on a real token."""
    signer = signers[alg]
    credential = full_credential()
    token = jwt_vc.encode_vc_jwt(credential, signer)
    key = StaticResolver(signer).resolve(signer.verification_method)

    ours = jwt_vc.decode_vc_jwt(token, StaticResolver(signer).resolve)
    theirs = pyjwt.decode(
        token, key.public_key, algorithms=[alg], options={"verify_exp": False, "verify_nbf": False}
    )

    assert ours.claims == theirs
    assert ours.credential == credential
