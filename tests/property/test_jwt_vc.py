"""VC-JWT decoding: any token, signed or not, gives a decoded credential or a CredentialError."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from credentials import CredentialError
from credentials.proofs import jwt_vc
from tests.helpers import ISSUER_DID, StaticResolver, make_credential, make_signer

from .strategies import any_text, flipped, json_objects, json_trees, mutated_documents

SIGNER = make_signer()
RESOLVE = StaticResolver(SIGNER).resolve
HEADER = {"alg": "EdDSA", "kid": SIGNER.verification_method, "typ": "JWT"}

base64url_segments = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=60
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(header: Any, payload: Any) -> str:
    """A compact JWS over any header and payload, signed with the issuer's real key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(SIGNER.sign(signing_input.encode('ascii')))}"


def decode(token: str) -> jwt_vc.DecodedJwt | None:
    """decode_vc_jwt's answer; a declared error is an answer too."""
    try:
        decoded = jwt_vc.decode_vc_jwt(token, RESOLVE)
    except CredentialError:
        return None
    assert isinstance(decoded.credential, dict)
    return decoded


@given(any_text)
def test_any_text_is_a_declared_error(text: str) -> None:
    assert decode(text) is None


@given(st.tuples(base64url_segments, base64url_segments, base64url_segments))
def test_any_three_base64url_segments_are_a_declared_error(parts: tuple[str, str, str]) -> None:
    assert decode(".".join(parts)) is None


@given(json_trees(), json_objects())
def test_any_header_is_policed_with_a_declared_error(header: Any, payload: dict[str, Any]) -> None:
    try:
        token = sign(header, payload)
    except ValueError:  # an integer too long for json.dumps: cannot be sent
        return
    with contextlib.suppress(CredentialError):
        jwt_vc.read_unverified_header(token)
    decode(token)


@given(json_objects())
def test_any_payload_the_issuer_really_signed_is_decoded_or_a_declared_error(
    payload: dict[str, Any],
) -> None:
    try:
        token = sign(HEADER, payload)
    except ValueError:
        return
    decode(token)


@given(mutated_documents({**make_credential(), "iss": ISSUER_DID, "jti": "urn:x", "nbf": 1}))
def test_a_hostile_credential_the_issuer_really_signed_is_decoded_or_a_declared_error(
    payload: dict[str, Any],
) -> None:
    try:
        token = sign(HEADER, payload)
    except ValueError:
        return
    decode(token)


@given(flipped(jwt_vc.encode_vc_jwt(make_credential(), SIGNER).encode("ascii")))
def test_a_changed_token_is_a_declared_error_or_the_same_claims(data: bytes) -> None:
    original = jwt_vc.encode_vc_jwt(make_credential(), SIGNER)
    decoded = decode(data.decode("latin-1"))
    if decoded is not None:
        assert data.decode("ascii").rpartition(".")[0] == original.rpartition(".")[0]
