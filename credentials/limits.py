"""Bounds on untrusted structures, shared by every parser of ours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Deepest JSON nesting any credential, presentation or fetched document may have.
MAX_JSON_DEPTH = 64


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
