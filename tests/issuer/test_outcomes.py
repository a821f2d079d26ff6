"""The outcomes dashboard: figures equal to what the database holds after a scripted sequence.

Two centres over three months: credentials issued (one achievement revised in between, whose
versions must count together), some revoked, pathway credentials awarded, and employers
verifying through the real entry points (the QR page, the upload form, the API, a whole
wallet, and credentials this instance did not issue, which must not count). Then the figures,
the staff page, its CSV/JSON downloads and the operator's CLI are checked against counts
taken independently from the tables.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import re
import time
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus

import pytest
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from issuer import catalogue, outcomes, services, verification, wallet
from issuer.cli import cli
from issuer.clock import utcnow
from issuer.models import (
    Achievement,
    IssuedCredential,
    Organisation,
    Pathway,
    PathwayAward,
    VerificationTally,
    WalletSession,
)

from ..conftest import PUBLIC_URL, app_config
from ..helpers import make_credential, make_signer, signed_json

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _month_start(moment: datetime, back: int = 0) -> datetime:
    first = outcomes.add_months(moment.date().replace(day=1), -back)
    return datetime(first.year, first.month, 1, tzinfo=UTC)


def _label(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


@dataclass
class Story:
    north: Organisation
    south: Organisation
    months: tuple[str, str, str]  # two months ago, last month, this month
    welding_v1: Achievement
    welding_v2: Achievement
    rigging: Achievement
    forklift: Achievement
    technician: Achievement
    records: dict[str, IssuedCredential]


def _issue(db, kek, organisation, achievement, name, email, at):
    return services.issue_credential(
        db,
        kek,
        organisation=organisation,
        achievement=achievement,
        name=name,
        email=email,
        public_url=PUBLIC_URL,
        now=at,
    ).record


def _achievement(db, organisation, name, now):
    return services.create_achievement(
        db,
        organisation=organisation,
        name=name,
        description=f"{name}, safely.",
        criteria="Observed at work.",
        now=now,
    )


@pytest.fixture
def story(db, kek, now, centre, welding):
    """Issues, a revision, revocations and pathway awards over three months, two centres."""
    today = utcnow()
    two_ago = _month_start(today, 2) + timedelta(days=9, hours=9)
    last = _month_start(today, 1) + timedelta(days=4, hours=14)
    this = today - timedelta(seconds=5)  # this month, in the past (also on the 1st at 00:00:05)
    if this.month != today.month:
        this = today
    south = services.create_organisation(
        db, kek, slug="southbank", name="Southbank Training", public_url=PUBLIC_URL, now=now
    )
    rigging = _achievement(db, centre, "Rig loads for lifting", now)
    forklift = _achievement(db, south, "Operate a forklift", now)
    technician = _achievement(db, south, "Site Safety Technician", now)
    records: dict[str, IssuedCredential] = {}

    # Two months ago: north issues two weldings (version 1) and one rigging.
    records["amina-weld-1"] = _issue(
        db, kek, centre, welding, "Amina", "amina@example.org", two_ago
    )
    records["omar-weld-1"] = _issue(db, kek, centre, welding, "Omar", "omar@example.org", two_ago)
    records["lina-rig"] = _issue(db, kek, centre, rigging, "Lina", "lina@example.org", two_ago)

    # Last month: welding is revised (a new version, a new name); one issued of each version
    # would be impossible (v1 is archived), so v2 is issued twice; south issues two forklifts
    # and two pathway credentials; north revokes Omar's welding.
    welding_v2 = catalogue.revise_achievement(
        db,
        welding,
        fields=replace(catalogue.fields_of(welding), name="Weld structural steel (MAG)"),
        now=last,
        actor="test",
    )
    records["amina-weld-2"] = _issue(
        db, kek, centre, welding_v2, "Amina", "amina@example.org", last
    )
    records["yusuf-weld-2"] = _issue(
        db, kek, centre, welding_v2, "Yusuf", "yusuf@example.org", last
    )
    records["amina-fork"] = _issue(db, kek, south, forklift, "Amina", "amina@example.org", last)
    records["sara-fork"] = _issue(db, kek, south, forklift, "Sara", "sara@example.org", last)
    pathway = Pathway(
        public_id=str(uuid.uuid4()),
        organisation_id=south.id,
        achievement_id=technician.id,
        mode="automatic",
        created_at=now,
    )
    db.add(pathway)
    db.commit()
    for who in ("amina", "sara"):
        record = _issue(db, kek, south, technician, who.title(), f"{who}@example.org", last)
        records[f"{who}-tech"] = record
        db.add(PathwayAward(pathway_id=pathway.id, credential_id=record.id, created_at=last))
    db.commit()
    services.revoke_credential(db, records["omar-weld-1"], reason="Issued in error", now=last)

    # This month: north issues one more welding (v2) and revokes Lina's rigging.
    records["noor-weld-2"] = _issue(db, kek, centre, welding_v2, "Noor", "noor@example.org", this)
    services.revoke_credential(db, records["lina-rig"], reason="Failed re-assessment", now=this)
    return Story(
        north=centre,
        south=south,
        months=(_label(two_ago), _label(last), _label(this)),
        welding_v1=welding,
        welding_v2=welding_v2,
        rigging=rigging,
        forklift=forklift,
        technician=technician,
        records=records,
    )


def _form_token(client, path):
    return _TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


@pytest.fixture
def verified(client, db, kek, story):
    """Employers check credentials through every public entry point (all counted today)."""
    r = story.records
    # The QR page: Amina's first welding (valid) and Omar's (revoked).
    for key in ("amina-weld-1", "omar-weld-1"):
        assert client.get(f"/v/{r[key].public_id}").status_code == HTTPStatus.OK
    # The upload form: Sara's forklift credential as a file.
    token = _form_token(client, "/verify")
    response = client.post(
        "/verify",
        data={
            "file": (io.BytesIO(r["sara-fork"].document.encode()), "forklift.json"),
            "credential": "",
            "email": "",
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == HTTPStatus.OK
    # The API: Yusuf's welding as a VC-JWT.
    report = client.post("/api/v1/verify", json={"credential": r["yusuf-weld-2"].jwt}).get_json()
    assert report["verified"] is True
    # A whole wallet through the API: Amina's four credentials (two centres), each counted once.
    clr = wallet.export_clr(
        db,
        kek,
        WalletSession(email="amina@example.org", organisation_id=None),
        public_url=PUBLIC_URL,
        now=utcnow(),
    )
    report = client.post("/api/v1/verify", json={"credential": clr}).get_json()
    assert report["form"] == "wallet" and report["counts"] == {"valid": 4}
    # Not counted: another issuer's credential, and a forgery copying one of our ids.
    stranger = make_signer("EdDSA", did="did:key")
    issuer_did = stranger.verification_method.partition("#")[0]
    foreign = signed_json(stranger, make_credential(issuer_did=issuer_did))
    forged = signed_json(
        stranger, make_credential(issuer_did=issuer_did, id=r["amina-weld-1"].credential_id)
    )
    for document in (foreign, forged):
        report = client.post("/api/v1/verify", json={"credential": document}).get_json()
        assert report["verified"] is False
    return story


# -- counted independently from the tables ---------------------------------------------------


def _lineage_names(db):
    """Achievement id -> the name of its newest version, by walking catalogue.versions."""
    names = {}
    for achievement in db.scalars(select(Achievement)).all():
        names[achievement.id] = catalogue.versions(db, achievement)[0].name
    return names


def _expected(db, slug, months):
    """Per month, what the tables say, counted in Python row by row (not by the SQL)."""
    organisation = services.get_organisation(db, slug)
    names = _lineage_names(db)
    issued, revoked, completions, channels, verdicts = (Counter() for _ in range(5))
    for record in db.scalars(
        select(IssuedCredential).where(IssuedCredential.organisation_id == organisation.id)
    ).all():
        issued[(_label(record.issued_at), names[record.achievement_id])] += 1
        if record.revoked_at is not None:
            revoked[_label(record.revoked_at)] += 1
    for award in db.scalars(select(PathwayAward)).all():
        if award.pathway.organisation_id == organisation.id:
            completions[_label(award.created_at)] += 1
    for row in db.scalars(
        select(VerificationTally).where(VerificationTally.organisation_id == organisation.id)
    ).all():
        channels[(_label(row.day), row.channel)] += row.count
        verdicts[(_label(row.day), row.verdict)] += row.count
    return {
        "issued": {name: tuple(issued[(m, name)] for m in months) for (_, name) in issued if name},
        "revoked": tuple(revoked[m] for m in months),
        "pathway_completions": tuple(completions[m] for m in months),
        "channels": {c: tuple(channels[(m, c)] for m in months) for (_, c) in channels},
        "verdicts": {v: tuple(verdicts[(m, v)] for m in months) for (_, v) in verdicts},
    }


def _as_dict(series):
    return {s.label: s.values for s in series}


def _figures(db, story, organisation=None):
    first, last = outcomes.parse_month(story.months[0]), outcomes.parse_month(story.months[2])
    return outcomes.figures(db, organisation=organisation, start=first, end=last)


def test_figures_equal_the_tables_and_the_script(db, verified):
    story = verified
    found = _figures(db, story)
    assert found.months == story.months
    by_slug = {c.slug: c for c in found.centres}
    for slug in ("northside", "southbank"):
        expected = _expected(db, slug, story.months)
        centre = by_slug[slug]
        assert _as_dict(centre.issued) == expected["issued"]
        assert centre.revoked.values == expected["revoked"]
        assert centre.pathway_completions.values == expected["pathway_completions"]
        assert {s.key: s.values for s in centre.verifications_by_channel} == expected["channels"]
        assert {s.key: s.values for s in centre.verifications_by_verdict} == expected["verdicts"]

    # And what the script did, by hand: the two welding versions count as one achievement,
    # under its current name.
    north, south = by_slug["northside"], by_slug["southbank"]
    assert _as_dict(north.issued) == {
        "Rig loads for lifting": (1, 0, 0),
        "Weld structural steel (MAG)": (2, 2, 1),
    }
    assert north.revoked.values == (0, 1, 1)
    assert _as_dict(south.issued) == {
        "Operate a forklift": (0, 2, 0),
        "Site Safety Technician": (0, 2, 0),
    }
    assert south.pathway_completions.values == (0, 2, 0)
    assert north.pathway_completions.values == (0, 0, 0)
    # North: page x2 (valid, revoked), API x1 (Yusuf), wallet x2 (Amina's two weldings).
    assert {s.key: s.values for s in north.verifications_by_channel} == {
        "page": (0, 0, 2),
        "api": (0, 0, 3),
    }
    assert {s.key: s.total for s in north.verifications_by_verdict} == {"valid": 4, "revoked": 1}
    # South: upload x1 (Sara), wallet x2 (Amina's forklift and technician).
    assert {s.key: s.values for s in south.verifications_by_channel} == {
        "upload": (0, 0, 1),
        "api": (0, 0, 2),
    }
    assert found.total.totals == outcomes.Totals(
        issued=10, revoked=2, pathway_completions=2, verifications=8
    )
    assert north.totals == outcomes.Totals(
        issued=6, revoked=2, pathway_completions=0, verifications=5
    )


def test_foreign_and_forged_credentials_are_not_counted(db, client, story):
    before = sum(row.count for row in db.scalars(select(VerificationTally)).all())
    stranger = make_signer("EdDSA", did="did:key")
    issuer_did = stranger.verification_method.partition("#")[0]
    forged = signed_json(
        stranger,
        make_credential(issuer_did=issuer_did, id=story.records["noor-weld-2"].credential_id),
    )
    for document in (signed_json(stranger, make_credential(issuer_did=issuer_did)), forged):
        assert client.post("/api/v1/verify", json={"credential": document}).status_code == 200
    after = sum(row.count for row in db.scalars(select(VerificationTally)).all())
    assert after == before


def test_one_centre_is_only_that_centre(db, verified):
    story = verified
    found = _figures(db, story, story.north)
    assert [c.slug for c in found.centres] == ["northside"]
    assert found.total.totals.issued == 6
    assert "Operate a forklift" not in _as_dict(found.total.issued)
    assert {row.centre for row in found.rows} == {"northside"}


def test_months_without_anything_are_zero(db, story):
    start = outcomes.add_months(outcomes.parse_month(story.months[0]), -2)
    found = outcomes.figures(
        db, organisation=story.north, start=start, end=outcomes.parse_month(story.months[2])
    )
    assert len(found.months) == 5
    assert found.centres[0].revoked.values[:2] == (0, 0)
    zero_rows = [r for r in found.rows if r.month == found.months[0]]
    assert {(r.measure, r.count) for r in zero_rows} == {(m, 0) for m in outcomes.MEASURES}


def test_the_tally_table_holds_counts_only(db, verified):
    columns = {c["name"] for c in inspect(db.get_bind()).get_columns("verification_tally")}
    assert columns == {
        "id",
        "day",
        "organisation_id",
        "achievement_id",
        "channel",
        "verdict",
        "count",
    }
    credential_ids = {r.credential_id for r in verified.records.values()}
    public_ids = {r.public_id for r in verified.records.values()}
    for row in db.scalars(select(VerificationTally)).all():
        values = {str(getattr(row, name)) for name in columns}
        assert not values & (credential_ids | public_ids)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-13", None, "YYYY-MM"),
        ("March", None, "YYYY-MM"),
        ("2026-05", "2026-04", "after the end month"),
        ("2001-01", "2026-01", "at most 120 months"),
    ],
)
def test_bad_periods_are_refused_with_a_reason(start, end, message):
    with pytest.raises(outcomes.InvalidRequestError, match=message):
        outcomes.period(start, end, now=utcnow())


def test_the_default_period_is_the_last_twelve_months():
    found = outcomes.period(None, None, now=datetime(2026, 3, 5, tzinfo=UTC))
    assert (found.labels[0], found.labels[-1], len(found.labels)) == ("2025-04", "2026-03", 12)


# -- exports -------------------------------------------------------------------------------


def _csv_sum(text, **where):
    rows = list(csv.DictReader(io.StringIO(text)))
    return sum(int(r["count"]) for r in rows if all(r[k] == v for k, v in where.items()))


def test_csv_is_one_tidy_table_with_the_same_figures(db, verified):
    story = verified
    text = outcomes.to_csv(_figures(db, story))
    header = next(csv.reader(io.StringIO(text)))
    assert header == list(outcomes.CSV_COLUMNS)
    assert _csv_sum(text, centre="northside", measure="issued") == 6
    assert _csv_sum(text, centre="southbank", measure="pathway_completions") == 2
    assert (
        _csv_sum(
            text,
            centre="northside",
            measure="issued",
            achievement="Weld structural steel (MAG)",
            month=story.months[1],
        )
        == 2
    )
    assert _csv_sum(text, measure="verifications", channel="page", verdict="revoked") == 1
    assert _csv_sum(text, measure="revoked", month=story.months[2]) == 1


def test_csv_cells_cannot_become_formulas(db, story):
    story.rigging.name = '=HYPERLINK("http://evil.example")'
    db.commit()
    text = outcomes.to_csv(_figures(db, story, story.north))
    assert "'=HYPERLINK" in text
    assert not any(line.split(",")[3].startswith("=") for line in text.splitlines()[1:] if line)


def test_json_carries_the_period_centres_and_series(db, verified):
    story = verified
    document = json.loads(json.dumps(outcomes.to_json(_figures(db, story))))
    assert document["period"] == {
        "from": story.months[0],
        "to": story.months[2],
        "months": list(story.months),
    }
    assert document["scope"] == "instance"
    north = next(c for c in document["centres"] if c["slug"] == "northside")
    assert north["totals"] == {
        "issued": 6,
        "revoked": 2,
        "pathway_completions": 0,
        "verifications": 5,
    }
    assert north["issued"] == [3, 2, 1]
    welding = next(p for p in north["issued_parts"] if p["label"] == "Weld structural steel (MAG)")
    assert welding["counts"] == [2, 2, 1]
    assert welding["key"] == story.welding_v2.public_id
    assert document["total"]["totals"]["issued"] == 10
    assert document["total"]["issued_by"] == "centre"


# -- the staff page ------------------------------------------------------------------------


def _headline(page, name):
    found = re.search(rf'id="headline-{name}"><dt>[^<]*</dt><dd>(\d+)</dd>', page)
    assert found, f"no headline figure {name}"
    return int(found.group(1))


def _period(story):
    return f"from={story.months[0]}&to={story.months[2]}"


def test_the_page_shows_the_centres_figures(client, db, verified, sign_in):
    story = verified
    sign_in(story.north, "viewer")
    response = client.get(f"/centre/outcomes?{_period(story)}")
    assert response.status_code == HTTPStatus.OK
    page = response.get_data(as_text=True)
    assert _headline(page, "issued") == 6
    assert _headline(page, "revoked") == 2
    assert _headline(page, "pathways") == 0
    assert _headline(page, "verifications") == 5
    assert page.count('<svg class="chart"') == 4
    assert 'role="img"' in page and "<title id=" in page
    # Bars: the issued chart has a stack for each month something was issued in.
    issued_chart = page.split('id="centre-issued"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'class="chart__stack" data-month="([^"]+)"', issued_chart) == list(
        story.months
    )
    assert "Weld structural steel (MAG)" in issued_chart
    assert "Perform MAG welding" not in issued_chart  # the old version's name
    # The table beside the chart, readable without the picture.
    table = issued_chart.split('id="centre-issued-table"', 1)[1]
    row = re.search(rf"<th scope=\"row\">{story.months[1]}</th>(.*?)</tr>", table, re.S).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["0", "2", "2"]
    assert "style=" not in page and "<script>" not in page
    assert "Southbank" not in page and "Operate a forklift" not in page


def test_the_other_centre_sees_only_its_own(client, db, verified, sign_in):
    story = verified
    sign_in(story.south, "viewer")
    page = client.get(f"/centre/outcomes?{_period(story)}").get_data(as_text=True)
    assert _headline(page, "issued") == 4
    assert _headline(page, "pathways") == 2
    assert _headline(page, "verifications") == 3
    assert "Weld structural steel" not in page and "Rig loads" not in page
    text = client.get(f"/centre/outcomes.csv?{_period(story)}").get_data(as_text=True)
    assert "northside" not in text and "Weld" not in text
    assert _csv_sum(text, measure="issued") == 4


def test_the_downloads_carry_the_page_figures(client, db, verified, sign_in):
    story = verified
    sign_in(story.north, "viewer")
    response = client.get(f"/centre/outcomes.csv?{_period(story)}")
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"outcomes-northside-{story.months[0]}-to-{story.months[2]}.csv" in disposition
    text = response.get_data(as_text=True)
    assert _csv_sum(text, measure="issued") == 6
    assert _csv_sum(text, measure="verifications") == 5
    response = client.get(f"/centre/outcomes.json?{_period(story)}")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    document = json.loads(response.get_data(as_text=True))
    assert document["scope"] == "centre"
    assert [c["slug"] for c in document["centres"]] == ["northside"]
    assert document["total"]["totals"]["verifications"] == 5


def test_the_page_defaults_to_the_last_twelve_months(client, db, story, sign_in):
    sign_in(story.north, "viewer")
    page = client.get("/centre/outcomes").get_data(as_text=True)
    expected = outcomes.period(None, None, now=utcnow())
    assert f'name="from" value="{expected.labels[0]}"' in page
    assert f'name="to" value="{expected.labels[-1]}"' in page
    assert _headline(page, "issued") == 6


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-1&to=2026-03", "must be written as YYYY-MM"),
        ("from=2026-05&to=2026-02", "is after the end month"),
    ],
)
def test_a_bad_period_gets_a_clear_message(client, story, sign_in, query, message):
    sign_in(story.north, "viewer")
    for path in ("/centre/outcomes", "/centre/outcomes.csv", "/centre/outcomes.json"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert message in response.get_data(as_text=True)


def test_signing_in_is_required(client, story):
    response = client.get("/centre/outcomes")
    assert response.status_code == HTTPStatus.FOUND
    assert "/login" in response.headers["Location"]
    assert client.get("/centre/outcomes.csv").status_code == HTTPStatus.FOUND


# -- the operator's CLI --------------------------------------------------------------------


def _invoke(runner, *args):
    """Run ``tessera ARGS``; whatever happens, the operator never sees a traceback."""
    result = runner.invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _cli(runner, story, *args):
    return _invoke(runner, "outcomes", "--from", story.months[0], "--to", story.months[2], *args)


def test_cli_csv_across_centres_on_stdout(runner, verified):
    result = _cli(runner, verified)
    assert result.exit_code == 0, result.output
    assert _csv_sum(result.output, measure="issued") == 10
    assert _csv_sum(result.output, centre="southbank", measure="issued") == 4
    assert _csv_sum(result.output, measure="verifications") == 8


def test_cli_json_for_one_centre(runner, verified):
    result = _cli(runner, verified, "--centre", "southbank", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["scope"] == "centre"
    assert [c["slug"] for c in document["centres"]] == ["southbank"]
    assert document["total"]["totals"] == {
        "issued": 4,
        "revoked": 0,
        "pathway_completions": 2,
        "verifications": 3,
    }


def test_cli_html_report_across_centres(runner, verified, tmp_path):
    story = verified
    out = tmp_path / "reports" / "outcomes.html"
    result = _cli(runner, story, "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    report = out.read_text(encoding="utf-8")
    assert report.startswith("<!doctype html>")
    assert "<style>" in report and ".chart__bar" in report  # self-contained
    assert '<link rel="stylesheet"' not in report and "<script" not in report
    assert "Northside Skills Centre" in report and "Southbank Training" in report
    # The instance's four charts, then four for each centre.
    assert report.count('<svg class="chart"') == 12
    assert re.search(r'id="all-headline-issued"><dt>[^<]*</dt><dd>10</dd>', report)
    assert re.search(r'id="headline-southbank-pathways"><dt>[^<]*</dt><dd>2</dd>', report)
    totals = report.split('id="by-centre-table"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<td class="num">(\d+)</td>', totals)[-4:] == ["10", "2", "2", "8"]


def test_cli_html_report_for_one_centre(runner, verified, tmp_path):
    out = tmp_path / "north.html"
    result = _cli(runner, verified, "--centre", "northside", "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    report = out.read_text(encoding="utf-8")
    assert report.count('<svg class="chart"') == 4
    assert "Southbank" not in report and "Operate a forklift" not in report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--centre", "nowhere"], "no training centre with slug 'nowhere'"),
        (["--from", "2026/01"], "YYYY-MM"),
        (["--from", "2026-06", "--to", "2026-01"], "after the end month"),
        (["--format", "pdf"], "pdf"),
    ],
)
def test_cli_bad_input_writes_nothing(runner, story, tmp_path, args, message):
    out = tmp_path / "report.csv"
    result = _invoke(runner, "outcomes", *args, "--out", out)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_cli_refuses_an_unwritable_path(runner, story, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    result = _invoke(runner, "outcomes", "--out", folder)
    assert result.exit_code != 0 and "is a directory" in result.output
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    result = _invoke(runner, "outcomes", "--out", a_file / "r.csv")
    assert result.exit_code != 0 and "is not a folder" in result.output
    assert a_file.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "reports"]
    assert list(folder.iterdir()) == []


# -- the chart drawing ---------------------------------------------------------------------


def test_bars_are_drawn_to_scale_and_only_for_months_with_figures():
    from issuer.ui_outcomes import bar_chart

    months = ("2026-01", "2026-02", "2026-03")
    chart = bar_chart(
        "c",
        "Issued",
        months,
        [
            outcomes.Series("a", "Welding", (1, 0, 3)),
            outcomes.Series("b", "Rigging", (1, 0, 0)),
        ],
        y_label="Credentials issued",
    )
    assert [s.month for s in chart.stacks] == ["2026-01", "2026-03"]
    january, march = chart.stacks
    assert [s.label for s in january.segments] == ["2026-01, Welding: 1", "2026-01, Rigging: 1"]
    assert march.segments[0].height == pytest.approx(3 * january.segments[0].height, abs=0.05)
    # Stacked: Rigging sits on Welding, both on the axis.
    welding, rigging = january.segments
    assert welding.y + welding.height == pytest.approx(chart.bottom, abs=0.05)
    assert rigging.y + rigging.height == pytest.approx(welding.y, abs=0.05)
    assert [t.label for t in chart.ticks] == ["0", "1", "2", "3"]
    assert min(t.y for t in chart.ticks) >= chart.top
    assert [m.label for m in chart.marks] == ["Jan", "Feb", "Mar"]
    assert [item.label for item in chart.legend] == ["Welding", "Rigging"]
    assert chart.totals == (2, 0, 3)


# -- counts added up in the process, written together ----------------------------------------


def _total(db) -> int:
    db.expire_all()
    return sum(row.count for row in db.scalars(select(VerificationTally)).all())


def test_verifications_are_counted_in_the_process_then_written_together(app, client, db, story):
    """A deployment's verify API must not commit a write per check (TALLY_FLUSH_SECONDS)."""
    buffer = outcomes.TallyBuffer(3600)
    app.extensions["tessera.tally"] = buffer
    before = _total(db)
    document = json.loads(story.records["amina-weld-1"].document)
    for _ in range(3):
        assert client.post("/api/v1/verify", json={"credential": document}).status_code == 200
    assert _total(db) == before  # nothing written yet: one count waits, three times over
    assert buffer.waiting()
    assert buffer.flush(db) == 1  # one key (day, centre, achievement, channel, verdict) ...
    assert _total(db) == before + 3  # ... carrying all three
    assert not buffer.waiting()


def test_counts_are_written_once_they_have_waited_long_enough(app, client, db, story):
    buffer = outcomes.TallyBuffer(0.05)
    app.extensions["tessera.tally"] = buffer
    before = _total(db)
    document = json.loads(story.records["amina-weld-1"].document)
    assert client.post("/api/v1/verify", json={"credential": document}).status_code == 200
    assert _total(db) == before
    time.sleep(0.1)  # past flush_after: the next count writes both
    assert client.post("/api/v1/verify", json={"credential": document}).status_code == 200
    assert _total(db) == before + 2


def test_counts_that_could_not_be_written_wait_for_the_next_flush(tmp_path):
    unreachable = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}")
    buffer = outcomes.TallyBuffer(3600)
    key = (date(2026, 12, 3), 1, 1, "api", "valid")
    buffer.add(key, 2)
    with Session(unreachable) as session:
        assert buffer.flush(session) == 0  # the database cannot be opened: nothing lost
    assert buffer.take() == Counter({key: 2})


def test_a_flush_interval_out_of_range_is_refused(tmp_path, database_url):
    from issuer.app import create_app
    from issuer.errors import ConfigurationError

    config = app_config(tmp_path, database_url) | {"TALLY_FLUSH_SECONDS": -1}
    with pytest.raises(ConfigurationError, match="TESSERA_TALLY_FLUSH_SECONDS"):
        create_app(config)


def test_remembered_credentials_count_under_their_own_achievement(
    app, client, db, story, monkeypatch
):
    """Each credential's centre and achievement are remembered without mixing them up, and
    counting goes on correctly once the memory is full and starts again."""
    monkeypatch.setattr(outcomes, "MAX_REMEMBERED_CREDENTIALS", 1)
    buffer = outcomes.TallyBuffer(3600)
    app.extensions["tessera.tally"] = buffer
    first, second = story.records["amina-weld-1"], story.records["amina-fork"]
    for record in (first, second, first, second, first):
        response = client.post("/api/v1/verify", json={"credential": record.jwt})
        assert response.status_code == 200 and response.json["verified"]
    assert len(buffer.issued_as) == 1  # full at one: cleared before each new credential
    counts = buffer.take()
    counted: Counter[tuple[int, int]] = Counter()
    for (_day, centre, achievement, channel, verdict), count in counts.items():
        assert (channel, verdict) == ("api", "valid")
        counted[centre, achievement] += count
    assert counted == {
        (first.organisation_id, first.achievement_id): 3,
        (second.organisation_id, second.achievement_id): 2,
    }


def test_counts_still_waiting_are_written_when_the_process_ends(app, client, db, story):
    buffer = outcomes.TallyBuffer(3600)
    app.extensions["tessera.tally"] = buffer
    before = _total(db)
    document = json.loads(story.records["amina-weld-1"].document)
    assert client.post("/api/v1/verify", json={"credential": document}).status_code == 200
    assert _total(db) == before
    verification._flush_at_exit(weakref.ref(app), buffer)  # what atexit runs
    assert _total(db) == before + 1
    assert not buffer.waiting()


def test_the_exit_flush_does_not_keep_an_unused_app_alive(tmp_path, database_url):
    """A process that makes many apps (this test suite) must not keep every one of them."""
    from issuer.app import create_app

    app = create_app(app_config(tmp_path / "instance", database_url))
    gone = weakref.ref(app)
    del app
    gc.collect()
    assert gone() is None
