"""The verifier kit: any file gives a Kit or a KitError, and a changed kit never verifies."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from credentials.kit import (
    KitError,
    build_kit,
    canonical_json,
    fingerprint,
    issuer_entry,
    parse_kit_json,
    read_kit,
    sign_kit,
    status_list_entry,
)
from tests.helpers import ISSUER_DID, NOW, make_signer, signed_jwt

from .strategies import any_text, flipped, json_objects, json_text, mutated_documents, truncated

SIGNER = make_signer(did="did:web:tessera.test")
PINS = [fingerprint(SIGNER.public_key)]  # type: ignore[arg-type]
KIT = sign_kit(
    build_kit(
        signer_did="did:web:tessera.test",
        issuers=[
            issuer_entry(
                ISSUER_DID,
                "Northside Skills Centre",
                did_document={"id": ISSUER_DID, "verificationMethod": []},
                status_lists=[
                    status_list_entry("https://tessera.test/status/1", signed_jwt(SIGNER), NOW)
                ],
            )
        ],
        issued=NOW,
        valid_until=NOW + timedelta(days=30),
    ),
    SIGNER,
)
RAW = json.dumps(KIT).encode()


def read(raw: Any) -> object | None:
    try:
        return read_kit(raw, pins=PINS, now=NOW)
    except KitError:
        return None


def test_the_unchanged_kit_is_read() -> None:
    assert read(RAW) is not None and read(KIT) is not None


@given(st.binary(max_size=300) | any_text | json_objects().map(json_text))
def test_any_file_is_a_kit_or_a_declared_error(raw: bytes | str) -> None:
    with contextlib.suppress(KitError):
        parse_kit_json(raw)
    assert read(raw) is None


@given(mutated_documents(KIT))
def test_a_changed_kit_never_verifies(document: dict[str, Any]) -> None:
    """Readable only if everything signed (all but the proof) is as it was."""
    if read(document) is not None:
        assert canonical_json(document) == canonical_json(KIT)


@given(flipped(RAW) | truncated(RAW))
def test_a_damaged_kit_file_is_a_declared_error_or_the_same_kit(raw: bytes) -> None:
    if read(raw) is not None:
        assert canonical_json(json.loads(raw)) == canonical_json(KIT)
