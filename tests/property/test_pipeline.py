"""The one pipeline: whatever arrives, the answer is a verdict, and tampering is never valid.

``verify_credential`` promises "not verified is an answer, never an exception". These
properties feed it random bytes, text and JSON, real signed credentials with members changed,
bytes flipped or cut off, and documents a key really signed but whose content is hostile.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credentials import CredentialError, baking, canonicalize
from credentials.proofs import data_integrity
from tests.helpers import (
    ISSUER_DID,
    NOW,
    StaticResolver,
    make_credential,
    make_signer,
    signed_json,
    signed_jwt,
)
from verifier.pipeline import Verdict, VerificationResult, verify_credential

from .strategies import (
    any_text,
    flipped,
    json_objects,
    mutated_documents,
    nested,
    truncated,
)

SIGNER = make_signer()
RESOLVER = StaticResolver(SIGNER)
SIGNED = signed_json(SIGNER)
SIGNED_TEXT = json.dumps(SIGNED).encode()
TOKEN = signed_jwt(SIGNER)
TRUSTED = frozenset({ISSUER_DID})
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'
BAKED_SVG = baking.bake_svg(SVG, TOKEN)


def verify(data: Any) -> VerificationResult:
    """The pipeline as the verify page calls it; fails the test if it raises anything."""
    result = verify_credential(data, resolver=RESOLVER, now=NOW, trusted_issuers=TRUSTED)
    assert isinstance(result, VerificationResult)
    assert result.verdict in set(Verdict)
    assert result.checks, "every answer names at least the check that decided it"
    return result


def _signed_statements(document: Any) -> tuple[str, str] | None:
    """What an eddsa-rdfc-2022 signature covers: the canonical document and proof options."""
    proof = document.get("proof")
    proof = proof[0] if isinstance(proof, list) and len(proof) == 1 else proof
    if not isinstance(proof, dict):
        return None
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    options["@context"] = unsecured.get("@context")
    return canonicalize(unsecured), canonicalize(options) + str(proof.get("proofValue"))


def test_the_unmutated_credentials_are_valid() -> None:
    """The baseline the tamper properties depend on: untouched, both forms verify."""
    assert verify(SIGNED).verdict == Verdict.VALID
    assert verify(SIGNED_TEXT).verdict == Verdict.VALID
    assert verify(TOKEN).verdict == Verdict.VALID


@given(st.binary(max_size=512))
def test_any_bytes_get_a_verdict(data: bytes) -> None:
    assert verify(data).verdict != Verdict.VALID


@given(any_text)
def test_any_text_gets_a_verdict(text: str) -> None:
    assert verify(text).verdict != Verdict.VALID


@given(json_objects())
def test_any_json_object_gets_a_verdict(document: dict[str, Any]) -> None:
    assert verify(document).verdict != Verdict.VALID


@given(mutated_documents(SIGNED))
def test_a_changed_signed_credential_is_never_valid(document: dict[str, Any]) -> None:
    """Valid only if the change left every signed statement as it was.

    eddsa-rdfc-2022 signs the RDF graph, not the JSON: ``["Profile"]`` and ``"Profile"`` say
    the same, and so does a member whose value is ``null``. Anything else must not verify.
    """
    if verify(document).verdict == Verdict.VALID:
        assert _signed_statements(document) == _signed_statements(SIGNED)


@given(mutated_documents(SIGNED))
def test_a_changed_signed_credential_sent_as_text_gets_a_verdict(document: dict[str, Any]) -> None:
    try:
        text = json.dumps(document)
    except ValueError:  # an integer longer than Python will print: not sendable as text
        return
    verify(text)


@given(flipped(SIGNED_TEXT))
def test_flipped_bytes_in_a_json_credential_are_never_valid(data: bytes) -> None:
    result = verify(data)
    if result.verdict == Verdict.VALID:
        assert result.credential is not None
        assert _signed_statements(result.credential) == _signed_statements(SIGNED)


@given(
    flipped(BAKED_SVG)
    | truncated(BAKED_SVG)
    | st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_0123456789", min_size=1, max_size=10).map(
        lambda encoding: f'<?xml version="1.0" encoding="{encoding}"?>'.encode() + BAKED_SVG
    )
)
def test_a_damaged_baked_badge_is_never_valid_unless_its_token_is_intact(data: bytes) -> None:
    if verify(data).verdict == Verdict.VALID:
        assert TOKEN.rpartition(".")[0].encode() in data  # all it signs, untouched


@given(truncated(SIGNED_TEXT))
def test_a_cut_off_json_credential_is_never_valid(data: bytes) -> None:
    assert verify(data).verdict != Verdict.VALID


@given(flipped(TOKEN.encode("ascii")))
def test_flipped_bytes_in_a_jwt_are_never_valid(data: bytes) -> None:
    """Valid only if what was signed and the signature bytes are unchanged.

    The last base64url character of a signature carries unused low bits, so two spellings
    decode to the same signature; that is not a change to anything signed.
    """
    if verify(data).verdict == Verdict.VALID:
        signed_part, _, signature = data.decode("ascii").rpartition(".")
        original_part, _, original_signature = TOKEN.rpartition(".")
        assert signed_part == original_part
        assert _b64(signature) == _b64(original_signature)


@given(truncated(TOKEN.encode("ascii")))
def test_a_cut_off_jwt_is_never_valid(data: bytes) -> None:
    assert verify(data).verdict != Verdict.VALID


@given(mutated_documents(make_credential()))
def test_a_hostile_credential_its_issuer_really_signed_as_a_jwt_gets_a_verdict(
    credential: dict[str, Any],
) -> None:
    """The signature verifies, so every later step meets the hostile content."""
    try:
        token = sign_jwt(credential)
    except ValueError:  # an integer too long for json.dumps to print: nothing to send
        return
    verify(token)


@given(mutated_documents(make_credential()))
def test_a_hostile_credential_its_issuer_really_signed_with_data_integrity_gets_a_verdict(
    credential: dict[str, Any],
) -> None:
    try:
        document = data_integrity.add_proof(credential, SIGNER, created=NOW)
    except CredentialError:  # not JSON-LD this issuer could sign: nothing to present
        return
    verify(document)


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_deeply_nested_json_gets_a_verdict(depth: int) -> None:
    assert verify({"type": nested(depth)}).verdict == Verdict.INVALID
    assert verify(("[" * depth + "]" * depth).encode()).verdict == Verdict.INVALID
    assert verify('{"a":' * depth + "1" + "}" * depth).verdict == Verdict.INVALID


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_a_jwt_with_a_deeply_nested_header_or_payload_gets_a_verdict(depth: int) -> None:
    deep = "[" * depth + "]" * depth
    assert verify(_b64e(deep.encode()) + "." + TOKEN.split(".")[1] + ".AA").verdict == (
        Verdict.INVALID
    )
    claims = json.dumps({**make_credential(), "iss": ISSUER_DID, "deep": None})
    deep_claims = claims.replace('"deep": null', '"deep": ' + deep)
    assert verify(sign_jwt(deep_claims)).verdict == Verdict.INVALID


def sign_jwt(payload: dict[str, Any] | str) -> str:
    """A compact JWS over any payload (an object or JSON text), signed with the issuer's key."""
    header = {"alg": "EdDSA", "kid": SIGNER.verification_method, "typ": "JWT"}
    text = payload if isinstance(payload, str) else json.dumps(payload)
    signing_input = f"{_b64e(json.dumps(header).encode())}.{_b64e(text.encode())}"
    return f"{signing_input}.{_b64e(SIGNER.sign(signing_input.encode('ascii')))}"


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None
