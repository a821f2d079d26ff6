"""Key recipes, encryption at rest, DID documents, did:key."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from credentials import UnresolvableKeyError
from credentials.multikey import (
    did_key_from_ed25519,
    ed25519_to_multikey,
    multikey_to_ed25519,
    resolve_did_key,
)
from keys import InvalidKekError, KeyDecryptionError, did_web, did_web_document_url, load_kek
from keys.crypto import (
    algorithm_of,
    decrypt_private_key,
    encrypt_private_key,
    generate_private_key,
    load_public_jwk,
    public_jwk,
)

ALGORITHMS = ["EdDSA", "RS256", "ES256"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_generated_keys_round_trip_through_encryption_and_jwk(algorithm):
    kek = load_kek(Fernet.generate_key().decode())
    private_key = generate_private_key(algorithm)
    token = encrypt_private_key(kek, private_key)
    restored = decrypt_private_key(kek, token)
    assert algorithm_of(restored.public_key()) == algorithm
    jwk = public_jwk(private_key.public_key(), kid="did:web:x.test#key-1", algorithm=algorithm)
    assert "d" not in jwk and jwk["kid"] == "did:web:x.test#key-1" and jwk["alg"] == algorithm
    assert algorithm_of(load_public_jwk(jwk)) == algorithm


def test_kek_rotation_keeps_old_keys_readable_and_rewraps_them():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = encrypt_private_key(load_kek(old), generate_private_key("EdDSA"))
    rotated = load_kek(f"{new},{old}")
    decrypt_private_key(rotated, token)
    rewrapped = rotated.rotate(token)
    decrypt_private_key(load_kek(new), rewrapped)
    with pytest.raises(KeyDecryptionError, match="TESSERA_KEK"):
        decrypt_private_key(load_kek(new), token)


@pytest.mark.parametrize("value", [None, "", "  ", "not-a-fernet-key", "abc,def"])
def test_bad_kek_is_refused_with_advice(value):
    with pytest.raises(InvalidKekError, match="TESSERA_KEK"):
        load_kek(value)


def test_load_kek_is_a_multifernet():
    assert isinstance(load_kek(Fernet.generate_key().decode()), MultiFernet)


def test_published_jwk_with_a_private_member_is_refused():
    jwk = public_jwk(generate_private_key("EdDSA").public_key(), kid="k", algorithm="EdDSA")
    with pytest.raises(ValueError, match="private"):
        load_public_jwk(jwk | {"d": "secret"})


def test_did_key_round_trip_and_offline_resolution(no_network):
    public_key = generate_private_key("EdDSA").public_key()
    did = did_key_from_ed25519(public_key)
    assert did.startswith("did:key:z6Mk")
    resolved_did, resolved = resolve_did_key(f"{did}#{did.removeprefix('did:key:')}")
    assert resolved_did == did
    assert ed25519_to_multikey(resolved) == ed25519_to_multikey(public_key)
    assert no_network == []


@pytest.mark.parametrize(
    "did_url",
    [
        "did:web:x.test#key-1",
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6MkOther",
        "did:key:",
        "did:key:z",
    ],
)
def test_did_key_resolution_refuses_what_it_cannot_vouch_for(did_url):
    with pytest.raises(UnresolvableKeyError):
        resolve_did_key(did_url)


def test_multikey_rejects_non_ed25519_values():
    with pytest.raises(UnresolvableKeyError):
        multikey_to_ed25519("zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")


@pytest.mark.parametrize(
    ("url", "path", "did", "document"),
    [
        (
            "https://badges.example.org",
            ("orgs", "acme"),
            "did:web:badges.example.org:orgs:acme",
            "https://badges.example.org/orgs/acme/did.json",
        ),
        (
            "http://localhost:5000",
            (),
            "did:web:localhost%3A5000",
            "https://localhost:5000/.well-known/did.json",
        ),
        (
            "https://example.org/tessera/",
            ("orgs", "a"),
            "did:web:example.org:tessera:orgs:a",
            "https://example.org/tessera/orgs/a/did.json",
        ),
    ],
)
def test_did_web_names_and_document_urls(url, path, did, document):
    assert did_web(url, *path) == did
    assert did_web_document_url(did) == document


def test_did_web_needs_a_host():
    with pytest.raises(ValueError, match="no host"):
        did_web("not a url")
    assert json.dumps(did_web("https://h.test")) == '"did:web:h.test"'


def test_a_p384_key_is_not_taken_for_es256():
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    jwk = ECAlgorithm.to_jwk(p384, as_dict=True)  # kty EC, crv P-384, no alg
    with pytest.raises(ValueError, match="not a ES256 key"):
        load_public_jwk(jwk)
