"""Bulk issuing over HTTP: the upload, preview, progress and results pages, and the JSON API."""

from __future__ import annotations

import csv
import io
import json
import re
from http import HTTPStatus

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from issuer import accounts, bulk, jobs, services
from issuer.claims import credential_for_claim
from issuer.clock import utcnow
from issuer.models import BulkJob, IssuedCredential
from issuer.vcapi import openapi_document, openapi_file

from ..conftest import PUBLIC_URL
from .test_bulk import csv_bytes, xlsx_bytes

PASSWORD = "correct horse battery staple"


def csrf_token(response):
    found = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert found, "the page has no CSRF token"
    return found.group(1)


@pytest.fixture
def sign_in(app, db, centre, now):
    """A test client signed in as a member of ``centre`` (or another centre) with a role."""

    def signed_in(role="issuer", organisation=None, email=None):
        email = email or f"{role}@example.org"
        accounts.create_user(
            db,
            email=email,
            name=role.title(),
            password=PASSWORD,
            now=now,
            organisation=organisation or centre,
            role=role,
        )
        client = app.test_client()
        token = csrf_token(client.get("/login"))
        response = client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": ""}
        )
        assert response.status_code == HTTPStatus.FOUND, response.get_data(as_text=True)
        return client

    return signed_in


@pytest.fixture
def issuer_client(sign_in):
    return sign_in("issuer")


def multipart(path, client, headers=None, **fields):
    """POST a multipart form encoded here: the test client would spool a large body to a
    temporary file that it never closes (a ResourceWarning, an error under our settings)."""
    values = {
        k: FileStorage(io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v
        for k, v in fields.items()
    }
    boundary, body = encode_multipart(values)
    return client.post(
        path,
        data=body,
        headers=headers or {},
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def upload(client, achievement, data, filename="cohort.csv", token=None):
    token = token or csrf_token(client.get("/centre/bulk"))
    return multipart(
        "/centre/bulk",
        client,
        csrf_token=token,
        achievement=achievement.public_id,
        file=(data, filename),
    )


def cohort(size=50, bad=()):
    """A CSV of ``size`` learners; rows listed in ``bad`` (spreadsheet row numbers) are wrong."""
    lines = ["Name,Email,External ID"]
    for n in range(2, size + 2):
        if n in bad:
            lines.append(f",learner{n}-at-example.org,X{n}")
        else:
            lines.append(f"Learner {n},learner{n}@example.org,X{n}")
    return csv_bytes(*lines)


def job_from(response, db):
    public_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    return db.scalars(select(BulkJob).where(BulkJob.public_id == public_id)).one()


def _credentials(db, job=None):
    query = select(func.count()).select_from(IssuedCredential)
    if job is not None:
        query = query.where(IssuedCredential.bulk_job_id == job.id)
    return db.scalar(query)


# -- pages ----------------------------------------------------------------------------------


def test_the_dashboard_links_to_the_upload_for_issuers(sign_in):
    issuer = sign_in("issuer")
    assert "/centre/bulk" in issuer.get("/centre/").get_data(as_text=True)
    viewer = sign_in("viewer")
    assert "/centre/bulk" not in viewer.get("/centre/").get_data(as_text=True)


def test_upload_page(issuer_client, welding):
    page = issuer_client.get("/centre/bulk")
    assert page.status_code == HTTPStatus.OK
    html = page.get_data(as_text=True)
    assert 'accept=".csv,.xlsx' in html
    assert welding.public_id in html
    assert "/centre/bulk/template.csv" in html
    template = issuer_client.get("/centre/bulk/template.csv")
    assert template.mimetype == "text/csv"
    sheet = bulk.read_spreadsheet(template.data, "learners-template.csv")
    assert all(c.ok for c in bulk.check_rows(sheet.rows))


def test_a_cohort_of_50_with_two_bad_rows_end_to_end(app, issuer_client, db, welding):
    response = upload(issuer_client, welding, cohort(50, bad=(7, 31)))
    assert response.status_code == HTTPStatus.FOUND
    job = job_from(response, db)
    preview = issuer_client.get(response.headers["Location"])
    html = preview.get_data(as_text=True)
    assert preview.status_code == HTTPStatus.OK
    assert "Issue 48 credentials" in html
    # Problems first, with their spreadsheet row numbers.
    first_rows = re.findall(r"<tr>\s*<td>(\d+)</td>", html)[:2]
    assert first_rows == ["7", "31"]
    assert html.count("name is missing") == 2
    assert "not a valid e-mail address" in html
    assert _credentials(db) == 0  # the preview writes no credential

    confirm = issuer_client.post(
        f"/centre/bulk/{job.public_id}/confirm", data={"csrf_token": csrf_token(preview)}
    )
    assert confirm.status_code == HTTPStatus.FOUND
    progress_page = issuer_client.get(f"/centre/bulk/{job.public_id}")
    html = progress_page.get_data(as_text=True)
    assert "<progress" in html and 'max="48"' in html
    assert "bulk_progress.js" in html and "<script>" not in html  # CSP: no inline script
    assert f'href="/centre/bulk/{job.public_id}" id="bulk-refresh"' in html  # works without JS
    numbers = issuer_client.get(f"/centre/bulk/{job.public_id}/progress").get_json()
    assert numbers | {"state": None} == {
        "state": None,
        "total": 48,
        "issued": 0,
        "failed": 0,
        "done": 0,
        "percent": 0,
        "over": False,
    }

    assert jobs.run_job(app, job.id) == bulk.Outcome.FINISHED  # the task's body, as a worker
    numbers = issuer_client.get(f"/centre/bulk/{job.public_id}/progress").get_json()
    assert (numbers["state"], numbers["issued"], numbers["percent"], numbers["over"]) == (
        "finished",
        48,
        100,
        True,
    )
    assert _credentials(db, job) == 48

    results = issuer_client.get(f"/centre/bulk/{job.public_id}")
    html = results.get_data(as_text=True)
    assert "Download claim links (CSV)" in html
    assert "earlier download stop working" in html
    download = issuer_client.post(
        f"/centre/bulk/{job.public_id}/claim-links.csv", data={"csrf_token": csrf_token(results)}
    )
    assert download.status_code == HTTPStatus.OK
    assert download.mimetype == "text/csv"
    assert download.headers["Cache-Control"] == "no-store"
    table = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert table[0] == ["row", "name", "email", "external_id", "verify_url", "claim_url"]
    assert len(table) == 49
    row, name, email, external_id, verify_url, claim_url = table[1]
    assert (row, name, email, external_id) == ("2", "Learner 2", "learner2@example.org", "X2")
    assert verify_url.startswith(f"{PUBLIC_URL}/v/")
    assert claim_url.startswith(f"{PUBLIC_URL}/claim/")
    token = claim_url.rsplit("/", 1)[1]
    assert credential_for_claim(db, token, now=utcnow()).recipient_email == "learner2@example.org"
    again = issuer_client.post(
        f"/centre/bulk/{job.public_id}/claim-links.csv", data={"csrf_token": csrf_token(results)}
    )
    assert again.status_code == HTTPStatus.OK
    assert credential_for_claim(db, token, now=utcnow()) is None  # retired by the new download


def test_an_xlsx_upload(issuer_client, db, welding):
    data = xlsx_bytes([["Full name", "E-mail"], ["Amina Haddad", "amina@example.org"]])
    response = upload(issuer_client, welding, data, filename="cohort.xlsx")
    assert response.status_code == HTTPStatus.FOUND
    assert job_from(response, db).total == 1


def test_the_encoding_guess_and_unused_columns_are_shown(issuer_client, welding):
    data = csv_bytes("name,email,phone", "José,jose@example.org,1", encoding="cp1252")
    response = upload(issuer_client, welding, data)
    html = issuer_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Windows-1252" in html
    assert "These columns were not used: phone." in html
    assert "José" in html


def test_html_in_cells_is_escaped(issuer_client, welding):
    data = csv_bytes("name,email,external_id", "<script>alert(1)</script>,a@example.org,<b>x</b>")
    response = upload(issuer_client, welding, data)
    html = issuer_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("data", "filename", "status", "message"),
    [
        pytest.param(
            b"", "empty.csv", HTTPStatus.UNPROCESSABLE_ENTITY, "The file is empty", id="empty"
        ),
        pytest.param(
            csv_bytes("who,mail"),
            "x.csv",
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "No name column",
            id="no-header",
        ),
        pytest.param(
            b"name,email\r\n" + b"x" * (bulk.MAX_UPLOAD_BYTES),
            "x.csv",
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "limit is 5 MiB",
            id="too-big",
        ),
        pytest.param(
            b"name,email\r\n" + b"x" * (8 * 2**20),
            "x.csv",
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "The file is too large",
            id="huge",
        ),
        pytest.param(
            xlsx_bytes([["name", "email"]]),
            "x.xlsm",
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "macro",
            id="xlsm",
        ),
    ],
)
def test_bad_uploads_get_a_clear_message_and_store_nothing(
    issuer_client, db, welding, data, filename, status, message
):
    response = upload(issuer_client, welding, data, filename=filename)
    assert response.status_code == status
    assert message.lower() in response.get_data(as_text=True).lower()
    assert db.scalar(select(func.count()).select_from(BulkJob)) == 0


def test_an_upload_without_a_file_or_with_another_centres_achievement(
    issuer_client, db, kek, welding, now
):
    token = csrf_token(issuer_client.get("/centre/bulk"))
    response = issuer_client.post(
        "/centre/bulk", data={"csrf_token": token, "achievement": welding.public_id}
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "Choose the spreadsheet file" in response.get_data(as_text=True)
    other = services.create_organisation(
        db, kek, slug="other", name="Other", public_url=PUBLIC_URL, now=now
    )
    theirs = services.create_achievement(
        db, organisation=other, name="Theirs", description="D", criteria="C", now=now
    )
    response = upload(issuer_client, theirs, cohort(2))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert db.scalar(select(func.count()).select_from(BulkJob)) == 0


def test_an_upload_without_a_csrf_token_is_refused(issuer_client, db, welding):
    response = upload(issuer_client, welding, cohort(2), token="forged")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert db.scalar(select(func.count()).select_from(BulkJob)) == 0


def test_cancel_from_the_progress_page(app, issuer_client, db, welding):
    job = job_from(upload(issuer_client, welding, cohort(3)), db)
    token = csrf_token(issuer_client.get(f"/centre/bulk/{job.public_id}"))
    issuer_client.post(f"/centre/bulk/{job.public_id}/confirm", data={"csrf_token": token})
    response = issuer_client.post(
        f"/centre/bulk/{job.public_id}/cancel", data={"csrf_token": token}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert bulk.refresh(db, job).state == "cancelled"
    assert jobs.run_job(app, job.id) == bulk.Outcome.BUSY
    html = issuer_client.get(f"/centre/bulk/{job.public_id}").get_data(as_text=True)
    assert "not issued (cancelled)" in html and _credentials(db) == 0


def test_discarding_a_preview(issuer_client, db, welding):
    job = job_from(upload(issuer_client, welding, cohort(3)), db)
    token = csrf_token(issuer_client.get(f"/centre/bulk/{job.public_id}"))
    response = issuer_client.post(
        f"/centre/bulk/{job.public_id}/cancel", data={"csrf_token": token}
    )
    assert response.headers["Location"].endswith("/centre/bulk")
    assert bulk.refresh(db, job).state == "cancelled"


# -- permissions ----------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/centre/bulk")
    assert response.status_code == HTTPStatus.FOUND
    assert "/login" in response.headers["Location"]


def test_a_viewer_cannot_upload_confirm_or_cancel(sign_in, issuer_client, db, welding):
    job = job_from(upload(issuer_client, welding, cohort(2)), db)
    viewer = sign_in("viewer")
    assert viewer.get("/centre/bulk").status_code == HTTPStatus.FORBIDDEN
    token = csrf_token(viewer.get("/centre/"))
    response = multipart(
        "/centre/bulk",
        viewer,
        csrf_token=token,
        achievement=welding.public_id,
        file=(cohort(2), "x.csv"),
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    for action in ("confirm", "cancel", "claim-links.csv"):
        response = viewer.post(f"/centre/bulk/{job.public_id}/{action}", data={"csrf_token": token})
        assert response.status_code == HTTPStatus.FORBIDDEN
    # A viewer may follow a job.
    assert viewer.get(f"/centre/bulk/{job.public_id}").status_code == HTTPStatus.OK
    assert bulk.refresh(db, job).state == "preview"


def test_another_centres_job_is_not_found(sign_in, issuer_client, db, kek, welding, now):
    job = job_from(upload(issuer_client, welding, cohort(2)), db)
    other = services.create_organisation(
        db, kek, slug="other", name="Other", public_url=PUBLIC_URL, now=now
    )
    stranger = sign_in("admin", organisation=other, email="admin@other.example.org")
    token = csrf_token(stranger.get("/centre/"))
    for path in ("", "/progress"):
        response = stranger.get(f"/centre/bulk/{job.public_id}{path}")
        assert response.status_code == HTTPStatus.NOT_FOUND
    for action in ("confirm", "cancel", "claim-links.csv"):
        response = stranger.post(
            f"/centre/bulk/{job.public_id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == HTTPStatus.NOT_FOUND
    assert bulk.refresh(db, job).state == "preview"


# -- the JSON API ---------------------------------------------------------------------------


@pytest.fixture
def api_token(db, centre, now):
    def token(*scopes, organisation=None):
        _, secret = accounts.create_api_token(
            db,
            organisation=organisation or centre,
            name="integration",
            scopes=list(scopes),
            now=now,
            created_by=None,
            actor="test",
        )
        return {"Authorization": f"Bearer {secret}"}

    return token


ROWS = [
    {
        "name": "Amina Haddad",
        "email": "amina@example.org",
        "external_id": "L-1",
        "evidence_url": "https://portfolio.example.org/amina",
    },
    {"name": "Yusuf Demir", "email": "yusuf@example.org"},
    {"name": "", "email": "nobody"},
]


def test_api_create_preview_then_confirm(app, client, db, welding, api_token):
    headers = api_token("issue", "read")
    response = client.post(
        "/api/v1/bulk-jobs", headers=headers, json={"achievement": welding.public_id, "rows": ROWS}
    )
    assert response.status_code == HTTPStatus.CREATED
    body = response.get_json()
    assert response.headers["Location"] == f"{PUBLIC_URL}/api/v1/bulk-jobs/{body['id']}"
    assert (body["state"], body["total"], body["invalid"], body["pending"]) == ("preview", 2, 1, 2)
    assert [r["status"] for r in body["rows"]] == ["pending", "pending", "invalid"]
    assert body["rows"][2]["row"] == 3 and "name is missing" in body["rows"][2]["message"]
    assert _credentials(db) == 0

    confirmed = client.post(f"/api/v1/bulk-jobs/{body['id']}/confirm", headers=headers)
    assert confirmed.status_code == HTTPStatus.OK
    assert confirmed.get_json()["state"] == "queued"
    job = db.scalars(select(BulkJob).where(BulkJob.public_id == body["id"])).one()
    assert jobs.run_job(app, job.id) == bulk.Outcome.FINISHED

    shown = client.get(f"/api/v1/bulk-jobs/{body['id']}", headers=api_token("read"))
    assert shown.status_code == HTTPStatus.OK
    done = shown.get_json()
    assert (done["state"], done["issued"], done["failed"]) == ("finished", 2, 0)
    issued = done["rows"][0]
    assert issued["status"] == "issued" and issued["credential"]["id"].startswith("urn:uuid:")
    credential = issued["credential"]
    assert credential["verify_url"] == f"{PUBLIC_URL}/v/{credential['public_id']}"
    assert done["rows"][2]["credential"] is None

    links = client.post(f"/api/v1/bulk-jobs/{body['id']}/claim-links", headers=headers)
    assert links.status_code == HTTPStatus.OK
    assert [link["row"] for link in links.get_json()["links"]] == [1, 2]


def test_api_create_and_confirm_at_once_with_an_idempotency_key(
    app, client, db, welding, api_token
):
    headers = api_token("issue") | {"Idempotency-Key": "cohort-2026-01"}
    request = {"achievement": welding.public_id, "rows": ROWS[:2], "confirm": True}
    first = client.post("/api/v1/bulk-jobs", headers=headers, json=request)
    assert first.status_code == HTTPStatus.CREATED
    assert first.get_json()["state"] == "queued"
    again = client.post("/api/v1/bulk-jobs", headers=headers, json=request)
    assert again.status_code == HTTPStatus.OK
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert db.scalar(select(func.count()).select_from(BulkJob)) == 1
    different = client.post("/api/v1/bulk-jobs", headers=headers, json=request | {"rows": ROWS[:1]})
    assert different.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "already used" in different.get_json()["detail"]


def test_api_multipart_upload(client, db, welding, api_token):
    response = multipart(
        "/api/v1/bulk-jobs",
        client,
        headers=api_token("issue"),
        achievement=welding.public_id,
        confirm="false",
        file=(cohort(5, bad=(3,)), "cohort.csv"),
    )
    assert response.status_code == HTTPStatus.CREATED, response.get_json()
    body = response.get_json()
    assert (body["total"], body["invalid"], body["filename"]) == (4, 1, "cohort.csv")
    assert body["rows"][1]["row"] == 3  # spreadsheet row numbers, the header being row 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"rows": ROWS}, "achievement", id="no-achievement"),
        pytest.param({"achievement": "x", "rows": []}, "rows", id="no-rows"),
        pytest.param(
            {"achievement": "x", "rows": [{"name": "A", "mail": "a"}]}, "rows", id="unknown-field"
        ),
        pytest.param({"achievement": "x", "rows": ROWS, "extra": 1}, "extra", id="extra"),
        pytest.param({"achievement": "x", "rows": "name,email"}, "rows", id="not-a-list"),
    ],
)
def test_api_refuses_unreadable_requests(client, api_token, payload, field):
    response = client.post("/api/v1/bulk-jobs", headers=api_token("issue"), json=payload)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


def test_api_too_many_rows(client, api_token, welding):
    rows = [{"name": "A", "email": f"a{n}@example.org"} for n in range(bulk.MAX_ROWS + 1)]
    app_limit = client.application.config["MAX_CONTENT_LENGTH"]
    client.application.config["MAX_CONTENT_LENGTH"] = 10 * 2**20
    try:
        response = client.post(
            "/api/v1/bulk-jobs",
            headers=api_token("issue"),
            json={"achievement": welding.public_id, "rows": rows},
        )
    finally:
        client.application.config["MAX_CONTENT_LENGTH"] = app_limit
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "rows" in response.get_json()["errors"]


def test_api_permissions(client, db, kek, welding, api_token, now):
    request = {"achievement": welding.public_id, "rows": ROWS[:1]}
    assert client.post("/api/v1/bulk-jobs", json=request).status_code == HTTPStatus.UNAUTHORIZED
    read_only = client.post("/api/v1/bulk-jobs", headers=api_token("read"), json=request)
    assert read_only.status_code == HTTPStatus.FORBIDDEN
    created = client.post("/api/v1/bulk-jobs", headers=api_token("issue"), json=request)
    job_id = created.get_json()["id"]
    assert (
        client.get(f"/api/v1/bulk-jobs/{job_id}", headers=api_token("issue")).status_code
        == HTTPStatus.FORBIDDEN
    )
    other = services.create_organisation(
        db, kek, slug="other", name="Other", public_url=PUBLIC_URL, now=now
    )
    theirs = api_token("read", "issue", organisation=other)
    for method, path in (
        ("get", ""),
        ("post", "/confirm"),
        ("post", "/cancel"),
        ("post", "/claim-links"),
    ):
        response = getattr(client, method)(f"/api/v1/bulk-jobs/{job_id}{path}", headers=theirs)
        assert response.status_code == HTTPStatus.NOT_FOUND
        assert response.mimetype == "application/problem+json"
    # Another centre cannot issue this centre's achievement either.
    response = client.post("/api/v1/bulk-jobs", headers=theirs, json=request)
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_api_state_conflicts(client, welding, api_token):
    headers = api_token("issue", "read")
    job_id = client.post(
        "/api/v1/bulk-jobs",
        headers=headers,
        json={"achievement": welding.public_id, "rows": ROWS[:1]},
    ).get_json()["id"]
    early = client.post(f"/api/v1/bulk-jobs/{job_id}/claim-links", headers=headers)
    assert early.status_code == HTTPStatus.CONFLICT
    assert client.post(f"/api/v1/bulk-jobs/{job_id}/cancel", headers=headers).status_code == 200
    again = client.post(f"/api/v1/bulk-jobs/{job_id}/confirm", headers=headers)
    assert again.status_code == HTTPStatus.CONFLICT
    assert again.get_json()["code"] == "conflict"


def test_the_openapi_document_describes_bulk_jobs():
    document = openapi_document()
    job = "/api/v1/bulk-jobs/{public_id}"
    assert {
        "/api/v1/bulk-jobs",
        job,
        f"{job}/confirm",
        f"{job}/cancel",
        f"{job}/claim-links",
    } <= set(document["paths"])
    assert "BulkJob" in document["components"]["schemas"]
    assert json.loads(openapi_file()) == document
