"""jsonschema_rs and jsonschema agree on hostile variations of real credentials.

``validate_open_badge`` trusts the Rust validator's "valid" (see credentials/schema.py); these
draw credentials with a member replaced, retyped, removed or added, and compare.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given

from credentials import SchemaValidationError, validate_open_badge
from tests.credentials.test_schema import PYTHON, RUST
from tests.helpers import make_credential, make_signer, signed_json

from .strategies import mutated_documents

UNSIGNED = make_credential()
SIGNED = signed_json(make_signer())


def jsonschema_valid(document: dict[str, Any]) -> bool:
    try:
        return bool(PYTHON.is_valid(document))
    except ValueError:  # an integer too long to word a problem about: refused, as before
        return False


def passes(document: dict[str, Any]) -> bool:
    try:
        validate_open_badge(document)
    except SchemaValidationError:
        return False
    return True


@given(mutated_documents(UNSIGNED))
def test_both_validators_agree_on_a_changed_credential(document: dict[str, Any]) -> None:
    assert RUST.is_valid(document) == jsonschema_valid(document)


@given(mutated_documents(SIGNED))
def test_both_validators_agree_on_a_changed_signed_credential(document: dict[str, Any]) -> None:
    assert RUST.is_valid(document) == jsonschema_valid(document)


@given(mutated_documents(UNSIGNED))
def test_the_check_passes_exactly_what_jsonschema_passes(document: dict[str, Any]) -> None:
    # Extreme values too: lone surrogates, integers beyond a double and beyond 4,300 digits.
    assert passes(document) == jsonschema_valid(document)
