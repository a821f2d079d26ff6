"""Bounds on untrusted structures, shared by every parser of ours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Deepest JSON nesting any credential, presentation or fetched document may have.
MAX_JSON_DEPTH = 64


def nesting_within(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if ``value`` (parsed JSON) nests objects and arrays at most ``limit`` deep.

    Iterative, so a hostile document cannot exhaust the stack while being measured.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True
