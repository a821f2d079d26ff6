"""did:web key resolution, against DID documents served by a real HTTPS server on 127.0.0.1.

The issuer is authoritative for its own DID: a document that was fetched fine but does not
publish the key properly makes the proof invalid; only a failed fetch is "could not check".
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key as rsa_key
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credentials import InvalidProofError, UnresolvableKeyError
from keys.crypto import LocalSigner, generate_private_key, public_jwk
from keys.did import did_document, did_web, did_web_document_url
from verifier import ChainResolver, DidKeyResolver, Outcome, Verdict, verify_credential
from verifier.did_web import DidWebResolver
from verifier.http import FetchError, GuardedHttpClient

from ..helpers import NOW, key_of, make_signer, signed_json, signed_jwt
from .conftest import LocalServer

DID_JSON = {"Content-Type": "application/did+json"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def rsa_private_key():
    return generate_private_key("RS256")  # slow-ish: once per module


@pytest.fixture
def did(https_server: LocalServer) -> str:
    """``did:web:localhost%3A<port>``, its document at ``/.well-known/did.json``."""
    return did_web(https_server.base_url)


@pytest.fixture
def acme_did(https_server: LocalServer) -> str:
    """``did:web:localhost%3A<port>:orgs:acme``, its document at ``/orgs/acme/did.json``."""
    return did_web(https_server.base_url, "orgs", "acme")


@pytest.fixture
def client(https_server: LocalServer) -> GuardedHttpClient:
    return GuardedHttpClient(allow_private=True, ssl_context=https_server.ssl_context, timeout=2)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def resolver(client: GuardedHttpClient, clock: Clock) -> DidWebResolver:
    return DidWebResolver(client, clock=clock)


def signers_of(did: str, rsa_private_key: Any) -> tuple[LocalSigner, LocalSigner]:
    """An Ed25519 key (published as Multikey) and an RSA key (published as JsonWebKey)."""
    return (
        make_signer("EdDSA", did=did, fragment="key-1"),
        LocalSigner(f"{did}#key-2", "RS256", rsa_private_key),
    )


def document_of(did: str, *signers: LocalSigner) -> dict[str, Any]:
    return did_document(
        did,
        [
            (key_of(s), public_jwk(s.public_key, kid=s.verification_method, algorithm=s.algorithm))
            for s in signers
        ],
    )


def publish(server: LocalServer, did: str, document: dict[str, Any], **headers: str) -> str:
    """Serve ``document`` where did:web says the DID's document lives; return that path."""
    path = urlsplit(did_web_document_url(did)).path
    server.routes[path] = (200, DID_JSON | headers, json.dumps(document).encode())
    return path


def spki(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


@pytest.mark.parametrize("where", ["root", "path"])
def test_resolves_multikey_and_json_web_keys(
    https_server, resolver, did, acme_did, rsa_private_key, where
):
    subject = did if where == "root" else acme_did
    ed, rsa = signers_of(subject, rsa_private_key)
    path = publish(https_server, subject, document_of(subject, ed, rsa))
    assert path == ("/.well-known/did.json" if where == "root" else "/orgs/acme/did.json")

    for signer, algorithm in ((ed, "EdDSA"), (rsa, "RS256")):
        key = resolver.resolve(signer.verification_method)
        assert key.id == signer.verification_method
        assert key.controller == subject
        assert key.algorithm == algorithm
        assert spki(key.public_key) == spki(signer.public_key)
    assert https_server.requests == [path]  # the second key came from the cache


@pytest.mark.parametrize(
    ("form", "algorithm"),
    [("json", "EdDSA"), ("jwt", "EdDSA"), ("jwt", "RS256"), ("jwt", "ES256")],
)
def test_verifies_a_credential_end_to_end(
    https_server, client, acme_did, rsa_private_key, form, algorithm
):
    ed, rsa = signers_of(acme_did, rsa_private_key)
    es = make_signer("ES256", did=acme_did, fragment="key-3")
    publish(https_server, acme_did, document_of(acme_did, ed, rsa, es))
    signer = {"EdDSA": ed, "RS256": rsa, "ES256": es}[algorithm]
    credential = signed_json(signer) if form == "json" else signed_jwt(signer)

    result = verify_credential(
        credential,
        resolver=ChainResolver([DidKeyResolver(), DidWebResolver(client)]),
        now=NOW,
        trusted_issuers={acme_did},
    )
    assert result.verdict == Verdict.VALID, result.checks
    assert signer.verification_method in result.check("proof").message


def test_a_key_the_issuer_does_not_publish_makes_the_credential_invalid(
    https_server, client, did, rsa_private_key
):
    ed, rsa = signers_of(did, rsa_private_key)
    publish(https_server, did, document_of(did, ed, rsa))
    forger = make_signer("EdDSA", did=did, fragment="key-9")
    result = verify_credential(
        signed_json(forger),
        resolver=ChainResolver([DidWebResolver(client)]),
        now=NOW,
        trusted_issuers={did},
    )
    assert result.verdict == Verdict.INVALID
    assert f"publishes no key {forger.verification_method}" in result.check("proof").message


def test_an_unreachable_issuer_means_could_not_check(https_server, client, did):
    signer = make_signer("EdDSA", did=did, fragment="key-1")
    publish(https_server, did, document_of(did, signer))
    https_server.stop()
    with pytest.raises(FetchError, match="could not connect to localhost"):
        DidWebResolver(client).resolve(signer.verification_method)

    result = verify_credential(
        signed_json(signer),
        resolver=ChainResolver([DidWebResolver(client)]),
        now=NOW,
        trusted_issuers={did},
    )
    assert result.verdict == Verdict.COULD_NOT_CHECK
    assert result.check("proof").outcome == Outcome.COULD_NOT_CHECK
    assert result.check("proof").code == "fetch-failed"


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (None, "HTTP 404 from https://localhost:"),
        ((200, DID_JSON, b"<html>hello</html>"), "is not JSON"),
        ((500, {}, b"oops"), "HTTP 500"),
    ],
)
def test_a_document_that_cannot_be_fetched_cannot_be_checked(
    https_server, resolver, did, route, message
):
    if route is not None:
        https_server.routes["/.well-known/did.json"] = route
    with pytest.raises(FetchError, match=message):
        resolver.resolve(f"{did}#key-1")


def test_relative_ids_resolve_against_the_did(https_server, resolver, did, rsa_private_key):
    ed, rsa = signers_of(did, rsa_private_key)
    document = document_of(did, ed, rsa)
    for method in document["verificationMethod"]:
        method["id"] = "#" + method["id"].partition("#")[2]
    document["assertionMethod"] = ["#key-1", f"{did}#key-2"]
    publish(https_server, did, document)
    assert resolver.resolve(f"{did}#key-1").id == f"{did}#key-1"
    assert resolver.resolve(f"{did}#key-2").algorithm == "RS256"


def test_a_key_embedded_in_assertion_method_resolves(https_server, resolver, did):
    signer = make_signer("EdDSA", did=did, fragment="key-1")
    document = document_of(did, signer)
    document["assertionMethod"] = document.pop("verificationMethod")
    publish(https_server, did, document)
    assert resolver.resolve(signer.verification_method).algorithm == "EdDSA"


def mutate(document: dict[str, Any], change: str, did: str, rsa_private_key: Any) -> None:
    """Break the published document in one way."""
    rsa_method = document["verificationMethod"][1]
    if change == "id":
        document["id"] = did + ":elsewhere"
    elif change == "missing":
        document["verificationMethod"] = document["verificationMethod"][:1]
        document["assertionMethod"] = document["assertionMethod"][:1]
    elif change == "not-assertion":
        document["assertionMethod"] = document["assertionMethod"][:1]
    elif change == "controller":
        rsa_method["controller"] = "did:web:attacker.example"
    elif change == "private-jwk":
        rsa_method["publicKeyJwk"] = jwt.algorithms.RSAAlgorithm.to_jwk(
            rsa_private_key, as_dict=True
        )
    elif change == "alg-mismatch":
        rsa_method["publicKeyJwk"]["alg"] = "ES256"
    elif change == "hmac":
        rsa_method["publicKeyJwk"] = {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}
    elif change == "p384":
        p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
        rsa_method["publicKeyJwk"] = jwt.algorithms.ECAlgorithm.to_jwk(p384, as_dict=True)
    elif change == "small-rsa":
        small = rsa_key(public_exponent=65537, key_size=1024).public_key()
        rsa_method["publicKeyJwk"] = jwt.algorithms.RSAAlgorithm.to_jwk(small, as_dict=True)
    elif change == "type":
        rsa_method["type"] = "RsaVerificationKey2018"
    elif change == "encryption":
        rsa_method["publicKeyJwk"]["use"] = "enc"
    else:
        raise AssertionError(change)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("id", "is the DID document of 'did:web:localhost%3A.*:elsewhere', not of"),
        ("missing", "publishes no key did:web:localhost%3A.*#key-2"),
        ("not-assertion", "does not list .*#key-2 as an assertionMethod"),
        ("controller", "is controlled by 'did:web:attacker.example', not by"),
        ("private-jwk", r"private key members \(d, dp, dq, p, q, qi\)"),
        ("alg-mismatch", "declares alg 'ES256' but is a key for RS256"),
        ("hmac", "private key members \\(k\\)"),
        ("p384", "is a EC/P-384 key; accepted are Ed25519, RSA and P-256"),
        ("small-rsa", "1024-bit RSA key; at least 2048 bits"),
        ("type", "of type 'RsaVerificationKey2018'; accepted are Multikey"),
        ("encryption", "published for 'enc', not signing"),
    ],
)
def test_a_key_the_document_lists_wrongly_is_invalid(
    https_server, resolver, did, rsa_private_key, change, message
):
    ed, rsa = signers_of(did, rsa_private_key)
    document = document_of(did, ed, rsa)
    mutate(document, change, did, rsa_private_key)
    publish(https_server, did, document)
    with pytest.raises(InvalidProofError, match=message) as e:
        resolver.resolve(rsa.verification_method)
    assert not isinstance(e.value, UnresolvableKeyError)


def test_a_multikey_that_is_not_ed25519_is_invalid(https_server, resolver, did):
    signer = make_signer("EdDSA", did=did, fragment="key-1")
    document = document_of(did, signer)
    document["verificationMethod"][0]["publicKeyMultibase"] = "zQ3shokFTS3brHcDQrn82RUDfCZESWL1"
    publish(https_server, did, document)
    with pytest.raises(InvalidProofError, match="only Ed25519 Multikey values"):
        resolver.resolve(signer.verification_method)


@pytest.mark.parametrize(
    "key_id",
    ["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6Mk", "https://x.example/#k", ""],
)
def test_a_key_that_is_not_did_web_is_left_to_other_resolvers(https_server, resolver, key_id):
    with pytest.raises(UnresolvableKeyError, match="is not a did:web key") as e:
        resolver.resolve(key_id)
    assert not isinstance(e.value, FetchError)
    assert https_server.connections == 0


@pytest.mark.parametrize(
    ("key_id", "message"),
    [
        ("did:web:issuer.example", "does not name a key"),
        ("did:web:issuer.example#", "does not name a key"),
        ("did:web:issuer.example#key 1", "does not name a key"),
        ("did:web:10.0.0.5#key-1", "names an IP address, not a domain"),
        ("did:web:user@issuer.example#key-1", "is not a well-formed did:web DID"),
        ("did:web:issuer.example/path#key-1", "is not a well-formed did:web DID"),
        ("did:web:issuer.example%2Fevil#key-1", "is not a well-formed did:web DID"),
        ("did:web:issuer.example::x#key-1", "is not a well-formed did:web DID"),
        ("did:web:issuer.example:..:x#key-1", "'.' or '..' path segment"),
        ("did:web:issuer.example%3A99999#key-1", "port 99999"),
        ("did:web:issuer.example#" + "k" * 2048, "longer than 2,048 characters"),
    ],
)
def test_a_malformed_did_web_key_id_is_invalid_and_nothing_is_fetched(
    https_server, resolver, key_id, message
):
    with pytest.raises(InvalidProofError, match=message):
        resolver.resolve(key_id)
    assert https_server.connections == 0


def test_the_client_allowlist_applies(https_server, clock, did):
    client = GuardedHttpClient(
        allowed_hosts=frozenset({"issuer.example"}),
        allow_private=True,
        ssl_context=https_server.ssl_context,
    )
    with pytest.raises(FetchError, match="not on the verifier's list of allowed hosts"):
        DidWebResolver(client, clock=clock).resolve(f"{did}#key-1")
    assert https_server.connections == 0


def test_a_document_is_cached_for_the_ttl(https_server, resolver, clock, did):
    signer = make_signer("EdDSA", did=did, fragment="key-1")
    path = publish(https_server, did, document_of(did, signer))
    resolver.resolve(signer.verification_method)
    clock.advance(299)
    resolver.resolve(signer.verification_method)
    assert https_server.requests == [path]
    clock.advance(2)
    resolver.resolve(signer.verification_method)
    assert https_server.requests == [path, path]


@pytest.mark.parametrize(
    ("cache_control", "refetch_after"),
    [("max-age=10", 10), ("max-age=3600", 300), ("no-store", 0), ("max-age=nonsense", 0)],
)
def test_cache_control_can_only_shorten_the_ttl(
    https_server, resolver, clock, did, cache_control, refetch_after
):
    signer = make_signer("EdDSA", did=did, fragment="key-1")
    path = publish(https_server, did, document_of(did, signer), **{"Cache-Control": cache_control})
    resolver.resolve(signer.verification_method)
    if refetch_after:
        clock.advance(refetch_after - 1)
        resolver.resolve(signer.verification_method)
        assert https_server.requests == [path]
        clock.advance(1)
    resolver.resolve(signer.verification_method)
    assert https_server.requests == [path, path]


def test_failures_are_not_cached(https_server, resolver, did):
    signer = make_signer("EdDSA", did=did, fragment="key-1")
    with pytest.raises(FetchError, match="HTTP 404"):
        resolver.resolve(signer.verification_method)
    path = publish(https_server, did, document_of(did, signer))
    assert resolver.resolve(signer.verification_method).controller == did
    assert https_server.requests == [path, path]


def test_a_rotated_key_is_seen_once_the_cache_expires(https_server, resolver, clock, did):
    old = make_signer("EdDSA", did=did, fragment="key-1")
    new = make_signer("EdDSA", did=did, fragment="key-2")
    publish(https_server, did, document_of(did, old))
    resolver.resolve(old.verification_method)
    publish(https_server, did, document_of(did, new))
    with pytest.raises(InvalidProofError, match="publishes no key"):
        resolver.resolve(new.verification_method)  # still the cached document
    clock.advance(301)
    assert resolver.resolve(new.verification_method).id == new.verification_method


def test_resolve_document_hands_out_a_copy(https_server, resolver, did):
    signer = make_signer("EdDSA", did=did, fragment="key-1")
    publish(https_server, did, document_of(did, signer))
    document = resolver.resolve_document(did)
    document["verificationMethod"].clear()  # a caller editing its copy ...
    assert resolver.resolve(signer.verification_method).controller == did  # ... changes nothing
    with pytest.raises(InvalidProofError, match="not a well-formed did:web DID"):
        resolver.resolve_document("did:web:reader@localhost")
    assert len(https_server.requests) == 1
