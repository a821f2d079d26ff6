"""POST /credentials/issue (VC-API) and the OpenAPI document the combined app serves."""

from __future__ import annotations

import copy
import json
import re
import secrets
from http import HTTPStatus
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from credentials.proofs import jwt_vc
from issuer import services
from issuer.app import create_app
from issuer.clock import utcnow
from issuer.errors import ConfigurationError
from issuer.models import IssuedCredential
from issuer.vcapi import openapi_document, openapi_file
from verifier import Verdict

from ..conftest import PUBLIC_URL
from ..helpers import WELDING_SKILL

ISSUE = "/credentials/issue"
PROBLEM = "application/problem+json"
TOKEN = secrets.token_urlsafe(32)
OPENAPI_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@pytest.fixture
def enabled(app, centre):
    """The VC-API issue endpoint, configured for the ``northside`` centre."""
    app.config["VCAPI_ISSUER"] = centre.slug
    app.config["VCAPI_TOKEN"] = TOKEN
    return app


def achievement_url(achievement):
    return f"{PUBLIC_URL}/orgs/northside/achievements/{achievement.public_id}"


def unsigned(achievement, **overrides):
    """An unsigned OpenBadgeCredential as a client of the VC-API would send it."""
    credential = {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "name": "Amina Haddad",
            "achievement": {"id": achievement_url(achievement)},
        },
    }
    credential.update(overrides)
    return credential


def issue(client, body, token=TOKEN, **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(ISSUE, json=body, headers=headers)


def request_body(achievement, email="amina@example.org", **overrides):
    return {"credential": unsigned(achievement, **overrides), "options": {"recipientEmail": email}}


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    assert response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["status"] == status
    return problem


# -- switched off, and who may call it -----------------------------------------------------


def test_not_configured_is_not_found(client, welding):
    problem = assert_problem(issue(client, request_body(welding)), HTTPStatus.NOT_FOUND)
    assert "not enabled" in problem["detail"]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        "Bearer \u00e9t\u00e9",
        f"bearer  {TOKEN[1:]}",
    ],
)
def test_without_the_token_is_unauthorized(client, enabled, welding, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post(ISSUE, json=request_body(welding), headers=headers)
    assert_problem(response, HTTPStatus.UNAUTHORIZED)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_unauthorized_request_issues_nothing(client, enabled, db, welding):
    issue(client, request_body(welding), token="wrong-" + TOKEN)
    assert db.scalars(select(IssuedCredential)).all() == []


def test_the_configured_centre_missing_is_unavailable(client, app, welding):
    app.config["VCAPI_ISSUER"] = "no-such-centre"
    app.config["VCAPI_TOKEN"] = TOKEN
    assert_problem(issue(client, request_body(welding)), HTTPStatus.SERVICE_UNAVAILABLE)


# -- issuing ------------------------------------------------------------------------------


def test_issue_returns_the_credential_tessera_stored(client, enabled, db, welding, verify_here):
    response = issue(client, request_body(welding))
    assert response.status_code == HTTPStatus.CREATED, response.get_json()
    credential = response.get_json()["verifiableCredential"]

    # Issued now (the API reads the clock), so checked now.
    assert verify_here(credential, at=utcnow()).verdict == Verdict.VALID
    record = services.get_credential(db, credential["id"])
    assert json.loads(record.document) == credential
    assert response.headers["Location"] == f"{PUBLIC_URL}/v/{record.public_id}"
    # Both proofs, as everything Tessera issues: the JWT verifies as the same credential.
    assert verify_here(record.jwt, at=utcnow()).verdict == Verdict.VALID
    assert jwt_vc.read_unverified_claims(record.jwt)["jti"] == credential["id"]
    assert credential["credentialStatus"]["type"] == "BitstringStatusListEntry"
    assert record.recipient_name == "Amina Haddad"
    subject = credential["credentialSubject"]
    assert subject["identifier"][0]["hashed"] is True
    assert "amina@example.org" not in json.dumps(credential)
    assert subject["achievement"]["alignment"][0]["targetUrl"] == WELDING_SKILL


def test_no_csrf_token_is_needed(client, enabled, welding):
    # CSRF protection is on in this app; the bearer token is what authorises the call.
    assert issue(client, request_body(welding)).status_code == HTTPStatus.CREATED


def test_the_achievement_by_its_bare_id_dates_and_a_learner_did(
    client, enabled, welding, verify_here
):
    body = request_body(
        welding, validFrom="2026-01-01T00:00:00Z", validUntil="2030-01-01T00:00:00+02:00"
    )
    subject = body["credential"]["credentialSubject"]
    subject["achievement"]["id"] = welding.public_id
    subject["id"] = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    response = issue(client, body)
    assert response.status_code == HTTPStatus.CREATED, response.get_json()
    credential = response.get_json()["verifiableCredential"]
    assert credential["validFrom"] == "2026-01-01T00:00:00Z"
    assert credential["validUntil"] == "2029-12-31T22:00:00Z"
    assert credential["credentialSubject"]["id"] == subject["id"]
    assert credential["credentialSubject"]["achievement"]["id"] == achievement_url(welding)
    assert verify_here(credential).verdict == Verdict.VALID


def test_the_shape_tessera_issues_is_accepted_as_sent(client, enabled, welding):
    """A client may send back the full achievement and issuer as Tessera writes them."""
    first = issue(client, request_body(welding)).get_json()["verifiableCredential"]
    body = request_body(welding)
    body["credential"]["issuer"] = first["issuer"]
    body["credential"]["name"] = first["name"]
    body["credential"]["credentialSubject"]["achievement"] = first["credentialSubject"][
        "achievement"
    ]
    response = issue(client, body)
    assert response.status_code == HTTPStatus.CREATED, response.get_json()
    second = response.get_json()["verifiableCredential"]
    assert second["credentialSubject"]["achievement"] == first["credentialSubject"]["achievement"]
    assert second["id"] != first["id"]


def test_an_idempotency_key_returns_the_first_credential(client, enabled, db, welding):
    first = issue(client, request_body(welding), **{"Idempotency-Key": "cohort-7-amina"})
    again = issue(client, request_body(welding), **{"Idempotency-Key": "cohort-7-amina"})
    assert first.status_code == again.status_code == HTTPStatus.CREATED
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(db.scalars(select(IssuedCredential)).all()) == 1


def test_an_idempotency_key_reused_for_another_learner_is_refused(client, enabled, welding):
    issue(client, request_body(welding), **{"Idempotency-Key": "k-1"})
    other = request_body(welding, email="bilal@example.org")
    problem = assert_problem(
        issue(client, other, **{"Idempotency-Key": "k-1"}), HTTPStatus.UNPROCESSABLE_ENTITY
    )
    assert "Idempotency-Key" in problem["detail"]


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "caf\u00e9", "a b"])
def test_a_malformed_idempotency_key_is_refused(client, enabled, welding, key):
    response = issue(client, request_body(welding), **{"Idempotency-Key": key})
    problem = assert_problem(response, HTTPStatus.UNPROCESSABLE_ENTITY)
    assert "Idempotency-Key" in problem["errors"]


# -- what is refused, and why ----------------------------------------------------------


def test_an_unknown_achievement_is_refused(client, enabled, welding):
    body = request_body(welding)
    body["credential"]["credentialSubject"]["achievement"]["id"] = (
        f"{PUBLIC_URL}/orgs/northside/achievements/00000000-0000-4000-8000-000000000000"
    )
    problem = assert_problem(issue(client, body), HTTPStatus.UNPROCESSABLE_ENTITY)
    assert "credentialSubject.achievement.id" in problem["errors"]["credential"]


def test_another_centres_achievement_is_refused(client, enabled, db, kek, now, welding):
    other = services.create_organisation(
        db, kek, slug="southside", name="Southside", public_url=PUBLIC_URL, now=now
    )
    theirs = services.create_achievement(
        db,
        organisation=other,
        name="Forklift",
        description="Drives.",
        criteria="Drove.",
        now=now,
    )
    for reference in (
        theirs.public_id,
        f"{PUBLIC_URL}/orgs/southside/achievements/{theirs.public_id}",
    ):
        body = request_body(welding)
        body["credential"]["credentialSubject"]["achievement"]["id"] = reference
        problem = assert_problem(issue(client, body), HTTPStatus.UNPROCESSABLE_ENTITY)
        assert "credentialSubject.achievement.id" in problem["errors"]["credential"]


@pytest.mark.parametrize(
    "identifier",
    [
        [
            {
                "type": "IdentityObject",
                "identityType": "emailAddress",
                "hashed": False,
                "identityHash": "amina@example.org",
            }
        ],
        [
            {
                "type": "IdentityObject",
                "identityType": "emailAddress",
                "hashed": True,
                "identityHash": "sha256$00",
                "salt": "x",
            }
        ],
    ],
    ids=["plaintext", "hashed"],
)
def test_the_credential_must_not_carry_the_email(client, enabled, db, welding, identifier):
    body = request_body(welding)
    body["credential"]["credentialSubject"]["identifier"] = identifier
    problem = assert_problem(issue(client, body), HTTPStatus.UNPROCESSABLE_ENTITY)
    messages = problem["errors"]["credential"]["credentialSubject"]["identifier"]
    assert "recipientEmail" in messages[0]
    assert db.scalars(select(IssuedCredential)).all() == []


def test_an_email_anywhere_the_client_writes_is_refused(client, enabled, welding):
    body = request_body(welding)
    body["credential"]["credentialSubject"]["name"] = "amina@example.org"
    problem = assert_problem(issue(client, body), HTTPStatus.UNPROCESSABLE_ENTITY)
    assert "credentialSubject.name" in problem["errors"]["credential"]
    assert "plaintext e-mail" in problem["errors"]["credential"]["credentialSubject.name"][0]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c.update(id="urn:uuid:1"), "id"),
        (lambda c: c.update(proof={"type": "DataIntegrityProof"}), "proof"),
        (
            lambda c: c.update(credentialStatus={"type": "BitstringStatusListEntry"}),
            "credentialStatus",
        ),
        (lambda c: c.update(evidence=[]), "evidence"),
        (lambda c: c.update(credentialSchema={}), "credentialSchema"),
        (lambda c: c.update(issuer="did:web:elsewhere.example"), "issuer"),
        (
            lambda c: c.update(
                issuer={"id": "did:web:tessera.test:orgs:northside", "name": "Someone Else"}
            ),
            "issuer.name",
        ),
        (lambda c: c.update(name="A different badge"), "name"),
        (lambda c: c.update(type=["VerifiableCredential"]), "type"),
        (lambda c: c.update({"@context": ["https://www.w3.org/ns/credentials/v2"]}), "@context"),
        (lambda c: c.update(validFrom="2026-01-01"), "validFrom"),
        (lambda c: c.update(validUntil=5), "validUntil"),
        (lambda c: c["credentialSubject"].update(type="Person"), "credentialSubject"),
        (lambda c: c["credentialSubject"].update(name="  "), "credentialSubject"),
        (lambda c: c["credentialSubject"].pop("name"), "credentialSubject"),
        (lambda c: c["credentialSubject"].update(id="mailto:amina"), "credentialSubject"),
        (lambda c: c["credentialSubject"].update(result=[]), "credentialSubject"),
        (
            lambda c: c["credentialSubject"]["achievement"].update(name="Brain surgery"),
            "credentialSubject.achievement.name",
        ),
        (
            lambda c: c["credentialSubject"]["achievement"].update(image={"id": "x"}),
            "credentialSubject",
        ),
        (
            lambda c: c["credentialSubject"]["achievement"].update(id="welding"),
            "credentialSubject.achievement.id",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_anything_tessera_would_not_write_is_refused(client, enabled, db, welding, change, where):
    body = request_body(welding)
    change(body["credential"])
    problem = assert_problem(issue(client, body), HTTPStatus.UNPROCESSABLE_ENTITY)
    assert where in json.dumps(problem["errors"]["credential"]), problem
    assert db.scalars(select(IssuedCredential)).all() == []


def test_an_expiry_before_the_start_is_refused(client, enabled, welding):
    body = request_body(
        welding, validFrom="2027-01-01T00:00:00Z", validUntil="2026-06-01T00:00:00Z"
    )
    problem = assert_problem(issue(client, body), HTTPStatus.UNPROCESSABLE_ENTITY)
    assert "later than" in problem["detail"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.pop("options"),
        lambda b: b["options"].pop("recipientEmail"),
        lambda b: b["options"].update(recipientEmail="not-an-address"),
        lambda b: b["options"].update(credentialId="urn:uuid:1"),
        lambda b: b.update(extra=True),
        lambda b: b.update(credential="eyJ.eyJ.sig"),
        lambda b: b.update(credential=None),
    ],
)
def test_malformed_requests_are_validation_problems(client, enabled, welding, mutate):
    body = copy.deepcopy(request_body(welding))
    mutate(body)
    assert_problem(issue(client, body), HTTPStatus.UNPROCESSABLE_ENTITY)


def test_unreadable_bodies_are_problems(client, enabled):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert_problem(
        client.post(ISSUE, data="{", content_type="application/json", headers=headers),
        HTTPStatus.BAD_REQUEST,
    )
    assert_problem(
        client.post(ISSUE, data="x", content_type="text/plain", headers=headers),
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    )
    deep = '{"credential": ' + "[" * 50_000 + "]" * 50_000 + "}"
    assert_problem(
        client.post(ISSUE, data=deep, content_type="application/json", headers=headers),
        HTTPStatus.BAD_REQUEST,
    )


# -- configuration -------------------------------------------------------------------------


def _config(tmp_path, **settings):
    return {
        "INSTANCE": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "KEK": Fernet.generate_key().decode(),
    } | settings


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"VCAPI_ISSUER": "northside"}, "TESSERA_VCAPI_TOKEN"),
        ({"VCAPI_TOKEN": TOKEN}, "TESSERA_VCAPI_ISSUER"),
        ({"VCAPI_ISSUER": "northside", "VCAPI_TOKEN": "too-short"}, "TESSERA_VCAPI_TOKEN"),
        ({"VCAPI_ISSUER": "northside", "VCAPI_TOKEN": "x" * 31}, "TESSERA_VCAPI_TOKEN"),
        ({"VCAPI_ISSUER": "northside", "VCAPI_TOKEN": " " + "x" * 40}, "TESSERA_VCAPI_TOKEN"),
        ({"VCAPI_ISSUER": "North Side", "VCAPI_TOKEN": TOKEN}, "TESSERA_VCAPI_ISSUER"),
    ],
)
def test_half_or_weak_vcapi_configuration_refuses_to_start(tmp_path, monkeypatch, settings, named):
    for name in ("TESSERA_VCAPI_ISSUER", "TESSERA_VCAPI_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match=named):
        create_app(_config(tmp_path, **settings))


def test_vcapi_configuration_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_VCAPI_ISSUER", "northside")
    monkeypatch.setenv("TESSERA_VCAPI_TOKEN", TOKEN)
    app = create_app(_config(tmp_path))
    app.extensions["tessera.engine"].dispose()
    assert app.config["VCAPI_ISSUER"] == "northside"
    assert app.config["VCAPI_TOKEN"] == TOKEN


# -- OpenAPI -------------------------------------------------------------------------------


def test_the_openapi_document_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == HTTPStatus.OK
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    assert {
        "/api/v1/verify",
        "/credentials/verify",
        "/presentations/verify",
        "/credentials/issue",
        "/orgs/{slug}/did.json",
        "/orgs/{slug}/jwks.json",
        "/orgs/{slug}/status/{sequence}",
        "/.well-known/did.json",
        "/healthz",
        "/api/v1/openapi.json",
    } <= set(document["paths"])
    schemas = document["components"]["schemas"]
    assert {
        "Problem",
        "VerificationResult",
        "VerifyRequest",
        "VerifyResponse",
        "VerifyCredentialRequest",
        "VerifyCredentialResponse",
        "VerifyPresentationRequest",
        "VerifyPresentationResponse",
        "IssueCredentialRequest",
        "IssueCredentialResponse",
    } <= set(schemas)
    assert schemas["VerifyRequest"]["additionalProperties"] is False
    issue_operation = document["paths"]["/credentials/issue"]["post"]
    assert issue_operation["security"] == [{"vcApiToken": []}]


def test_the_documented_paths_exist(app):
    """Every documented path is a route of the app (and the other way round, for the API)."""
    documented = set(openapi_document()["paths"])
    # <int(min=1, max=2147483647):sequence> and <slug> are both {name} in the document.
    routes = {
        re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
    }
    assert documented <= routes
    api_routes = {r for r in routes if r.startswith(("/api/", "/credentials/", "/presentations/"))}
    assert api_routes - {"/api/v1/docs"} <= documented  # the docs page renders this document


def test_docs_openapi_json_is_the_generated_document():
    """docs/openapi.json is written from the code; regenerate it when this fails:

    .venv/bin/python -m issuer.vcapi > docs/openapi.json
    """
    assert OPENAPI_FILE.read_text("utf-8") == openapi_file(), (
        "docs/openapi.json is out of date: run "
        "`.venv/bin/python -m issuer.vcapi > docs/openapi.json`"
    )
