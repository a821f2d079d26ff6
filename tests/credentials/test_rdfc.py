"""Tessera's RDFC-1.0 (credentials/rdfc.py) against the standard and an independent implementation.

The reference is pyld's URDNA2015 (pyld.canon), given the same dataset, with RDFC-1.0's
literal escaping put in place of pyld's older one (tests/helpers.py): the algorithms are
otherwise the same, so the outputs must match byte for byte, on any dataset, including those
whose blank nodes only Hash N-Degree Quads can tell apart.
"""

from __future__ import annotations

import random
from typing import Any
from unittest import mock

import pyld.nquads
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyld.canon import URDNA2015

from credentials import CanonicalizationError, canonicalize
from credentials.rdfc import canonical_nquads, escape_literal

from ..helpers import look_alike_results, make_credential, rdfc_escape, reference_canonical

IRIS = ["http://example.org/a", "http://example.org/b"]
PREDICATES = ["http://example.org/p", "http://example.org/q"]
LITERALS = ["", "x", "bell\x07", 'tab\tquote"', "del\x7f"]
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def _pyld_term(term: tuple[str, str]) -> dict[str, Any]:
    kind, value = term
    if kind == "literal":
        return {"type": "literal", "value": value, "datatype": XSD_STRING}
    return {"type": kind, "value": value}


def _ours(term: tuple[str, str]) -> str:
    kind, value = term
    if kind == "literal":
        return '"' + escape_literal(value) + '"'
    return value if kind == "blank node" else "<" + value + ">"


def reference(quads: set[tuple[tuple[str, str], str, tuple[str, str], str]]) -> str:
    """pyld's URDNA2015 of the dataset, with RDFC-1.0's literal escaping."""
    dataset: dict[str, list[dict[str, Any]]] = {}
    for subject, predicate, obj, graph in quads:
        dataset.setdefault(graph or "@default", []).append(
            {
                "subject": _pyld_term(subject),
                "predicate": {"type": "IRI", "value": predicate},
                "object": _pyld_term(obj),
            }
        )
    with mock.patch.object(pyld.nquads, "escape", rdfc_escape):
        return URDNA2015().main(dataset, {"format": "application/n-quads"})


def tessera(quads: set[tuple[tuple[str, str], str, tuple[str, str], str]]) -> str:
    return canonical_nquads(
        {
            (_ours(s), "<" + p + ">", _ours(o), "" if not g else (g if g[:2] == "_:" else f"<{g}>"))
            for s, p, o, g in quads
        },
        max_steps=10**7,
    )


@st.composite
def datasets(draw: st.DrawFn) -> set[tuple[tuple[str, str], str, tuple[str, str], str]]:
    """Small datasets whose blank nodes often look alike.

    A random pattern over a few blank nodes is copied two to four times (each copy with its
    own blank nodes), the copies are optionally joined in a ring or to a shared hub, and a
    few random quads are added: copies are told apart only by Hash N-Degree Quads, or not
    at all (automorphisms).
    """
    size = draw(st.integers(1, 3))
    pattern_nodes = [("blank node", f"_:p{i}") for i in range(size)]
    nodes = st.sampled_from(pattern_nodes + [("IRI", iri) for iri in IRIS])
    objects = st.one_of(nodes, st.sampled_from([("literal", text) for text in LITERALS]))
    graphs = st.sampled_from(
        ["", "", "http://example.org/g", *[value for _, value in pattern_nodes]]
    )
    pattern = draw(
        st.lists(
            st.tuples(nodes, st.sampled_from(PREDICATES), objects, graphs), min_size=1, max_size=5
        )
    )
    copies = draw(st.integers(2, 4))

    def copy(term: tuple[str, str], n: int) -> tuple[str, str]:
        return (term[0], f"{term[1]}c{n}") if term[0] == "blank node" else term

    def twin(term: tuple[str, str]) -> tuple[str, str]:
        return (term[0], term[1] + "t") if term[1].startswith("_:") else term

    quads = {
        (copy(s, n), p, copy(o, n), f"{g}c{n}" if g.startswith("_:") else g)
        for n in range(copies)
        for s, p, o, g in pattern
    }
    joined = draw(st.sampled_from(["apart", "ring", "hub"]))
    for n in range(copies):
        if joined == "ring":
            quads.add(
                (
                    copy(pattern_nodes[0], n),
                    PREDICATES[0],
                    copy(pattern_nodes[0], (n + 1) % copies),
                    "",
                )
            )
        elif joined == "hub":
            quads.add((("blank node", "_:hub"), PREDICATES[1], copy(pattern_nodes[0], n), ""))
    if draw(st.booleans()):  # and all of that twice: look-alike hubs with look-alike copies
        quads |= {
            (twin(s), p, twin(o), twin(("blank node", g))[1] if g else g) for s, p, o, g in quads
        }
    every = sorted({term for quad in quads for term in (quad[0], quad[2])})
    extra = st.tuples(
        st.sampled_from(every), st.sampled_from(PREDICATES), st.sampled_from(every), st.just("")
    )
    quads |= set(draw(st.lists(extra, max_size=3)))  # which may make look-alikes differ deeper
    return {quad for quad in quads if quad[0][0] != "literal"}


@settings(max_examples=300, deadline=None)
@given(datasets())
def test_any_dataset_canonicalizes_as_the_independent_implementation_does(quads):
    assert tessera(quads) == reference(quads)


@settings(max_examples=200, deadline=None)
@given(datasets(), st.randoms(use_true_random=False))
def test_renaming_blank_nodes_changes_nothing(quads, rng: random.Random):
    names = sorted(
        {term[1] for quad in quads for term in (quad[0], quad[2]) if term[0] == "blank node"}
        | {quad[3] for quad in quads if quad[3].startswith("_:")}
    )
    fresh = rng.sample([f"_:other{i}" for i in range(len(names))], len(names))
    renamed = dict(zip(names, fresh, strict=True))

    def rename(term: tuple[str, str]) -> tuple[str, str]:
        return (term[0], renamed[term[1]]) if term[0] == "blank node" else term

    relabelled = {(rename(s), p, rename(o), renamed.get(g, g)) for s, p, o, g in quads}

    assert tessera(relabelled) == tessera(quads)


def test_a_ring_of_look_alike_nodes_is_labelled_as_the_spec_example_shows():
    # Two identical two-node paths (RDFC-1.0 §A "Duplicate Paths"): only N-degree hashing
    # orders them, and the output names every node without depending on input labels.
    ex = "http://example.com/#"
    quads = {
        (("blank node", "_:e0"), ex + "p1", ("blank node", "_:e1"), ""),
        (("blank node", "_:e1"), ex + "p2", ("literal", "Foo"), ""),
        (("blank node", "_:e2"), ex + "p1", ("blank node", "_:e3"), ""),
        (("blank node", "_:e3"), ex + "p2", ("literal", "Foo"), ""),
    }

    out = tessera(quads)

    assert out == reference(quads)
    assert sorted(line.split(" ")[0] for line in out.splitlines()) == [
        "_:c14n0",
        "_:c14n1",
        "_:c14n2",
        "_:c14n3",
    ]


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("plain ∞ 陈 👷", "plain ∞ 陈 👷"),
        ('quote " and backslash \\', 'quote \\" and backslash \\\\'),
        ("tab\t lf\n cr\r", "tab\\t lf\\n cr\\r"),
        ("backspace\b formfeed\f", "backspace\\b formfeed\\f"),
        (
            "nul\x00 bell\x07 vt\x0b esc\x1b us\x1f",
            "nul\\u0000 bell\\u0007 vt\\u000B esc\\u001B us\\u001F",
        ),
        ("del\x7f", "del\\u007F"),
        ("c1 control \x80 nbsp\xa0", "c1 control \x80 nbsp\xa0"),
    ],
    ids=["unicode", "quote-backslash", "tab-lf-cr", "bs-ff", "other-c0", "del", "above-del"],
)
def test_literals_are_escaped_as_canonical_n_quads_says(text, canonical):
    assert escape_literal(text) == canonical
    document = make_credential()
    document["credentialSubject"]["name"] = text

    assert f'<https://schema.org/name> "{canonical}"' in canonicalize(document)


def _poisoned(levels: int) -> dict[str, Any]:
    document = make_credential()
    document["credentialSubject"]["achievement"]["resultDescription"] = look_alike_results(levels)
    return document


def test_a_few_look_alike_nodes_are_canonicalized():
    assert canonicalize(_poisoned(4)) == reference_canonical(_poisoned(4))


def test_a_poisoned_dataset_is_refused_not_worked_through():
    # Nine levels took pyld 75 s of CPU; one more level multiplies that by about ten.
    with pytest.raises(CanonicalizationError, match="too alike"):
        canonicalize(_poisoned(9))
    with pytest.raises(CanonicalizationError, match="too alike"):
        canonicalize(_poisoned(40))


@pytest.mark.parametrize("character", [*'<>"{}|^`\\', " ", "\t", "\x00", "\x1f"])
def test_an_iri_n_quads_cannot_write_as_it_is_is_refused(character):
    # Written raw, "https://e.org/a> <p" would read as two terms: two different documents
    # could share one canonical form, and so one signature. And pyld's RDF leaves out every
    # statement about a subject whose id has a space: a proof would not cover its claims.
    document = make_credential()
    document["credentialSubject"]["id"] = f"https://learners.example/amina{character}x"

    for _ in range(2):  # the second time through the cached shape
        with pytest.raises(CanonicalizationError, match=r"not (a )?valid IRI"):
            canonicalize(document)


@pytest.mark.parametrize(
    "where",
    ["predicate", "datatype", "type"],
)
def test_iris_from_anywhere_in_the_document_are_checked(where):
    document = make_credential()
    subject = document["credentialSubject"]
    if where == "predicate":
        subject["https://vocab.example/p>x"] = "value"
    elif where == "datatype":
        subject["name"] = {"@value": "Amina", "@type": "https://types.example/t>x"}
    else:
        subject["type"] = [*subject["type"], "https://types.example/T>x"]

    with pytest.raises(CanonicalizationError, match=r"not (a )?valid IRI"):
        canonicalize(document)


def test_a_property_that_is_a_blank_node_is_refused_not_left_unsigned():
    # pyld's RDF drops such statements, so a proof would not cover the claim.
    document = make_credential()
    document["credentialSubject"]["@context"] = {"secret": "_:p"}
    document["credentialSubject"]["secret"] = "claimed but never signed"

    with pytest.raises(CanonicalizationError, match="not valid IRIs: '_:p'"):
        canonicalize(document)


def test_a_language_tag_n_quads_cannot_write_is_refused():
    document = make_credential()
    document["credentialSubject"]["name"] = {"@value": "Amina", "@language": 'en" x'}

    with pytest.raises(CanonicalizationError, match="not a language tag"):
        canonicalize(document)


@pytest.mark.parametrize(
    "iri",
    [
        "https://learners.example/amina?x=1&y=%20#frag",
        "https://learners.example/zoë/陈",
        "urn:uuid:0b5a1c3e-7f38-4a8e-9d0c-2f7e1a9b6c41",
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    ],
)
def test_valid_iris_are_written_as_they_are(iri):
    document = make_credential()
    document["credentialSubject"]["id"] = iri

    assert f"<{iri}> " in canonicalize(document)
    assert canonicalize(document) == reference_canonical(document)


def _named(direction: str) -> dict[str, Any]:
    document = make_credential()
    document["credentialSubject"]["name"] = {
        "@value": "أمينة حداد",
        "@language": "ar",
        "@direction": direction,
    }
    return document


def test_a_texts_direction_is_part_of_what_is_signed():
    # JSON-LD's default would drop the direction from the RDF, and with it from the proof.
    rtl = canonicalize(_named("rtl"))

    assert '"أمينة حداد"^^<https://www.w3.org/ns/i18n#ar_rtl>' in rtl
    assert canonicalize(_named("ltr")) != rtl
    assert rtl == reference_canonical(_named("rtl"))
