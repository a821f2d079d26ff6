"""Bitstring Status List v1.0: known answers, bit order, bounds, hostile encodings."""

from __future__ import annotations

import base64
import gzip

import pytest

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

from ..helpers import NOW

# The empty 16 KiB list of the W3C spec's example BitstringStatusListCredential.
SPEC_EMPTY_LIST = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"


def _encode_raw(data: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(gzip.compress(data)).decode().rstrip("=")


def test_the_specs_example_list_decodes_to_131072_clear_bits():
    bits = decode_list(SPEC_EMPTY_LIST)
    assert len(bits) * 8 == MIN_LIST_LENGTH
    assert not any(bits)


def test_index_zero_is_the_left_most_bit_of_the_first_byte():
    bits = new_bitstring()
    set_bit(bits, 0)
    set_bit(bits, 9)
    assert bits[0] == 0b1000_0000 and bits[1] == 0b0100_0000
    assert get_bit(bits, 0) and get_bit(bits, 9) and not get_bit(bits, 1)
    set_bit(bits, 9, False)
    assert bits[1] == 0


def test_round_trip_keeps_every_set_bit():
    bits = new_bitstring()
    chosen = {0, 7, 8, 4242, 99_999, MIN_LIST_LENGTH - 1}
    for index in chosen:
        set_bit(bits, index)
    encoded = encode_list(bits)
    assert encoded.startswith("u") and "=" not in encoded
    decoded = decode_list(encoded)
    assert {i for i in range(MIN_LIST_LENGTH) if get_bit(decoded, i)} == chosen


def test_encoding_is_deterministic():
    assert encode_list(new_bitstring()) == encode_list(new_bitstring())


@pytest.mark.parametrize("index", [-1, MIN_LIST_LENGTH, 10**9])
def test_indexes_outside_the_list_are_refused(index):
    with pytest.raises(StatusListError, match="outside the list"):
        get_bit(bytes(MIN_LIST_LENGTH // 8), index)


@pytest.mark.parametrize("length", [8, MIN_LIST_LENGTH - 8, MIN_LIST_LENGTH + 1])
def test_lists_shorter_than_the_minimum_or_not_whole_bytes_are_not_made(length):
    with pytest.raises(ValueError, match="at least"):
        new_bitstring(length)


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        (_encode_raw(bytes(1024)), "at least 131072"),
        ("H4sIAAAAAAAAA", "prefix 'u'"),
        ("u!!!not-base64!!!", "base64url"),
        ("u" + base64.urlsafe_b64encode(b"plain bytes").decode(), "GZIP"),
        (SPEC_EMPTY_LIST[:33], "truncated"),
        (_encode_raw(bytes(64 * 1024 * 1024)), "more than"),  # a 64 MiB compression bomb
        (12345, "prefix 'u'"),
    ],
    ids=[
        "too-short",
        "no-multibase-prefix",
        "bad-base64",
        "not-gzip",
        "truncated",
        "bomb",
        "not-a-string",
    ],
)
def test_hostile_or_broken_lists_are_refused(encoded, message):
    with pytest.raises(StatusListError, match=message):
        decode_list(encoded)


def test_status_entry_shape():
    assert status_entry("https://t.test/orgs/a/status/1", 94567) == {
        "id": "https://t.test/orgs/a/status/1#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": "https://t.test/orgs/a/status/1",
    }


def test_entries_parse_from_one_object_or_a_list():
    entry = status_entry("https://t.test/s/1", 5)
    (parsed,) = parse_status_entries({"credentialStatus": entry})
    assert (parsed.list_url, parsed.index, parsed.purpose) == (
        "https://t.test/s/1",
        5,
        "revocation",
    )
    assert len(parse_status_entries({"credentialStatus": [entry, entry]})) == 2
    assert parse_status_entries({}) == []


@pytest.mark.parametrize(
    "change",
    [
        {"statusListIndex": 5},
        {"statusListIndex": "-1"},
        {"statusListIndex": "05"},
        {"statusListIndex": "1e3"},
        {"statusListCredential": "ftp://t.test/s/1"},
        {"statusListCredential": None},
        {"type": "StatusList2021Entry"},
        {"statusPurpose": ""},
    ],
)
def test_malformed_entries_are_refused(change):
    with pytest.raises(MalformedCredentialError):
        parse_status_entries({"credentialStatus": status_entry("https://t.test/s/1", 5) | change})


def test_list_credential_round_trip_and_purpose_check():
    bits = new_bitstring()
    set_bit(bits, 3)
    credential = status_list_credential(
        list_url="https://t.test/s/1",
        issuer="did:web:t.test",
        bits=bits,
        valid_from=NOW,
        valid_until=NOW.replace(year=2027),
        ttl_seconds=300,
    )
    assert credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert credential["credentialSubject"]["ttl"] == 300_000
    assert get_bit(read_status_list_credential(credential, purpose="revocation"), 3)
    with pytest.raises(StatusListError, match="not 'suspension'"):
        read_status_list_credential(credential, purpose="suspension")
    with pytest.raises(StatusListError, match="not a BitstringStatusListCredential"):
        read_status_list_credential(
            credential | {"type": ["VerifiableCredential"]}, purpose="revocation"
        )


def test_an_entry_whose_type_is_a_huge_number_is_malformed_with_a_readable_message():
    # repr() of an integer of more than 4,300 digits raises ValueError (found by tests/property).
    with pytest.raises(
        MalformedCredentialError, match=r"of type \(a JSON number\) is not supported"
    ):
        parse_status_entries({"credentialStatus": {"type": 10**5000}})
