"""W3C Bitstring Status List v1.0: pure encode, decode, set and get.

Spec: https://www.w3.org/TR/vc-bitstring-status-list/ . Index 0 is the left-most bit of the
first byte (§3.1 "Bitstring Generation Algorithm"); ``encodedList`` is the multibase
base64url (``u`` prefix, no padding) of the GZIP-compressed bitstring.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .dates import format_datetime
from .errors import CredentialError, MalformedCredentialError
from .jsonld import VC_V2_CONTEXT

#: The spec's minimum: 16 KiB of bits, so one index says little about its credential.
MIN_LIST_LENGTH = 131_072
#: Largest decoded list accepted from anyone (a guard against compression bombs): 16 MiB.
MAX_DECODED_BYTES = 16 * 1024 * 1024
_INDEX = re.compile(r"^(0|[1-9][0-9]{0,9})$")


class StatusListError(CredentialError):
    """A status list or status entry is malformed, too short, or cannot be decoded."""

    code = "invalid-status-list"


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """A ``BitstringStatusListEntry`` of a credential."""

    list_url: str
    index: int
    purpose: str


def new_bitstring(length: int = MIN_LIST_LENGTH) -> bytearray:
    """An all-zero bitstring of ``length`` bits (a multiple of 8, at least the minimum)."""
    if length < MIN_LIST_LENGTH or length % 8:
        raise ValueError(f"a status list has at least {MIN_LIST_LENGTH} bits, in whole bytes")
    return bytearray(length // 8)


def get_bit(bits: bytes | bytearray, index: int) -> bool:
    """The status bit at ``index`` (0 = left-most bit of the first byte).

    Raises:
        StatusListError: ``index`` is outside the list.
    """
    if not 0 <= index < len(bits) * 8:
        raise StatusListError(f"status index {index} is outside the list of {len(bits) * 8} bits")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def set_bit(bits: bytearray, index: int, value: bool = True) -> None:
    """Set (or clear) the status bit at ``index`` in place."""
    get_bit(bits, index)  # bounds check
    mask = 0x80 >> (index % 8)
    if value:
        bits[index // 8] |= mask
    else:
        bits[index // 8] &= ~mask & 0xFF


def encode_list(bits: bytes | bytearray) -> str:
    """``encodedList``: ``u`` + base64url-no-pad(GZIP(bits)). Deterministic (mtime 0)."""
    compressed = gzip.compress(bytes(bits), compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode("ascii").rstrip("=")


def decode_list(encoded: object, *, max_bytes: int = MAX_DECODED_BYTES) -> bytes:
    """Decode an ``encodedList`` back to its bits, refusing compression bombs.

    Raises:
        StatusListError: not multibase base64url, not GZIP, larger than ``max_bytes`` when
            decompressed, or shorter than the spec's minimum.
    """
    if not isinstance(encoded, str) or not encoded.startswith("u") or len(encoded) > max_bytes:
        raise StatusListError("encodedList must be a multibase base64url string (prefix 'u')")
    payload = encoded[1:]
    try:
        compressed = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError) as e:
        raise StatusListError("encodedList is not valid base64url") from e
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # GZIP framing
    try:
        bits = decompressor.decompress(compressed, max_bytes + 1)
    except zlib.error as e:
        raise StatusListError("encodedList is not GZIP-compressed") from e
    if len(bits) > max_bytes or decompressor.unconsumed_tail:
        raise StatusListError(f"the status list decompresses to more than {max_bytes:,} bytes")
    if not decompressor.eof:
        raise StatusListError("the status list's GZIP data is truncated")
    if len(bits) * 8 < MIN_LIST_LENGTH:
        raise StatusListError(
            f"the status list has {len(bits) * 8} bits; at least {MIN_LIST_LENGTH} are required"
        )
    return bits


def status_entry(list_url: str, index: int, purpose: str = "revocation") -> dict[str, Any]:
    """The ``credentialStatus`` member for one credential (§2.1 BitstringStatusListEntry)."""
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }


def parse_status_entries(credential: Mapping[str, Any]) -> list[StatusEntry]:
    """The credential's ``BitstringStatusListEntry`` members (``credentialStatus`` may be a list).

    Raises:
        MalformedCredentialError: an entry is malformed (bad index, missing URL, wrong type).
    """
    status = credential.get("credentialStatus")
    if status is None:
        return []
    entries = status if isinstance(status, list) else [status]
    parsed = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise MalformedCredentialError("credentialStatus must be an object or a list of them")
        if entry.get("type") != "BitstringStatusListEntry":
            raise MalformedCredentialError(
                f"credentialStatus of type {_shown(entry.get('type'))} is not supported"
            )
        index, url, purpose = (
            entry.get("statusListIndex"),
            entry.get("statusListCredential"),
            entry.get("statusPurpose"),
        )
        if not isinstance(index, str) or not _INDEX.match(index):
            raise MalformedCredentialError("statusListIndex must be a base-10 integer string")
        if (
            not isinstance(url, str)
            or not url.startswith(("https://", "http://"))
            or len(url) > 2048
        ):
            raise MalformedCredentialError("statusListCredential must be an http(s) URL")
        if not isinstance(purpose, str) or not purpose:
            raise MalformedCredentialError("statusPurpose is missing")
        parsed.append(StatusEntry(list_url=url, index=int(index), purpose=purpose))
    return parsed


def _shown(value: object) -> str:
    """An untrusted member's value for a message: clipped text, else only its JSON type.

    ``repr`` of an integer of more than 4,300 digits raises ``ValueError``, and a long
    string would swamp the message.
    """
    if isinstance(value, str):
        return repr(value[:60])
    return "null" if value is None else f"(a JSON {_JSON_TYPES.get(type(value), 'value')})"


_JSON_TYPES = {bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}


def status_list_credential(
    *,
    list_url: str,
    issuer: str,
    bits: bytes,
    valid_from: datetime,
    valid_until: datetime,
    purpose: str = "revocation",
    ttl_seconds: int | None = None,
) -> dict[str, Any]:
    """An unsigned ``BitstringStatusListCredential`` (§2.2)."""
    subject: dict[str, Any] = {
        "id": f"{list_url}#list",
        "type": "BitstringStatusList",
        "statusPurpose": purpose,
        "encodedList": encode_list(bits),
    }
    if ttl_seconds is not None:
        subject["ttl"] = ttl_seconds * 1000  # the spec counts milliseconds
    return {
        "@context": [VC_V2_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": format_datetime(valid_from),
        "validUntil": format_datetime(valid_until),
        "credentialSubject": subject,
    }


def read_status_list_credential(
    credential: Mapping[str, Any], *, purpose: str, max_bytes: int = MAX_DECODED_BYTES
) -> bytes:
    """The bits of a (verified) status list credential, checking its type and purpose.

    Raises:
        StatusListError: not a BitstringStatusListCredential, another purpose, or bad bits.
    """
    types = credential.get("type")
    if not isinstance(types, list) or "BitstringStatusListCredential" not in types:
        raise StatusListError("the status list is not a BitstringStatusListCredential")
    subject = credential.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
        raise StatusListError("the status list credential has no BitstringStatusList subject")
    if subject.get("statusPurpose") != purpose:
        raise StatusListError(
            f"the status list is for {_shown(subject.get('statusPurpose'))}, not {purpose!r}"
        )
    return decode_list(subject.get("encodedList"), max_bytes=max_bytes)
