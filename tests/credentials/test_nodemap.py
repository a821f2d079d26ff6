"""pyld's node map merges values through indexes (credentials/nodemap.py): same RDF, less work."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyld import jsonld

from credentials import CredentialTooLargeError, canonicalize, frozen_document_loader, nodemap
from credentials.jsonld import canonicalize_in_full

from ..helpers import make_credential, reference_canonical

compare_values = nodemap._compare_values  # pyld's own, kept before install()

primitives = st.one_of(
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, -2.0, 1.5, float("nan")]),
    st.sampled_from(["", "1", "a", "true"]),
    st.none(),
)
values = st.one_of(
    primitives,
    st.fixed_dictionaries(
        {"@value": primitives},
        optional={
            "@type": st.sampled_from(["http://www.w3.org/2001/XMLSchema#string", "x:t"]),
            "@language": st.sampled_from(["en", "fr"]),
            "@index": st.sampled_from(["i", "j"]),
        },
    ),
    st.fixed_dictionaries({"@id": st.sampled_from(["_:b0", "_:b1", "https://e.org/1"])}),
    st.fixed_dictionaries({"@list": st.lists(primitives, max_size=2)}),
    st.just({"@value": {"json": True}}),
)


@settings(max_examples=2000, deadline=None)
@given(values, values)
def test_keys_are_equal_exactly_when_pyld_calls_the_values_equal(a, b):
    key_a, key_b = nodemap.merge_key(a), nodemap.merge_key(b)
    if key_a is not None and key_b is not None:
        assert (key_a == key_b) == compare_values(a, b)
    elif key_a is not None or key_b is not None:
        # A value without a key is compared one by one, and never equals one with a key.
        assert not compare_values(a, b)


def _with(tags: list[Any], alignments: list[str]) -> dict[str, Any]:
    document = make_credential()
    achievement = document["credentialSubject"]["achievement"]
    achievement["tag"] = tags
    achievement["alignment"] = [
        {"type": ["Alignment"], "targetName": "Skill", "targetUrl": url} for url in alignments
    ]
    return document


@settings(max_examples=60, deadline=None)
@given(
    tags=st.lists(st.sampled_from(["weld", "Weld", "weld ", "cut", "1", "true"]), max_size=60),
    alignments=st.lists(
        st.sampled_from([f"https://skills.example/{n}" for n in range(30)]), max_size=60
    ),
)
def test_long_lists_with_repeats_give_pyld_s_rdf(tags, alignments):
    document = _with(tags, alignments)

    assert canonicalize_in_full(document) == reference_canonical(document)


def test_a_value_repeated_in_a_long_list_is_merged_once():
    document = _with(["t"] * 40 + [f"t{n}" for n in range(40)] + ["t"], [])

    nquads = canonicalize(document)

    assert nquads.count('"t" ') == 1
    assert nquads == reference_canonical(document)


def _to_rdf(document: dict[str, Any]) -> dict[str, Any]:
    return jsonld.JsonLdProcessor().to_rdf(
        dict(document), {"documentLoader": frozen_document_loader}
    )


def test_thousands_of_values_are_merged_without_comparing_them_one_by_one():
    # pyld alone would compare 4.5 million pairs here (about eight seconds).
    document = _with([f"tag {n}" for n in range(3_000)], [])

    with nodemap.merging(max_comparisons=100):
        dataset = _to_rdf(document)

    tags = [
        t for t in dataset["@default"] if t["predicate"]["value"] == "https://schema.org/keywords"
    ]
    assert len(tags) == 3_000


def test_values_that_can_only_be_compared_one_by_one_are_counted_and_refused():
    document = make_credential()
    # JSON literals: pyld compares their values as objects, so they have no key.
    document["credentialSubject"]["achievement"]["tag"] = [
        {"@type": "@json", "@value": {"n": n}} for n in range(2_000)
    ]

    with pytest.raises(CredentialTooLargeError, match="repeats one property"):
        canonicalize(document)


def test_outside_merging_pyld_runs_its_own_code():
    subject = {"p": [{"@id": f"_:b{n}"} for n in range(100)]}

    assert jsonld.JsonLdProcessor.has_value(subject, "p", {"@id": "_:b7"})
    assert not jsonld.JsonLdProcessor.has_value(subject, "p", {"@id": "_:b100"})
