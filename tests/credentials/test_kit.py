"""Reading a verifier kit file: hostile files are refused with KitError, never a crash."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from credentials.kit import KitError, canonical_json, parse_kit_json, read_kit, verify_kit_signature

KIT_HEAD = '{"type": "TesseraVerifierKit", "version": 1, "issuer": "did:web:tessera.test"'


def test_a_kit_with_a_number_too_long_to_read_is_refused():
    # json.loads raises a plain ValueError (not JSONDecodeError) past 4,300 digits.
    with pytest.raises(KitError, match="not a JSON document"):
        parse_kit_json(KIT_HEAD + ', "issued": ' + "9" * 5000 + "}")


def test_a_kit_given_as_text_with_a_lone_surrogate_is_refused():
    with pytest.raises(KitError, match="not valid Unicode text"):
        parse_kit_json(KIT_HEAD + ', "name": "\ud800"}')


@pytest.mark.parametrize(
    "header", [b"[" * 10_000 + b"]" * 10_000, b'{"alg": ' + b"9" * 5000 + b"}"]
)
def test_a_signature_header_nested_too_deeply_or_with_a_huge_number_is_refused(header):
    protected = base64.urlsafe_b64encode(header).decode().rstrip("=")
    document = json.loads(KIT_HEAD + "}") | {
        "proof": {
            "type": "DetachedJws",
            "verificationMethod": "did:web:tessera.test#key-1",
            "jws": f"{protected}..AAAA",
        }
    }

    with pytest.raises(KitError, match="signature header is not JSON"):
        verify_kit_signature(document, ["z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"])


def test_a_kit_holding_text_with_a_lone_surrogate_cannot_be_canonicalized():
    # json.dumps(ensure_ascii=False) keeps the surrogate; encoding it as UTF-8 then raised.
    with pytest.raises(KitError, match="a value JSON cannot carry"):
        canonical_json({"type": "TesseraVerifierKit", "name": "\ud800"})


def test_a_kit_object_nested_too_deeply_is_refused():
    deep: object = "leaf"
    for _ in range(5_000):
        deep = [deep]
    document = json.loads(KIT_HEAD + "}") | {"issuers": deep}

    with pytest.raises(KitError, match="sensible depth"):
        read_kit(document, pins=[], now=datetime(2026, 1, 15, tzinfo=UTC))
