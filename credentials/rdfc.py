"""RDF Dataset Canonicalization (RDFC-1.0) fast enough to issue thousands of credentials a second.

Canonicalizing a credential with pyld takes milliseconds: most of it expands the JSON-LD (the
contexts' term definitions, type-scoped contexts) and the rest runs the general RDFC-1.0
algorithm in pure Python. Yet the credentials one centre issues, or one verifier sees, come
in a handful of *shapes*: the same members, nesting, types and contexts, with only the strings
differing (names, ids, hashes, dates). This module does the expensive part once per shape:

1. :func:`skeleton` replaces every string that does not steer JSON-LD processing (anything
   but ``@context``, ``type``/``@type``, ``@language``, ``@direction``) with a sentinel, an
   absolute IRI that no document can contain. The skeleton is the shape's cache key.
2. The caller (``credentials.jsonld``) turns the skeleton into RDF with pyld, and
   :func:`compile_shape` records where each sentinel landed: as a whole literal (with its
   datatype or language) or as a whole IRI. A shape where a sentinel lands anywhere else (a
   type, a predicate, a datatype, inside a JSON literal) is not compiled, and the caller
   keeps using pyld for it.
3. :meth:`Shape.quads` puts a document's own strings back where their sentinels were. A
   string in an IRI position is accepted only when JSON-LD would keep it verbatim: an
   absolute IRI whose scheme is no term of the contexts (so it is not a compact IRI) and that
   is no term itself. Anything else (a relative IRI, a blank node id, a compact IRI) returns
   ``None``, and the caller uses pyld, which reports or resolves it as before.
4. :func:`canonical_nquads` runs RDFC-1.0 (https://www.w3.org/TR/rdf-canon/#canon-algorithm)
   on those quads when every blank node has a distinct first-degree hash, the case of every
   credential Tessera issues (steps 1 to 5 and 7 of §4.4.3); otherwise it returns ``None``
   and the caller runs pyld's full algorithm, Hash N-Degree Quads included.

The output is byte for byte what pyld's URDNA2015 produces for the same document, literal
escaping included (pyld escapes only backslash, tab, line feed, carriage return and double
quote); tests/credentials/test_fast_canonical.py checks this on varied credentials.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: A sentinel is ``SLOT_SCHEME://<n>``: absolute, and never read as a compact IRI ("//").
SLOT_SCHEME = f"tessera-slot-{secrets.token_hex(8)}"
_SLOT_PREFIX = f"{SLOT_SCHEME}://"

#: Members whose string values steer JSON-LD processing: kept in the skeleton as they are.
VERBATIM_MEMBERS = frozenset({"@context", "@type", "type", "@language", "@direction"})

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"

#: pyld's test for an absolute IRI (``_is_absolute_iri``), blank node ids left out.
_ABSOLUTE_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*):[^\s]*$")


class _Unsupported(Exception):
    """The document's shape is one this module leaves to pyld."""


def escape_literal(value: str) -> str:
    """A literal's lexical form as pyld writes it in N-Quads (``pyld.nquads.escape``)."""
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace('"', '\\"')
    )


def skeleton(
    document: Mapping[str, Any], keep: Collection[int] = ()
) -> tuple[dict[str, Any], list[str]] | None:
    """The document with its strings replaced by sentinels, and those strings in order.

    ``keep``: strings (counted as in a skeleton without ``keep``) to leave in place, such as
    a term in a vocabulary-relative position (``"proofPurpose": "assertionMethod"``), which
    cannot be put back as a verbatim IRI (see :meth:`Shape.unkept_iris`).

    Returns ``None`` for documents left to pyld: a ``@context`` anywhere but at the top, or
    one that is not a string or a list of strings (an embedded context could define terms
    that make an IRI position read a string differently).
    """
    values: list[str] = []
    seen = 0

    def walk(node: Any, member: str | None) -> Any:
        nonlocal seen
        if isinstance(node, str):
            if member in VERBATIM_MEMBERS:
                return node
            seen += 1
            if seen - 1 in keep:
                return node
            values.append(node)
            return f"{_SLOT_PREFIX}{len(values) - 1}"
        if isinstance(node, list):
            return [walk(item, member) for item in node]
        if isinstance(node, dict):
            if "@context" in node:
                raise _Unsupported()
            return {key: walk(value, key) for key, value in node.items()}
        return node

    context = document.get("@context")
    if not (
        isinstance(context, str)
        or (isinstance(context, list) and all(isinstance(c, str) for c in context))
    ):
        return None
    try:
        body = {key: walk(value, key) for key, value in document.items() if key != "@context"}
    except _Unsupported:
        return None
    return {"@context": context, **body}, values


def shape_key(skeleton_document: Mapping[str, Any]) -> str:
    """The cache key of a skeleton: its JSON, member order included."""
    return json.dumps(skeleton_document, ensure_ascii=False, separators=(",", ":"))


# -- compiled shapes ------------------------------------------------------------------------

_IRI = 0
_LITERAL = 1


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where a document's string goes in a quad: as a whole IRI, or a literal's lexical form."""

    index: int
    kind: int
    suffix: str  # '>' for an IRI; '"', '"@en' or '"^^<datatype>' for a literal


_Part = str | _Slot


@dataclass(frozen=True, slots=True)
class Shape:
    """The RDF quads of one document shape, with slots where its strings go."""

    quads: tuple[tuple[_Part, _Part, _Part, _Part], ...]
    iri_slots: frozenset[int]
    slot_count: int

    def render(self, values: Sequence[str], terms: Collection[str]) -> set[tuple[str, ...]] | None:
        """The document's quads, as N-Quads terms ``(subject, predicate, object, graph)``.

        Returns ``None`` when a string in an IRI position is not one JSON-LD keeps verbatim
        (``terms``: every term the contexts define), or when the document does not have
        this shape's number of strings.
        """
        if len(values) != self.slot_count:
            return None
        for index in self.iri_slots:
            if not _verbatim_iri(values[index], terms):
                return None
        rendered: set[tuple[str, ...]] = set()
        for quad in self.quads:
            rendered.add(
                tuple(
                    part
                    if isinstance(part, str)
                    else (
                        "<" + values[part.index] + part.suffix
                        if part.kind == _IRI
                        else '"' + escape_literal(values[part.index]) + part.suffix
                    )
                    for part in quad
                )
            )
        return rendered

    def unkept_iris(self, values: Sequence[str], terms: Collection[str]) -> set[int]:
        """The strings in IRI positions that JSON-LD would not keep verbatim."""
        return {i for i in self.iri_slots if not _verbatim_iri(values[i], terms)}


def _verbatim_iri(value: str, terms: Collection[str]) -> bool:
    """True when pyld expands ``value`` in an IRI position to ``value`` itself.

    That is an absolute IRI whose scheme is no term (else it is a compact IRI) and which is
    no term itself (a vocabulary-relative position would map it); never a blank node id.
    """
    match = _ABSOLUTE_IRI.match(value)
    if match is None or value in terms:
        return False
    return value[match.end(1) + 1 :].startswith("//") or match.group(1) not in terms


def compile_shape(
    dataset: Mapping[str, Iterable[Mapping[str, Any]]], slot_count: int
) -> Shape | None:
    """Compile pyld's RDF dataset of a skeleton (``jsonld.to_rdf`` output) into a ``Shape``.

    Returns ``None`` when a sentinel landed anywhere but as a whole literal or a whole IRI
    in a subject, object or graph position, or as the object of ``rdf:type``.
    """
    try:
        quads = []
        iri_slots: set[int] = set()
        for graph, triples in dataset.items():
            graph_part = "" if graph == "@default" else _constant_node(graph)
            for triple in triples:
                predicate = triple["predicate"]["value"]
                if SLOT_SCHEME in predicate:
                    raise _Unsupported()
                subject = _node_part(triple["subject"], iri_slots)
                obj = _object_part(triple["object"], iri_slots)
                if predicate == RDF_TYPE and isinstance(obj, _Slot):
                    raise _Unsupported()
                quads.append((subject, "<" + predicate + ">", obj, graph_part))
    except _Unsupported:
        return None
    return Shape(tuple(quads), frozenset(iri_slots), slot_count)


def _slot_index(value: str) -> int:
    if value.startswith(_SLOT_PREFIX) and value[len(_SLOT_PREFIX) :].isdigit():
        return int(value[len(_SLOT_PREFIX) :])
    raise _Unsupported()


def _constant_node(value: str) -> str:
    if SLOT_SCHEME in value:
        raise _Unsupported()
    return value if value.startswith("_:") else "<" + value + ">"


def _node_part(term: Mapping[str, Any], iri_slots: set[int]) -> _Part:
    value = str(term["value"])
    if term["type"] == "blank node":
        return value
    if SLOT_SCHEME in value:
        index = _slot_index(value)
        iri_slots.add(index)
        return _Slot(index, _IRI, ">")
    return "<" + value + ">"


def _object_part(term: Mapping[str, Any], iri_slots: set[int]) -> _Part:
    if term["type"] != "literal":
        return _node_part(term, iri_slots)
    value, datatype = str(term["value"]), str(term.get("datatype") or XSD_STRING)
    language = term.get("language")
    if SLOT_SCHEME in datatype or (language and SLOT_SCHEME in language):
        raise _Unsupported()
    if datatype == RDF_LANGSTRING:
        suffix = '"' + ("@" + language if language else "")
    elif datatype != XSD_STRING:
        suffix = '"^^<' + datatype + ">"
    else:
        suffix = '"'
    if SLOT_SCHEME in value:
        if datatype == RDF_JSON:
            raise _Unsupported()
        return _Slot(_slot_index(value), _LITERAL, suffix)
    return '"' + escape_literal(value) + suffix


# -- RDFC-1.0 -------------------------------------------------------------------------------


def _line(quad: Sequence[str]) -> str:
    return (
        f"{quad[0]} {quad[1]} {quad[2]} {quad[3]} .\n"
        if quad[3]
        else (f"{quad[0]} {quad[1]} {quad[2]} .\n")
    )


def hash_first_degree_quads(reference: str, quads: Iterable[Sequence[str]]) -> str:
    """Hash First Degree Quads (RDFC-1.0 §4.6): ``_:a`` for ``reference``, ``_:z`` for others."""
    lines = sorted(
        _line(
            [
                part
                if not part.startswith("_:") or n == 1
                else ("_:a" if part == reference else "_:z")
                for n, part in enumerate(quad)
            ]
        )
        for quad in quads
    )
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def canonical_nquads(quads: Collection[Sequence[str]]) -> str | None:
    """Canonical N-Quads of a dataset (RDFC-1.0 §4.4.3), or ``None`` when it needs N-degree hashing.

    ``quads`` are ``(subject, predicate, object, graph)`` N-Quads terms, ``graph`` empty for
    the default graph, without duplicates. When two blank nodes share a first-degree hash,
    telling them apart needs Hash N-Degree Quads (§4.8), which this function does not run:
    it returns ``None`` and the caller uses a complete implementation.
    """
    mentions: dict[str, list[Sequence[str]]] = {}
    for quad in quads:
        # Once per position, as pyld and the spec's "for each blank node in quad" do.
        for position in (0, 2, 3):
            if quad[position].startswith("_:"):
                mentions.setdefault(quad[position], []).append(quad)
    hashes = {node: hash_first_degree_quads(node, found) for node, found in mentions.items()}
    if len(set(hashes.values())) != len(hashes):
        return None
    canonical = {
        node: f"_:c14n{n}" for n, node in enumerate(sorted(hashes, key=hashes.__getitem__))
    }
    return "".join(
        sorted(
            _line([canonical.get(part, part) if n != 1 else part for n, part in enumerate(quad)])
            for quad in quads
        )
    )
