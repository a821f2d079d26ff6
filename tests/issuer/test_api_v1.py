"""The centre's JSON API (/api/v1/achievements, /api/v1/credentials) with real API tokens."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from http import HTTPStatus

import pytest
from sqlalchemy import func, select

from issuer import accounts, catalogue, services
from issuer.clock import utcnow
from issuer.models import Achievement, IssuedCredential
from issuer.vcapi import openapi_document
from verifier import Verdict

from ..conftest import PUBLIC_URL
from ..helpers import WELDING_SKILL

FORKLIFT_SKILL = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"


@pytest.fixture
def token(db, now):
    """Make an API token of ``organisation`` with ``scopes``; returns the headers to send."""

    def make(organisation, *scopes):
        _, secret = accounts.create_api_token(
            db,
            organisation=organisation,
            name="integration",
            scopes=list(scopes),
            now=now,
            created_by=None,
            actor="test",
        )
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
def full(token, centre):
    return token(centre, "read", "issue", "revoke")


@pytest.fixture
def other_centre(db, kek, now):
    return services.create_organisation(
        db, kek, slug="southside", name="Southside Training", public_url=PUBLIC_URL, now=now
    )


def count(db, model):
    return db.scalar(select(func.count()).select_from(model))


def issue_body(achievement, **overrides):
    body = {
        "achievement": achievement.public_id,
        "name": "Amina Haddad",
        "email": "amina@example.org",
        "externalId": "L-42",
        "evidence": [{"id": "https://example.org/evidence/42", "narrative": "Passed the test."}],
    }
    body.update(overrides)
    return body


# -- authorisation -----------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/api/v1/achievements", "read"),
    ("POST", "/api/v1/achievements", "issue"),
    ("GET", "/api/v1/achievements/{a}", "read"),
    ("GET", "/api/v1/credentials", "read"),
    ("POST", "/api/v1/credentials", "issue"),
    ("GET", "/api/v1/credentials/{c}", "read"),
    ("POST", "/api/v1/credentials/{c}/revoke", "revoke"),
]


@pytest.fixture
def issued(db, kek, centre, welding):
    return catalogue.issue(
        db,
        kek,
        organisation=centre,
        achievement=welding,
        name="Yusuf Demir",
        email="yusuf@example.org",
        public_url=PUBLIC_URL,
        now=utcnow(),
        actor="test",
    ).issued.record


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_no_token_is_401(client, welding, issued, method, path, scope):
    response = client.open(
        path.format(a=welding.public_id, c=issued.public_id), method=method, json={}
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_a_token_without_the_scope_is_403(
    client, db, token, centre, welding, issued, method, path, scope
):
    others = [s for s in accounts.SCOPES if s != scope]
    before = count(db, Achievement), count(db, IssuedCredential)
    response = client.open(
        path.format(a=welding.public_id, c=issued.public_id),
        method=method,
        headers=token(centre, *others),
        json={**issue_body(welding), "reason": "x"} if method == "POST" else None,
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert scope in response.get_json()["detail"]
    assert (count(db, Achievement), count(db, IssuedCredential)) == before


def test_a_revoked_or_bogus_token_is_401(client, db, centre, now):
    record, secret = accounts.create_api_token(
        db,
        organisation=centre,
        name="old",
        scopes=["read"],
        now=now,
        created_by=None,
        actor="test",
    )
    accounts.revoke_api_token(db, organisation=centre, token_id=record.id, now=now, actor="test")
    for value in (f"Bearer {secret}", "Bearer tsr_nope_nope", f"Basic {secret}"):
        response = client.get("/api/v1/achievements", headers={"Authorization": value})
        assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_a_cookie_session_is_not_an_api_token(client, db, centre, now):
    accounts.create_user(
        db,
        email="admin@example.org",
        name="Admin",
        password="correct horse battery staple",
        now=now,
        organisation=centre,
        role="admin",
    )
    client.post("/login", data={"email": "admin@example.org", "password": "x"})
    assert client.get("/api/v1/achievements").status_code == HTTPStatus.UNAUTHORIZED


# -- achievements ------------------------------------------------------------------------------


def test_create_read_and_list_achievements(client, full, centre):
    body = {
        "name": "Operate a forklift safely",
        "description": "Moves pallets without harm.",
        "criteria": "Passed a practical test.",
        "achievementType": "ext:JobTask",
        "validityDays": 1095,
        "evidenceRequired": "The assessor's checklist.",
        "skills": [{"uri": FORKLIFT_SKILL, "targetName": "operate a forklift"}],
        "image": {
            "mediaType": "image/svg+xml",
            "data": base64.b64encode(
                b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>'
            ).decode(),
        },
    }
    response = client.post("/api/v1/achievements", json=body, headers=full)
    assert response.status_code == HTTPStatus.CREATED
    created = response.get_json()
    assert response.headers["Location"] == f"/api/v1/achievements/{created['id']}"
    assert created["url"] == f"{PUBLIC_URL}/orgs/northside/achievements/{created['id']}"
    assert created["version"] == 1 and created["previousVersion"] is None
    assert created["validityDays"] == 1095
    assert created["imageType"] == "image/svg+xml"
    assert created["alignment"][0]["targetUrl"] == FORKLIFT_SKILL
    assert created["alignment"][0]["targetName"] == "operate a forklift"
    assert client.get(response.headers["Location"], headers=full).get_json() == created
    listed = client.get("/api/v1/achievements", headers=full).get_json()["items"]
    assert [a["id"] for a in listed] == [created["id"]]
    archived = client.get("/api/v1/achievements?archived=true", headers=full).get_json()
    assert archived == {"items": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"skills": [{"uri": "http://example.org/x"}]}, "skills"),
        ({"validityDays": 0}, "validityDays"),
        ({"colour": "red"}, "colour"),
        ({"image": {"mediaType": "image/png", "data": "!!"}}, "image"),
    ],
)
def test_bad_achievement_requests_are_422(client, db, full, body, field):
    base = {"name": "A", "description": "B", "criteria": "C"}
    response = client.post("/api/v1/achievements", json={**base, **body}, headers=full)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert field in response.get_json()["errors"]
    assert count(db, Achievement) == 0


def test_a_hostile_image_is_refused(client, db, full):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    body = {
        "name": "A",
        "description": "B",
        "criteria": "C",
        "image": {"mediaType": "image/svg+xml", "data": base64.b64encode(svg).decode()},
    }
    response = client.post("/api/v1/achievements", json=body, headers=full)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "event handler" in response.get_json()["detail"]
    assert count(db, Achievement) == 0


def test_an_unknown_type_is_422(client, full):
    body = {"name": "A", "description": "B", "criteria": "C", "achievementType": "Sandwich"}
    response = client.post("/api/v1/achievements", json=body, headers=full)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "not an Open Badges type" in response.get_json()["detail"]


@pytest.mark.parametrize("query", ["archived=maybe", "colour=blue"])
def test_a_bad_achievement_list_query_is_a_documented_422(client, full, query):
    """Found by Schemathesis: the 422 was answered but not in the OpenAPI document."""
    response = client.get(f"/api/v1/achievements?{query}", headers=full)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.mimetype == "application/problem+json"
    documented = openapi_document()["paths"]["/api/v1/achievements"]["get"]["responses"]
    assert "422" in documented


def test_a_body_that_is_not_json_is_refused(client, full):
    response = client.post("/api/v1/achievements", data="name=x", headers=full)
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE


# -- issuing -----------------------------------------------------------------------------------


def test_issue_a_credential(client, db, full, centre, welding, verify_here):
    response = client.post("/api/v1/credentials", json=issue_body(welding), headers=full)
    assert response.status_code == HTTPStatus.CREATED
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/credentials/{body['id']}"
    assert body["claimUrl"].startswith(f"{PUBLIC_URL}/claim/")
    assert body["verifyUrl"] == f"{PUBLIC_URL}/v/{body['id']}"
    assert body["status"] == "valid"
    assert body["externalId"] == "L-42"
    assert body["achievement"] == {"id": welding.public_id, "name": welding.name, "version": 1}
    assert (
        body["evidence"]
        == body["credential"]["evidence"]
        == [
            {
                "id": "https://example.org/evidence/42",
                "type": ["Evidence"],
                "narrative": "Passed the test.",
            }
        ]
    )
    assert verify_here(body["credential"], at=utcnow()).verdict == Verdict.VALID
    assert verify_here(body["jwt"], at=utcnow()).verdict == Verdict.VALID
    record = db.scalars(select(IssuedCredential)).one()
    assert record.public_id == body["id"]


def test_an_idempotency_key_replay_returns_the_first_result(client, db, full, welding):
    headers = {**full, "Idempotency-Key": "order-7781"}
    first = client.post("/api/v1/credentials", json=issue_body(welding), headers=headers)
    again = client.post("/api/v1/credentials", json=issue_body(welding), headers=headers)
    assert first.status_code == HTTPStatus.CREATED
    assert again.status_code == HTTPStatus.OK
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["credential"] == first.get_json()["credential"]
    assert again.get_json()["claimUrl"] is None
    assert count(db, IssuedCredential) == 1
    other = client.post(
        "/api/v1/credentials", json=issue_body(welding, name="Someone Else"), headers=headers
    )
    assert other.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "already used" in other.get_json()["detail"]
    assert count(db, IssuedCredential) == 1


def test_a_malformed_idempotency_key_is_422(client, full, welding):
    headers = {**full, "Idempotency-Key": "has spaces"}
    response = client.post("/api/v1/credentials", json=issue_body(welding), headers=headers)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "Idempotency-Key" in response.get_json()["errors"]


def test_the_issue_date_and_validity(client, db, full, centre, welding):
    welding.validity_days = 30
    db.commit()
    day = (utcnow() - timedelta(days=3)).date()
    body = client.post(
        "/api/v1/credentials", json=issue_body(welding, issuedOn=day.isoformat()), headers=full
    ).get_json()
    assert body["validFrom"] == f"{day.isoformat()}T00:00:00Z"
    assert body["validUntil"] == f"{(day + timedelta(days=30)).isoformat()}T00:00:00Z"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": " "}, "name"),
        ({"email": "nope"}, "email"),
        ({"evidence": [{"id": "ftp://example.org/x"}]}, "evidence"),
        ({"issuedOn": "yesterday"}, "issuedOn"),
        ({"recipientDid": "did:key:z6Mk"}, "recipientDid"),
    ],
)
def test_bad_issue_requests_are_422_and_write_nothing(client, db, full, welding, overrides, field):
    response = client.post(
        "/api/v1/credentials", json=issue_body(welding, **overrides), headers=full
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert field in response.get_json()["errors"]
    assert count(db, IssuedCredential) == 0


def test_a_future_issue_date_is_422(client, db, full, welding):
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    response = client.post(
        "/api/v1/credentials", json=issue_body(welding, issuedOn=tomorrow), headers=full
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "future" in response.get_json()["detail"]
    assert count(db, IssuedCredential) == 0


def test_an_archived_achievement_cannot_be_issued(client, db, full, welding, now):
    catalogue.archive_achievement(db, welding, now=now, actor="test")
    response = client.post("/api/v1/credentials", json=issue_body(welding), headers=full)
    assert response.status_code == HTTPStatus.CONFLICT
    assert count(db, IssuedCredential) == 0


# -- reading and revoking ----------------------------------------------------------------------


def test_list_filter_and_page(client, db, kek, full, centre, welding, now):
    for n in range(3):
        services.issue_credential(
            db,
            kek,
            organisation=centre,
            achievement=welding,
            name=f"Learner {n}",
            email=f"l{n}@example.org",
            public_url=PUBLIC_URL,
            now=now + timedelta(minutes=n),
        )
    page = client.get("/api/v1/credentials?perPage=2", headers=full).get_json()
    assert (page["total"], page["pages"], page["page"], page["perPage"]) == (3, 2, 1, 2)
    assert [c["name"] for c in page["items"]] == ["Learner 2", "Learner 1"]
    second = client.get("/api/v1/credentials?perPage=2&page=2", headers=full).get_json()
    assert [c["name"] for c in second["items"]] == ["Learner 0"]
    found = client.get("/api/v1/credentials?q=l1%40example", headers=full).get_json()
    assert [c["email"] for c in found["items"]] == ["l1@example.org"]
    assert client.get("/api/v1/credentials?status=revoked", headers=full).get_json()["total"] == 0
    bad = client.get("/api/v1/credentials?status=lost&colour=red", headers=full)
    assert bad.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert set(bad.get_json()["errors"]) == {"status", "colour"}


def test_get_and_revoke_a_credential(client, db, full, issued, verify_here):
    path = f"/api/v1/credentials/{issued.public_id}"
    got = client.get(path, headers=full).get_json()
    assert got["credential"] == json.loads(issued.document)
    assert got["jwt"] == issued.jwt
    blank = client.post(f"{path}/revoke", json={"reason": " "}, headers=full)
    assert blank.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    revoked = client.post(f"{path}/revoke", json={"reason": "Issued by mistake"}, headers=full)
    assert revoked.status_code == HTTPStatus.OK
    assert revoked.get_json()["status"] == "revoked"
    assert revoked.get_json()["revocationReason"] == "Issued by mistake"
    again = client.post(f"{path}/revoke", json={"reason": "Again"}, headers=full)
    assert again.status_code == HTTPStatus.CONFLICT
    assert again.mimetype == "application/problem+json"
    assert again.get_json()["code"] == "conflict"
    db.expire_all()
    record = db.get(IssuedCredential, issued.id)
    assert verify_here(json.loads(record.document), at=utcnow()).verdict == Verdict.REVOKED


def test_another_centres_ids_are_404(client, db, kek, token, other_centre, centre, welding, issued):
    theirs = token(other_centre, "read", "issue", "revoke")
    for path in (
        f"/api/v1/achievements/{welding.public_id}",
        f"/api/v1/credentials/{issued.public_id}",
    ):
        response = client.get(path, headers=theirs)
        assert response.status_code == HTTPStatus.NOT_FOUND
        assert response.get_json()["code"] == "not-found"
    response = client.post(
        f"/api/v1/credentials/{issued.public_id}/revoke", json={"reason": "x"}, headers=theirs
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    response = client.post("/api/v1/credentials", json=issue_body(welding), headers=theirs)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "achievement" in response.get_json()["errors"]
    assert client.get("/api/v1/credentials", headers=theirs).get_json()["total"] == 0
    assert client.get("/api/v1/achievements", headers=theirs).get_json() == {"items": []}
    db.expire_all()
    assert db.get(IssuedCredential, issued.id).revoked_at is None
    assert count(db, IssuedCredential) == 1


def test_the_openapi_document_describes_the_centre_api():
    document = openapi_document()
    paths = document["paths"]
    assert paths["/api/v1/credentials"]["post"]["security"] == [{"apiToken": ["issue"]}]
    assert paths["/api/v1/credentials/{public_id}/revoke"]["post"]["security"] == [
        {"apiToken": ["revoke"]}
    ]
    assert set(paths["/api/v1/achievements"]) == {"get", "post"}
    for name in (
        "Achievement",
        "CredentialIssueRequest",
        "IssueCredentialResult",
        "CredentialPage",
        "RevokeRequest",
    ):
        assert name in document["components"]["schemas"]
    assert WELDING_SKILL  # the shared fixtures' skill is an ESCO URI the API accepts
