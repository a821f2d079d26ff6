"""Bulk issuing: reading spreadsheets, checking rows, and issuing every row exactly once.

The job's worker is driven directly (``bulk.process_job``), through huey's immediate mode
(the task body), and by real huey consumers on a real, committed database.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import time
import zipfile
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from issuer import bulk, jobs, migrate, services
from issuer.app import create_app
from issuer.audit import verify_chain
from issuer.claims import credential_for_claim
from issuer.cli import cli
from issuer.errors import ConfigurationError, ConflictError, InvalidRequestError, NotFoundError
from issuer.models import AuditEvent, BulkJob, BulkRow, ClaimToken, IssuedCredential

from ..conftest import PUBLIC_URL, app_config

# -- builders -------------------------------------------------------------------------------


def csv_bytes(*lines: str, encoding: str = "utf-8", bom: bool = False) -> bytes:
    text = "\r\n".join(lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


def xlsx_bytes(rows, *, strings: bool = True, sheets: int = 1) -> bytes:
    """A workbook made with openpyxl; every cell a plain string unless ``strings`` is false."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Learners"
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values, start=1):
            cell = sheet.cell(row=r, column=c, value=value)
            if strings and isinstance(value, str):
                cell.data_type = "s"  # a literal text cell, even when it starts with "="
    for n in range(1, sheets):
        workbook.create_sheet(f"Other {n}")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def learners(count: int, start: int = 1) -> list[bulk.RowInput]:
    return [
        bulk.RowInput(row_number=n + 1, name=f"Learner {n}", email=f"learner{n}@example.org")
        for n in range(start, start + count)
    ]


def rows_of(job, db):
    query = select(BulkRow).where(BulkRow.job_id == job.id).order_by(BulkRow.row_number)
    return db.scalars(query).all()


def credentials_of(job, db):
    return db.scalars(select(IssuedCredential).where(IssuedCredential.bulk_job_id == job.id)).all()


def _count(db, model, *where):
    return db.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def make_job(db, centre, welding, now):
    def make(rows, **overrides):
        return bulk.create_job(
            db,
            organisation=centre,
            achievement=welding,
            rows=rows,
            filename="cohort.csv",
            created_by="coordinator@example.org",
            now=now,
            **overrides,
        )

    return make


@pytest.fixture
def run(db, kek, now):
    """Run the worker on a job, as a huey worker would, with a clock fixed at ``now`` + offset."""

    def run_job(job, *, after=timedelta(0), should_stop=lambda: False):
        return bulk.process_job(
            db,
            kek,
            job_id=job.id,
            public_url=PUBLIC_URL,
            clock=lambda: now + after,
            should_stop=should_stop,
        )

    return run_job


# -- reading CSV ----------------------------------------------------------------------------


def test_csv_with_header_variants_and_a_bom():
    sheet = bulk.read_spreadsheet(
        csv_bytes(
            "Full Name,E-mail address,Learner ID,Evidence,Phone",
            "Amina Haddad,amina@example.org,L-1,https://portfolio.example.org/a,0123",
            bom=True,
        ),
        "cohort.csv",
    )
    assert sheet.encoding == "UTF-8" and sheet.notes == ()
    assert sheet.columns == {
        "name": "Full Name",
        "email": "E-mail address",
        "external_id": "Learner ID",
        "evidence_url": "Evidence",
    }
    assert sheet.ignored_columns == ("Phone",)
    assert sheet.rows == (
        bulk.RowInput(
            2, "Amina Haddad", "amina@example.org", "L-1", "https://portfolio.example.org/a"
        ),
    )


@pytest.mark.parametrize(
    "header",
    [
        "name,email",
        "NAME,EMAIL",
        "Name,Email",
        "name, e-mail",
        "Learner name,Email Address",
        "full_name,e_mail",
    ],
)
def test_header_names_are_recognised_without_case_or_punctuation(header):
    sheet = bulk.read_spreadsheet(csv_bytes(header, "Ana,ana@example.org"), "x.csv")
    assert [(r.name, r.email) for r in sheet.rows] == [("Ana", "ana@example.org")]


def test_first_and_last_name_columns_make_the_name():
    sheet = bulk.read_spreadsheet(
        csv_bytes("First name;Surname;Email", "Olena;Kovalenko;olena@example.org"), "x.csv"
    )
    assert sheet.rows[0].name == "Olena Kovalenko"  # and a semicolon-separated file is read


def test_windows_1252_is_read_and_said_so():
    sheet = bulk.read_spreadsheet(
        csv_bytes("name,email", "José Müller,jose@example.org", encoding="cp1252"), "x.csv"
    )
    assert sheet.rows[0].name == "José Müller"
    assert sheet.encoding == "Windows-1252"
    assert "Windows-1252" in sheet.notes[0]


def test_row_numbers_are_the_spreadsheet_rows_and_blank_lines_are_skipped():
    sheet = bulk.read_spreadsheet(
        csv_bytes("", "name,email", "A,a@example.org", ",", "", "B,b@example.org"), "x.csv"
    )
    assert [r.row_number for r in sheet.rows] == [3, 6]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(csv_bytes("email", "a@example.org"), "no name column", id="no-name"),
        pytest.param(csv_bytes("name,phone", "A,1"), "no e-mail column", id="no-email"),
        pytest.param(csv_bytes("name,email,e-mail", "A,a,b"), "two columns", id="two-emails"),
        pytest.param(b"name,email\r\n\x00\x01\x02", "binary", id="binary"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", ".xls", id="old-xls"),
        pytest.param(b"name,email\r\n\x81\x8d\x8f\x90\x9d", "neither UTF-8", id="not-text"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(data, message):
    with pytest.raises(bulk.SpreadsheetError, match=message):
        bulk.read_spreadsheet(data, "learners.csv")


def test_too_many_rows_and_too_many_bytes_are_refused():
    lines = ["name,email"] + [f"L{n},l{n}@example.org" for n in range(bulk.MAX_ROWS + 1)]
    with pytest.raises(bulk.SpreadsheetTooLargeError, match="more than 20,000 learners"):
        bulk.read_spreadsheet(csv_bytes(*lines), "x.csv")
    exactly = bulk.read_spreadsheet(csv_bytes(*lines[:-1]), "x.csv")
    assert len(exactly.rows) == bulk.MAX_ROWS
    with pytest.raises(bulk.SpreadsheetTooLargeError, match="limit is 5 MiB") as raised:
        bulk.read_spreadsheet(b"name,email\r\n" + b"x" * bulk.MAX_UPLOAD_BYTES, "x.csv")
    assert raised.value.status == 413


def test_a_ten_megabyte_line_is_refused_not_read():
    line = b"name,email\r\n" + b"A" * (10 * 2**20) + b",a@example.org\r\n"
    with pytest.raises(bulk.SpreadsheetTooLargeError):
        bulk.read_spreadsheet(line, "x.csv")
    with pytest.raises(bulk.SpreadsheetError, match="cannot be read"):  # under the size limit
        bulk.read_csv(b"name,email\r\n" + b"A" * 200_000 + b",a@example.org\r\n")


# -- reading XLSX ---------------------------------------------------------------------------


def test_xlsx_is_read_with_numbers_as_text():
    data = xlsx_bytes(
        [
            ["Name", "Email address", "Student number"],
            ["Amina Haddad", "amina@example.org", 1042],
            [None, None, None],
            ["Yusuf Demir", "yusuf@example.org", 1043.0],
        ],
        strings=False,
    )
    sheet = bulk.read_spreadsheet(data, "cohort.xlsx")
    assert sheet.format == "XLSX"
    assert [(r.row_number, r.name, r.external_id) for r in sheet.rows] == [
        (2, "Amina Haddad", "1042"),
        (4, "Yusuf Demir", "1043"),
    ]


def test_xlsx_formula_cells_are_never_run():
    data = xlsx_bytes([["name", "email"], ["=1+1", "a@example.org"]], strings=False)
    sheet = bulk.read_spreadsheet(data, "cohort.xlsx")
    # A formula's cached value is read (openpyxl wrote none); the formula itself never runs.
    assert sheet.rows[0].name == ""
    texts = xlsx_bytes([["name", "email"], ['=HYPERLINK("http://evil.example")', "a@example.org"]])
    checked = bulk.check_rows(bulk.read_spreadsheet(texts, "cohort.xlsx").rows)
    assert "formula" in checked[0].problems[0]


def test_only_the_first_worksheet_is_read_and_that_is_said():
    sheet = bulk.read_spreadsheet(
        xlsx_bytes([["name", "email"], ["A", "a@example.org"]], sheets=2), "x.xlsx"
    )
    assert len(sheet.rows) == 1
    assert "'Learners'" in sheet.notes[0]


def test_macro_enabled_workbooks_are_refused():
    data = xlsx_bytes([["name", "email"]])
    with pytest.raises(bulk.SpreadsheetError, match="macro"):
        bulk.read_spreadsheet(data, "cohort.xlsm")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        target.writestr("xl/vbaProject.bin", b"\x00" * 100)
    with pytest.raises(bulk.SpreadsheetError, match="macros"):
        bulk.read_spreadsheet(buffer.getvalue(), "innocent.xlsx")


def test_a_zip_bomb_is_refused_before_any_xml_is_parsed():
    data = xlsx_bytes([["name", "email"], ["A", "a@example.org"]])
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        for item in source.infolist():
            target.writestr(item.filename, source.read(item))
        with target.open("xl/sharedStrings.xml", "w") as bomb:
            chunk = b" " * 2**20
            for _ in range(bulk.MAX_XLSX_UNCOMPRESSED // 2**20 + 8):
                bomb.write(chunk)
    assert len(buffer.getvalue()) < bulk.MAX_UPLOAD_BYTES  # small on the wire
    with pytest.raises(bulk.SpreadsheetTooLargeError, match="zip bomb"):
        bulk.read_spreadsheet(buffer.getvalue(), "cohort.xlsx")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"PK\x03\x04 not really a zip", "damaged", id="damaged"),
        pytest.param(b"name,email\r\n", "not an .xlsx", id="csv-named-xlsx"),
    ],
)
def test_broken_workbooks_are_refused(data, message):
    with pytest.raises(bulk.SpreadsheetError, match=message):
        bulk.read_spreadsheet(data, "cohort.xlsx")


def test_a_zip_that_is_not_a_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(bulk.SpreadsheetError, match="not an Excel"):
        bulk.read_spreadsheet(buffer.getvalue(), "cohort.xlsx")


# -- checking rows --------------------------------------------------------------------------


def _problems(**fields):
    values = {"row_number": 2, "name": "Amina Haddad", "email": "amina@example.org"} | fields
    return bulk.check_row(bulk.RowInput(**values)).problems


def test_a_good_row_has_no_problems():
    assert _problems(external_id="L-7", evidence_url="https://portfolio.example.org/x") == ()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"name": "  "}, "name is missing", id="no-name"),
        pytest.param({"email": ""}, "e-mail is missing", id="no-email"),
        pytest.param({"email": "amina@"}, "not a valid e-mail", id="bad-email"),
        pytest.param({"email": "a b@example.org"}, "not a valid e-mail", id="space-email"),
        pytest.param({"name": "=cmd|' /C calc'!A0"}, "starts with '='", id="equals"),
        pytest.param({"name": "+1-555"}, "starts with '+'", id="plus"),
        pytest.param({"name": "-2+3"}, "starts with '-'", id="minus"),
        pytest.param({"name": "@SUM(A1)"}, "starts with '@'", id="at"),
        pytest.param({"name": "\t=1"}, "starts with a tab", id="tab"),
        pytest.param({"name": "\r=1"}, "starts with a line break", id="cr"),
        pytest.param({"external_id": "=HYPERLINK(1)"}, "external id starts", id="external-id"),
        pytest.param({"name": "x" * 201}, "longer than 200", id="long-name"),
        pytest.param({"external_id": "x" * 201}, "longer than 200", id="long-id"),
        pytest.param({"email": "a" * 310 + "@example.org"}, "longer than 320", id="long-email"),
        pytest.param({"name": "Ami\x00na"}, "control characters", id="control"),
        pytest.param({"evidence_url": "javascript:alert(1)"}, "https://", id="js-url"),
        pytest.param({"evidence_url": "ftp://files.example.org/x"}, "https://", id="ftp-url"),
        pytest.param({"evidence_url": "portfolio"}, "https://", id="not-a-url"),
        pytest.param({"evidence_url": "https://e.org/" + "x" * 2000}, "longer", id="long-url"),
    ],
)
def test_each_problem_is_named(fields, message):
    problems = _problems(**fields)
    assert any(message in p for p in problems), problems


def test_repeated_e_mails_are_flagged_after_the_first():
    checked = bulk.check_rows(
        [
            bulk.RowInput(2, "Ana", "ana@example.org"),
            bulk.RowInput(3, "", "bo@example.org"),  # a bad row does not claim its address
            bulk.RowInput(4, "Bo", "BO@example.org"),
            bulk.RowInput(5, "Ana again", " Ana@Example.org "),
        ]
    )
    assert [c.ok for c in checked] == [True, False, True, False]
    assert "same e-mail address as row 2" in checked[3].problems[0]


# -- jobs: preview, confirm, issue ----------------------------------------------------------


def test_the_preview_stores_rows_and_issues_nothing(db, make_job):
    job = make_job([*learners(2), bulk.RowInput(4, "", "not-an-email")])
    assert job.state == "preview" and job.total == 2
    statuses = [(r.row_number, r.status) for r in rows_of(job, db)]
    assert statuses == [(2, "pending"), (3, "pending"), (4, "invalid")]
    assert "name is missing" in rows_of(job, db)[2].message
    assert _count(db, IssuedCredential) == 0
    assert _count(db, ClaimToken) == 0
    assert _count(db, AuditEvent, AuditEvent.action == "credential.issued") == 0
    assert _count(db, AuditEvent, AuditEvent.action == "bulk.created") == 1


def test_overlong_values_are_kept_clipped_for_the_preview(db, make_job):
    job = make_job([bulk.RowInput(2, "x" * 5000, "y" * 5000, "z" * 5000, "w" * 5000)])
    row = rows_of(job, db)[0]
    assert row.status == "invalid" and len(row.name) == 200 and len(row.email) == 320


def test_learners_who_already_hold_it_are_flagged(db, kek, centre, welding, make_job, now):
    services.issue_credential(
        db,
        kek,
        organisation=centre,
        achievement=welding,
        name="Ana",
        email="ana@example.org",
        public_url=PUBLIC_URL,
        now=now,
    )
    revoked = services.issue_credential(
        db,
        kek,
        organisation=centre,
        achievement=welding,
        name="Bo",
        email="bo@example.org",
        public_url=PUBLIC_URL,
        now=now,
    )
    services.revoke_credential(db, revoked.record, reason="Issued by mistake", now=now)
    job = make_job(
        [bulk.RowInput(2, "Ana", "ANA@example.org"), bulk.RowInput(3, "Bo", "bo@example.org")]
    )
    first, second = rows_of(job, db)
    assert first.status == "invalid" and "already holds this achievement" in first.message
    assert second.status == "pending"  # a revoked credential can be replaced


def test_another_centres_or_an_archived_achievement_is_refused(db, kek, welding, make_job, now):
    other = services.create_organisation(
        db, kek, slug="other", name="Other", public_url=PUBLIC_URL, now=now
    )
    with pytest.raises(NotFoundError):
        bulk.create_job(
            db,
            organisation=other,
            achievement=welding,
            rows=learners(1),
            filename="x.csv",
            created_by="x",
            now=now,
        )
    welding.archived_at = now
    db.commit()
    with pytest.raises(InvalidRequestError, match="archived"):
        make_job(learners(1))


def test_confirm_then_every_ready_row_is_issued_exactly_once(db, make_job, run, now, verify_here):
    job = make_job([*learners(3), bulk.RowInput(5, "Bad", "bad")])
    job = bulk.confirm_job(db, job, now=now, actor="coordinator@example.org")
    assert job.state == "queued"
    assert run(job) == bulk.Outcome.FINISHED
    job = bulk.refresh(db, job)
    assert (job.state, job.issued, job.failed, job.total) == ("finished", 3, 0, 3)
    assert job.started_at == now and job.finished_at == now
    records = credentials_of(job, db)
    assert sorted(r.idempotency_key for r in records) == [
        f"bulk:{job.public_id}:{n}" for n in (2, 3, 4)
    ]
    assert len({(r.status_list_id, r.status_index) for r in records}) == 3
    rows = rows_of(job, db)
    assert [r.status for r in rows] == ["issued", "issued", "issued", "invalid"]
    assert {r.credential_id for r in rows[:3]} == {r.id for r in records}
    assert verify_here(json.loads(records[0].document)).verdict.value == "valid"
    # Run again (a duplicate task, a recovery): nothing more is issued.
    assert run(job, after=timedelta(minutes=5)) == bulk.Outcome.BUSY
    assert len(credentials_of(job, db)) == 3
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.actor == "coordinator@example.org")
    )
    assert sorted(actions) == [
        "bulk.confirmed",
        "bulk.created",
        "bulk.finished",
        "credential.issued",
        "credential.issued",
        "credential.issued",
    ]
    assert verify_chain(db)[1] is None


def test_external_id_and_evidence_go_with_the_credential(db, make_job, run, now, verify_here):
    job = make_job([bulk.RowInput(2, "Ana", "ana@example.org", "L-9", "https://p.example.org/ana")])
    bulk.confirm_job(db, job, now=now, actor="x")
    run(job)
    record = credentials_of(job, db)[0]
    assert record.external_id == "L-9"
    evidence = [{"id": "https://p.example.org/ana", "type": ["Evidence"]}]
    assert json.loads(record.evidence) == evidence
    assert json.loads(record.document)["evidence"] == evidence  # signed into the credential
    assert verify_here(json.loads(record.document)).verdict.value == "valid"


def test_a_job_with_nothing_ready_cannot_be_confirmed(db, make_job, now):
    job = make_job([bulk.RowInput(2, "", "")])
    with pytest.raises(InvalidRequestError, match="no row"):
        bulk.confirm_job(db, job, now=now, actor="x")
    assert bulk.refresh(db, job).state == "preview"


def test_confirm_twice_is_a_conflict(db, make_job, now):
    job = make_job(learners(1))
    bulk.confirm_job(db, job, now=now, actor="x")
    with pytest.raises(ConflictError, match="already queued"):
        bulk.confirm_job(db, job, now=now, actor="x")


def test_a_preview_is_never_processed(db, make_job, run):
    job = make_job(learners(2))
    assert run(job) == bulk.Outcome.BUSY
    assert credentials_of(job, db) == []


def test_a_row_refused_when_issuing_fails_alone(db, make_job, run, now, welding):
    job = make_job(learners(2))
    bulk.confirm_job(db, job, now=now, actor="x")
    # The achievement's type became one credentials refuse: each row fails with the reason.
    welding.achievement_type = "NotAType"
    db.commit()
    assert run(job) == bulk.Outcome.FINISHED
    job = bulk.refresh(db, job)
    assert (job.issued, job.failed) == (0, 2)
    assert all(r.status == "failed" and "NotAType" in r.message for r in rows_of(job, db))


# -- crashes, stops, leases -----------------------------------------------------------------


def test_a_crash_after_issuing_but_before_recording_issues_nobody_twice(
    db, kek, centre, welding, make_job, run, now
):
    job = make_job(learners(3))
    bulk.confirm_job(db, job, now=now, actor="x")
    # A worker claimed the job, issued row 3's credential, and died before recording it.
    assert bulk._claim(db, job.id, now) == now
    first = services.issue_credential(
        db,
        kek,
        organisation=centre,
        achievement=welding,
        name="Learner 2",
        email="learner2@example.org",
        public_url=PUBLIC_URL,
        now=now,
        idempotency_key=f"bulk:{job.public_id}:3",
    )
    # Its heartbeat is fresh: another worker leaves the job alone...
    assert run(job, after=timedelta(seconds=30)) == bulk.Outcome.BUSY
    # ...until the heartbeat is stale, then takes over and completes row 3 from the credential.
    assert run(job, after=bulk.STALE_AFTER + timedelta(seconds=1)) == bulk.Outcome.FINISHED
    records = credentials_of(job, db)
    assert len(records) == 3
    assert first.record.id in {r.id for r in records}
    assert _count(db, IssuedCredential) == 3
    assert (bulk.refresh(db, job).issued, bulk.refresh(db, job).failed) == (3, 0)


def test_a_stopping_worker_hands_the_job_back_between_rows(db, make_job, run, now):
    job = make_job(learners(3))
    bulk.confirm_job(db, job, now=now, actor="x")
    asked = iter([False, True])
    assert run(job, should_stop=lambda: next(asked)) == bulk.Outcome.STOPPED
    job = bulk.refresh(db, job)
    assert (job.state, job.issued) == ("queued", 1)
    assert run(job) == bulk.Outcome.FINISHED  # the next worker carries on at once
    assert len(credentials_of(job, db)) == 3


@pytest.fixture
def one_row_batches(monkeypatch):
    """Batches of one row, so that a test can act between two of them."""
    monkeypatch.setattr(bulk, "BATCH_ROWS", 1)


def test_a_worker_that_lost_its_lease_stops(db, make_job, run, now, one_row_batches):
    job = make_job(learners(3))
    bulk.confirm_job(db, job, now=now, actor="x")
    taken_over = []

    def slow_worker_stalls():
        # Before its second row, this worker stalls past the stale limit and another one
        # takes the job (as recovery would hand it on).
        if len(taken_over) == 0 and bulk.refresh(db, job).issued == 1:
            taken_over.append(bulk._claim(db, job.id, now + timedelta(minutes=5)))
        return False

    assert run(job, should_stop=slow_worker_stalls) == bulk.Outcome.LOST
    assert taken_over and taken_over[0] is not None
    assert bulk.refresh(db, job).issued == 1
    assert run(job, after=timedelta(minutes=10)) == bulk.Outcome.FINISHED
    assert len(credentials_of(job, db)) == 3


def test_cancel_stops_before_the_next_batch(db, make_job, run, now, one_row_batches):
    job = make_job(learners(3))
    bulk.confirm_job(db, job, now=now, actor="x")

    def cancel_after_first_row():
        if bulk.refresh(db, job).issued == 1 and bulk.refresh(db, job).state == "running":
            bulk.cancel_job(db, job, now=now, actor="coordinator")
        return False

    assert run(job, should_stop=cancel_after_first_row) == bulk.Outcome.CANCELLED
    job = bulk.refresh(db, job)
    assert (job.state, job.issued) == ("cancelled", 1)
    assert [r.status for r in rows_of(job, db)] == ["issued", "pending", "pending"]
    assert run(job, after=timedelta(minutes=5)) == bulk.Outcome.BUSY  # never resumed
    with pytest.raises(ConflictError, match="already cancelled"):
        bulk.cancel_job(db, job, now=now, actor="x")


def test_stale_jobs_are_found_and_queued_again(db, make_job, now):
    job = make_job(learners(1))
    bulk.confirm_job(db, job, now=now, actor="x")
    bulk._claim(db, job.id, now)
    assert bulk.stale_jobs(db, now=now + timedelta(seconds=59)) == []
    later = now + bulk.STALE_AFTER + timedelta(seconds=1)
    assert bulk.stale_jobs(db, now=later) == [job.id]
    assert bulk.requeue_stale(db, job.id, now=later)
    assert bulk.refresh(db, job).state == "queued"
    assert not bulk.requeue_stale(db, job.id, now=later)  # fresh again


# -- claim links ----------------------------------------------------------------------------


def test_claim_links_are_new_on_each_download(db, make_job, run, now):
    job = make_job(learners(2))
    with pytest.raises(ConflictError, match="finished"):
        bulk.claim_links(db, job, public_url=PUBLIC_URL, now=now, actor="x")
    bulk.confirm_job(db, job, now=now, actor="x")
    run(job)
    first = bulk.claim_links(db, job, public_url=PUBLIC_URL, now=now, actor="x")
    assert [link.row_number for link in first] == [2, 3]
    assert first[0].verify_url.startswith(f"{PUBLIC_URL}/v/")
    token = first[0].claim_url.rsplit("/", 1)[1]
    assert credential_for_claim(db, token, now=now) is not None
    assert db.scalar(select(ClaimToken.token_hash).limit(1)) != token  # only hashes are kept
    second = bulk.claim_links(db, job, public_url=PUBLIC_URL, now=now, actor="x")
    assert credential_for_claim(db, token, now=now) is None  # the earlier link is retired
    assert credential_for_claim(db, second[0].claim_url.rsplit("/", 1)[1], now=now) is not None


# -- huey: the task body in immediate mode --------------------------------------------------


def test_the_task_body_in_immediate_mode(app, db, make_job, now):
    job = make_job(learners(2))
    bulk.confirm_job(db, job, now=now, actor="x")
    queue = jobs.queue(app)
    queue.huey.immediate = True
    try:
        jobs.enqueue_job(job.id, app)
    finally:
        queue.huey.immediate = False
    assert bulk.refresh(db, job).state == "finished"
    assert len(credentials_of(job, db)) == 2


def test_recovery_task_body_requeues_a_stale_job(app, db, make_job, now):
    job = make_job(learners(1))
    bulk.confirm_job(db, job, now=now - timedelta(minutes=5), actor="x")  # long queued
    queue = jobs.queue(app)
    queue.huey.immediate = True
    try:
        assert jobs.recover_stale_jobs(app) == [job.id]  # and the task ran at once
    finally:
        queue.huey.immediate = False
    assert bulk.refresh(db, job).state == "finished"


def test_queue_names_follow_the_public_url(tmp_path):
    one = jobs.queue_name({"PUBLIC_URL": "https://a.example.org"})
    assert one == jobs.queue_name({"PUBLIC_URL": "https://a.example.org"})
    assert one != jobs.queue_name({"PUBLIC_URL": "https://b.example.org"})
    config = {"PUBLIC_URL": "https://a.example.org", "INSTANCE": str(tmp_path), "REDIS_URL": None}
    assert "jobs.db" in jobs.describe(config)
    redis = config | {"REDIS_URL": "redis://:secret@127.0.0.1:6379/3"}
    assert jobs.describe(redis).startswith("Redis 127.0.0.1:6379 db 3")
    assert "secret" not in jobs.describe(redis)


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://localhost",
        "rediss://user:pw@redis.internal:6380/2",
        "unix:///run/redis.sock",
    ],
)
def test_redis_urls_are_accepted(tmp_path, url):
    app = create_app(app_config(tmp_path, "sqlite://") | {"REDIS_URL": url})
    assert app.config["REDIS_URL"] == url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379",
        "redis://",
        "redis://host:port/0",
        "redis://host:6379/zero",
        "127.0.0.1:6379",
    ],
)
def test_bad_redis_urls_stop_startup(tmp_path, url):
    with pytest.raises(ConfigurationError, match="TESSERA_REDIS_URL"):
        create_app(app_config(tmp_path, "sqlite://") | {"REDIS_URL": url})


# -- the command line -----------------------------------------------------------------------


def test_bulk_commands(runner, db, welding, tmp_path):
    sheet = tmp_path / "cohort.csv"
    sheet.write_bytes(csv_bytes("name,email", "Ana,ana@example.org", ",bad"))
    result = runner.invoke(
        cli,
        ["bulk", "create", "--org", "northside", "--achievement", welding.public_id, str(sheet)],
    )
    assert result.exit_code == 0, result.output
    assert "2 rows, 1 ready, 1 with problems" in result.output
    assert "row 3: name is missing" in result.output
    job_id = result.output.split()[1].rstrip(":")
    status = runner.invoke(cli, ["bulk", "status", job_id, "--json"])
    assert json.loads(status.output)["state"] == "preview"
    listed = runner.invoke(cli, ["bulk", "list", "--org", "northside"])
    assert job_id in listed.output
    missing = runner.invoke(cli, ["bulk", "status", "nope"])
    assert missing.exit_code != 0 and "no bulk job" in missing.output


# -- real consumers on a real database ------------------------------------------------------


@pytest.fixture
def live_app(tmp_path, database_factory):
    """An app on a fresh database whose writes really commit, with its SQLite job queue."""
    app = create_app(app_config(tmp_path / "instance", database_factory()))
    migrate.upgrade(app.extensions["tessera.engine"])
    yield app
    app.extensions["tessera.engine"].dispose()


def _live_job(app, rows):
    kek = app.config["KEK_FERNET"]
    with sessionmaker(app.extensions["tessera.engine"], expire_on_commit=False)() as session:
        centre = services.create_organisation(
            session, kek, slug="live", name="Live", public_url=PUBLIC_URL, now=_now()
        )
        achievement = services.create_achievement(
            session, organisation=centre, name="Weld", description="D", criteria="C", now=_now()
        )
        job = bulk.create_job(
            session,
            organisation=centre,
            achievement=achievement,
            rows=rows,
            filename="x.csv",
            created_by="x",
            now=_now(),
        )
        return bulk.confirm_job(session, job, now=_now(), actor="x")


def _now():
    from issuer.clock import utcnow

    return utcnow()


def _wait_for(app, job, state, timeout=60):
    deadline = time.monotonic() + timeout
    with sessionmaker(app.extensions["tessera.engine"])() as session:
        while time.monotonic() < deadline:
            current = session.scalars(
                select(BulkJob)
                .where(BulkJob.id == job.id)
                .execution_options(populate_existing=True)
            ).one()
            session.commit()
            if current.state == state:
                return current
            time.sleep(0.1)
    pytest.fail(f"the job did not reach {state!r} in {timeout} s (it is {current.state!r})")


def test_a_real_consumer_runs_a_confirmed_job(live_app):
    job = _live_job(live_app, learners(4))
    jobs.enqueue_job(job.id, live_app)
    consumer = jobs.TesseraConsumer(jobs.queue(live_app), embedded=True, workers=2)
    consumer.start()
    try:
        done = _wait_for(live_app, job, "finished")
    finally:
        consumer.stop(graceful=True)
    assert (done.issued, done.failed) == (4, 0)
    with sessionmaker(live_app.extensions["tessera.engine"])() as session:
        assert _count(session, IssuedCredential, IssuedCredential.bulk_job_id == job.id) == 4


def test_one_embedded_consumer_per_instance_and_another_takes_over(live_app, monkeypatch):
    monkeypatch.setattr(jobs, "EMBEDDED_RETRY_SECONDS", 0.2)
    first, second = jobs.EmbeddedConsumer(live_app), jobs.EmbeddedConsumer(live_app)
    first.start()
    assert first.running.wait(10)
    second.start()
    time.sleep(0.5)
    assert not second.running.is_set()  # the lock is taken: one consumer per instance folder
    first.stop()
    try:
        assert second.running.wait(10)  # and when its process goes, another takes over
        job = _live_job(live_app, learners(2))
        jobs.enqueue_job(job.id, live_app)
        assert _wait_for(live_app, job, "finished").issued == 2
    finally:
        second.stop()


def test_a_job_left_running_by_a_dead_worker_is_recovered(live_app):
    job = _live_job(live_app, learners(2))
    stale = _now() - bulk.STALE_AFTER - timedelta(seconds=5)
    with sessionmaker(live_app.extensions["tessera.engine"])() as session:
        assert bulk._claim(session, job.id, stale) == stale  # claimed, then the worker died
    # Its task is gone (a dead worker's dequeued task is lost); a starting consumer recovers it.
    embedded = jobs.EmbeddedConsumer(live_app)
    embedded.start()
    try:
        assert _wait_for(live_app, job, "finished").issued == 2
    finally:
        embedded.stop()


def test_the_queue_waits_for_a_stopping_consumer_and_resumes(live_app):
    job = _live_job(live_app, learners(30))
    jobs.enqueue_job(job.id, live_app)
    consumer = jobs.TesseraConsumer(jobs.queue(live_app), embedded=True)
    consumer.start()
    engine = live_app.extensions["tessera.engine"]
    deadline = time.monotonic() + 60
    with sessionmaker(engine)() as session:
        while time.monotonic() < deadline:
            issued = session.scalar(select(BulkJob.issued).where(BulkJob.id == job.id))
            session.commit()
            if issued:
                break
            time.sleep(0.05)
    stopper = threading.Thread(target=consumer.stop, kwargs={"graceful": True})
    stopper.start()
    stopper.join(30)
    assert not stopper.is_alive()
    with sessionmaker(engine)() as session:
        paused = session.get(BulkJob, job.id)
        assert paused.state in ("queued", "finished")  # handed back between two rows
    again = jobs.TesseraConsumer(jobs.queue(live_app), embedded=True)
    again.start()
    try:
        assert _wait_for(live_app, job, "finished").issued == 30
    finally:
        again.stop(graceful=True)
    with sessionmaker(engine)() as session:
        assert _count(session, IssuedCredential, IssuedCredential.bulk_job_id == job.id) == 30


# -- damaged workbooks (found by tests/property) -------------------------------------------


def _damage_part(workbook: bytes, name: str, *, flag: int | None = None) -> bytes:
    """``workbook`` with one byte of ``name``'s deflated data changed, or its ZIP flag set."""
    damaged = bytearray(workbook)
    header = workbook.index(name.encode()) - 30  # a local file header is 30 bytes + name
    assert damaged[header : header + 4] == b"PK\x03\x04"
    if flag is not None:
        central = workbook.rindex(name.encode()) - 46
        damaged[central + 8] |= flag
        damaged[header + 6] |= flag
        return bytes(damaged)
    name_length, extra_length = struct.unpack("<HH", workbook[header + 26 : header + 30])
    data = header + 30 + name_length + extra_length
    damaged[data + 40] ^= 0xFF
    return bytes(damaged)


def test_a_workbook_with_damaged_compressed_data_is_refused_not_a_crash():
    # openpyxl let zlib.error ("invalid distance too far back") escape for this file.
    workbook = xlsx_bytes([["name", "email"], ["Amina Haddad", "amina@example.org"]])

    with pytest.raises(bulk.SpreadsheetError, match=r"cannot be read|damaged zip"):
        bulk.read_spreadsheet(_damage_part(workbook, "xl/theme/theme1.xml"), "learners.xlsx")


def test_a_workbook_with_encrypted_parts_is_refused_before_reading():
    workbook = xlsx_bytes([["name", "email"], ["Amina Haddad", "amina@example.org"]])

    with pytest.raises(bulk.SpreadsheetError, match="encrypted or compressed in a way"):
        bulk.read_spreadsheet(
            _damage_part(workbook, "xl/worksheets/sheet1.xml", flag=0x1), "learners.xlsx"
        )


def test_a_workbook_whose_offsets_point_before_the_file_is_refused_not_a_crash():
    # A central directory said to start 100 kB later than it does puts every part's offset
    # before byte 0; zipfile raised ValueError ("negative seek value") on reading one.
    workbook = bytearray(xlsx_bytes([["name", "email"], ["Amina Haddad", "amina@example.org"]]))
    end = workbook.rindex(b"PK\x05\x06")
    (offset,) = struct.unpack("<I", workbook[end + 16 : end + 20])
    workbook[end + 16 : end + 20] = struct.pack("<I", offset + 100_000)

    with pytest.raises(bulk.SpreadsheetError, match="damaged zip"):
        bulk.read_spreadsheet(bytes(workbook), "learners.xlsx")
