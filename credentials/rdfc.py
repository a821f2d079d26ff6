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
4. :func:`canonical_nquads` runs RDFC-1.0 (https://www.w3.org/TR/rdf-canon/) on those quads,
   or on the quads of any other document (:func:`dataset_quads` of pyld's ``to_rdf``
   output): first-degree hashes, and Hash N-Degree Quads for blank nodes whose first-degree
   hashes collide (the embedded credentials of a wallet share their achievement's criteria,
   say).

Three things differ from pyld's URDNA2015, all on purpose:

- **Literal escaping follows RDFC-1.0's canonical N-Quads** (appendix A): backspace, tab,
  line feed, form feed, carriage return, double quote and backslash as ``ECHAR``; every other
  character from U+0000 to U+001F and U+007F as ``\\uXXXX``. pyld escapes only backslash,
  tab, line feed, carriage return and double quote, as URDNA2015 did, so a literal with
  another control character canonicalizes differently there than in RDFC-1.0
  implementations such as Digital Bazaar's rdf-canonize (since 2023) and every verifier
  built on it. Tessera follows the standard.
- **Poisoned datasets are refused** (RDFC-1.0 §8.1 "Dataset Poisoning"): Hash N-Degree Quads
  tries every permutation of blank nodes it cannot tell apart, so a few hundred bytes of
  identical nested nodes can take minutes (two results with nine identical rubric levels
  each: 75 s in pyld). Work beyond :data:`STEPS_PER_BLANK_NODE` steps per blank node raises
  :class:`~credentials.errors.CanonicalizationError` instead.
- **IRIs and language tags are written only when N-Quads can hold them as they are**
  (:func:`iri_term`): an IRI holding ``> <`` would read as two terms, so two documents
  could share one canonical form. (``credentials.jsonld`` refuses such documents earlier,
  and those whose statements pyld's RDF would silently leave out.)

Everything else is byte for byte what pyld produces; tests/credentials/test_fast_canonical.py
and tests/credentials/test_rdfc.py check it against pyld with RDFC-1.0's escaping put in.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import CanonicalizationError

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


#: Canonical N-Quads (RDFC-1.0 appendix A): these as ECHAR, the rest of U+0000-U+001F and
#: U+007F as UCHAR with uppercase hexadecimal digits.
_ECHAR = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_ESCAPES = {chr(code): f"\\u{code:04X}" for code in (*range(0x20), 0x7F)} | _ECHAR
_ESCAPED = re.compile(r'[\x00-\x1f\x7f"\\]')


def escape_literal(value: str) -> str:
    """A literal's lexical form as canonical N-Quads writes it between its quotes."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value  # most text: no control character, quote or backslash
    return _ESCAPED.sub(_escape, value)


def _escape(found: re.Match[str]) -> str:
    return _ESCAPES[found.group()]


#: What N-Quads' IRIREF cannot hold unescaped, and no IRI holds at all (RFC 3987): spaces,
#: control characters and <>"{}|^`\\. Written raw, they would let two different datasets
#: share one serialization (an IRI ending in '> <' reads as two terms); RDFC-1.0 has no
#: escaping for IRIs that implementations agree on, so such IRIs are refused.
_NOT_IN_IRI = re.compile(r'[\x00-\x20<>"{}|^`\\]')
#: N-Quads' LANGTAG.
_LANGUAGE_TAG = re.compile(r"[a-zA-Z]+(?:-[a-zA-Z0-9]+)*\Z")


def is_absolute_iri(value: str) -> bool:
    """True for an absolute IRI that N-Quads can write as it is."""
    return _ABSOLUTE_IRI.match(value) is not None and _NOT_IN_IRI.search(value) is None


def iri_term(value: str) -> str:
    """``<value>``, for an IRI N-Quads can write as it is.

    Raises:
        CanonicalizationError: ``value`` holds a character no IRI may hold.
    """
    found = _NOT_IN_IRI.search(value)
    if found is not None:
        raise CanonicalizationError(
            f"{value[:80]!r} is not a valid IRI: it holds {found.group()!r} "
            '(spaces, control characters and <>"{}|^`\\ are not allowed in IRIs)'
        )
    return "<" + value + ">"


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
    if match is None or value in terms or _NOT_IN_IRI.search(value):
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
                quads.append((subject, iri_term(predicate), obj, graph_part))
    except (_Unsupported, CanonicalizationError):
        return None  # the document itself, turned into RDF afresh, says what is wrong
    return Shape(tuple(quads), frozenset(iri_slots), slot_count)


def _slot_index(value: str) -> int:
    if value.startswith(_SLOT_PREFIX) and value[len(_SLOT_PREFIX) :].isdigit():
        return int(value[len(_SLOT_PREFIX) :])
    raise _Unsupported()


def _constant_node(value: str) -> str:
    if SLOT_SCHEME in value:
        raise _Unsupported()
    return _node_term(value)


def _node_part(term: Mapping[str, Any], iri_slots: set[int]) -> _Part:
    value = str(term["value"])
    if term["type"] == "blank node":
        return value
    if SLOT_SCHEME in value:
        index = _slot_index(value)
        iri_slots.add(index)
        return _Slot(index, _IRI, ">")
    return iri_term(value)


def _object_part(term: Mapping[str, Any], iri_slots: set[int]) -> _Part:
    if term["type"] != "literal":
        return _node_part(term, iri_slots)
    value, datatype = str(term["value"]), str(term.get("datatype") or XSD_STRING)
    language = term.get("language")
    if SLOT_SCHEME in datatype or (language and SLOT_SCHEME in language):
        raise _Unsupported()
    suffix = _literal_suffix(datatype, language)
    if SLOT_SCHEME in value:
        if datatype == RDF_JSON:
            raise _Unsupported()
        return _Slot(_slot_index(value), _LITERAL, suffix)
    return '"' + escape_literal(value) + suffix


# -- RDFC-1.0 -------------------------------------------------------------------------------

#: Hash N-Degree Quads' work is counted in steps: a quad of the node it hashes, or a node in a
#: permutation it tries (about a microsecond each). Credentials and wallets need a step or two
#: per blank node (a 1,000-credential wallet: 9,000 steps for 6,002 blank nodes); a dataset
#: made to defeat the algorithm needs factorially many (two results with seven identical
#: levels each: 300,000 steps for 19 blank nodes). Beyond this many steps per blank node ...
STEPS_PER_BLANK_NODE = 64
#: ... plus this many for any dataset (some tens of milliseconds), a dataset is refused.
BASE_STEPS = 20_000

Quad = tuple[str, str, str, str]


def dataset_quads(dataset: Mapping[str, Iterable[Mapping[str, Any]]]) -> set[Quad]:
    """The quads of pyld's RDF dataset (``jsonld.to_rdf`` output) as canonical N-Quads terms.

    Each quad is ``(subject, predicate, object, graph)``, ``graph`` empty for the default
    graph; a set, as an RDF dataset is.
    """
    quads: set[Quad] = set()
    for graph, triples in dataset.items():
        graph_term = "" if graph == "@default" else _node_term(graph)
        for triple in triples:
            found = triple["object"]
            quads.add(
                (
                    _node_term(triple["subject"]["value"]),
                    iri_term(triple["predicate"]["value"]),
                    (
                        '"'
                        + escape_literal(str(found["value"]))
                        + _literal_suffix(found.get("datatype"), found.get("language"))
                        if found["type"] == "literal"
                        else _node_term(found["value"])
                    ),
                    graph_term,
                )
            )
    return quads


def _node_term(value: str) -> str:
    return value if value.startswith("_:") else iri_term(value)


def _literal_suffix(datatype: str | None, language: str | None) -> str:
    """What follows a literal's lexical form: its closing quote, language or datatype."""
    datatype = datatype or XSD_STRING
    if datatype == RDF_LANGSTRING:
        if language and not _LANGUAGE_TAG.match(language):
            raise CanonicalizationError(f"{language[:40]!r} is not a language tag (such as fr-CA)")
        return '"' + ("@" + language if language else "")
    if datatype != XSD_STRING:
        return '"^^' + iri_term(datatype)
    return '"'


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


class _Issuer:
    """An identifier issuer (RDFC-1.0 §4.5): blank node -> ``prefix`` + counter, in order."""

    __slots__ = ("issued", "prefix")

    def __init__(self, prefix: str, issued: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        self.issued: dict[str, str] = dict(issued or {})

    def issue(self, node: str) -> str:
        found = self.issued.get(node)
        if found is None:
            found = self.issued[node] = f"{self.prefix}{len(self.issued)}"
        return found

    def copy(self) -> _Issuer:
        return _Issuer(self.prefix, self.issued)


#: Positions a blank node can take in a quad, with the letter Hash Related Blank Node uses.
_POSITIONS = ((0, "s"), (2, "o"), (3, "g"))


class _Labelling:
    """The canonicalization state (RDFC-1.0 §4.3) and the Hash N-Degree Quads algorithm."""

    def __init__(self, mentions: Mapping[str, list[Sequence[str]]], max_steps: int) -> None:
        self.mentions = mentions
        self.first_degree = {
            node: hash_first_degree_quads(node, found) for node, found in mentions.items()
        }
        self.canonical = _Issuer("_:c14n")
        self.steps_left = max_steps

    def label(self) -> dict[str, str]:
        """Issue every blank node its canonical identifier (RDFC-1.0 §4.4.3, steps 3 to 5)."""
        by_hash: dict[str, list[str]] = {}
        for node, found in self.first_degree.items():
            by_hash.setdefault(found, []).append(node)
        shared = []
        for found in sorted(by_hash):
            if len(by_hash[found]) == 1:
                self.canonical.issue(by_hash[found][0])
            else:
                shared.append(by_hash[found])
        for nodes in shared:
            results = []
            for node in nodes:
                if node in self.canonical.issued:
                    continue
                issuer = _Issuer("_:b")
                issuer.issue(node)
                results.append(self.hash_n_degree_quads(node, issuer))
            for _, issuer in sorted(results, key=lambda result: result[0]):
                for existing in issuer.issued:
                    self.canonical.issue(existing)
        return self.canonical.issued

    def spend(self, steps: int) -> None:
        self.steps_left -= steps
        if self.steps_left < 0:
            raise CanonicalizationError(
                "the credential's blank nodes are too alike to canonicalize in reasonable "
                "time (identical nodes nested in identical nodes): refused, as RDFC-1.0 "
                "advises for such datasets; give the nodes ids or make them differ"
            )

    def hash_related_blank_node(
        self, related: str, quad: Sequence[str], issuer: _Issuer, position: str
    ) -> str:
        """Hash Related Blank Node (RDFC-1.0 §4.7)."""
        identifier = (
            self.canonical.issued.get(related)
            or issuer.issued.get(related)
            or self.first_degree[related]
        )
        data = position + (quad[1] if position != "g" else "") + identifier
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def hash_n_degree_quads(self, node: str, issuer: _Issuer) -> tuple[str, _Issuer]:
        """Hash N-Degree Quads (RDFC-1.0 §4.8): the hash, and the issuer of the chosen path."""
        self.spend(len(self.mentions[node]))
        related_by_hash: dict[str, list[str]] = {}
        for quad in self.mentions[node]:
            for index, position in _POSITIONS:
                related = quad[index]
                if related.startswith("_:") and related != node:
                    related_hash = self.hash_related_blank_node(related, quad, issuer, position)
                    related_by_hash.setdefault(related_hash, []).append(related)
        data = hashlib.sha256()
        for related_hash in sorted(related_by_hash):
            data.update(related_hash.encode("utf-8"))
            chosen_path = ""
            chosen_issuer = issuer
            for permutation in itertools.permutations(related_by_hash[related_hash]):
                self.spend(len(permutation))
                tried = self._path(permutation, issuer, chosen_path)
                if tried is not None and (not chosen_path or tried[0] < chosen_path):
                    chosen_path, chosen_issuer = tried
            data.update(chosen_path.encode("utf-8"))
            issuer = chosen_issuer
        return data.hexdigest(), issuer

    def _path(
        self, permutation: Sequence[str], issuer: _Issuer, chosen_path: str
    ) -> tuple[str, _Issuer] | None:
        """One permutation's path and issuer (§4.8.3 steps 5.4.1 to 5.4.5), or ``None``
        as soon as the path cannot beat ``chosen_path``."""

        def beaten(path: str) -> bool:
            return bool(chosen_path) and len(path) >= len(chosen_path) and path > chosen_path

        issuer_copy = issuer.copy()
        path = ""
        recursion = []
        for related in permutation:
            canonical = self.canonical.issued.get(related)
            if canonical is not None:
                path += canonical
            else:
                if related not in issuer_copy.issued:
                    recursion.append(related)
                path += issuer_copy.issue(related)
            if beaten(path):
                return None
        for related in recursion:
            found, issuer_copy = self.hash_n_degree_quads(related, issuer_copy)
            path += issuer_copy.issue(related) + "<" + found + ">"
            if beaten(path):
                return None
        return path, issuer_copy


def canonical_nquads(quads: Collection[Sequence[str]], *, max_steps: int | None = None) -> str:
    """The serialized canonical form of a dataset (RDFC-1.0 §4.4 and §5).

    ``quads`` are ``(subject, predicate, object, graph)`` canonical N-Quads terms, ``graph``
    empty for the default graph, without duplicates. ``max_steps`` bounds Hash N-Degree
    Quads (default: :data:`STEPS_PER_BLANK_NODE` per blank node plus :data:`BASE_STEPS`).

    Raises:
        CanonicalizationError: the dataset needs more steps than that (it is poisoned).
    """
    mentions: dict[str, list[Sequence[str]]] = {}
    for quad in quads:
        # Once per position, as the spec's "for each blank node in quad" and pyld do.
        for index, _ in _POSITIONS:
            if quad[index].startswith("_:"):
                mentions.setdefault(quad[index], []).append(quad)
    if max_steps is None:
        max_steps = BASE_STEPS + STEPS_PER_BLANK_NODE * len(mentions)
    canonical = _Labelling(mentions, max_steps).label()
    return "".join(
        sorted(
            _line([canonical.get(part, part) if n != 1 else part for n, part in enumerate(quad)])
            for quad in quads
        )
    )
