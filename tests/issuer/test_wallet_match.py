"""The worker checks their own wallet against a published job profile.

Amina opens her wallet with Northside's claim link. She holds a valid welding credential, a
drawings credential Northside since revoked, and (added by her) a rigging credential from
Lakeside, an issuer elsewhere that this instance's operator trusts. The role asks for welding,
drawings, rigging and a forklift: she shows 2 of 4; the revoked credential does not count and
the page says why; the forklift gap offers Harbour's course.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from http import HTTPStatus

import pytest
from sqlalchemy import func, select

from issuer import claims, profiles, services
from issuer.models import HeldCredential, IssuedCredential, JobProfile, VerificationTally
from issuer.unit_of_work import transaction

from ..conftest import PUBLIC_URL, issue_to_amina
from ..helpers import WELDING_SKILL, make_credential, make_signer, signed_json

AMINA = "amina@example.org"
FORKLIFT_SKILL = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"
DRAWINGS_SKILL = "http://data.europa.eu/esco/skill/b07daddc-8625-4360-946e-ad2b0e56ebf6"
RIGGING_SKILL = "http://data.europa.eu/esco/skill/43ea53b0-65a8-4c23-a0ef-b95389e7548e"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Scene:
    welding: IssuedCredential
    drawings: IssuedCredential
    lakeside: str  # a signed credential of Lakeside, as a file
    forklift_course: str  # public id of Harbour's forklift achievement
    profile: JobProfile
    token: str


def _issue(db, kek, organisation, achievement, now):
    return issue_to_amina(db, kek, organisation, achievement, now).record


def _achievement(db, organisation, name, skill, now):
    return services.create_achievement(
        db,
        organisation=organisation,
        name=name,
        description=f"{name}.",
        criteria="Assessed.",
        skills=[f"{skill}=skill"],
        now=now,
    )


def _lakeside(app) -> str:
    """Lakeside's rigging credential for Amina, aligned to the rigging skill; trusted here."""
    signer = make_signer("EdDSA", did="did:key")
    did = signer.verification_method.partition("#")[0]
    credential = make_credential(issuer_did=did)
    credential["issuer"]["name"] = "Lakeside Polytechnic"
    achievement = credential["credentialSubject"]["achievement"]
    achievement["name"] = "Rigging and slinging"
    achievement["alignment"][0].update(targetName="rig loads", targetUrl=RIGGING_SKILL)
    app.config["TRUSTED_ISSUERS"] = [did]
    return json.dumps(signed_json(signer, credential))


@pytest.fixture
def scene(app, db, kek, centre, welding, now) -> Scene:
    harbour = services.create_organisation(
        db, kek, slug="harbour", name="Harbour Trades College", public_url=PUBLIC_URL, now=now
    )
    drawings = _achievement(db, centre, "Read welding drawings", DRAWINGS_SKILL, now)
    rigging = _achievement(db, harbour, "Rig loads for a crane lift", RIGGING_SKILL, now)
    forklift = _achievement(db, harbour, "Forklift operator course", FORKLIFT_SKILL, now)
    found_welding = _issue(db, kek, centre, welding, now)
    found_drawings = _issue(db, kek, centre, drawings, now)
    services.revoke_credential(db, found_drawings, reason="Assessment not passed", now=now)
    profile = profiles.create_profile(
        db,
        organisation=centre,
        fields=profiles.ProfileFields(
            name="Structural welder",
            tasks=[
                profiles.TaskFields(name="Weld joints", skills=[WELDING_SKILL]),
                profiles.TaskFields(name="Read the drawings", skills=[DRAWINGS_SKILL]),
                # another centre's achievement, named directly
                profiles.TaskFields(
                    name="Rig the loads", skills=[RIGGING_SKILL], achievements=[rigging.public_id]
                ),
                profiles.TaskFields(name="Move pallets", skills=[FORKLIFT_SKILL]),
            ],
        ),
        now=now,
        actor="test",
    )
    profiles.publish_profile(db, profile, now=now, actor="test")
    with transaction(db):
        token = claims.new_claim_token(db, found_welding, now=now)
    return Scene(
        welding=found_welding,
        drawings=found_drawings,
        lakeside=_lakeside(app),
        forklift_course=forklift.public_id,
        profile=profile,
        token=token,
    )


def _csrf(client, path="/wallet/match") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def _tallied(db) -> int:
    return db.scalar(select(func.coalesce(func.sum(VerificationTally.count), 0)))


def _tasks(page: str) -> dict[str, tuple[str, str]]:
    """Each task of the task table by name: whether it is covered, and its text."""
    found = {}
    for block in page.split('<li class="match-task ')[1:]:
        name, covered = re.search(r'data-task="([^"]+)" data-covered="(yes|no)"', block).groups()
        found[name] = (covered, block.split('<li class="match-task ')[0])
    return found


def _gaps(page: str) -> dict[str, str]:
    """What the worker still needs, by task: the line that says it."""
    return {
        name: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip()
        for name, text in re.findall(r'<li data-gap="([^"]+)">(.*?)</li>', page, re.S)
    }


def _open_with_rigging_added(client, db, scene):
    assert client.get(f"/claim/{scene.token}").status_code == HTTPStatus.SEE_OTHER
    response = client.post(
        "/wallet/import",
        data={
            "csrf_token": _csrf(client, "/wallet"),
            "file": (io.BytesIO(scene.lakeside.encode()), "rigging.json"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == HTTPStatus.OK
    assert db.scalar(select(func.count()).select_from(HeldCredential)) == 1


def test_the_wallet_page_links_to_the_match(client, scene):
    client.get(f"/claim/{scene.token}")

    page = client.get("/wallet").get_data(as_text=True)

    assert 'href="/wallet/match"' in page and "Check me against a job" in page


def test_the_worker_sees_what_they_show_and_what_training_fills_the_gap(client, db, scene):
    _open_with_rigging_added(client, db, scene)
    choices = client.get("/wallet/match").get_data(as_text=True)
    assert f'<option value="{scene.profile.public_id}"' in choices
    before = _tallied(db)

    response = client.post(
        "/wallet/match",
        data={"csrf_token": _csrf(client), "profile": scene.profile.public_id},
    )

    page = response.get_data(as_text=True)
    assert response.status_code == HTTPStatus.OK
    assert "You can already show 2 of 4 tasks." in page
    tasks = _tasks(page)
    assert {name: covered for name, (covered, _) in tasks.items()} == {
        "Weld joints": "yes",
        "Read the drawings": "no",
        "Rig the loads": "yes",
        "Move pallets": "no",
    }
    assert "Rigging and slinging" in tasks["Rig the loads"][1]
    drawings = tasks["Read the drawings"][1]
    assert "Read welding drawings" in drawings and 'data-verdict="revoked"' in drawings
    assert "Not counted: revoked by its issuer" in drawings
    assert _gaps(page) == {
        "Read the drawings": "Read the drawings. Training here that covers it: "
        "Read welding drawings (Northside Skills Centre)",
        "Move pallets": "Move pallets. Training here that covers it: "
        "Forklift operator course (Harbour Trades College)",
    }
    assert (
        f'<a href="{PUBLIC_URL}/orgs/harbour/achievements/{scene.forklift_course}">'
        "Forklift operator course</a>"
    ) in page
    # checking one's own wallet is not an employer's verification: nothing is counted
    assert _tallied(db) == before
    assert response.headers["Cache-Control"] == "no-store"


def test_the_offering_link_opens_the_achievement_page(client, scene):
    page = client.get(f"/orgs/harbour/achievements/{scene.forklift_course}")

    assert page.status_code == HTTPStatus.OK
    assert "Forklift operator course" in page.get_data(as_text=True)


def test_an_unknown_or_unpublished_profile_is_refused(client, db, scene, now):
    client.get(f"/claim/{scene.token}")
    profiles.unpublish_profile(db, scene.profile, now=now, actor="test")

    response = client.post(
        "/wallet/match", data={"csrf_token": _csrf(client), "profile": scene.profile.public_id}
    )

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "Choose one of the roles in the list." in response.get_data(as_text=True)


def test_the_match_needs_an_open_wallet_and_a_csrf_token(client, scene):
    assert client.get("/wallet/match").status_code == HTTPStatus.UNAUTHORIZED
    client.get(f"/claim/{scene.token}")
    response = client.post("/wallet/match", data={"profile": scene.profile.public_id})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "You can already show" not in response.get_data(as_text=True)
