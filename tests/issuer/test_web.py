"""The public documents verifiers fetch, and the error body every failure comes back as."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from issuer import services

from ..conftest import PUBLIC_URL


@pytest.fixture
def did_key_centre(db, kek, now):
    return services.create_organisation(
        db,
        kek,
        slug="keyside",
        name="Keyside Academy",
        public_url=PUBLIC_URL,
        now=now,
        did_method="key",
        jwt_algorithm="EdDSA",
    )


def test_centre_did_document(client, centre):
    response = client.get("/orgs/northside/did.json")
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "application/did+json"
    assert "max-age" in response.headers["Cache-Control"]
    document = response.get_json()
    assert document["id"] == centre.did == "did:web:tessera.test:orgs:northside"
    methods = document["verificationMethod"]
    assert len(methods) == 2
    for method in methods:
        assert method["id"].startswith(f"{centre.did}#")
        assert method["controller"] == centre.did
    assert document["assertionMethod"] == [m["id"] for m in methods]


def test_rotated_keys_stay_in_the_did_document(client, db, kek, now, centre):
    services.rotate_keys(db, kek, centre, now=now)
    document = client.get("/orgs/northside/did.json").get_json()
    ids = {m["id"] for m in document["verificationMethod"]}
    assert ids == {f"{centre.did}#key-{n}" for n in (1, 2, 3, 4)}


def test_centre_jwks_has_no_private_members(client, centre):
    response = client.get("/orgs/northside/jwks.json")
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "application/jwk-set+json"
    assert "Cache-Control" in response.headers
    keys = response.get_json()["keys"]
    assert {key["kid"] for key in keys} == {f"{centre.did}#key-1", f"{centre.did}#key-2"}
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_instance_did_document(client):
    response = client.get("/.well-known/did.json")
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "application/did+json"
    document = response.get_json()
    assert document["id"] == "did:web:tessera.test"
    assert all(m["id"].startswith("did:web:tessera.test#") for m in document["verificationMethod"])
    # Asking twice publishes the same keys, not a new set each time.
    assert client.get("/.well-known/did.json").get_json() == document


def test_health(client):
    response = client.get("/healthz")
    assert response.status_code == HTTPStatus.OK
    assert response.get_json()["status"] == "ok"


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        pytest.param("/orgs/nowhere/did.json", "nowhere", id="unknown-slug-did"),
        pytest.param("/orgs/nowhere/jwks.json", "nowhere", id="unknown-slug-jwks"),
        pytest.param("/orgs/keyside/did.json", "did:key", id="did-key-centre"),
        pytest.param("/no/such/page", "", id="unknown-url"),
        # Past what a database integer holds: not found, never a 500 (SQLite's OverflowError,
        # PostgreSQL's "integer out of range"). Found by the Schemathesis run.
        pytest.param("/orgs/northside/status/9223372036854775808", "", id="huge-sequence"),
        pytest.param("/orgs/northside/status/2147483648", "", id="past-int4-sequence"),
        pytest.param("/orgs/northside/status/0", "", id="sequence-zero"),
    ],
)
def test_not_found_is_a_problem_document(client, did_key_centre, path, detail):
    response = client.get(path)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert set(problem) == {"code", "title", "detail", "status"}
    assert problem["status"] == HTTPStatus.NOT_FOUND
    assert problem["title"] == HTTPStatus.NOT_FOUND.phrase
    assert problem["code"] == "not-found"
    assert detail in problem["detail"]
    assert problem["detail"]
