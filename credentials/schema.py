"""Validation against the official Open Badges 3.0 ``AchievementCredential`` JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft201909Validator

from .errors import SchemaValidationError

SCHEMA_FILE = "ob_v3p0_achievementcredential_schema.json"


@cache
def _validator() -> Draft201909Validator:
    text = (
        resources.files(__package__).joinpath("jsonschema").joinpath(SCHEMA_FILE).read_text("utf-8")
    )
    schema = json.loads(text)
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema)


def validate_open_badge(credential: Mapping[str, Any]) -> None:
    """Check ``credential`` against the OB 3.0 JSON Schema (draft 2019-09).

    Raises:
        SchemaValidationError: with one readable line per problem in ``problems``.
    """
    try:
        errors = sorted(_validator().iter_errors(dict(credential)), key=lambda e: list(e.path))
    except ValueError as e:
        # jsonschema words each problem with repr() of the value, and repr() of an integer
        # of more than 4,300 digits raises ValueError; no credential needs such a number.
        raise SchemaValidationError(
            "the credential does not match the Open Badges 3.0 schema",
            ["(document): it holds a number too long to check (more than 4,300 digits)"],
        ) from e
    if errors:
        problems = [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message[:300]}"
            for e in errors[:20]
        ]
        raise SchemaValidationError(
            f"the credential does not match the Open Badges 3.0 schema ({len(errors)} problem(s))",
            problems,
        )
