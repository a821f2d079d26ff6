"""An employer matches a worker's credentials against a job: the /match page and the API.

Credentials are issued for real on this instance (one valid, one revoked, one expired) and one
comes from a training centre elsewhere (a did:key issuer). Every answer is read as a person or
an API client would: what the page says, the JSON fields, the verification counts stored.
"""

from __future__ import annotations

import html
import io
import json
import re
import uuid
import zipfile
from datetime import timedelta
from http import HTTPStatus

import pytest
from sqlalchemy import func, select

from credentials.wallet import MAX_WALLET_CREDENTIALS
from issuer import services
from issuer.models import JobProfile as JobProfileRow
from issuer.models import VerificationTally
from verifier.app import create_verifier_app

from ..conftest import PUBLIC_URL, issue_to_amina
from ..helpers import WELDING_SKILL, make_signer, signed_json

FORKLIFT = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"
MATCH = "/api/v1/match"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# -- the scene --------------------------------------------------------------------------------


@pytest.fixture
def rigging(db, centre, now):
    return services.create_achievement(
        db,
        organisation=centre,
        name="Sling and rig loads",
        description="Rigs loads for lifting.",
        criteria="Passed a practical test.",
        now=now,
    )


@pytest.fixture
def yard_profile(db, centre, rigging, now):
    """A role published by the centre: welding (a skill), rigging (an achievement), forklift."""
    row = JobProfileRow(
        public_id=str(uuid.uuid4()),
        organisation_id=centre.id,
        name="Fabrication yard hand",
        description="Welds, rigs and moves steel in the yard.",
        occupation_uri=None,
        tasks=json.dumps(
            [
                {"name": "Weld steel", "skills": [WELDING_SKILL], "achievements": []},
                {"name": "Rig loads", "skills": [], "achievements": [rigging.public_id]},
                {"name": "Drive a forklift", "skills": [FORKLIFT], "achievements": []},
            ]
        ),
        created_at=now,
        updated_at=now,
        published_at=now,
        archived_at=None,
    )
    db.add(row)
    db.commit()
    return row


@pytest.fixture
def issued(db, kek, now, centre, welding, rigging):
    """Amina's credentials: welding valid, welding revoked, rigging expired (the app checks at
    the real time, long after ``now + 1 day``)."""

    def issue(achievement, **extra):
        return issue_to_amina(db, kek, centre, achievement, now, **extra).record

    valid = issue(welding)
    revoked = issue(welding)
    services.revoke_credential(db, revoked, reason="Issued by mistake", now=now)
    expired = issue(rigging, valid_until=now + timedelta(days=1))
    return {"valid": valid, "revoked": revoked, "expired": expired}


@pytest.fixture
def foreign():
    """A welding credential from a centre elsewhere, signed with its did:key."""
    signer = make_signer("EdDSA", did="did:key")
    return signed_json(signer), signer.verification_method.partition("#")[0]


def _file(record):
    return json.dumps(json.loads(record.document)).encode()


def _zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def _token(client, path="/match"):
    found = CSRF.search(client.get(path).get_data(as_text=True))
    assert found, "the page has no CSRF token"
    return found.group(1)


def _post_page(client, *, profile="", files=(), credential="", role_tasks="", token=None):
    data = {
        "csrf_token": token if token is not None else _token(client),
        "profile": profile,
        "credential": credential,
        "role_name": "",
        "role_tasks": role_tasks,
        "files": [(io.BytesIO(body), name) for name, body in files],
    }
    return client.post("/match", data=data, content_type="multipart/form-data")


def _text(fragment):
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def _tasks(response):
    """{task name: (covered attribute, what its row says)} of the task table."""
    found = {}
    for part in response.get_data(as_text=True).split('<li class="match-task ')[1:]:
        name = html.unescape(re.search(r'data-task="([^"]+)"', part).group(1))
        covered = re.search(r'data-covered="([^"]+)"', part).group(1)
        body = part.split(">", 1)[1].split("</ol>\n</section>")[0]
        found[name] = (covered, _text(body))
    return found


def _presented(response):
    """[(verdict, what the row says)] of the list of presented credentials."""
    page = response.get_data(as_text=True)
    section = page.split('id="presented-title"', 1)[1]
    rows = re.findall(
        r'<li class="wallet-row" data-verdict="([^"]+)"[^>]*>(.*?)</li>', section, re.S
    )
    return [(verdict, _text(body)) for verdict, body in rows]


def _summary(response):
    found = re.search(r'<p class="match-summary"[^>]*>(.*?)</p>', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:3000]
    return _text(found.group(1))


def _alert(response):
    found = re.search(r'role="alert"[^>]*>(.*?)</div>', response.get_data(as_text=True), re.S)
    assert found, response.get_data(as_text=True)[:3000]
    return _text(found.group(1))


def _tallies(db, channel="match"):
    rows = db.execute(
        select(VerificationTally.verdict, func.sum(VerificationTally.count))
        .where(VerificationTally.channel == channel)
        .group_by(VerificationTally.verdict)
    ).all()
    return {verdict: int(count) for verdict, count in rows}


# -- the page ---------------------------------------------------------------------------------


def test_the_picker_offers_the_centres_published_roles_then_the_catalogue(client, yard_profile):
    page = client.get("/match").get_data(as_text=True)
    groups = re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', page, re.S)
    assert [html.unescape(label) for label, _ in groups] == [
        "Northside Skills Centre",
        "Tessera catalogue",
    ]
    assert f'value="{yard_profile.public_id}">Fabrication yard hand' in groups[0][1]
    assert 'value="catalogue:welder">Welder' in groups[1][1]
    assert "one per line" in page and "http://data.europa.eu/esco/skill/" in page  # the format


def test_a_draft_role_is_not_offered(client, db, yard_profile):
    yard_profile.published_at = None
    db.commit()
    assert "Fabrication yard hand" not in client.get("/match").get_data(as_text=True)


def test_matching_shows_each_task_and_why_credentials_do_not_count(
    client, db, yard_profile, issued
):
    response = _post_page(
        client,
        profile=yard_profile.public_id,
        files=[
            ("valid.json", _file(issued["valid"])),
            ("revoked.json", _file(issued["revoked"])),
            ("expired.json", _file(issued["expired"])),
        ],
    )
    assert response.status_code == HTTPStatus.OK, _alert(response)
    assert _summary(response) == "1 of 3 tasks covered by valid credentials."

    tasks = _tasks(response)
    covered, weld = tasks["Weld steel"]
    assert covered == "yes"
    assert weld.startswith("Weld steel Covered Skills: perform metal active gas welding")
    assert "Covered by: Valid Perform MAG welding from Northside Skills Centre · valid.json" in weld
    assert weld.endswith(
        "Would cover it, but does not count: Revoked Perform MAG welding from Northside Skills "
        "Centre · revoked.json Not counted: revoked by its issuer."
    )

    covered, rig = tasks["Rig loads"]
    assert covered == "no"
    assert "Not covered" in rig and "No valid credential covers this task." in rig
    assert (
        "Expired Sling and rig loads" in rig
        and "Not counted: expired on 16 January 2026, 09:30 UTC" in rig
    )
    assert "Training that would cover it: Sling and rig loads from Northside Skills Centre" in rig

    covered, forklift = tasks["Drive a forklift"]
    assert covered == "no"
    assert "No achievement offered here covers this task yet." in forklift

    assert _presented(response) == [
        (
            "valid",
            "Valid Perform MAG welding valid.json · from Northside Skills Centre "
            "Counts towards the role: it is valid.",
        ),
        (
            "revoked",
            "Revoked Perform MAG welding revoked.json · from Northside Skills Centre Does not "
            "count: revoked by its issuer.",
        ),
        (
            "expired",
            "Expired Sling and rig loads expired.json · from Northside Skills Centre Does not "
            "count: expired on 16 January 2026, 09:30 UTC.",
        ),
    ]


def test_the_gap_links_to_the_achievement_offered_here(client, yard_profile, issued, rigging):
    response = _post_page(
        client, profile=yard_profile.public_id, files=[("valid.json", _file(issued["valid"]))]
    )
    page = response.get_data(as_text=True)
    link = f"{PUBLIC_URL}/orgs/northside/achievements/{rigging.public_id}"
    assert f'<a href="{link}">Sling and rig loads</a>' in page


def test_each_credential_presented_is_counted_once_as_a_match(
    client, db, yard_profile, issued, foreign
):
    before = _tallies(db)
    _post_page(
        client,
        profile=yard_profile.public_id,
        files=[
            ("valid.json", _file(issued["valid"])),
            ("revoked.json", _file(issued["revoked"])),
            ("expired.json", _file(issued["expired"])),
            ("foreign.json", json.dumps(foreign[0]).encode()),
        ],
    )
    after = _tallies(db)
    assert before == {}
    # ours only: the foreign credential was issued elsewhere and is not this instance's figure
    assert after == {"valid": 1, "revoked": 1, "expired": 1}
    assert _tallies(db, "upload") == {}


def test_a_foreign_issuer_counts_only_once_recognised(app, client, yard_profile, foreign):
    document, did = foreign
    files = [("other-centre.json", json.dumps(document).encode())]
    response = _post_page(client, profile=yard_profile.public_id, files=files)
    covered, weld = _tasks(response)["Weld steel"]
    assert covered == "no"
    assert "Issuer not recognised Perform MAG welding on structural steel" in weld
    assert "Not counted: its issuer is not one this verifier recognises" in weld
    assert _summary(response) == "0 of 3 tasks covered by valid credentials."

    app.config["TRUSTED_ISSUERS"] = [did]
    response = _post_page(client, profile=yard_profile.public_id, files=files)
    covered, weld = _tasks(response)["Weld steel"]
    assert covered == "yes"
    assert "Covered by: Valid Perform MAG welding on structural steel" in weld


def test_a_catalogue_role_and_a_pasted_credential(client, issued):
    response = _post_page(
        client,
        profile="catalogue:welder",
        credential=json.dumps(json.loads(issued["valid"].document)),
    )
    assert response.status_code == HTTPStatus.OK
    assert "Tessera catalogue" in response.get_data(as_text=True)
    assert _summary(response) == "1 of 5 tasks covered by valid credentials."
    covered, weld = _tasks(response)["Weld steel with metal active gas (MAG) welding"]
    assert covered == "yes" and "pasted credential" in weld
    assert "Skills: perform metal active gas welding, apply arc welding techniques" in weld


def test_a_wallet_zip_counts_as_each_credential_in_it(client, db, yard_profile, issued):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.json", _file(issued["valid"]))
        archive.writestr("b.jwt", issued["expired"].jwt)
    response = _post_page(
        client, profile=yard_profile.public_id, files=[("wallet.zip", buffer.getvalue())]
    )
    assert response.status_code == HTTPStatus.OK, _alert(response)
    labels = [text.split(" · ")[0] for _, text in _presented(response)]
    assert [v for v, _ in _presented(response)] == ["valid", "expired"]
    assert labels[0].endswith("wallet.zip") and "wallet.zip · a.json" in _presented(response)[0][1]
    assert "wallet.zip · b.jwt" in _presented(response)[1][1]
    assert _tallies(db) == {"valid": 1, "expired": 1}


def test_a_role_described_on_the_page(client, issued):
    response = _post_page(
        client,
        profile="custom",
        role_tasks=f"Weld: {WELDING_SKILL}\nForklift: {FORKLIFT}\n",
        files=[("valid.json", _file(issued["valid"]))],
    )
    assert response.status_code == HTTPStatus.OK, _alert(response)
    assert _summary(response) == "1 of 2 tasks covered by valid credentials."
    assert "Role described here" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        (
            {},
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "Choose a role from the list, or describe one below.",
        ),
        (
            {"profile": "no-such-role"},
            HTTPStatus.NOT_FOUND,
            "There is no published role with that id here",
        ),
        (
            {"profile": "custom", "role_tasks": f"Weld: {WELDING_SKILL}\nDrive a forklift"},
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "The role you described cannot be used: line 2: write the task's name, a colon",
        ),
        ({"profile": "catalogue:welder"}, HTTPStatus.UNPROCESSABLE_ENTITY, "Nothing to match yet"),
        (
            {"profile": "catalogue:welder", "files": [("notes.txt", b"hello, I can weld")]},
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "notes.txt is not a credential: this is not a well-formed credential (the input is "
            "neither a JSON credential nor a compact JWT)",
        ),
        (
            {"profile": "catalogue:welder", "files": [("photo.png", b"\x89PNG\r\n\x1a\nrubbish")]},
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "photo.png is not a credential",
        ),
        (
            {"profile": "catalogue:welder", "files": [("empty.json", b"")]},
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "empty.json is empty",
        ),
        (
            {"profile": "catalogue:welder", "files": [("nothing.zip", _zip({"readme.txt": "hi"}))]},
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "nothing.zip holds no credentials",
        ),
    ],
)
def test_bad_input_reshows_the_form_with_a_message_and_counts_nothing(
    client, db, issued, form, status, message
):
    files = [("valid.json", _file(issued["valid"]))] if "files" not in form else form["files"]
    if form.get("profile") == "catalogue:welder" and "files" not in form:
        files = []
    response = _post_page(
        client,
        profile=form.get("profile", ""),
        role_tasks=form.get("role_tasks", ""),
        files=files,
    )
    assert response.status_code == status
    assert message in _alert(response)
    assert 'id="match-form"' in response.get_data(as_text=True)  # the form, to try again
    assert _tallies(db) == {}


def test_one_bad_file_among_good_ones_refuses_all_and_counts_nothing(client, db, issued):
    response = _post_page(
        client,
        profile="catalogue:welder",
        files=[("valid.json", _file(issued["valid"])), ("cv.txt", b"Curriculum vitae")],
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "cv.txt is not a credential" in _alert(response)
    assert _tallies(db) == {}


def test_too_large_an_upload_reshows_the_form_with_the_limit(app, client, db, issued):
    token = _token(client)
    app.config["MAX_WALLET_BYTES"] = 4096
    response = _post_page(
        client, profile="catalogue:welder", files=[("big.json", b" " * 8192)], token=token
    )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert "too large" in _alert(response) and "MB" in _alert(response)
    assert _tallies(db) == {}


def test_a_post_without_the_csrf_token_is_refused(client, issued):
    response = _post_page(
        client, profile="catalogue:welder", files=[("v.json", _file(issued["valid"]))], token="x"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_the_page_fits_a_phone_and_links_from_the_footer(client):
    page = client.get("/match").get_data(as_text=True)
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert '<a href="/match">Match to a job</a>' in page
    assert "style=" not in page and "<script>" not in page  # the CSP allows neither


# -- the API ----------------------------------------------------------------------------------


def _ok(response):
    assert response.status_code == HTTPStatus.OK, response.get_data(as_text=True)[:2000]
    return response.get_json()


def test_the_api_matches_credentials_against_a_published_role(
    client, db, yard_profile, issued, rigging
):
    documents = [json.loads(issued[k].document) for k in ("valid", "revoked")]
    body = _ok(
        client.post(
            MATCH,
            json={
                "profile": yard_profile.public_id,
                "credentials": [*documents, issued["expired"].jwt],
            },
        )
    )
    assert body["profile"] == {
        "id": yard_profile.public_id,
        "name": "Fabrication yard hand",
        "source": "Northside Skills Centre",
        "description": "Welds, rigs and moves steel in the yard.",
        "occupation": None,
    }
    assert body["summary"] == {"tasks": 3, "covered": 1, "complete": False}
    weld, rig, forklift = body["tasks"]
    assert weld["name"] == "Weld steel" and weld["skills"] == [WELDING_SKILL]
    assert weld["covered"] is True
    assert weld["coveredBy"] == [
        {
            "label": "credential 1",
            "achievement": "Perform MAG welding",
            "issuer": "Northside Skills Centre",
            "verdict": "valid",
            "verified": True,
            "reason": None,
        }
    ]
    assert [(e["label"], e["verdict"], e["reason"]) for e in weld["notCounted"]] == [
        ("credential 2", "revoked", "revoked by its issuer")
    ]
    assert weld["offerings"] == []
    assert rig["covered"] is False
    assert [e["verdict"] for e in rig["notCounted"]] == ["expired"]
    assert rig["notCounted"][0]["reason"] == "expired on 2026-01-16T09:30:00Z"
    link = f"{PUBLIC_URL}/orgs/northside/achievements/{rigging.public_id}"
    assert rig["offerings"] == [
        {
            "achievementId": link,
            "name": "Sling and rig loads",
            "issuer": "Northside Skills Centre",
            "url": link,
        }
    ]
    assert forklift["offerings"] == []
    assert [(c["label"], c["verdict"], c["verified"]) for c in body["credentials"]] == [
        ("credential 1", "valid", True),
        ("credential 2", "revoked", False),
        ("credential 3", "expired", False),
    ]
    assert _tallies(db) == {"valid": 1, "revoked": 1, "expired": 1}


def test_the_api_takes_a_profile_described_in_the_request(client, issued):
    profile = {"name": "Welder", "tasks": [{"name": "Weld", "skills": [WELDING_SKILL]}]}
    body = _ok(client.post(MATCH, json={"profile": profile, "credentials": [issued["valid"].jwt]}))
    assert body["profile"]["id"] is None and body["profile"]["name"] == "Welder"
    assert body["summary"] == {"tasks": 1, "covered": 1, "complete": True}


def test_the_api_takes_a_wallet_zip_as_the_body(client, db, issued):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.json", _file(issued["valid"]))
        archive.writestr("b.json", _file(issued["revoked"]))
    body = _ok(
        client.post(
            f"{MATCH}?profile=catalogue:welder",
            data=buffer.getvalue(),
            content_type="application/zip",
        )
    )
    assert [(c["label"], c["verdict"]) for c in body["credentials"]] == [
        ("request body · a.json", "valid"),
        ("request body · b.json", "revoked"),
    ]
    assert body["summary"]["covered"] == 1
    assert _tallies(db) == {"valid": 1, "revoked": 1}


def test_the_api_takes_a_clr_wallet_object_in_the_list(client, db, kek, now, issued):
    from issuer import wallet
    from issuer.models import WalletSession

    clr = wallet.export_clr(
        db,
        kek,
        WalletSession(email="amina@example.org", organisation_id=None),
        public_url=PUBLIC_URL,
        now=now,
    )
    body = _ok(client.post(MATCH, json={"profile": "catalogue:welder", "credentials": [clr]}))
    assert len(body["credentials"]) == 3
    assert all(c["label"].startswith("credential 1 · credential ") for c in body["credentials"])
    assert sorted(c["verdict"] for c in body["credentials"]) == ["expired", "revoked", "valid"]


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/problem+json"
    return response.get_json()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"credentials": [{}]}, "profile", "Missing data"),
        ({"profile": "catalogue:welder"}, "credentials", "Missing data"),
        (
            {"profile": "catalogue:welder", "credentials": []},
            "credentials",
            "Length must be between 1 and 1000",
        ),
        ({"profile": 7, "credentials": [{}]}, "profile", "published job profile's id"),
        ({"profile": "", "credentials": [{}]}, "profile", "must not be empty"),
        (
            {"profile": {"name": "Welder", "tasks": []}, "credentials": [{}]},
            "profile",
            "a job profile needs at least one task",
        ),
        (
            {"profile": "catalogue:welder", "credentials": [7]},
            "credentials",
            "must be a credential",
        ),
        ({"profile": "catalogue:welder", "credentials": [{}], "x": 1}, "x", "Unknown field"),
        (
            {"profile": "catalogue:welder", "credentials": ["x"] * (MAX_WALLET_CREDENTIALS + 1)},
            "credentials",
            "1000",
        ),
    ],
)
def test_a_bad_api_request_is_a_422_naming_the_field(client, db, body, field, message):
    problem = _problem(client.post(MATCH, json=body), HTTPStatus.UNPROCESSABLE_ENTITY)
    assert problem["code"] == "validation-failed"
    assert message in json.dumps(problem["errors"][field])
    assert _tallies(db) == {}


def test_an_unknown_profile_is_a_404_problem(client, issued):
    problem = _problem(
        client.post(MATCH, json={"profile": "nope", "credentials": [issued["valid"].jwt]}),
        HTTPStatus.NOT_FOUND,
    )
    assert problem["code"] == "unknown-profile" and "GET /api/v1/job-profiles" in problem["detail"]


def test_an_unknown_profile_with_a_file_body_is_a_404_and_a_missing_one_a_422(client, issued):
    body = _file(issued["valid"])
    problem = _problem(
        client.post(f"{MATCH}?profile=nope", data=body, content_type="application/vc+jwt"),
        HTTPStatus.NOT_FOUND,
    )
    assert problem["code"] == "unknown-profile"
    problem = _problem(
        client.post(MATCH, data=body, content_type="application/octet-stream"),
        HTTPStatus.UNPROCESSABLE_ENTITY,
    )
    assert "profile" in problem["errors"]


def test_an_item_that_is_not_a_credential_is_a_422_naming_it(client, db, issued):
    problem = _problem(
        client.post(
            MATCH,
            json={"profile": "catalogue:welder", "credentials": [issued["valid"].jwt, {"a": 1}]},
        ),
        HTTPStatus.UNPROCESSABLE_ENTITY,
    )
    assert problem["code"] == "not-a-credential"
    assert problem["detail"].startswith("credential 2 is not a credential")
    assert _tallies(db) == {}


def test_unreadable_bodies_are_problems(client):
    assert _problem(
        client.post(MATCH, data="{", content_type="application/json"), HTTPStatus.BAD_REQUEST
    )["detail"].startswith("the request body is not JSON")
    assert _problem(
        client.post(MATCH, data="x", content_type="text/plain"), HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    )


def test_the_api_body_may_be_wallet_sized_but_no_larger(app, client):
    app.config["MAX_WALLET_BYTES"] = 4096
    problem = _problem(
        client.post(
            f"{MATCH}?profile=catalogue:welder",
            data=b"PK" + bytes(8192),
            content_type="application/zip",
        ),
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    )
    assert problem["status"] == 413


def test_the_api_needs_no_csrf_token(client, issued):
    # JSON APIs are exempt: nothing here is authorised by a cookie
    response = client.post(
        MATCH, json={"profile": "catalogue:welder", "credentials": [issued["valid"].jwt]}
    )
    assert response.status_code == HTTPStatus.OK


def test_job_profiles_lists_published_roles_then_the_catalogue(client, yard_profile, rigging):
    body = _ok(client.get("/api/v1/job-profiles"))
    first = body["profiles"][0]
    assert first["id"] == yard_profile.public_id and first["source"] == "Northside Skills Centre"
    link = f"{PUBLIC_URL}/orgs/northside/achievements/{rigging.public_id}"
    assert first["tasks"][1] == {"name": "Rig loads", "skills": [], "achievements": [link]}
    ids = [p["id"] for p in body["profiles"]]
    assert "catalogue:welder" in ids and "catalogue:care-assistant" in ids
    welder = next(p for p in body["profiles"] if p["id"] == "catalogue:welder")
    assert welder["source"] == "Tessera catalogue" and welder["occupation"] is None


def test_the_openapi_document_describes_matching(client):
    document = _ok(client.get("/api/v1/openapi.json"))
    post = document["paths"]["/api/v1/match"]["post"]
    assert set(post["requestBody"]["content"]) >= {"application/json", "application/zip"}
    assert "404" in post["responses"]
    assert "/api/v1/job-profiles" in document["paths"]
    task = document["components"]["schemas"]["MatchTask"]["properties"]
    assert {"coveredBy", "notCounted", "offerings"} <= set(task)


# -- the standalone verifier ------------------------------------------------------------------


def test_the_standalone_verifier_serves_the_match_page_with_the_catalogue(no_network, foreign):
    app = create_verifier_app({"TESTING": True, "SECRET_KEY": "s" * 40, "REMOTE_RESOLUTION": False})
    client = app.test_client()
    page = client.get("/match").get_data(as_text=True)
    assert '<optgroup label="Tessera catalogue">' in page
    assert 'value="catalogue:solar-pv-installer">Solar PV installer' in page

    document, did = foreign
    response = _post_page(
        client, profile="catalogue:welder", files=[("c.json", json.dumps(document).encode())]
    )
    assert response.status_code == HTTPStatus.OK
    assert _summary(response) == "0 of 5 tasks covered by valid credentials."
    assert "No achievement offered here covers this task yet." in response.get_data(as_text=True)

    trusting = create_verifier_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s" * 40,
            "REMOTE_RESOLUTION": False,
            "TRUSTED_ISSUERS": did,
        }
    )
    body = (
        trusting.test_client()
        .post(MATCH, json={"profile": "catalogue:welder", "credentials": [document]})
        .get_json()
    )
    assert body["summary"]["covered"] == 1
    assert len(trusting.test_client().get("/api/v1/job-profiles").get_json()["profiles"]) == 8
