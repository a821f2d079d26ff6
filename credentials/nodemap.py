"""Linear-time, bounded merging of values in pyld's node map.

Turning JSON-LD into RDF, pyld gathers every node's values property by property, and adds a
value only after comparing it with each value the property already holds
(``JsonLdProcessor.has_value``): n values cost n(n-1)/2 comparisons of about 1.75 µs each.
That is quadratic in what a document sends. 20,000 alignments in a 1.7 MB credential kept
pyld busy for 75 s, before any signature is checked; and legitimately, a 1,000-credential
CLR wallet (whose credentials share their achievement node) needed 1.5 million comparisons,
2.6 s of its 3.9 s.

Once :func:`install` has run (``credentials.jsonld`` runs it), inside :func:`merging`,
``has_value`` answers from an index of each long value list instead
(a set of keys that are equal exactly when pyld's ``compare_values`` says the values are),
kept up to date with the values appended since it last looked. A hit is confirmed the way
pyld would, so the answer is pyld's; what cannot be indexed (a ``@list`` object, a value that
is not hashable) is compared one by one as before, and those comparisons are counted: beyond
:data:`MAX_COMPARISONS` the document is refused. Outside :func:`merging`, in any other
thread, or for short lists, pyld runs its own code.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyld.jsonld import JsonLdProcessor

from .errors import CredentialTooLargeError

#: Value lists shorter than this are compared one by one (cheaper than an index).
SHORT_LIST = 16
#: One-by-one comparisons allowed per document (about a second of pyld's time).
MAX_COMPARISONS = 500_000

_compare_values = JsonLdProcessor.compare_values
_pyld_has_value = JsonLdProcessor.has_value
_state = threading.local()


class _Index:
    __slots__ = ("keys", "seen", "values")

    def __init__(self, values: list[Any]) -> None:
        self.values = values  # the very list, so a recycled id() is never mistaken for it
        self.keys: set[Any] = set()
        self.seen = 0


class _Merging:
    def __init__(self, max_comparisons: int) -> None:
        self.indexes: dict[int, _Index] = {}
        self.comparisons_left = max_comparisons

    def compare_each(self, values: list[Any], value: Any) -> bool:
        self.comparisons_left -= len(values)
        if self.comparisons_left < 0:
            raise CredentialTooLargeError(
                "the credential repeats one property too many times to process "
                f"(more than {MAX_COMPARISONS:,} value comparisons); it cannot be checked"
            )
        return any(_compare_values(value, existing) for existing in values)

    def index_of(self, values: list[Any]) -> _Index:
        index = self.indexes.get(id(values))
        if index is None or index.values is not values or index.seen > len(values):
            index = self.indexes[id(values)] = _Index(values)
        for value in values[index.seen :]:
            key = merge_key(value)
            if key is not None:
                index.keys.add(key)
        index.seen = len(values)
        return index


def merge_key(value: Any) -> Any:
    """A hashable key, equal for two values exactly when pyld's ``compare_values`` calls them
    equal; ``None`` for a value it can only compare one by one (an object without ``@id``
    or ``@value``, a value that is not hashable, NaN)."""
    if not isinstance(value, dict):
        return _primitive_key(value)
    if "@value" in value:
        literal = _primitive_key(value["@value"])
        if literal is None:
            return None
        key: Any = ("v", value.get("@type"), value.get("@language"), value.get("@index"), literal)
    elif value.get("@id") is not None:
        key = ("i", value["@id"])
    else:
        return None
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _primitive_key(value: Any) -> Any:
    if isinstance(value, bool):
        return ("b", value)  # pyld never equates True with 1
    if isinstance(value, str | int) or value is None:
        return ("p", value)
    if isinstance(value, float) and not math.isnan(value):
        return ("p", value)  # 1.0 == 1, as in pyld
    return None


def _has_value(subject: Any, property: str, value: Any) -> bool:
    merging: _Merging | None = getattr(_state, "merging", None)
    values = subject.get(property) if isinstance(subject, dict) else None
    if merging is None or type(values) is not list:
        return bool(_pyld_has_value(subject, property, value))
    if len(values) < SHORT_LIST:
        return any(_compare_values(value, existing) for existing in values)
    key = merge_key(value)
    if key is None:
        return merging.compare_each(values, value)
    if key not in merging.index_of(values).keys:
        return False
    # Confirm a hit the way pyld would, in case pyld changed the list other than by appending
    # (hits are rare: a value repeated, and a repeated value does not lengthen the list).
    return merging.compare_each(values, value)


@contextmanager
def merging(max_comparisons: int = MAX_COMPARISONS) -> Iterator[None]:
    """Within this block, pyld's node map merges values through indexes, in this thread.

    Raises:
        CredentialTooLargeError: more one-by-one comparisons than ``max_comparisons``.
    """
    outer = getattr(_state, "merging", None)
    _state.merging = _Merging(max_comparisons)
    try:
        yield
    finally:
        _state.merging = outer


def install() -> None:
    """Put :func:`_has_value` in pyld's place (once per process; pyld's own code runs
    wherever :func:`merging` is not in force)."""
    if JsonLdProcessor.has_value is not _has_value:
        JsonLdProcessor.has_value = staticmethod(_has_value)
