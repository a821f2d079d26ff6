"""Bitstring status lists: decoding, entries and bit look-ups answer or raise a declared error."""

from __future__ import annotations

import base64
import contextlib
import gzip
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from credentials import MalformedCredentialError
from credentials.status_list import (
    MIN_LIST_LENGTH,
    StatusListError,
    decode_list,
    encode_list,
    get_bit,
    new_bitstring,
    parse_status_entries,
    read_status_list_credential,
    set_bit,
    status_entry,
    status_list_credential,
)
from tests.helpers import ISSUER_DID, NOW

from .strategies import flipped, json_leaves, json_trees, mutated_documents, truncated

LIST_URL = "https://tessera.test/status/1"
ENCODED = encode_list(new_bitstring())
LIST_CREDENTIAL = status_list_credential(
    list_url=LIST_URL,
    issuer=ISSUER_DID,
    bits=bytes(new_bitstring()),
    valid_from=NOW,
    valid_until=NOW,
)


def gzipped(data: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(gzip.compress(data, mtime=0)).decode().rstrip("=")


def decoded(encoded: object) -> bytes | None:
    try:
        bits = decode_list(encoded, max_bytes=64 * 1024)
    except StatusListError:
        return None
    assert MIN_LIST_LENGTH <= len(bits) * 8 <= 64 * 1024 * 8
    return bits


@given(st.text(max_size=200) | json_leaves() | st.text(max_size=200).map(lambda t: "u" + t))
def test_any_value_decodes_or_is_a_declared_error(value: object) -> None:
    decoded(value)


@given(st.binary(max_size=20_000).map(gzipped))
def test_any_gzipped_bytes_decode_to_themselves_or_a_declared_error(encoded: str) -> None:
    bits = decoded(encoded)
    if bits is not None:
        assert gzipped(bits) == encoded


@given(flipped(ENCODED.encode("ascii")) | truncated(ENCODED.encode("ascii")))
def test_a_damaged_list_decodes_or_is_a_declared_error(data: bytes) -> None:
    decoded(data.decode("latin-1"))


@given(st.sets(st.integers(0, MIN_LIST_LENGTH - 1), max_size=20))
def test_every_set_bit_survives_the_round_trip_and_no_other(chosen: set[int]) -> None:
    bits = new_bitstring()
    for index in chosen:
        set_bit(bits, index)
    back = decode_list(encode_list(bits))
    assert back == bits
    assert all(get_bit(back, i) for i in chosen)
    assert sum(bin(byte).count("1") for byte in back) == len(chosen)


@given(st.binary(max_size=64), st.integers() | st.integers(-(2**70), 2**70))
def test_get_bit_answers_or_refuses_an_index_outside_the_list(bits: bytes, index: int) -> None:
    try:
        value = get_bit(bits, index)
    except StatusListError:
        assert not 0 <= index < len(bits) * 8
        return
    assert value is bool(bits[index // 8] & (0x80 >> (index % 8)))


entries = st.one_of(
    json_trees(8),
    st.builds(status_entry, st.text(max_size=30), st.integers(0, 10**12), st.text(max_size=10)),
)


@given(entries)
def test_any_credential_status_parses_or_is_a_declared_error(status: Any) -> None:
    try:
        parsed = parse_status_entries({"credentialStatus": status})
    except MalformedCredentialError:
        return
    for entry in parsed:
        assert entry.index >= 0 and entry.list_url.startswith(("https://", "http://"))


@given(mutated_documents({"credentialStatus": status_entry(LIST_URL, 42)}))
def test_a_changed_status_entry_parses_or_is_a_declared_error(credential: dict[str, Any]) -> None:
    with contextlib.suppress(MalformedCredentialError):
        parse_status_entries(credential)


@given(mutated_documents(LIST_CREDENTIAL), st.sampled_from(["revocation", "suspension"]))
def test_a_changed_status_list_credential_reads_or_is_a_declared_error(
    credential: dict[str, Any], purpose: str
) -> None:
    with contextlib.suppress(StatusListError):
        read_status_list_credential(credential, purpose=purpose)
