"""The catalogue pages through the test client: a coordinator signs in and works as they would.

Each role against each action (viewer looks, issuer acts), another centre's ids (404), CSRF,
the ESCO picker with and without JavaScript's endpoint, image checks, issuing, the list with
its filters and CSV, and revoking one or a selection.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from sqlalchemy import func, select

from credentials.model import ESCO_FRAMEWORK
from issuer import catalogue, services
from issuer.clock import utcnow
from issuer.models import Achievement, ClaimToken, IssuedCredential
from verifier import Verdict

from ..conftest import PUBLIC_URL
from ..helpers import WELDING_SKILL

PASSWORD = "correct horse battery staple"
FORKLIFT_SKILL = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"
# A 1 x 1 transparent PNG.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path="/centre/"):
    return _TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def post(client, path, data=None, *, token_from="/centre/", **kwargs):
    """POST a form the way the browser would: with the session's CSRF token."""
    form = {"csrf_token": csrf_token(client, token_from), **(data or {})}
    return client.post(path, data=form, **kwargs)


@pytest.fixture
def issued(db, kek, centre, welding):
    """A credential of ``centre`` issued from the catalogue (with a claim link)."""
    return catalogue.issue(
        db,
        kek,
        organisation=centre,
        achievement=welding,
        name="Amina Haddad",
        email="amina@example.org",
        public_url=PUBLIC_URL,
        now=utcnow(),
        actor="test",
    ).issued.record


@pytest.fixture
def other_centre(db, kek, now):
    return services.create_organisation(
        db, kek, slug="southside", name="Southside Training", public_url=PUBLIC_URL, now=now
    )


@pytest.fixture
def foreign(db, kek, other_centre, now):
    """Another centre's achievement and credential."""
    achievement = catalogue.create_achievement(
        db,
        organisation=other_centre,
        now=now,
        actor="test",
        fields=catalogue.AchievementFields(
            name="Drive a forklift", description="Moves pallets.", criteria="Passed the test."
        ),
    )
    record = catalogue.issue(
        db,
        kek,
        organisation=other_centre,
        achievement=achievement,
        name="Someone Else",
        email="else@example.org",
        public_url=PUBLIC_URL,
        now=utcnow(),
        actor="test",
    ).issued.record
    return achievement, record


def count(db, model):
    return db.scalar(select(func.count()).select_from(model))


def achievement_form(**overrides):
    form = {
        "action": "save",
        "name": "Operate a forklift safely",
        "description": "Moves pallets in a warehouse without harm to people or goods.",
        "criteria": "Passed a practical test on a counterbalance truck.",
        "achievement_type": "ext:JobTask",
        "validity_days": "1095",
        "evidence_required": "The assessor's checklist.",
        "skill_uri": [FORKLIFT_SKILL],
        "skill_name": ["operate a forklift"],
    }
    form.update(overrides)
    return form


# -- who may do what ---------------------------------------------------------------------------

PAGES = [
    "/centre/achievements",
    "/centre/achievements?archived=1",
    "/centre/credentials",
    "/centre/credentials.csv",
    "/centre/esco/search?q=forklift",
]


@pytest.mark.parametrize("path", [*PAGES, "/centre/achievements/new", "/centre/issue"])
def test_signed_out_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == HTTPStatus.FOUND
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", PAGES)
def test_viewers_see_the_lists(sign_in, centre, welding, issued, path):
    client = sign_in(centre, "viewer")
    assert client.get(path).status_code == HTTPStatus.OK


def _actions(welding, issued):
    """(method, path, form) of each action that needs the issuer role."""
    return [
        ("GET", "/centre/achievements/new", None),
        ("POST", "/centre/achievements/new", achievement_form()),
        ("GET", f"/centre/achievements/{welding.public_id}/edit", None),
        ("POST", f"/centre/achievements/{welding.public_id}/edit", achievement_form()),
        ("POST", f"/centre/achievements/{welding.public_id}/archive", {}),
        ("GET", "/centre/issue", None),
        (
            "POST",
            "/centre/issue",
            {"achievement": welding.public_id, "name": "Yusuf Demir", "email": "y@example.org"},
        ),
        ("GET", f"/centre/credentials/{issued.public_id}/revoke", None),
        ("POST", f"/centre/credentials/{issued.public_id}/revoke", {"reason": "Mistake"}),
        (
            "POST",
            "/centre/credentials/revoke-selected",
            {"selected": issued.public_id, "reason": "Mistake", "confirmed": "1"},
        ),
        ("POST", f"/centre/credentials/{issued.public_id}/claim-link", {}),
    ]


ACTION_IDS = [
    "new-form",
    "create",
    "edit-form",
    "edit",
    "archive",
    "issue-form",
    "issue",
    "revoke-confirm",
    "revoke",
    "revoke-selected",
    "claim-link",
]


@pytest.mark.parametrize("number", range(len(ACTION_IDS)), ids=ACTION_IDS)
def test_viewers_cannot_act(sign_in, db, centre, welding, issued, number):
    client = sign_in(centre, "viewer")
    method, path, form = _actions(welding, issued)[number]
    before = count(db, Achievement), count(db, IssuedCredential), count(db, ClaimToken)
    response = client.get(path) if method == "GET" else post(client, path, form)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Your role does not allow this" in response.get_data(as_text=True)
    db.expire_all()
    assert (count(db, Achievement), count(db, IssuedCredential), count(db, ClaimToken)) == before
    assert db.get(IssuedCredential, issued.id).revoked_at is None
    assert db.get(Achievement, welding.id).archived_at is None


@pytest.mark.parametrize("number", range(len(ACTION_IDS)), ids=ACTION_IDS)
@pytest.mark.parametrize("role", ["issuer", "admin"])
def test_issuers_and_admins_can_act(sign_in, db, centre, welding, issued, number, role):
    client = sign_in(centre, role)
    method, path, form = _actions(welding, issued)[number]
    response = client.get(path) if method == "GET" else post(client, path, form)
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.CREATED, HTTPStatus.SEE_OTHER)


FOREIGN_PAGES = [
    ("GET", "/centre/achievements/{a}"),
    ("GET", "/centre/achievements/{a}/edit"),
    ("POST", "/centre/achievements/{a}/edit"),
    ("POST", "/centre/achievements/{a}/archive"),
    ("GET", "/centre/achievements/{a}/image"),
    ("GET", "/centre/credentials/{c}"),
    ("GET", "/centre/credentials/{c}/revoke"),
    ("POST", "/centre/credentials/{c}/revoke"),
    ("POST", "/centre/credentials/{c}/claim-link"),
]


@pytest.mark.parametrize(("method", "template"), FOREIGN_PAGES)
def test_another_centres_ids_are_not_found(sign_in, db, centre, foreign, method, template):
    achievement, record = foreign
    client = sign_in(centre, "admin")
    path = template.format(a=achievement.public_id, c=record.public_id)
    if method == "GET":
        response = client.get(path)
    else:
        response = post(client, path, {**achievement_form(), "reason": "Not yours"})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "We could not find that" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(IssuedCredential, record.id).revoked_at is None
    assert db.get(Achievement, achievement.id).archived_at is None


def test_another_centres_credentials_are_not_listed_or_revoked(sign_in, db, centre, foreign):
    _, record = foreign
    client = sign_in(centre, "admin")
    page = client.get("/centre/credentials?q=Someone").get_data(as_text=True)
    assert "Someone Else" not in page
    assert "Someone Else" not in client.get("/centre/credentials.csv").get_data(as_text=True)
    response = post(
        client,
        "/centre/credentials/revoke-selected",
        {"selected": record.public_id, "reason": "Not yours", "confirmed": "1"},
    )
    assert response.status_code == HTTPStatus.OK
    assert "are not this centre" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(IssuedCredential, record.id).revoked_at is None


def test_issuing_another_centres_achievement_is_refused(sign_in, db, centre, welding, foreign):
    achievement, _ = foreign
    client = sign_in(centre)
    before = count(db, IssuedCredential)
    response = post(
        client,
        "/centre/issue",
        {"achievement": achievement.public_id, "name": "Amina", "email": "a@example.org"},
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "Choose one of this centre" in response.get_data(as_text=True)
    assert count(db, IssuedCredential) == before


@pytest.mark.parametrize(
    "path", ["/centre/achievements/new", "/centre/issue", "/centre/credentials/revoke-selected"]
)
def test_forms_without_a_csrf_token_are_refused(sign_in, db, centre, welding, path):
    client = sign_in(centre)
    before = count(db, Achievement), count(db, IssuedCredential)
    response = client.post(path, data={**achievement_form(), "achievement": welding.public_id})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert (count(db, Achievement), count(db, IssuedCredential)) == before


# -- achievements ------------------------------------------------------------------------------


def test_create_an_achievement_with_an_esco_skill(sign_in, db, centre):
    client = sign_in(centre)
    response = post(client, "/centre/achievements/new", achievement_form())
    assert response.status_code == HTTPStatus.SEE_OTHER
    created = db.scalars(select(Achievement).where(Achievement.organisation_id == centre.id)).one()
    assert response.headers["Location"] == f"/centre/achievements/{created.public_id}"
    assert created.validity_days == 1095
    assert created.achievement_type == "ext:JobTask"
    assert json.loads(created.alignments) == [
        {
            "targetName": "operate a forklift",
            "targetUrl": FORKLIFT_SKILL,
            "targetFramework": ESCO_FRAMEWORK,
            "targetCode": "28cb374e-6261-4133-8371-f9a5470145da",
            "targetType": "ceasn:Competency",
        }
    ]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Operate a forklift safely" in page
    assert "operate a forklift" in page
    assert "1095 days" in page


def test_the_esco_endpoint_finds_the_real_forklift_skill(sign_in, centre):
    client = sign_in(centre, "viewer")
    response = client.get("/centre/esco/search?q=forklift")
    assert response.status_code == HTTPStatus.OK
    found = response.get_json()
    assert found[0] == {
        "uri": FORKLIFT_SKILL,
        "label": "operate forklift",
        "code": "28cb374e-6261-4133-8371-f9a5470145da",
    }
    assert len(found) <= 20
    assert client.get("/centre/esco/search?q=f").get_json() == []
    assert client.get("/centre/esco/search?q=zzqqxx").get_json() == []


def test_the_picker_works_without_javascript(sign_in, db, centre):
    client = sign_in(centre)
    form = achievement_form(skill_uri=[], skill_name=[], action="search", esco_q="forklift")
    page = post(client, "/centre/achievements/new", form).get_data(as_text=True)
    assert f'name="add_skill" value="{FORKLIFT_SKILL}"' in page
    assert 'value="Operate a forklift safely"' in page  # what was typed is kept
    form = achievement_form(skill_uri=[], skill_name=[], add_skill=FORKLIFT_SKILL)
    page = post(client, "/centre/achievements/new", form).get_data(as_text=True)
    assert f'name="skill_uri" value="{FORKLIFT_SKILL}"' in page
    assert 'name="skill_name" type="text" maxlength="200" required value="operate forklift"' in page
    form = achievement_form(remove_skill=FORKLIFT_SKILL)
    page = post(client, "/centre/achievements/new", form).get_data(as_text=True)
    assert f'name="skill_uri" value="{FORKLIFT_SKILL}"' not in page
    assert count(db, Achievement) == 0  # searching and choosing save nothing


def test_bad_achievement_input_is_shown_and_nothing_is_saved(sign_in, db, centre):
    client = sign_in(centre)
    form = achievement_form(name="  ", validity_days="0", skill_uri=["http://example.org/x"])
    response = post(client, "/centre/achievements/new", form)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    page = response.get_data(as_text=True)
    assert 'id="name-error"' in page
    assert 'id="validity_days-error"' in page
    response = post(
        client, "/centre/achievements/new", achievement_form(skill_uri=["http://example.org/x"])
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "is not an ESCO skill URI" in response.get_data(as_text=True)
    assert count(db, Achievement) == 0


def test_text_with_markup_is_escaped(sign_in, db, centre):
    client = sign_in(centre)
    post(client, "/centre/achievements/new", achievement_form(name="<script>alert(1)</script>"))
    page = client.get("/centre/achievements").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_editing_makes_a_new_version_and_issued_credentials_keep_theirs(
    sign_in, db, centre, welding, issued
):
    client = sign_in(centre)
    response = post(
        client,
        f"/centre/achievements/{welding.public_id}/edit",
        achievement_form(
            name="Perform MAG welding (2026 standard)",
            skill_uri=[WELDING_SKILL],
            skill_name=["perform metal active gas welding"],
        ),
    )
    assert response.status_code == HTTPStatus.SEE_OTHER
    db.expire_all()
    revised = db.scalars(
        select(Achievement).where(Achievement.previous_version_id == welding.id)
    ).one()
    assert revised.version == 2
    assert revised.public_id != welding.public_id
    assert db.get(Achievement, welding.id).archived_at is not None
    record = db.get(IssuedCredential, issued.id)
    assert record.achievement_id == welding.id
    assert json.loads(record.document)["credentialSubject"]["achievement"]["name"] == (
        "Perform MAG welding"
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Versions" in page and "Perform MAG welding (2026 standard)" in page
    # The old version can be looked at, not edited or issued.
    old = client.get(f"/centre/achievements/{welding.public_id}").get_data(as_text=True)
    assert "This is an earlier version." in old
    assert client.get(f"/centre/achievements/{welding.public_id}/edit").status_code == 409


def test_archive_an_achievement(sign_in, db, centre, welding):
    client = sign_in(centre)
    response = post(client, f"/centre/achievements/{welding.public_id}/archive", {})
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert welding.public_id not in client.get("/centre/achievements").get_data(as_text=True)
    assert "Perform MAG welding" in client.get("/centre/achievements?archived=1").get_data(
        as_text=True
    )
    response = post(
        client,
        "/centre/issue",
        {"achievement": welding.public_id, "name": "Amina", "email": "a@example.org"},
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "archived" in response.get_data(as_text=True)
    again = post(client, f"/centre/achievements/{welding.public_id}/archive", {})
    assert again.status_code == HTTPStatus.CONFLICT


def test_upload_a_png_badge(sign_in, db, centre):
    client = sign_in(centre)
    form = {**achievement_form(), "image": (io.BytesIO(TINY_PNG), "badge.png")}
    response = post(client, "/centre/achievements/new", form, content_type="multipart/form-data")
    assert response.status_code == HTTPStatus.SEE_OTHER
    created = db.scalars(select(Achievement)).one()
    assert created.image == TINY_PNG and created.image_type == "image/png"
    image = client.get(f"/centre/achievements/{created.public_id}/image")
    assert image.mimetype == "image/png"
    assert image.data == TINY_PNG
    assert "sandbox" in image.headers["Content-Security-Policy"]


HOSTILE_SVGS = {
    "script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "onload": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "javascript-link": b'<svg xmlns="http://www.w3.org/2000/svg" '
    b'xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="java\tscript:alert(1)">'
    b"<text>x</text></a></svg>",
    "external-image": b'<svg xmlns="http://www.w3.org/2000/svg"><image '
    b'href="https://evil.example/track.png"/></svg>',
    "external-use": b'<svg xmlns="http://www.w3.org/2000/svg"><use '
    b'href="https://evil.example/sprite.svg#a"/></svg>',
    "foreign-object": b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject>'
    b'<body xmlns="http://www.w3.org/1999/xhtml">hi</body></foreignObject></svg>',
    "css-url": b'<svg xmlns="http://www.w3.org/2000/svg"><style>rect{fill:url('
    b"https://evil.example/x)}</style></svg>",
    "css-import": b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import '
    b"'https://evil.example/x.css';</style></svg>",
    "entity-expansion": b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]>'
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&a;</text></svg>',
    "external-entity": b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM '
    b'"file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
    "stylesheet-pi": b'<?xml-stylesheet href="https://evil.example/x.css"?>'
    b'<svg xmlns="http://www.w3.org/2000/svg"/>',
    "animated-handler": b'<svg xmlns="http://www.w3.org/2000/svg"><set '
    b'attributeName="onmouseover" to="alert(1)"/></svg>',
    "not-svg": b'<html xmlns="http://www.w3.org/1999/xhtml"><script>x</script></html>',
}


@pytest.mark.parametrize("name", list(HOSTILE_SVGS))
def test_hostile_svg_badges_are_refused(sign_in, db, centre, name):
    client = sign_in(centre)
    form = {**achievement_form(), "image": (io.BytesIO(HOSTILE_SVGS[name]), "badge.svg")}
    response = post(client, "/centre/achievements/new", form, content_type="multipart/form-data")
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert 'class="flash flash--error" role="alert"' in response.get_data(as_text=True)
    assert count(db, Achievement) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\0" * 20, "must be a PNG or an SVG"),
        (TINY_PNG[:30], "damaged"),
    ],
    ids=["gif", "truncated-png"],  # too large: test_catalogue (the test client leaks big bodies)
)
def test_other_bad_images_are_refused(sign_in, db, centre, data, message):
    client = sign_in(centre)
    form = {**achievement_form(), "image": (io.BytesIO(data), "badge.png")}
    response = post(client, "/centre/achievements/new", form, content_type="multipart/form-data")
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert message in response.get_data(as_text=True)
    assert count(db, Achievement) == 0


def test_an_achievement_without_an_image_gets_a_drawn_badge(sign_in, centre, welding):
    client = sign_in(centre, "viewer")
    response = client.get(f"/centre/achievements/{welding.public_id}/image")
    assert response.mimetype == "image/svg+xml"
    assert b">PM</text>" in response.data


# -- issuing -----------------------------------------------------------------------------------


def issue_form(welding, **overrides):
    form = {
        "achievement": welding.public_id,
        "name": "Yusuf Demir",
        "email": "Yusuf@Example.org",
        "external_id": "L-2026-17",
        "evidence_url": "https://portfolio.example.org/yusuf/welds",
        "evidence_narrative": "Welded a T-joint that passed the bend test.",
        "issued_on": utcnow().date().isoformat(),
        "idempotency_key": "form-key-0123456789abcdef",
    }
    form.update(overrides)
    return form


def test_issue_one_credential(sign_in, db, centre, welding, verify_here):
    welding.validity_days = 365
    db.commit()
    client = sign_in(centre)
    form_page = client.get(f"/centre/issue?achievement={welding.public_id}").get_data(as_text=True)
    assert f'value="{welding.public_id}" selected' in form_page
    response = post(client, "/centre/issue", issue_form(welding), token_from="/centre/issue")
    assert response.status_code == HTTPStatus.CREATED
    page = response.get_data(as_text=True)
    record = db.scalars(select(IssuedCredential)).one()
    assert f"{PUBLIC_URL}/v/{record.public_id}" in page
    assert f"/v/{record.public_id}/qr.png" in page
    claim = re.search(rf"{PUBLIC_URL}/claim/([A-Za-z0-9_-]{{43}})", page)
    assert claim is not None
    assert db.scalars(select(ClaimToken).where(ClaimToken.credential_id == record.id)).one()
    assert record.external_id == "L-2026-17"
    assert record.recipient_email == "yusuf@example.org"
    assert record.valid_until - record.valid_from == timedelta(days=365)
    document = json.loads(record.document)
    assert document["evidence"] == [
        {
            "id": "https://portfolio.example.org/yusuf/welds",
            "type": ["Evidence"],
            "narrative": "Welded a T-joint that passed the bend test.",
        }
    ]
    assert verify_here(document, at=utcnow()).verdict == Verdict.VALID


def test_sending_the_form_twice_issues_once(sign_in, db, centre, welding):
    client = sign_in(centre)
    first = post(client, "/centre/issue", issue_form(welding))
    second = post(client, "/centre/issue", issue_form(welding))
    assert first.status_code == HTTPStatus.CREATED
    assert second.status_code == HTTPStatus.OK
    assert "Already issued" in second.get_data(as_text=True)
    assert "/claim/" not in second.get_data(as_text=True)
    assert count(db, IssuedCredential) == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"achievement": ""}, "achievement"),
        ({"evidence_url": "javascript:alert(1)"}, "evidence_url"),
        ({"evidence_url": "portfolio/42"}, "evidence_url"),
        ({"issued_on": "2026-02-30"}, "issued_on"),
        ({"external_id": "x" * 201}, "external_id"),
    ],
    ids=[
        "no-name",
        "bad-email",
        "no-achievement",
        "script-url",
        "relative-url",
        "bad-date",
        "long-id",
    ],
)
def test_bad_issue_input_shows_field_errors_and_writes_nothing(
    sign_in, db, centre, welding, overrides, field
):
    client = sign_in(centre)
    response = post(client, "/centre/issue", issue_form(welding, **overrides))
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert count(db, IssuedCredential) == 0


def test_a_future_issue_date_is_refused(sign_in, db, centre, welding):
    client = sign_in(centre)
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    response = post(client, "/centre/issue", issue_form(welding, issued_on=tomorrow))
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "cannot be in the future" in response.get_data(as_text=True)
    assert count(db, IssuedCredential) == 0


def test_a_new_claim_link_retires_the_old_one(sign_in, db, centre, issued):
    client = sign_in(centre)
    response = post(client, f"/centre/credentials/{issued.public_id}/claim-link", {})
    assert response.status_code == HTTPStatus.OK
    assert f"{PUBLIC_URL}/claim/" in response.get_data(as_text=True)
    tokens = db.scalars(select(ClaimToken).where(ClaimToken.credential_id == issued.id)).all()
    assert len(tokens) == 2
    assert sum(t.replaced_at is None for t in tokens) == 1


# -- the list of issued credentials ------------------------------------------------------------


@pytest.fixture
def cohort(db, kek, centre, welding, now):
    """Three learners issued on different days, one of them revoked."""
    people = [
        ("Amina Haddad", "amina@example.org", now - timedelta(days=10)),
        ("Yusuf Demir", "yusuf@example.org", now - timedelta(days=5)),
        ('=HYPERLINK("http://evil.example")', "olena@example.org", now - timedelta(days=1)),
    ]
    records = [
        services.issue_credential(
            db,
            kek,
            organisation=centre,
            achievement=welding,
            name=name,
            email=email,
            public_url=PUBLIC_URL,
            now=when,
            external_id=f"L-{n}",
        ).record
        for n, (name, email, when) in enumerate(people)
    ]
    services.revoke_credential(db, records[1], reason="Issued by mistake", now=now)
    return records


def listed(client, query=""):
    page = client.get(f"/centre/credentials{query}").get_data(as_text=True)
    return re.findall(r'data-credential="([^"]+)"', page)


def test_search_and_filter_the_list(sign_in, centre, cohort, now):
    client = sign_in(centre, "viewer")
    amina, yusuf, olena = (r.public_id for r in cohort)
    assert listed(client) == [olena, yusuf, amina]
    assert listed(client, "?q=amina") == [amina]
    assert listed(client, "?q=YUSUF%40example") == [yusuf]
    assert listed(client, "?q=MAG+welding") == [olena, yusuf, amina]
    assert listed(client, "?q=L-0") == [amina]
    assert listed(client, "?q=nobody") == []
    assert listed(client, "?q=%25") == []  # LIKE wildcards are searched for, not obeyed
    assert listed(client, "?status=revoked") == [yusuf]
    assert listed(client, "?status=valid") == [olena, amina]
    day = (now - timedelta(days=5)).date().isoformat()
    assert listed(client, f"?issued_from={day}") == [olena, yusuf]
    assert listed(client, f"?issued_to={day}") == [yusuf, amina]
    assert listed(client, f"?issued_from={day}&issued_to={day}") == [yusuf]
    page = client.get("/centre/credentials?issued_from=yesterday").get_data(as_text=True)
    assert "is not a date" in page


def test_the_list_pages_by_fifty(sign_in, db, kek, centre, welding, now):
    for n in range(51):
        services.issue_credential(
            db,
            kek,
            organisation=centre,
            achievement=welding,
            name=f"Learner {n:02d}",
            email=f"l{n}@example.org",
            public_url=PUBLIC_URL,
            now=now + timedelta(seconds=n),
        )
    client = sign_in(centre, "viewer")
    first = client.get("/centre/credentials").get_data(as_text=True)
    assert len(re.findall(r"data-credential=", first)) == 50
    assert "page 1 of 2" in first
    assert 'rel="next" href="/centre/credentials?page=2"' in first
    second = client.get("/centre/credentials?page=2").get_data(as_text=True)
    assert re.findall(r'class="learner-name">([^<]+)<', second) == ["Learner 00"]


def test_csv_export_of_the_filtered_list(sign_in, centre, cohort):
    client = sign_in(centre, "viewer")
    response = client.get("/centre/credentials.csv?status=valid")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["public_id", "credential_id", "learner_name", "learner_email"]
    assert [row[3] for row in rows[1:]] == ["olena@example.org", "amina@example.org"]
    assert rows[1][2] == '\'=HYPERLINK("http://evil.example")'  # never a formula
    assert {row[9] for row in rows[1:]} == {"valid"}


def test_revoke_one_credential(sign_in, db, centre, issued, verify_here):
    client = sign_in(centre)
    confirm = client.get(f"/centre/credentials/{issued.public_id}/revoke")
    assert "Revoke this credential?" in confirm.get_data(as_text=True)
    blank = post(client, f"/centre/credentials/{issued.public_id}/revoke", {"reason": "  "})
    assert blank.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    db.expire_all()
    assert db.get(IssuedCredential, issued.id).revoked_at is None
    response = post(
        client, f"/centre/credentials/{issued.public_id}/revoke", {"reason": "Issued by mistake"}
    )
    assert response.status_code == HTTPStatus.SEE_OTHER
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The credential is revoked." in page
    assert "Issued by mistake" in page
    db.expire_all()
    record = db.get(IssuedCredential, issued.id)
    assert record.revocation_reason == "Issued by mistake"
    assert verify_here(json.loads(record.document), at=utcnow()).verdict == Verdict.REVOKED
    again = post(client, f"/centre/credentials/{issued.public_id}/revoke", {"reason": "Again"})
    assert again.status_code == HTTPStatus.SEE_OTHER
    assert "already revoked" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_revoke_selected_credentials(sign_in, db, centre, cohort):
    client = sign_in(centre)
    amina, yusuf, olena = cohort
    selected = [amina.public_id, yusuf.public_id, olena.public_id]
    confirm = post(
        client,
        "/centre/credentials/revoke-selected",
        {"selected": selected, "reason": "Course withdrawn"},
        token_from="/centre/credentials",
    )
    assert confirm.status_code == HTTPStatus.OK
    assert "Revoke 3 credentials?" in confirm.get_data(as_text=True)
    db.expire_all()
    assert db.get(IssuedCredential, amina.id).revoked_at is None  # nothing yet
    done = post(
        client,
        "/centre/credentials/revoke-selected",
        {"selected": selected, "reason": "Course withdrawn", "confirmed": "1"},
    )
    assert done.status_code == HTTPStatus.OK
    page = done.get_data(as_text=True)
    assert "2 revoked" in page
    assert "Already revoked before" in page
    db.expire_all()
    assert db.get(IssuedCredential, amina.id).revocation_reason == "Course withdrawn"
    assert db.get(IssuedCredential, yusuf.id).revocation_reason == "Issued by mistake"


def test_revoking_a_selection_needs_a_reason(sign_in, db, centre, cohort):
    client = sign_in(centre)
    response = post(
        client,
        "/centre/credentials/revoke-selected",
        {"selected": [cohort[0].public_id], "reason": "", "confirmed": "1"},
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "give a reason" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(IssuedCredential, cohort[0].id).revoked_at is None


def test_the_dashboard_links_to_the_catalogue(sign_in, centre):
    page = sign_in(centre).get("/centre/").get_data(as_text=True)
    for path in ("/centre/achievements", "/centre/issue", "/centre/credentials"):
        assert f'href="{path}"' in page
