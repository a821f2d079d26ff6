"""nesting_within: the depth bound every parser of ours applies to parsed JSON."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given

from credentials.limits import MAX_JSON_DEPTH, nesting_within, values_within
from tests.property.strategies import json_trees


def nested(depth: int, kind: str) -> Any:
    """A value whose objects/arrays nest exactly ``depth`` deep (0: a bare string)."""
    value: Any = "leaf"
    for level in range(depth):
        if kind == "object" or (kind == "mixed" and level % 2):
            value = {"member": value, "other": level}
        else:
            value = [level, value, None]
    return value


def depth_of(value: Any) -> int:
    """The reference: recursion, plainly (only for the small trees drawn here)."""
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 1


@pytest.mark.parametrize("kind", ["object", "array", "mixed"])
def test_exactly_at_the_limit_passes_and_one_deeper_does_not(kind):
    assert nesting_within(nested(MAX_JSON_DEPTH - 1, kind))  # scalars count as a level
    assert not nesting_within(nested(MAX_JSON_DEPTH, kind))
    assert nesting_within(nested(9, kind), 10)
    assert not nesting_within(nested(10, kind), 10)


@pytest.mark.parametrize("value", ["text", 7, 2.5, True, None, {}, []])
def test_a_scalar_or_an_empty_container_is_within_any_limit(value):
    assert nesting_within(value, 1)


def test_a_hostile_depth_is_measured_without_exhausting_the_stack():
    assert not nesting_within(nested(200_000, "array"))


def test_other_mappings_are_measured_like_objects():
    assert not nesting_within(OrderedDict(a=OrderedDict(b=[1])), 3)
    assert nesting_within(OrderedDict(a=OrderedDict(b=[1])), 4)


@given(json_trees(max_leaves=40))
def test_agrees_with_a_recursive_reference(tree: Any) -> None:
    depth = depth_of(tree)
    assert nesting_within(tree, depth)
    assert not nesting_within(tree, depth - 1)


def count_values(value: Any) -> int:
    """The reference for values_within: recursion, plainly."""
    if isinstance(value, dict):
        return 1 + sum(1 + count_values(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(count_values(v) for v in value)
    return 1


@given(json_trees(max_leaves=40))
def test_values_are_counted_as_a_recursive_reference_counts_them(tree: Any) -> None:
    count = count_values(tree)
    assert values_within(tree, count)
    assert not values_within(tree, count - 1)


def test_counting_stops_as_soon_as_it_is_over():
    assert not values_within(["x"] * 10_000_000, 100)  # a bounded walk, not a full one
    assert values_within({"a": [1, 2], "b": {"c": None}}, 9)
    assert not values_within({"a": [1, 2], "b": {"c": None}}, 8)
