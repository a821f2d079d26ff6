"""The JSON Schema check answers as jsonschema alone did, with jsonschema_rs in front.

``validate_open_badge`` asks jsonschema_rs first and jsonschema only for a credential the
Rust validator refuses, so the problems people read are worded as before. Both must agree on
what is valid: a credential jsonschema refuses passing the Rust validator would change a
verdict.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from importlib import resources
from typing import Any

import jsonschema_rs
import pytest
from jsonschema import Draft201909Validator

from credentials import SchemaValidationError, validate_open_badge
from credentials.limits import MAX_JSON_DEPTH

from ..helpers import make_credential, make_signer, signed_json

SCHEMA = json.loads(
    resources.files("credentials")
    .joinpath("jsonschema/ob_v3p0_achievementcredential_schema.json")
    .read_text("utf-8")
)
PYTHON = Draft201909Validator(SCHEMA)
RUST = jsonschema_rs.Draft201909Validator(SCHEMA, validate_formats=False)


def problems_of(credential: dict[str, Any]) -> list[str] | None:
    """What validate_open_badge says of ``credential``: None when it passes."""
    try:
        validate_open_badge(credential)
    except SchemaValidationError as e:
        return e.problems
    return None


def jsonschema_problems(credential: dict[str, Any]) -> list[str] | None:
    """The same, from jsonschema alone (as validate_open_badge words them)."""
    errors = sorted(PYTHON.iter_errors(credential), key=lambda e: list(e.path))
    if not errors:
        return None
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message[:300]}"
        for e in errors[:20]
    ]


def with_evidence(credential: dict[str, Any]) -> dict[str, Any]:
    credential["evidence"] = [
        {"id": "https://tessera.test/evidence/1", "type": ["Evidence"], "name": "Bend test"}
    ]
    return credential


VALID = {
    "unsigned": make_credential(),
    "signed": signed_json(make_signer()),
    "with an expiry": make_credential(validUntil="2031-01-15T09:30:00Z"),
    "with evidence": with_evidence(make_credential()),
    "with a status entry": make_credential(
        credentialStatus={
            "id": "https://tessera.test/orgs/northside/status/1#7",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "7",
            "statusListCredential": "https://tessera.test/orgs/northside/status/1",
        }
    ),
}


@pytest.mark.parametrize("credential", VALID.values(), ids=VALID.keys())
def test_valid_credentials_pass_both_validators(credential):
    assert RUST.is_valid(credential)
    assert PYTHON.is_valid(credential)
    assert problems_of(credential) is None


def _achievement(credential: dict[str, Any]) -> dict[str, Any]:
    return credential["credentialSubject"]["achievement"]  # type: ignore[no-any-return]


INVALID = {
    "no validFrom": lambda c: c.pop("validFrom"),
    "no OpenBadgeCredential type": lambda c: c.update(type=["VerifiableCredential"]),
    "no OB context": lambda c: c.update({"@context": ["https://www.w3.org/ns/credentials/v2"]}),
    "no criteria": lambda c: _achievement(c).pop("criteria"),
    "unknown achievement type": lambda c: _achievement(c).update(achievementType="Job"),
    "proof without its members": lambda c: c.update(proof={"type": "DataIntegrityProof"}),
    "issuer a number": lambda c: c.update(issuer=7),
    "subject a string": lambda c: c.update(credentialSubject="amina"),
    "type not a list of strings": lambda c: c.update(type=[1, 2]),
    "evidence without a type": lambda c: c.update(evidence=[{"id": "urn:x"}]),
    "status entry without a type": lambda c: c.update(credentialStatus={"id": "urn:x"}),
    "alignment without a target": lambda c: _achievement(c).update(alignment=[{"type": []}]),
    "several problems at once": lambda c: (c.pop("issuer"), c.pop("credentialSubject")),
}


@pytest.mark.parametrize("change", INVALID.values(), ids=INVALID.keys())
def test_invalid_credentials_fail_both_validators_with_the_same_problems(change):
    credential = make_credential()
    change(credential)
    assert not RUST.is_valid(credential)
    assert not PYTHON.is_valid(credential)
    found = problems_of(credential)
    assert found is not None and found == jsonschema_problems(credential)


def test_a_tuple_is_not_an_array_to_jsonschema_and_is_still_refused():
    # jsonschema_rs takes a tuple for an array; jsonschema, whose word counts, does not.
    credential = make_credential(type=("VerifiableCredential", "OpenBadgeCredential"))
    assert RUST.is_valid(credential)
    assert problems_of(credential) == jsonschema_problems(credential)


def test_a_context_url_with_a_trailing_newline_passes_as_before():
    # Python's "$" matches before a final newline, Rust's does not: jsonschema decides.
    credential = make_credential()
    credential["@context"][1] += "\n"
    assert not RUST.is_valid(credential)
    assert problems_of(credential) is None


def test_a_very_long_integer_is_still_a_problem_even_where_the_schema_allows_anything():
    # jsonschema refuses to word a problem about it inside a oneOf, and so refused it before.
    credential = make_credential()
    credential["issuer"]["extra"] = [10**5000]
    problems = problems_of(credential)
    assert problems is not None and "number too long" in problems[0]


def test_a_document_nested_deeper_than_any_credential_gets_jsonschemas_answer():
    credential = make_credential()
    deep: Any = "x"
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = {"a": deep}
    credential["issuer"]["extra"] = deep
    assert problems_of(credential) == jsonschema_problems(credential)


@pytest.mark.parametrize("valid", [True, False], ids=["valid", "invalid"])
def test_a_credential_held_in_other_mapping_types_gets_jsonschemas_answer(valid):
    # Only what json.loads makes takes the fast path; an OrderedDict is checked by jsonschema.
    credential = make_credential()
    if not valid:
        credential.pop("validFrom")
    ordered = OrderedDict(credential)
    ordered["issuer"] = OrderedDict(credential["issuer"])
    assert problems_of(ordered) == jsonschema_problems(credential)
    assert (problems_of(ordered) is None) is valid
