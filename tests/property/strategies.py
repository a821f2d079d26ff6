"""Hypothesis strategies for hostile input: JSON trees, unicode, byte flips, cut-offs.

Everything here builds values a stranger could send: what ``json.loads`` can return (NaN,
infinities, lone surrogates, integers of hundreds of digits), and mutations of real signed
credentials, so the search starts from inputs that get past the first checks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

#: Member names a credential uses, so random trees reach the code that reads them.
CREDENTIAL_MEMBERS = (
    "@context",
    "@id",
    "@type",
    "id",
    "type",
    "issuer",
    "name",
    "validFrom",
    "validUntil",
    "issuanceDate",
    "expirationDate",
    "credentialSubject",
    "credentialStatus",
    "statusListIndex",
    "statusListCredential",
    "statusPurpose",
    "achievement",
    "proof",
    "cryptosuite",
    "proofValue",
    "verificationMethod",
    "created",
    "verifiableCredential",
    "encodedList",
)

#: Any character Python strings can hold, lone surrogates included (json.loads makes them).
any_character = st.characters(exclude_categories=())
any_text = st.text(any_character, max_size=40)
#: Integers beyond a double (2**1024), and beyond Python's int-to-str limit (4,300 digits).
#: Built by ``map`` because Hypothesis cannot print a strategy holding the longest one.
huge_integers = st.sampled_from([(1, 2, 53), (1, 10, 400), (-1, 10, 400), (1, 10, 4400)]).map(
    lambda sign_base_exponent: (
        sign_base_exponent[0] * sign_base_exponent[1] ** sign_base_exponent[2] + 1
    )
)
json_keys = st.one_of(st.sampled_from(CREDENTIAL_MEMBERS), st.text(max_size=20))


def json_leaves() -> st.SearchStrategy[Any]:
    """Any JSON scalar, integers beyond a double and lone surrogates included."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        huge_integers,
        st.floats(allow_nan=True, allow_infinity=True),
        any_text,
        st.sampled_from(["", "VerifiableCredential", "did:web:x", "2026-01-15T09:30:00Z", "u"]),
    )


def json_trees(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value, nested a few levels, with credential member names among the keys."""
    return st.recursive(
        json_leaves(),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def json_objects() -> st.SearchStrategy[dict[str, Any]]:
    """Any JSON object."""
    return st.dictionaries(json_keys, json_trees(), max_size=8)


def json_text(document: Any) -> str:
    """``document`` as JSON text; ``{}`` when it holds an integer too long to print."""
    try:
        return json.dumps(document, ensure_ascii=False)
    except ValueError:
        return "{}"


def nested(depth: int, leaf: Any = 1) -> Any:
    """``leaf`` inside ``depth`` levels of alternating arrays and objects."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


# -- mutating a real document ---------------------------------------------------------------

Path = tuple[Any, ...]


def paths(document: Any, prefix: Path = ()) -> list[Path]:
    """Every path to a member or array item of ``document`` (the root excluded)."""
    found: list[Path] = []
    items = (
        document.items()
        if isinstance(document, dict)
        else enumerate(document)
        if isinstance(document, list)
        else ()
    )
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths(value, (*prefix, key)))
    return found


def replaced(document: Any, path: Path, change: Callable[[Any], Any]) -> Any:
    """A copy of ``document`` with the value at ``path`` replaced by ``change(old)``.

    ``change`` may return ``DELETE`` to remove the member or item instead.
    """
    if not path:
        return change(document)
    key, rest = path[0], path[1:]
    if isinstance(document, dict):
        copy = dict(document)
        new = replaced(document[key], rest, change)
        if new is DELETE:
            del copy[key]
        else:
            copy[key] = new
        return copy
    items = list(document)
    new = replaced(items[key], rest, change)
    if new is DELETE:
        del items[key]
    else:
        items[key] = new
    return items


DELETE = object()


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values (``True`` is not ``1``; NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@st.composite
def mutated_documents(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with one member replaced (by another type, too), removed, or added to."""
    path = draw(st.sampled_from(paths(document)))
    kind = draw(st.sampled_from(["replace", "retype", "delete", "add"]))
    if kind == "delete":
        result = replaced(document, path, lambda _old: DELETE)
    elif kind == "add":
        key, value = draw(json_keys), draw(json_trees(8))
        result = replaced(
            document,
            path,
            lambda old: {**old, key: value} if isinstance(old, dict) else [*_as_list(old), value],
        )
    else:
        value = draw(json_trees(8) if kind == "replace" else _other_types())
        result = replaced(document, path, lambda _old: value)
    return dict(result)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _other_types() -> st.SearchStrategy[Any]:
    """A value of each JSON type, so every member is also tried with the wrong type."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        huge_integers,
        st.floats(),
        any_text,
        st.lists(json_leaves(), max_size=3),
        st.dictionaries(json_keys, json_leaves(), max_size=3),
    )


@st.composite
def flipped(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one to three bytes changed (XORed with a non-zero mask)."""
    changed = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(changed) - 1))
        changed[at] ^= draw(st.integers(1, 255))
    return bytes(changed)


@st.composite
def truncated(draw: st.DrawFn, data: bytes) -> bytes:
    """A proper prefix of ``data``."""
    return data[: draw(st.integers(0, len(data) - 1))]
