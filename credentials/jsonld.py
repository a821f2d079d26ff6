"""JSON-LD processing over bundled contexts only.

The document loader here is *frozen*: it serves the contexts shipped in ``contexts/`` under
their canonical URLs and refuses everything else. A credential can therefore never make
Tessera fetch a URL, and the bytes a signature covers cannot change because some remote
context changed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import Any

from cachetools import LRUCache
from pyld import jsonld
from pyld.context_resolver import ContextResolver

from . import nodemap, rdfc
from .errors import (
    CanonicalizationError,
    CredentialError,
    UndefinedTermError,
    UnknownContextError,
)
from .rdfc import Shape

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VC_V1_CONTEXT = "https://www.w3.org/2018/credentials/v1"
OB_V3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
DATA_INTEGRITY_V2_CONTEXT = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1_CONTEXT = "https://w3id.org/security/multikey/v1"

#: URL -> bundled file. The only documents the loader will ever return.
BUNDLED_CONTEXTS: Mapping[str, str] = {
    VC_V2_CONTEXT: "credentials-v2.jsonld",
    VC_V1_CONTEXT: "credentials-v1.jsonld",
    DATA_INTEGRITY_V2_CONTEXT: "data-integrity-v2.jsonld",
    MULTIKEY_V1_CONTEXT: "multikey-v1.jsonld",
    OB_V3_CONTEXT: "context-3.0.3.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json": "context-3.0.2.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json": "context-3.0.1.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context.json": "context-3.0.0.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json": "ob-v3p0-extensions.json",
    "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json": "clr-context-2.0.1.json",
}

# VC 2.0 maps otherwise undefined terms into this vocabulary (its @vocab). Tessera treats
# such a term as undefined: a signed claim whose meaning no context fixes is not accepted.
_ISSUER_DEPENDENT_VOCAB = "https://www.w3.org/ns/credentials/issuer-dependent#"
_PYLD_BASE = jsonld.DEFAULT_BASE_IRI

#: A text's base direction ("@direction": "rtl") becomes part of its RDF literal's datatype
#: (``https://www.w3.org/ns/i18n#ar_rtl``), so a proof covers it. JSON-LD's default drops the
#: direction from the RDF, leaving it unsigned; Digital Bazaar's Data Integrity libraries
#: (jsonld-signatures 11.5 and later, the eddsa-rdfc-2022 cryptosuite) use this form too.
RDF_DIRECTION = "i18n-datatype"

# pyld merges a node's values in quadratic time; within nodemap.merging() (wherever this
# module turns a document into RDF) it does so through indexes, bounded.
nodemap.install()


@cache
def _bundled_documents() -> dict[str, dict[str, Any]]:
    folder = resources.files(__package__).joinpath("contexts")
    return {
        url: json.loads(folder.joinpath(filename).read_text("utf-8"))
        for url, filename in BUNDLED_CONTEXTS.items()
    }


class FrozenDocumentLoader:
    """A JSON-LD document loader over a fixed set of documents. It never fetches.

    Each loader keeps its own cache of processed contexts (pyld's default cache is shared
    by the whole process and keyed by URL alone), and of the document shapes compiled for
    the fast canonicalization path (credentials/rdfc.py), which depend on its documents.
    """

    #: Shapes kept per loader. A miss costs what canonicalizing with pyld costs, so a stream
    #: of ever-new shapes (untrusted input) is no slower than it was without the cache.
    MAX_SHAPES = 256

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self._documents = {url: dict(doc) for url, doc in documents.items()}
        self._context_cache: LRUCache[str, Any] = LRUCache(maxsize=64)
        self._shapes: LRUCache[str, Shape | None] = LRUCache(maxsize=self.MAX_SHAPES)
        self._shapes_lock = threading.Lock()
        self._terms: frozenset[str] | None = None

    def __call__(self, url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the document for ``url``.

        Raises:
            UnknownContextError: ``url`` is not one of the loader's documents.
        """
        if url not in self._documents:
            raise UnknownContextError(f"JSON-LD context {url!r} is not one Tessera knows")
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": self._documents[url],
        }

    def with_documents(self, extra: Mapping[str, Mapping[str, Any]]) -> FrozenDocumentLoader:
        """A new loader serving these documents as well (still never fetching)."""
        return FrozenDocumentLoader({**self._documents, **extra})

    def context_resolver(self) -> ContextResolver:
        return ContextResolver(self._context_cache, self)

    def terms(self) -> frozenset[str]:
        """Every term any of the loader's contexts defines, scoped contexts included."""
        if self._terms is None:
            self._terms = frozenset(_defined_terms(list(self._documents.values())))
        return self._terms

    def shape(self, skeleton: Mapping[str, Any], slot_count: int) -> Shape | None:
        """The compiled shape of a skeleton (see credentials/rdfc.py), compiled on first use."""
        key = rdfc.shape_key(skeleton)
        with self._shapes_lock:
            if key in self._shapes:
                return self._shapes[key]
        shape = _compile(skeleton, slot_count, self)
        with self._shapes_lock:
            self._shapes[key] = shape
        return shape


def _defined_terms(node: Any, in_context: bool = False) -> set[str]:
    """Keys of every object inside an ``@context`` (a superset of the terms it defines)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _defined_terms(item, in_context)
    elif isinstance(node, dict):
        for key, value in node.items():
            if in_context:
                found.add(key)
            found |= _defined_terms(value, in_context or key == "@context")
    return found


#: The loader every credential is processed with: exactly the bundled contexts.
frozen_document_loader = FrozenDocumentLoader(_bundled_documents())


def _find_unknown_context(cause: BaseException | None) -> UnknownContextError | None:
    while cause is not None:
        if isinstance(cause, UnknownContextError):
            return cause
        details = getattr(cause, "details", None)
        if isinstance(details, dict) and isinstance(details.get("cause"), BaseException):
            inner = _find_unknown_context(details["cause"])
            if inner is not None:
                return inner
        cause = cause.__cause__ or cause.__context__
    return None


def _iris_to_refuse(node: Any) -> tuple[set[str], set[str]]:
    """Types, ids and properties that expansion left relative (no context defined them), and
    those that are not IRIs at all.

    pyld resolves a relative IRI against its placeholder base instead of dropping it as
    other processors do, so a relative type or id would canonicalize differently elsewhere.
    And pyld's RDF silently leaves out every statement about, to or with something that is
    not an absolute IRI ("https://e.org/a b"), and every statement whose property is a blank
    node (a term an embedded context maps to "_:p"): a signature over that RDF would not
    cover those claims, which anyone could then change.
    """
    relative: set[str] = set()
    invalid: set[str] = set()

    def check(value: Any) -> None:
        if not isinstance(value, str) or value.startswith(("_:", "@")):
            return
        if value.startswith(_PYLD_BASE):
            relative.add(value.removeprefix(_PYLD_BASE))
        elif not rdfc.is_absolute_iri(value):
            invalid.add(value)

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for each in item:
                walk(each)
        elif isinstance(item, dict):
            for key, value in item.items():
                if key == "@type":
                    for each in value if isinstance(value, list) else [value]:
                        check(each)
                elif key == "@id":
                    check(value)
                elif key != "@value":
                    if key.startswith("_:"):
                        invalid.add(key)  # a blank node as a property: pyld drops it too
                    check(key)
                    walk(value)

    walk(node)
    return relative, invalid


def _innermost(error: BaseException) -> str:
    """The most specific message in a chain of pyld errors (pyld wraps each stage's error)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error.args[0]) if error.args else type(error).__name__


def _expand_strictly(
    processor: jsonld.JsonLdProcessor,
    dropped: list[str | None],
    document: Mapping[str, Any],
    document_loader: FrozenDocumentLoader,
) -> list[Any]:
    """Expand ``document`` in "safe mode": undefined properties, types and ids are errors."""
    expanded: list[Any] = processor.expand(
        dict(document),
        {
            "documentLoader": document_loader,
            "contextResolver": document_loader.context_resolver(),
        },
    )
    if dropped:
        raise UndefinedTermError(
            "the credential uses a property that none of its contexts defines"
            + (f" ({', '.join(sorted({d for d in dropped if d}))})" if any(dropped) else "")
        )
    relative, invalid = _iris_to_refuse(expanded)
    if relative:
        raise UndefinedTermError(
            "the credential uses types or ids that are neither defined by its contexts"
            " nor absolute IRIs: " + ", ".join(sorted(relative))
        )
    if invalid:
        raise CanonicalizationError(
            "the credential uses ids, types or properties that are not valid IRIs: "
            + ", ".join(repr(value[:80]) for value in sorted(invalid)[:5])
            + ' (spaces, control characters and <>"{}|^`\\ are not allowed in IRIs)'
        )
    return expanded


@contextmanager
def _json_ld_errors() -> Iterator[None]:
    """Translate pyld's errors into ours (see :func:`canonicalize`)."""
    try:
        yield
    except jsonld.JsonLdError as e:
        unknown = _find_unknown_context(e)
        if unknown is not None:
            raise UnknownContextError(str(unknown)) from e
        raise CanonicalizationError(f"the credential is not valid JSON-LD: {_innermost(e)}") from e
    except (
        ValueError,  # also UnicodeError: text with a lone surrogate
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        RecursionError,
        OverflowError,  # a number too large for the double JSON-LD makes of it
    ) as e:
        # pyld reports some malformed documents (a relative IRI in @context, an empty base)
        # with plain Python exceptions rather than JsonLdError; the input is untrusted, so
        # each of these means "not valid JSON-LD", never a crash.
        raise CanonicalizationError(f"the credential is not valid JSON-LD: {str(e)[:200]}") from e


def _refuse_issuer_dependent_terms(nquads: str) -> str:
    if _ISSUER_DEPENDENT_VOCAB in nquads:
        terms = sorted(
            {
                part.split(_ISSUER_DEPENDENT_VOCAB, 1)[1].split(">", 1)[0]
                for part in nquads.splitlines()
                if _ISSUER_DEPENDENT_VOCAB in part
            }
        )
        raise UndefinedTermError(
            f"the credential uses terms that none of its contexts defines: {', '.join(terms)}"
        )
    return nquads


def canonicalize_with_pyld(
    document: Mapping[str, Any], *, document_loader: FrozenDocumentLoader = frozen_document_loader
) -> str:
    """``document`` canonicalized by pyld alone: its expansion and its URDNA2015.

    Not used by the service: the independent implementation tests compare Tessera's own
    RDFC-1.0 (credentials/rdfc.py) against. It differs from RDFC-1.0 only in how literals
    with control characters other than tab, line feed and carriage return are escaped
    (see credentials/rdfc.py); tests put RDFC-1.0's escaping into pyld for that.
    """
    dropped: list[str | None] = []
    processor = jsonld.JsonLdProcessor(on_property_dropped=dropped.append)
    with _json_ld_errors():
        expanded = _expand_strictly(processor, dropped, document, document_loader)
        nquads = processor.normalize(
            expanded,
            {
                "algorithm": "URDNA2015",
                "format": "application/n-quads",
                "documentLoader": document_loader,
                "rdfDirection": RDF_DIRECTION,
            },
        )
    return _refuse_issuer_dependent_terms(str(nquads))


def canonicalize_in_full(
    document: Mapping[str, Any], *, document_loader: FrozenDocumentLoader = frozen_document_loader
) -> str:
    """:func:`canonicalize` without shape caching: pyld turns the document into RDF, and
    credentials/rdfc.py canonicalizes that with RDFC-1.0."""
    dropped: list[str | None] = []
    processor = jsonld.JsonLdProcessor(on_property_dropped=dropped.append)
    with _json_ld_errors(), nodemap.merging():
        expanded = _expand_strictly(processor, dropped, document, document_loader)
        dataset = processor.to_rdf(
            expanded, {"documentLoader": document_loader, "rdfDirection": RDF_DIRECTION}
        )
        nquads = rdfc.canonical_nquads(rdfc.dataset_quads(dataset))
    return _refuse_issuer_dependent_terms(nquads)


def _compile(
    skeleton: Mapping[str, Any], slot_count: int, loader: FrozenDocumentLoader
) -> Shape | None:
    """The shape of ``skeleton``, or ``None`` when it is one to leave to pyld."""
    dropped: list[str | None] = []
    processor = jsonld.JsonLdProcessor(on_property_dropped=dropped.append)
    try:
        with _json_ld_errors(), nodemap.merging():
            expanded = _expand_strictly(processor, dropped, skeleton, loader)
            dataset = processor.to_rdf(
                expanded, {"documentLoader": loader, "rdfDirection": RDF_DIRECTION}
            )
    except CredentialError:
        return None  # pyld, run on the document itself, says what is wrong with it
    return rdfc.compile_shape(dataset, slot_count)


#: Larger documents (a whole wallet, say) are one of a kind: compiling their shape would only
#: add to what pyld costs, and keep a large shape in the cache.
MAX_SHAPE_STRINGS = 2_000


def canonicalize_by_shape(
    document: Mapping[str, Any], *, document_loader: FrozenDocumentLoader = frozen_document_loader
) -> str | None:
    """Canonical N-Quads through the document's cached shape (see credentials/rdfc.py).

    Returns ``None`` when the document is one to turn into RDF afresh: a shape ``rdfc``
    does not compile, or a string JSON-LD would not keep verbatim in an IRI position.
    """
    try:
        return _by_shape(document, document_loader)
    except (ValueError, TypeError, RecursionError):
        # Text that cannot be encoded (a lone surrogate), values that are not JSON, nesting
        # too deep: pyld, run on the document, reports each of these as it always has.
        return None


def _by_shape(document: Mapping[str, Any], document_loader: FrozenDocumentLoader) -> str | None:
    found = rdfc.skeleton(document)
    if found is None or len(found[1]) > MAX_SHAPE_STRINGS:
        return None
    skeleton, values = found
    shape = document_loader.shape(skeleton, len(values))
    if shape is None or len(values) != shape.slot_count:
        return None
    unkept = shape.unkept_iris(values, document_loader.terms())
    if unkept:
        # Strings such as "assertionMethod" in a vocabulary-relative position: a shape of
        # its own, with them in place (pyld then says what a relative IRI among them means).
        found = rdfc.skeleton(document, unkept)
        if found is None:
            return None
        skeleton, values = found
        shape = document_loader.shape(skeleton, len(values))
        if shape is None:
            return None
    quads = shape.render(values, document_loader.terms())
    if quads is None:
        return None
    return rdfc.canonical_nquads(quads)


def canonicalize(
    document: Mapping[str, Any], *, document_loader: FrozenDocumentLoader = frozen_document_loader
) -> str:
    """Canonicalize ``document`` with RDFC-1.0 (URDNA2015) and return N-Quads.

    The document is processed in "safe mode": a property or type that no context defines
    is an error rather than being silently dropped or mapped to an issuer-dependent IRI.
    Documents of a shape seen before take a fast path with the same output
    (:func:`canonicalize_by_shape`); anything else is turned into RDF by pyld
    (:func:`canonicalize_in_full`). Either way credentials/rdfc.py canonicalizes the RDF.

    Raises:
        UnknownContextError: the document references a context that is not bundled.
        UndefinedTermError: a term is not defined by any of the document's contexts.
        CanonicalizationError: the document is not valid JSON-LD, or its blank nodes are
            too alike to canonicalize in bounded time (a poisoned dataset).
    """
    nquads = canonicalize_by_shape(document, document_loader=document_loader)
    if nquads is None:
        return canonicalize_in_full(document, document_loader=document_loader)
    return _refuse_issuer_dependent_terms(nquads)
