"""The frozen document loader and safe-mode canonicalization."""

from __future__ import annotations

import pytest

from credentials import (
    CanonicalizationError,
    UndefinedTermError,
    UnknownContextError,
    canonicalize,
    frozen_document_loader,
)
from credentials.jsonld import BUNDLED_CONTEXTS, OB_V3_CONTEXT, VC_V2_CONTEXT

from ..helpers import make_credential


def test_every_bundled_context_loads_by_its_url():
    for url in BUNDLED_CONTEXTS:
        document = frozen_document_loader(url)
        assert document["documentUrl"] == url
        assert "@context" in document["document"]


def test_canonical_form_is_stable_and_order_independent():
    credential = make_credential()
    reordered = dict(reversed(list(credential.items())))
    assert canonicalize(credential) == canonicalize(reordered)
    assert "<https://purl.imsglobal.org/spec/vc/ob/vocab.html#OpenBadgeCredential>" in canonicalize(
        credential
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/context.jsonld",
        "http://127.0.0.1:9/context",
        "https://www.w3.org/ns/credentials/v2/",  # near miss of a bundled URL
        "file:///etc/passwd",
    ],
)
def test_unknown_context_is_refused_without_network(no_network, url):
    credential = make_credential()
    credential["@context"] = [*credential["@context"], url]
    with pytest.raises(UnknownContextError, match="not one Tessera knows"):
        canonicalize(credential)
    assert no_network == []


def test_a_context_given_inline_cannot_smuggle_in_a_remote_one(no_network):
    credential = make_credential()
    credential["@context"] = [VC_V2_CONTEXT, {"@context": "https://evil.example/c"}, OB_V3_CONTEXT]
    with pytest.raises((UnknownContextError, CanonicalizationError)):
        canonicalize(credential)
    assert no_network == []


@pytest.mark.parametrize(
    ("change", "term"),
    [
        (lambda c: c.update(favouriteColour="blue"), "favouriteColour"),
        (lambda c: c["credentialSubject"].update(shoeSize=42), "shoeSize"),
        (lambda c: c["credentialSubject"]["achievement"].update(level="gold"), "level"),
        (lambda c: c["type"].append("SuperCredential"), "SuperCredential"),
    ],
)
def test_terms_no_context_defines_are_refused(change, term):
    credential = make_credential()
    change(credential)
    with pytest.raises(UndefinedTermError) as caught:
        canonicalize(credential)
    assert term in str(caught.value)


def test_a_relative_id_is_refused_rather_than_resolved_against_a_made_up_base():
    with pytest.raises(UndefinedTermError, match="not-a-uri"):
        canonicalize(make_credential(id="not-a-uri"))


def test_invalid_json_ld_is_a_canonicalization_error():
    credential = make_credential()
    credential["type"] = [{"not": "a string"}]
    with pytest.raises(CanonicalizationError):
        canonicalize(credential)


def test_an_extra_loader_does_not_leak_contexts_into_the_default_one():
    extra_url = "https://example.test/only-for-this-loader"
    loader = frozen_document_loader.with_documents(
        {extra_url: {"@context": {"@vocab": "https://example.test/vocab#"}}}
    )
    credential = make_credential()
    credential["@context"] = [*credential["@context"], extra_url]
    canonicalize(credential, document_loader=loader)
    with pytest.raises(UnknownContextError):
        canonicalize(credential)


@pytest.mark.parametrize(
    "context", [["x"], "", [""], ["https://www.w3.org/ns/credentials/v2", "#"]]
)
def test_relative_or_empty_context_references_are_invalid_json_ld_not_crashes(context):
    with pytest.raises((CanonicalizationError, UnknownContextError)):
        canonicalize(make_credential(**{"@context": context}))


@pytest.mark.parametrize("value", [10**400, "\ud800"], ids=["huge-number", "lone-surrogate"])
def test_values_json_ld_cannot_represent_are_a_canonicalization_error(value):
    """Found by the property tests: pyld raised OverflowError for a 400-digit number."""
    document = {"@context": ["https://www.w3.org/ns/credentials/v2"], "name": value}
    with pytest.raises(CanonicalizationError, match="not valid JSON-LD"):
        canonicalize(document)
