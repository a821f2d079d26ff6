"""Bounds on untrusted structures, shared by every parser of ours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Deepest JSON nesting any credential, presentation or fetched document may have.
MAX_JSON_DEPTH = 64

#: Most JSON values (members' names, values and array items) one credential may hold. Turning
#: JSON-LD into RDF costs pyld about 50 µs a value, so this keeps a credential's check under
#: about a second; an Open Badges credential holds a few hundred (Tessera's: about 150), one
#: with a large rubric or a few endorsements some thousands.
MAX_CREDENTIAL_VALUES = 20_000

#: Values a CLR wallet or a presentation may hold per credential in it (Tessera's hold about
#: 105 each) ...
VALUES_PER_HELD_CREDENTIAL = 250
#: ... plus these for the wallet or presentation itself.
BUNDLE_VALUES = 2_000


def most_bundle_values(held: int) -> int:
    """The most JSON values a wallet or presentation holding ``held`` credentials may have."""
    return BUNDLE_VALUES + VALUES_PER_HELD_CREDENTIAL * held


def nesting_within(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if ``value`` (parsed JSON) nests objects and arrays at most ``limit`` deep.

    Walks one level at a time, without recursion, so a hostile document cannot exhaust the
    stack while being measured; every verification measures its credential, so strings and
    numbers (most of a document) are passed over with one type look-up each.
    """
    level: list[Any] = [value]
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return False
        below: list[Any] = []
        for node in level:
            kind = type(node)
            if kind in _LEAVES:
                continue
            if kind is dict or isinstance(node, Mapping):
                below.extend(node.values())
            elif kind is list or isinstance(node, list):
                below.extend(node)
        level = below
    return True


#: What json.loads makes that holds nothing.
_LEAVES = frozenset({str, int, float, bool, type(None)})


def values_within(value: Any, limit: int) -> bool:
    """True if ``value`` (parsed JSON) holds at most ``limit`` values: members' names and
    values, array items, and the value itself. Stops counting as soon as it is over."""
    stack: list[Any] = [value]
    left = limit
    while stack:
        node = stack.pop()
        left -= 1
        if left < 0:
            return False
        kind = type(node)
        if kind in _LEAVES:
            continue
        if kind is dict or isinstance(node, Mapping):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif kind is list or isinstance(node, list):
            stack.extend(node)
    return True
