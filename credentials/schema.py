"""Validation against the official Open Badges 3.0 ``AchievementCredential`` JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs
from jsonschema import Draft201909Validator

from .errors import SchemaValidationError
from .limits import MAX_JSON_DEPTH

SCHEMA_FILE = "ob_v3p0_achievementcredential_schema.json"
#: Integers from here on are left to jsonschema (a double ends here; see _plain_json).
_LARGE_INTEGER = 2**1023


@cache
def _schema() -> dict[str, Any]:
    text = (
        resources.files(__package__).joinpath("jsonschema").joinpath(SCHEMA_FILE).read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    Draft201909Validator.check_schema(schema)
    return schema


@cache
def _validator() -> Draft201909Validator:
    return Draft201909Validator(_schema())


@cache
def _fast_validator() -> jsonschema_rs.Draft201909Validator:
    # Formats are annotations only, as for the Python validator above (no format checker).
    return jsonschema_rs.Draft201909Validator(_schema(), validate_formats=False)


def _plain_json(value: Any) -> bool:
    """Whether ``value`` holds only what ``json.loads`` makes, at most MAX_JSON_DEPTH deep.

    Only such documents take the fast path, where both validators are known to agree:
    jsonschema_rs takes a tuple for an array, where jsonschema does not; its recursion is
    bounded by the native stack, not by Python's; and jsonschema refuses a document holding
    an integer too long to print, even where a ``oneOf`` branch that passes holds it.
    """
    level: list[Any] = [value]
    depth = 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return False
        below: list[Any] = []
        for node in level:
            kind = type(node)
            if kind is str or kind is bool or kind is float or node is None:
                continue
            if kind is int:
                if not -_LARGE_INTEGER < node < _LARGE_INTEGER:
                    return False
            elif kind is dict:
                if not all(type(key) is str for key in node):
                    return False
                below.extend(node.values())
            elif kind is list:
                below.extend(node)
            else:  # a tuple, a subclass: anything json.loads does not make
                return False
        level = below
    return True


def _fast_valid(credential: dict[str, Any]) -> bool:
    """jsonschema_rs's answer when it is "valid"; False means "ask jsonschema".

    Checking with jsonschema costs about 2 ms a credential, most of a verification; the Rust
    validator takes microseconds. It answers only for valid credentials: the problems of an
    invalid one are still worded by jsonschema, so what people read does not change.
    """
    if not _plain_json(credential):
        return False
    try:
        return _fast_validator().is_valid(credential)
    except ValueError:  # text it cannot encode (a lone surrogate), and the like
        return False


def warm() -> None:
    """Compile both validators now (about 0.3 s), not during the first verification."""
    _validator()
    _fast_validator()


def validate_open_badge(credential: Mapping[str, Any]) -> None:
    """Check ``credential`` against the OB 3.0 JSON Schema (draft 2019-09).

    Raises:
        SchemaValidationError: with one readable line per problem in ``problems``.
    """
    document = dict(credential)
    if _fast_valid(document):
        return
    try:
        errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.path))
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
