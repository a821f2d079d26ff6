"""JSON-LD expansion and RDFC-1.0 canonicalization of untrusted documents: N-Quads or a
CredentialError, never a crash, and never a fetch (only bundled contexts load)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from credentials import CredentialError, canonicalize
from credentials.jsonld import BUNDLED_CONTEXTS
from tests.helpers import make_credential

from .strategies import json_objects, json_trees, mutated_documents

contexts = st.lists(st.sampled_from(sorted(BUNDLED_CONTEXTS)) | json_trees(6), max_size=3)


def canonical(document: dict[str, Any]) -> str | None:
    try:
        nquads = canonicalize(document)
    except CredentialError:
        return None
    assert isinstance(nquads, str)
    return nquads


@given(json_objects())
def test_any_json_object_canonicalizes_or_is_a_declared_error(document: dict[str, Any]) -> None:
    canonical(document)


@given(contexts, json_objects())
def test_any_context_list_canonicalizes_or_is_a_declared_error(
    context: list[Any], document: dict[str, Any]
) -> None:
    canonical({"@context": context, **document})


@given(mutated_documents(make_credential()))
def test_a_changed_credential_canonicalizes_or_is_a_declared_error(
    document: dict[str, Any],
) -> None:
    canonical(document)
