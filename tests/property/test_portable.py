"""The portable QR payload: any scanned text restores a token or gives a declared error."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from credentials.portable import (
    MAX_EXPANDED_BYTES,
    PREFIX,
    PortablePayloadError,
    base45_decode,
    base45_encode,
    decode_portable,
    encode_portable,
    portable_qr_payload,
)
from tests.helpers import make_signer, signed_jwt

from .strategies import any_text, flipped, truncated

TOKEN = signed_jwt(make_signer())
PAYLOAD = encode_portable(TOKEN)
base45_text = st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=300)


def restored(text: str) -> str | None:
    try:
        token = decode_portable(text)
    except PortablePayloadError:
        return None
    assert token.count(".") == 2
    assert len(token) <= 2 * MAX_EXPANDED_BYTES
    return token


@given(any_text | base45_text.map(lambda t: PREFIX + t) | st.from_regex(r"\ATSR[0-9]{1,4}:.*"))
def test_any_scanned_text_restores_a_token_or_is_a_declared_error(text: str) -> None:
    restored(text)


@given(flipped(PAYLOAD.encode("ascii")) | truncated(PAYLOAD.encode("ascii")))
def test_a_damaged_payload_is_a_declared_error_or_a_token(data: bytes) -> None:
    # Base45 has no redundancy: a damaged payload may restore another token, which the
    # pipeline then refuses on its signature (tests/property/test_pipeline.py).
    restored(data.decode("latin-1"))


@given(st.binary(max_size=200))
def test_base45_round_trips_any_bytes(data: bytes) -> None:
    assert base45_decode(base45_encode(data)) == data


@given(base45_text)
def test_base45_decodes_or_refuses_any_text_of_its_alphabet(text: str) -> None:
    try:
        data = base45_decode(text)
    except PortablePayloadError:
        return
    assert base45_encode(data) == text


@given(
    any_text | st.from_regex(r"\A[A-Za-z0-9_-]{1,40}\.[A-Za-z0-9_-]{1,40}\.[A-Za-z0-9_-]{0,40}\Z")
)
def test_encoding_any_text_gives_a_payload_that_restores_it_or_a_declared_error(
    token: str,
) -> None:
    try:
        payload = encode_portable(token)
    except PortablePayloadError:
        pass
    else:
        assert decode_portable(payload) == token
    with contextlib.suppress(PortablePayloadError):
        portable_qr_payload(token)
