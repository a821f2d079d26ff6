"""Job profiles: the service's checks and tenant isolation, the staff pages as a coordinator
uses them, and the public page of an achievement that an offering links to.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus

import pytest
from sqlalchemy import func, select

from issuer import catalogue, profiles, services
from issuer.errors import ConflictError, InvalidRequestError, NotFoundError
from issuer.models import AuditEvent, JobProfile
from verifier.matching import Task

from ..conftest import PUBLIC_URL
from ..helpers import WELDING_SKILL

PASSWORD = "correct horse battery staple"
FORKLIFT_SKILL = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"
UNKNOWN_SKILL = "http://data.europa.eu/esco/skill/00000000-0000-4000-8000-000000000000"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def harbour(db, kek, now):
    return services.create_organisation(
        db, kek, slug="harbour", name="Harbour Trades College", public_url=PUBLIC_URL, now=now
    )


@pytest.fixture
def rigging(db, harbour, now):
    """Another centre's achievement: a profile of Northside may still require it."""
    return services.create_achievement(
        db,
        organisation=harbour,
        name="Rig loads for a crane lift",
        description="Slings and signals loads.",
        criteria="Observed on site.",
        now=now,
    )


def _fields(*tasks: profiles.TaskFields, name="Welder-fitter") -> profiles.ProfileFields:
    return profiles.ProfileFields(name=name, description="Fabrication shop role.", tasks=tasks)


def _create(db, centre, now, *tasks, name="Welder-fitter"):
    return profiles.create_profile(
        db, organisation=centre, fields=_fields(*tasks, name=name), now=now, actor="test"
    )


# -- the service --------------------------------------------------------------------------------


def test_a_profile_is_stored_as_tasks_of_skill_uris_and_achievement_ids(
    db, centre, welding, rigging, now
):
    row = _create(
        db,
        centre,
        now,
        profiles.TaskFields(name="Weld joints", skills=[f"  {WELDING_SKILL} "]),
        profiles.TaskFields(),  # a spare row of the form
        profiles.TaskFields(
            name="Drive the forklift", skills=["operate forklift"], achievements=[rigging.public_id]
        ),
    )

    assert profiles.state(row) == "draft"
    assert json.loads(row.tasks) == [
        {"name": "Weld joints", "skills": [WELDING_SKILL], "achievements": []},
        {
            "name": "Drive the forklift",
            "skills": [FORKLIFT_SKILL],
            "achievements": [rigging.public_id],
        },
    ]
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.subject) == ("job_profile.created", row.public_id)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (_fields(name=""), "give the profile's name"),
        (_fields(name="x" * 201), "profile's name is longer than 200"),
        (
            profiles.ProfileFields(
                name="Role",
                description="x" * 5001,
                tasks=[profiles.TaskFields(name="T", skills=[WELDING_SKILL])],
            ),
            "description is longer than 5,000",
        ),
        (
            profiles.ProfileFields(
                name="Role",
                occupation_uri="ftp://example.org/x",
                tasks=[profiles.TaskFields(name="T", skills=[WELDING_SKILL])],
            ),
            "occupation must be an http(s) URI",
        ),
        (_fields(), "add at least one task"),
        (_fields(profiles.TaskFields(skills=[WELDING_SKILL])), "task 1: give the task's name"),
        (
            _fields(
                profiles.TaskFields(name="Weld", skills=[WELDING_SKILL]),
                profiles.TaskFields(name="Lift"),
            ),
            "task 2 (“Lift”): name at least one ESCO skill or achievement",
        ),
        (
            _fields(profiles.TaskFields(name="Weld", skills=[UNKNOWN_SKILL])),
            "task 1 (“Weld”), skills: " + UNKNOWN_SKILL + " is not one of the ESCO skills",
        ),
        (
            _fields(profiles.TaskFields(name="Weld", skills=["http://example.org/skill/1"])),
            "is not an ESCO skill URI",
        ),
        (
            _fields(profiles.TaskFields(name="Weld", skills=["operate forklifts please"])),
            "no ESCO skill is called “operate forklifts please”",
        ),
        (
            _fields(profiles.TaskFields(name="Weld", achievements=["no-such-id"])),
            "task 1 (“Weld”), achievements: there is no achievement 'no-such-id'",
        ),
        (
            _fields(
                *[profiles.TaskFields(name=f"T{i}", skills=[WELDING_SKILL]) for i in range(101)]
            ),
            "at most 100 tasks",
        ),
    ],
)
def test_bad_input_is_refused_with_the_field_and_task_and_writes_nothing(
    db, centre, now, fields, message
):
    events = _count(db, AuditEvent)

    with pytest.raises(InvalidRequestError, match=re.escape(message)):
        profiles.create_profile(db, organisation=centre, fields=fields, now=now, actor="test")

    assert _count(db, JobProfile) == 0
    assert _count(db, AuditEvent) == events


def test_an_archived_achievement_cannot_be_required(db, centre, welding, now):
    catalogue.archive_achievement(db, welding, now=now, actor="test")

    with pytest.raises(InvalidRequestError, match="“Perform MAG welding” of Northside"):
        _create(db, centre, now, profiles.TaskFields(name="Weld", achievements=[welding.public_id]))


def test_an_earlier_version_is_stored_as_the_current_one(db, centre, welding, now):
    newer = catalogue.revise_achievement(
        db, welding, fields=catalogue.fields_of(welding), now=now, actor="test"
    )

    row = _create(
        db, centre, now, profiles.TaskFields(name="Weld", achievements=[welding.public_id])
    )

    assert json.loads(row.tasks)[0]["achievements"] == [newer.public_id]


def test_another_centres_profile_is_not_found(db, centre, harbour, now):
    row = _create(db, centre, now, profiles.TaskFields(name="Weld", skills=[WELDING_SKILL]))

    with pytest.raises(NotFoundError):
        profiles.get_profile(db, harbour, row.public_id)
    assert profiles.list_profiles(db, harbour) == []
    assert profiles.get_profile(db, centre, row.public_id).id == row.id


def test_publish_unpublish_archive_and_what_published_offers(db, centre, now):
    row = _create(db, centre, now, profiles.TaskFields(name="Weld", skills=[WELDING_SKILL]))
    assert row.public_id not in [p.id for p in profiles.published(db, PUBLIC_URL)]

    profiles.publish_profile(db, row, now=now, actor="test")
    assert profiles.find_published(db, PUBLIC_URL, row.public_id).tasks[0].skills == (
        WELDING_SKILL,
    )
    with pytest.raises(ConflictError):
        profiles.publish_profile(db, row, now=now, actor="test")

    profiles.unpublish_profile(db, row, now=now, actor="test")
    assert profiles.find_published(db, PUBLIC_URL, row.public_id) is None

    profiles.publish_profile(db, row, now=now, actor="test")
    profiles.archive_profile(db, row, now=now, actor="test")
    assert profiles.state(row) == "archived"
    assert profiles.find_published(db, PUBLIC_URL, row.public_id) is None
    with pytest.raises(ConflictError, match="archived"):
        profiles.revise_profile(
            db,
            row,
            fields=_fields(profiles.TaskFields(name="Lift", skills=[FORKLIFT_SKILL])),
            now=now,
            actor="test",
        )
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.subject == row.public_id).order_by(AuditEvent.id)
    ).all()
    assert actions == [
        "job_profile.created",
        "job_profile.published",
        "job_profile.unpublished",
        "job_profile.published",
        "job_profile.archived",
    ]


def test_revising_changes_the_profile_in_place(db, centre, now):
    row = _create(db, centre, now, profiles.TaskFields(name="Weld", skills=[WELDING_SKILL]))
    later = now.replace(year=now.year + 1)

    profiles.revise_profile(
        db,
        row,
        fields=_fields(profiles.TaskFields(name="Lift", skills=[FORKLIFT_SKILL]), name="Operative"),
        now=later,
        actor="test",
    )

    stored = profiles.get_profile(db, centre, row.public_id)
    assert (stored.name, stored.updated_at.year) == ("Operative", later.year)
    assert json.loads(stored.tasks)[0]["name"] == "Lift"
    with pytest.raises(InvalidRequestError, match="task 1: give the task's name"):
        profiles.revise_profile(
            db, row, fields=_fields(profiles.TaskFields(skills=["x"])), now=later, actor="test"
        )
    assert json.loads(profiles.get_profile(db, centre, row.public_id).tasks)[0]["name"] == "Lift"


def test_a_task_requiring_another_centres_achievement_is_matched_and_offered(
    db, centre, rigging, now
):
    row = _create(
        db, centre, now, profiles.TaskFields(name="Rig", achievements=[rigging.public_id])
    )
    profile = profiles.to_profile(db, row, PUBLIC_URL)
    url = f"{PUBLIC_URL}/orgs/harbour/achievements/{rigging.public_id}"

    assert profile.tasks[0].achievements == (url,)
    offered = profiles.offerings(db, PUBLIC_URL, Task(name="Rig", achievements=(url,)))
    assert [(o.name, o.issuer_name, o.url) for o in offered] == [
        ("Rig loads for a crane lift", "Harbour Trades College", url)
    ]


# -- the staff pages ----------------------------------------------------------------------------


def _token(client, path="/centre/"):
    return _TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def _form(client, **fields):
    return {"csrf_token": _token(client), "rows": "10", "action": "save", **fields}


def test_the_form_refuses_bad_input_keeps_what_was_typed_and_stores_nothing(db, centre, sign_in):
    client = sign_in(centre)
    response = client.post(
        "/centre/profiles/new",
        data=_form(
            client,
            name="Welder-fitter",
            **{
                "task-1-name": "Weld joints",
                "task-1-skills": WELDING_SKILL,
                "task-3-name": "Read drawings",
                "task-3-skills": "read engineering drawingz",
            },
        ),
    )

    page = response.get_data(as_text=True)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "Task 3 (“Read drawings”), skills: no ESCO skill is called" in page
    assert 'value="Welder-fitter"' in page and "read engineering drawingz</textarea>" in page
    assert _count(db, JobProfile) == 0


def test_staff_create_publish_and_the_profile_is_offered(db, centre, welding, rigging, sign_in):
    client = sign_in(centre)
    form_page = client.get("/centre/profiles/new").get_data(as_text=True)
    assert '<optgroup label="Harbour Trades College">' in form_page
    assert f'value="{rigging.public_id}"' in form_page

    response = client.post(
        "/centre/profiles/new",
        data=_form(
            client,
            name="Fabrication operative",
            **{
                "task-1-name": "Weld joints",
                "task-1-skills": f"perform metal active gas welding\n{FORKLIFT_SKILL}",
                "task-2-name": "Rig loads",
                "task-2-achievements": [rigging.public_id, welding.public_id],
            },
        ),
    )
    assert response.status_code == HTTPStatus.SEE_OTHER
    row = db.scalars(select(JobProfile)).one()
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "operate forklift" in detail and "Rig loads for a crane lift" in detail
    assert "Harbour Trades College" in detail and "Draft" in detail

    response = client.post(
        f"/centre/profiles/{row.public_id}/publish", data={"csrf_token": _token(client)}
    )
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert "Fabrication operative" in [p.name for p in profiles.published(db, PUBLIC_URL)]
    listing = client.get("/centre/profiles").get_data(as_text=True)
    assert f'data-profile="{row.public_id}" data-state="published"' in listing


def test_more_rows_keeps_what_was_typed(centre, sign_in):
    client = sign_in(centre)
    page = client.post(
        "/centre/profiles/new",
        data=_form(client, name="Role", action="more", **{"task-2-name": "Lift"}),
    ).get_data(as_text=True)

    assert 'name="task-15-name"' in page and 'name="task-16-name"' not in page
    assert 'name="task-2-name" type="text" maxlength="200" value="Lift"' in page


def test_editing_shows_skills_and_saves_in_place(db, centre, sign_in, now):
    row = _create(db, centre, now, profiles.TaskFields(name="Weld", skills=[WELDING_SKILL]))
    client = sign_in(centre)

    page = client.get(f"/centre/profiles/{row.public_id}/edit").get_data(as_text=True)
    assert f"perform metal active gas welding — {WELDING_SKILL}</textarea>" in page
    response = client.post(
        f"/centre/profiles/{row.public_id}/edit",
        data=_form(
            client,
            name="Welder",
            **{"task-1-name": "Weld steel", "task-1-skills": f"x — {WELDING_SKILL}"},
        ),
    )

    assert response.status_code == HTTPStatus.SEE_OTHER
    db.refresh(row)
    assert (row.name, json.loads(row.tasks)[0]["name"]) == ("Welder", "Weld steel")


def test_a_viewer_reads_but_cannot_edit(db, centre, sign_in, now):
    row = _create(db, centre, now, profiles.TaskFields(name="Weld", skills=[WELDING_SKILL]))
    client = sign_in(centre, "viewer")

    assert "Weld" in client.get(f"/centre/profiles/{row.public_id}").get_data(as_text=True)
    assert client.get("/centre/profiles/new").status_code == HTTPStatus.FORBIDDEN
    response = client.post(
        f"/centre/profiles/{row.public_id}/publish", data={"csrf_token": _token(client)}
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    db.refresh(row)
    assert profiles.state(row) == "draft"


def test_another_centres_profile_page_is_not_found(db, centre, harbour, sign_in, now):
    row = _create(db, harbour, now, profiles.TaskFields(name="Weld", skills=[WELDING_SKILL]))
    client = sign_in(centre)

    assert client.get(f"/centre/profiles/{row.public_id}").status_code == HTTPStatus.NOT_FOUND
    response = client.post(
        f"/centre/profiles/{row.public_id}/archive", data={"csrf_token": _token(client)}
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    db.refresh(row)
    assert profiles.state(row) == "draft"


# -- the public page of an achievement ----------------------------------------------------------


def test_the_achievement_page_for_people(client, centre, welding):
    response = client.get(f"/orgs/northside/achievements/{welding.public_id}")

    page = response.get_data(as_text=True)
    assert response.status_code == HTTPStatus.OK
    assert "Perform MAG welding" in page and "Passed bend tests." in page
    assert "Northside Skills Centre" in page and "perform metal active gas welding" in page
    assert "Currently offered" in page


def test_an_earlier_version_links_to_the_current_one(client, db, centre, welding, now):
    newer = catalogue.revise_achievement(
        db, welding, fields=catalogue.fields_of(welding), now=now, actor="test"
    )

    page = client.get(f"/orgs/northside/achievements/{welding.public_id}").get_data(as_text=True)

    assert "This is an earlier version" in page
    assert f"/orgs/northside/achievements/{newer.public_id}" in page


def test_the_achievement_as_open_badges_json(client, centre, welding):
    response = client.get(
        f"/orgs/northside/achievements/{welding.public_id}",
        headers={"Accept": "application/json"},
    )

    document = response.get_json()
    assert response.status_code == HTTPStatus.OK
    assert document["id"] == f"{PUBLIC_URL}/orgs/northside/achievements/{welding.public_id}"
    assert document["type"] == ["Achievement"]
    assert document["criteria"] == {"narrative": "Passed bend tests."}
    assert document["alignment"][0]["targetUrl"] == WELDING_SKILL
    assert document["creator"]["name"] == "Northside Skills Centre"


def test_unknown_achievements_are_not_found(client, centre, welding, rigging):
    assert client.get("/orgs/northside/achievements/nope").status_code == HTTPStatus.NOT_FOUND
    # the right id under another centre's slug is not it either
    assert (
        client.get(f"/orgs/northside/achievements/{rigging.public_id}").status_code
        == HTTPStatus.NOT_FOUND
    )
    response = client.get(
        "/orgs/northside/achievements/nope", headers={"Accept": "application/json"}
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
