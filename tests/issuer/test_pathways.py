"""Stackable pathways: a pathway of Harbour (centre B) earned with one credential of Northside
(centre A) and one of Harbour, as the worker, the employer and the centres' staff see it.

Issuing goes through the real issuing code (the catalogue, the JSON API); the worker uses the
real wallet pages with a claim link; the employer the public verify page; staff the centre
pages. Nothing of ours is mocked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus

import pytest
from sqlalchemy import func, select

from issuer import accounts, bulk, catalogue, pathways, services, verification
from issuer import wallet as issuer_wallet
from issuer.clock import utcnow
from issuer.errors import InvalidRequestError, NotFoundError
from issuer.models import (
    AuditEvent,
    IssuedCredential,
    Organisation,
    Pathway,
    PathwayAward,
    PathwayAwardPart,
    PathwayPart,
    WalletSession,
)
from verifier import Verdict

from ..conftest import PUBLIC_URL

AMINA = "amina@example.org"
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Centres:
    northside: Organisation  # A
    harbour: Organisation  # B, defines the pathway
    welding: object  # A's achievement (a part)
    rigging: object  # B's achievement (a part)
    technician: object  # B's achievement (the award)


@pytest.fixture
def centres(db, kek, centre, welding, now) -> Centres:
    harbour = services.create_organisation(
        db, kek, slug="harbour", name="Harbour Trades College", public_url=PUBLIC_URL, now=now
    )
    rigging = services.create_achievement(
        db,
        organisation=harbour,
        name="Rig loads for a crane lift",
        description="Slings and signals loads.",
        criteria="Observed on site.",
        now=now,
    )
    technician = services.create_achievement(
        db,
        organisation=harbour,
        name="Site Safety Technician",
        description="Welds and rigs safely on site.",
        criteria="Holds every part of the pathway.",
        achievement_type="Certificate",
        now=now,
    )
    return Centres(centre, harbour, welding, rigging, technician)


def define(db, c: Centres, mode="automatic"):
    return pathways.create_pathway(
        db,
        c.harbour,
        award=c.technician.public_id,
        parts=[c.welding.public_id, c.rigging.public_id],
        mode=mode,
        now=utcnow(),
        actor="test",
    )


def issue(db, kek, organisation, achievement, *, email=AMINA, name="Amina Haddad"):
    return catalogue.issue(
        db,
        kek,
        organisation=organisation,
        achievement=achievement,
        name=name,
        email=email,
        public_url=PUBLIC_URL,
        now=utcnow(),
        actor="test",
    )


def count(db, model, *conditions):
    return db.scalar(select(func.count()).select_from(model).where(*conditions))


def pathway_credentials(db, c: Centres):
    return db.scalars(
        select(IssuedCredential).where(IssuedCredential.achievement_id == c.technician.id)
    ).all()


def verify_url(record):
    return f"{PUBLIC_URL}/v/{record.public_id}"


# -- earning a pathway across two centres ---------------------------------------------------


def test_holding_both_parts_awards_the_pathway_credential(app, db, kek, centres):
    c = centres
    pathway = define(db, c)
    welding = issue(db, kek, c.northside, c.welding).issued.record
    assert pathway_credentials(db, c) == []  # one part is not enough

    rigging = issue(db, kek, c.harbour, c.rigging, name="Amina K. Haddad").issued.record

    [awarded] = pathway_credentials(db, c)
    assert awarded.organisation_id == c.harbour.id
    assert awarded.recipient_email == AMINA
    assert awarded.recipient_name == "Amina K. Haddad"  # from the most recent part
    document = json.loads(awarded.document)
    assert document["credentialSubject"]["achievement"]["name"] == "Site Safety Technician"
    evidence = document["evidence"]
    assert [e["id"] for e in evidence] == [verify_url(welding), verify_url(rigging)]
    assert all(e["type"] == ["Evidence"] for e in evidence)
    assert [e["name"] for e in evidence] == ["Perform MAG welding", "Rig loads for a crane lift"]
    assert "Northside Skills Centre" in evidence[0]["narrative"]
    assert "Harbour Trades College" in evidence[1]["narrative"]

    with app.app_context():
        result = verification.verify(json.dumps(document))
    assert result.verdict == Verdict.VALID

    [award] = db.scalars(select(PathwayAward).where(PathwayAward.pathway_id == pathway.id)).all()
    assert award.credential_id == awarded.id
    assert {p.credential_id for p in award.parts} == {welding.id, rigging.id}
    assert count(db, AuditEvent, AuditEvent.action == "pathway.awarded") == 1


def test_a_pathway_that_cannot_be_awarded_never_fails_the_part(db, kek, centres, caplog):
    c = centres
    define(db, c)
    catalogue.archive_achievement(db, c.technician, now=utcnow(), actor="test")
    issue(db, kek, c.northside, c.welding)
    result = issue(db, kek, c.harbour, c.rigging)
    assert result.issued.created and result.claim_token
    assert db.get(IssuedCredential, result.issued.record.id) is not None
    assert pathway_credentials(db, c) == []
    assert "no longer offers" in caplog.text


def test_another_copy_of_a_part_does_not_award_twice(db, kek, centres):
    c = centres
    pathway = define(db, c)
    issue(db, kek, c.northside, c.welding)
    issue(db, kek, c.harbour, c.rigging)
    issue(db, kek, c.northside, c.welding)  # re-issued, say after a refresher course
    assert len(pathway_credentials(db, c)) == 1
    again = pathways.award(
        db, kek, pathway, " Amina@Example.ORG ", public_url=PUBLIC_URL, now=utcnow(), actor="t"
    )
    assert again.issued.created is False
    assert len(pathway_credentials(db, c)) == 1
    assert count(db, PathwayAward) == 1


def test_a_revoked_part_does_not_count(db, kek, centres):
    c = centres
    define(db, c)
    welding = issue(db, kek, c.northside, c.welding).issued.record
    services.revoke_credential(db, welding, reason="Issued in error", now=utcnow())
    issue(db, kek, c.harbour, c.rigging)
    assert pathway_credentials(db, c) == []


def test_an_expired_or_future_part_does_not_count(db, kek, centres, now):
    c = centres
    pathway = define(db, c)
    services.issue_credential(
        db,
        kek,
        organisation=c.northside,
        achievement=c.welding,
        name="Amina Haddad",
        email=AMINA,
        public_url=PUBLIC_URL,
        now=now,
        valid_from=now - timedelta(days=400),
        valid_until=now - timedelta(days=35),
    )
    issue(db, kek, c.harbour, c.rigging)
    assert pathway_credentials(db, c) == []
    found = pathways.pathway_progress(db, pathway, AMINA, now=utcnow())
    assert (found.held_count, found.complete) == (1, False)
    assert [a.name for a in found.missing] == ["Perform MAG welding"]
    # A credential valid only from next year does not count this year either.
    services.issue_credential(
        db,
        kek,
        organisation=c.northside,
        achievement=c.welding,
        name="Amina Haddad",
        email=AMINA,
        public_url=PUBLIC_URL,
        now=utcnow(),
        valid_from=utcnow() + timedelta(days=365),
    )
    assert pathways.pathway_progress(db, pathway, AMINA, now=utcnow()).complete is False


def test_any_version_of_a_part_counts(db, kek, centres):
    c = centres
    define(db, c)
    issue(db, kek, c.northside, c.welding)  # version 1, then the achievement is edited
    revised = catalogue.revise_achievement(
        db,
        c.welding,
        fields=catalogue.fields_of(c.welding),
        now=utcnow(),
        actor="test",
    )
    assert revised.version == 2
    issue(db, kek, c.harbour, c.rigging)
    assert len(pathway_credentials(db, c)) == 1


def test_the_json_api_issues_parts_that_complete_a_pathway(client, db, kek, centres, now):
    c = centres
    define(db, c)
    issue(db, kek, c.northside, c.welding)
    _, secret = accounts.create_api_token(
        db,
        organisation=c.harbour,
        name="integration",
        scopes=["issue"],
        now=now,
        created_by=None,
        actor="test",
    )
    response = client.post(
        "/api/v1/credentials",
        json={"achievement": c.rigging.public_id, "name": "Amina Haddad", "email": AMINA},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == HTTPStatus.CREATED
    assert len(pathway_credentials(db, c)) == 1


def test_a_bulk_row_completes_a_pathway(db, kek, centres, now):
    c = centres
    define(db, c)
    issue(db, kek, c.harbour, c.rigging)
    job = bulk.create_job(
        db,
        organisation=c.northside,
        achievement=c.welding,
        rows=[
            bulk.RowInput(row_number=2, name="Amina Haddad", email=AMINA),
            bulk.RowInput(row_number=3, name="Bob Martin", email="bob@example.org"),
        ],
        filename="cohort.csv",
        created_by="coordinator@example.org",
        now=now,
    )
    job = bulk.confirm_job(db, job, now=now, actor="coordinator@example.org")
    outcome = bulk.process_job(
        db, kek, job_id=job.id, public_url=PUBLIC_URL, clock=lambda: utcnow()
    )
    assert outcome == bulk.Outcome.FINISHED
    [awarded] = pathway_credentials(db, c)  # Amina holds both parts; Bob only one
    assert awarded.recipient_email == AMINA


def test_the_vc_api_issues_parts_that_complete_a_pathway(app, client, db, kek, centres):
    c = centres
    define(db, c)
    issue(db, kek, c.harbour, c.rigging)
    app.config["VCAPI_ISSUER"] = c.northside.slug
    app.config["VCAPI_TOKEN"] = "t" * 43
    credential = {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "name": "Amina Haddad",
            "achievement": {
                "id": f"{PUBLIC_URL}/orgs/northside/achievements/{c.welding.public_id}"
            },
        },
    }
    response = client.post(
        "/credentials/issue",
        json={"credential": credential, "options": {"recipientEmail": AMINA}},
        headers={"Authorization": "Bearer " + "t" * 43},
    )
    assert response.status_code == HTTPStatus.CREATED, response.get_data(as_text=True)
    assert len(pathway_credentials(db, c)) == 1


# -- the worker asks for an on-request pathway -----------------------------------------------


def open_wallet(client, token):
    response = client.get(f"/claim/{token}")
    assert response.status_code == HTTPStatus.SEE_OTHER
    page = client.get("/wallet")
    assert page.status_code == HTTPStatus.OK
    return page.get_data(as_text=True)


def test_an_on_request_pathway_is_awarded_when_the_worker_asks(client, db, kek, centres):
    c = centres
    pathway = define(db, c, mode="on_request")
    issue(db, kek, c.northside, c.welding)
    rigging = issue(db, kek, c.harbour, c.rigging)
    assert pathway_credentials(db, c) == []  # nothing until asked

    page = open_wallet(client, rigging.claim_token)
    assert "Pathways" in page
    assert "2 of 2 parts" in page
    assert "Request my Site Safety Technician credential" in page

    token = CSRF.search(page).group(1)
    response = client.post(
        f"/wallet/pathways/{pathway.public_id}/request", data={"csrf_token": token}
    )
    assert response.status_code == HTTPStatus.SEE_OTHER
    [awarded] = pathway_credentials(db, c)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'data-public-id="{awarded.public_id}"' in page
    assert "Your pathway credential is issued" in page
    assert "Earned" in page
    assert "Request my Site Safety Technician credential" not in page

    # Asking again (a double click) issues nothing new.
    client.post(f"/wallet/pathways/{pathway.public_id}/request", data={"csrf_token": token})
    assert len(pathway_credentials(db, c)) == 1


def test_asking_before_holding_every_part_is_refused_and_issues_nothing(client, db, kek, centres):
    c = centres
    pathway = define(db, c, mode="on_request")
    rigging = issue(db, kek, c.harbour, c.rigging)

    page = open_wallet(client, rigging.claim_token)
    assert "1 of 2 parts" in page
    assert "Perform MAG welding" in page and "offered by Northside Skills Centre" in page
    assert "Request my" not in page

    token = CSRF.search(page).group(1)
    response = client.post(
        f"/wallet/pathways/{pathway.public_id}/request", data={"csrf_token": token}
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    text = response.get_data(as_text=True)
    assert "you hold 1 of the 2 parts" in text
    assert "Perform MAG welding" in text and "Northside Skills Centre" in text
    assert pathway_credentials(db, c) == []
    assert count(db, PathwayAward) == 0


def test_the_request_needs_a_csrf_token_and_a_pathway_in_the_wallets_scope(
    client, db, kek, centres
):
    c = centres
    harbours = define(db, c, mode="on_request")
    northsides_award = services.create_achievement(
        db,
        organisation=c.northside,
        name="Northside Welder Rigger",
        description="Both.",
        criteria="Both parts.",
        now=utcnow(),
    )
    northsides = pathways.create_pathway(
        db,
        c.northside,
        award=northsides_award.public_id,
        parts=[c.welding.public_id, c.rigging.public_id],
        mode="on_request",
        now=utcnow(),
        actor="test",
    )
    issue(db, kek, c.northside, c.welding)
    rigging = issue(db, kek, c.harbour, c.rigging)
    page = open_wallet(client, rigging.claim_token)  # Harbour's link: Harbour's pathways
    assert "Site Safety Technician" in page and "Northside Welder Rigger" not in page
    no_token = client.post(f"/wallet/pathways/{harbours.public_id}/request")
    assert no_token.status_code == HTTPStatus.BAD_REQUEST
    token = CSRF.search(page).group(1)
    other = client.post(
        f"/wallet/pathways/{northsides.public_id}/request", data={"csrf_token": token}
    )
    assert other.status_code == HTTPStatus.NOT_FOUND
    assert pathway_credentials(db, c) == []
    assert count(db, PathwayAward) == 0


def test_an_automatic_pathway_that_failed_to_award_can_be_asked_for(client, db, kek, centres):
    c = centres
    pathway = define(db, c)
    issued = [
        services.issue_credential(  # no after-issue hook here: as if awarding had failed
            db,
            kek,
            organisation=organisation,
            achievement=achievement,
            name="Amina Haddad",
            email=AMINA,
            public_url=PUBLIC_URL,
            now=utcnow(),
        ).record
        for organisation, achievement in ((c.northside, c.welding), (c.harbour, c.rigging))
    ]
    assert pathway_credentials(db, c) == []
    token = catalogue.new_claim_link(db, issued[1], now=utcnow(), actor="test")
    page = open_wallet(client, token)
    assert "2 of 2 parts" in page
    assert "could not be issued automatically yet" in page
    response = client.post(
        f"/wallet/pathways/{pathway.public_id}/request",
        data={"csrf_token": CSRF.search(page).group(1)},
    )
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert len(pathway_credentials(db, c)) == 1


# -- the dependency on the verify pages ------------------------------------------------------


def test_revoking_a_part_shows_on_the_pathway_credentials_verify_page(client, db, kek, centres):
    c = centres
    define(db, c)
    welding = issue(db, kek, c.northside, c.welding).issued.record
    issue(db, kek, c.harbour, c.rigging)
    [awarded] = pathway_credentials(db, c)

    page = client.get(f"/v/{awarded.public_id}").get_data(as_text=True)
    assert "Built from" in page
    assert page.count('data-state="valid"') == 2
    assert "has since revoked" not in page

    services.revoke_credential(db, welding, reason="The bend test was not witnessed", now=utcnow())
    response = client.get(f"/v/{awarded.public_id}")
    assert response.status_code == HTTPStatus.OK
    page = response.get_data(as_text=True)
    assert 'data-verdict="valid"' in page  # its issuer decides; the verdict is its own
    assert "built from a credential that its issuer has since revoked" in page
    assert 'data-state="revoked"' in page and 'data-state="valid"' in page
    assert "The bend test was not witnessed" in page


def test_a_part_made_private_shows_as_private_unless_revoked(client, db, kek, centres):
    c = centres
    define(db, c)
    welding = issue(db, kek, c.northside, c.welding)
    issue(db, kek, c.harbour, c.rigging)
    [awarded] = pathway_credentials(db, c)
    page = open_wallet(client, welding.claim_token)
    record = welding.issued.record
    hidden = client.post(
        f"/wallet/c/{record.public_id}/public-link",
        data={"csrf_token": CSRF.search(page).group(1), "visible": "off"},
    )
    assert hidden.status_code == HTTPStatus.SEE_OTHER

    page = client.get(f"/v/{awarded.public_id}").get_data(as_text=True)
    assert 'data-state="private"' in page and "Perform MAG welding" in page
    assert f"/v/{record.public_id}" not in page.split("Built from")[1]

    services.revoke_credential(db, record, reason="Issued in error", now=utcnow())
    page = client.get(f"/v/{awarded.public_id}").get_data(as_text=True)
    assert 'data-state="revoked"' in page and 'data-state="private"' not in page
    assert "has since revoked" in page


def test_evidence_links_to_other_hosts_are_not_treated_as_parts(
    client, db, kek, centres, no_network
):
    c = centres
    record = catalogue.issue(
        db,
        kek,
        organisation=c.northside,
        achievement=c.welding,
        name="Amina Haddad",
        email=AMINA,
        public_url=PUBLIC_URL,
        now=utcnow(),
        actor="test",
        evidence=[{"id": "https://elsewhere.example/v/AAAAAAAAAAAAAAAAAAAAAA", "name": "X"}],
    ).issued.record
    page = client.get(f"/v/{record.public_id}").get_data(as_text=True)
    assert "Built from" not in page
    assert no_network == []


def test_staff_see_the_dependency_both_ways(client, db, kek, centres, sign_in):
    c = centres
    define(db, c)
    welding = issue(db, kek, c.northside, c.welding).issued.record
    issue(db, kek, c.harbour, c.rigging)
    [awarded] = pathway_credentials(db, c)
    services.revoke_credential(db, welding, reason="Issued in error", now=utcnow())

    sign_in(c.northside, "viewer")
    page = client.get(f"/centre/credentials/{welding.public_id}").get_data(as_text=True)
    assert "Pathway credentials built from it" in page
    assert "Site Safety Technician" in page

    client.post("/logout", data={"csrf_token": CSRF.search(page).group(1)})
    sign_in(c.harbour, "viewer")
    page = client.get(f"/centre/credentials/{awarded.public_id}").get_data(as_text=True)
    assert "Built from" in page
    assert 'data-status="revoked"' in page and "Issued in error" in page
    assert "has been revoked by its issuer" in page


# -- the exported wallet ---------------------------------------------------------------------


def test_the_exported_wallet_carries_the_associations_and_verifies(client, db, kek, centres):
    c = centres
    define(db, c)
    welding = issue(db, kek, c.northside, c.welding).issued.record
    rigging = issue(db, kek, c.harbour, c.rigging).issued.record
    [awarded] = pathway_credentials(db, c)
    # A wallet opened by a proven e-mail address: every centre's credentials.
    everywhere = WalletSession(email=AMINA, organisation_id=None)
    clr = issuer_wallet.export_clr(db, kek, everywhere, public_url=PUBLIC_URL, now=utcnow())

    def achievement_id(record):
        return json.loads(record.document)["credentialSubject"]["achievement"]["id"]

    associations = clr["credentialSubject"]["association"]
    assert associations == [
        {
            "type": "Association",
            "associationType": "isParentOf",
            "sourceId": achievement_id(awarded),
            "targetId": achievement_id(part),
        }
        for part in (welding, rigging)
    ]
    response = client.post("/api/v1/verify", json={"credential": clr, "email": AMINA})
    report = response.get_json()
    assert report["verified"] is True
    assert report["wallet"]["verdict"] == "valid"
    assert [r["verdict"] for r in report["credentials"]] == ["valid"] * 3


def test_a_wallet_without_the_parts_has_no_associations_for_them(client, db, kek, centres):
    c = centres
    define(db, c)
    issue(db, kek, c.northside, c.welding)
    rigging = issue(db, kek, c.harbour, c.rigging)
    open_wallet(client, rigging.claim_token)  # Harbour's claim link: Harbour's credentials
    clr = json.loads(client.get("/wallet/wallet.json").data)
    [association] = clr["credentialSubject"]["association"]
    assert association["targetId"].endswith(c.rigging.public_id)
    report = client.post("/api/v1/verify", json={"credential": clr}).get_json()
    assert report["verified"] is True


# -- defining pathways ------------------------------------------------------------------------


def bad(c: Centres, **overrides):
    values = {
        "award": c.technician.public_id,
        "parts": [c.welding.public_id, c.rigging.public_id],
        "mode": "automatic",
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: bad(c, parts=[c.welding.public_id]), "at least 2"),
        (lambda c: bad(c, parts=[c.welding.public_id, c.welding.public_id]), "at least 2"),
        (lambda c: bad(c, award=c.welding.public_id), "this centre's own achievements"),
        (lambda c: bad(c, award="nonsense"), "this centre's own achievements"),
        (
            lambda c: bad(c, parts=[c.welding.public_id, c.technician.public_id]),
            "cannot also be one of its parts",
        ),
        (lambda c: bad(c, parts=[c.welding.public_id, "nope"]), "no achievement"),
        (lambda c: bad(c, mode="sometimes"), "automatically, or on request"),
        (lambda c: bad(c, parts=[f"{i:036d}" for i in range(51)]), "at most 50"),
    ],
)
def test_a_bad_pathway_is_refused_and_writes_nothing(db, centres, change, message):
    events = count(db, AuditEvent)
    values = change(centres)
    with pytest.raises(InvalidRequestError, match=message):
        pathways.create_pathway(db, centres.harbour, now=utcnow(), actor="test", **values)
    assert count(db, Pathway) == count(db, PathwayPart) == 0
    assert count(db, AuditEvent) == events


def test_an_archived_part_or_award_is_refused(db, centres):
    c = centres
    catalogue.archive_achievement(db, c.welding, now=utcnow(), actor="test")
    with pytest.raises(InvalidRequestError, match="archived"):
        pathways.create_pathway(db, c.harbour, now=utcnow(), actor="test", **bad(c))
    catalogue.archive_achievement(db, c.technician, now=utcnow(), actor="test")
    with pytest.raises(InvalidRequestError, match="archived"):
        pathways.create_pathway(db, c.harbour, now=utcnow(), actor="test", **bad(c))
    assert count(db, Pathway) == 0


def test_staff_define_look_at_and_archive_a_pathway(client, db, kek, centres, sign_in):
    c = centres
    sign_in(c.harbour)
    form = client.get("/centre/pathways/new").get_data(as_text=True)
    # Parts of every centre, grouped by centre; the award only from Harbour's own.
    assert "Northside Skills Centre" in form and "Harbour Trades College" in form
    award_select = form.split('id="award"')[1].split("</select>")[0]
    assert c.technician.public_id in award_select and c.welding.public_id not in award_select
    token = CSRF.search(form).group(1)

    refused = client.post(
        "/centre/pathways/new",
        data={
            "csrf_token": token,
            "award": c.technician.public_id,
            "parts": [c.welding.public_id],
            "mode": "automatic",
        },
    )
    assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "choose at least 2 different achievements" in refused.get_data(as_text=True)
    assert count(db, Pathway) == 0

    response = client.post(
        "/centre/pathways/new",
        data={
            "csrf_token": token,
            "award": c.technician.public_id,
            "parts": [c.welding.public_id, c.rigging.public_id],
            "mode": "automatic",
        },
    )
    assert response.status_code == HTTPStatus.SEE_OTHER
    [pathway] = db.scalars(select(Pathway)).all()
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Site Safety Technician" in detail and "0 people" in detail
    assert "Perform MAG welding" in detail and "Northside Skills Centre" in detail

    issue(db, kek, c.northside, c.welding)
    issue(db, kek, c.harbour, c.rigging)
    detail = client.get(f"/centre/pathways/{pathway.public_id}").get_data(as_text=True)
    assert "1 people" in detail
    assert "1 earned" in client.get("/centre/pathways").get_data(as_text=True)

    archived = client.post(
        f"/centre/pathways/{pathway.public_id}/archive", data={"csrf_token": token}
    )
    assert archived.status_code == HTTPStatus.SEE_OTHER
    db.refresh(pathway)
    assert pathway.archived_at is not None
    assert pathway.public_id not in client.get("/centre/pathways").get_data(as_text=True)
    assert pathway.public_id in client.get("/centre/pathways?archived=1").get_data(as_text=True)
    # An archived pathway is no longer awarded.
    issue(db, kek, c.northside, c.welding, email="bob@example.org", name="Bob")
    issue(db, kek, c.harbour, c.rigging, email="bob@example.org", name="Bob")
    assert len(pathway_credentials(db, c)) == 1


def test_a_viewer_reads_but_cannot_define_or_archive(client, db, centres, sign_in):
    c = centres
    pathway = define(db, c)
    sign_in(c.harbour, "viewer")
    listing = client.get("/centre/pathways")
    assert listing.status_code == HTTPStatus.OK
    page = listing.get_data(as_text=True)
    assert "Site Safety Technician" in page and "New pathway" not in page
    token = CSRF.search(page).group(1)
    assert client.get("/centre/pathways/new").status_code == HTTPStatus.FORBIDDEN
    response = client.post(
        "/centre/pathways/new",
        data={"csrf_token": token, **bad(c)},
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    response = client.post(
        f"/centre/pathways/{pathway.public_id}/archive", data={"csrf_token": token}
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert count(db, Pathway) == 1
    db.refresh(pathway)
    assert pathway.archived_at is None


def test_another_centres_pathway_is_not_found(client, db, centres, sign_in):
    c = centres
    pathway = define(db, c)
    with pytest.raises(NotFoundError):
        pathways.get_pathway(db, c.northside, pathway.public_id)
    assert pathways.list_pathways(db, c.northside) == []
    sign_in(c.northside)
    page = client.get("/centre/pathways").get_data(as_text=True)
    assert "Site Safety Technician" not in page
    assert client.get(f"/centre/pathways/{pathway.public_id}").status_code == (HTTPStatus.NOT_FOUND)
    token = CSRF.search(page).group(1)
    response = client.post(
        f"/centre/pathways/{pathway.public_id}/archive", data={"csrf_token": token}
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    db.refresh(pathway)
    assert pathway.archived_at is None
    # Northside cannot make Harbour's achievement its award either.
    with pytest.raises(InvalidRequestError):
        pathways.create_pathway(db, c.northside, now=utcnow(), actor="test", **bad(c))


def test_a_pathway_credential_does_not_count_as_its_own_part(db, kek, centres):
    c = centres
    pathway = define(db, c)
    issue(db, kek, c.northside, c.welding)
    issue(db, kek, c.harbour, c.rigging)
    [awarded] = pathway_credentials(db, c)
    found = pathways.pathway_progress(db, pathway, AMINA, now=utcnow())
    assert awarded.id not in {p.held.id for p in found.parts if p.held}
    assert count(db, PathwayAwardPart, PathwayAwardPart.credential_id == awarded.id) == 0
