"""Bulk issuing: read a spreadsheet, check every row, then issue them in the background.

The flow a coordinator sees, and the function behind each step:

1. ``read_spreadsheet`` — CSV (UTF-8 with or without BOM, else Windows-1252, and says so) or
   XLSX (read-only, cached values, never macros, size-checked before loading).
2. ``create_job`` — every row checked (``check_rows``); a ``BulkJob`` in state ``preview`` with
   one ``BulkRow`` per learner: ``pending`` when ready, ``invalid`` with the reasons otherwise.
   Nothing is issued yet.
3. ``confirm_job`` — ``preview`` → ``queued``; the caller enqueues the job (issuer/jobs.py).
4. ``process_job`` — a worker issues the pending rows in order, in batches of ``BATCH_ROWS``.
   Each row is done exactly once, even across crashes: a batch is one transaction holding its
   credentials (idempotency key ``bulk:<job public id>:<row number>``; a retry returns the
   first credential), their audit events, the rows' outcomes and the job's counters.
5. ``cancel_job`` — stops before the next batch. ``claim_links`` — fresh claim links for every
   issued row (earlier links of the job stop working).

A job is held by one worker at a time through a lease: ``heartbeat_at`` is the fencing value.
The worker that claimed the job writes a new heartbeat at the start of every batch, on the
condition that the stored one is still the one it wrote; a worker that finds it changed has
lost the job (``recover_stale_jobs`` handed it to another after ``STALE_AFTER``) and stops.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import uuid
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from http import HTTPStatus
from typing import Any, cast

from cryptography.fernet import MultiFernet
from marshmallow import ValidationError, validate
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Result,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, selectinload

from credentials import normalize_email

from . import claims, pathways, services
from .audit import record_event
from .errors import ConflictError, InvalidRequestError, NotFoundError
from .models import Achievement, BulkJob, BulkRow, IssuedCredential, Organisation
from .unit_of_work import MAX_ATTEMPTS, retryable, transaction

# -- limits ---------------------------------------------------------------------------------

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
#: Rows read in all, blank ones included: a sheet that claims a million empty rows stops here.
MAX_SCANNED_ROWS = 5 * MAX_ROWS
MAX_COLUMNS = 100
#: Uncompressed size of everything in an XLSX file, checked before any XML is parsed.
MAX_XLSX_UNCOMPRESSED = 64 * 1024 * 1024
MAX_XLSX_MEMBERS = 1_000
MAX_NAME = 200  # bulk_row.name, issued_credential.recipient_name
MAX_EMAIL = 320  # 64 + "@" + 255
MAX_EXTERNAL_ID = 200
MAX_EVIDENCE_URL = 2_000
MAX_FILENAME = 255
#: A job whose heartbeat is older than this is taken to have lost its worker.
STALE_AFTER = timedelta(seconds=60)

# -- states ---------------------------------------------------------------------------------


class JobState(StrEnum):
    PREVIEW = "preview"
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class RowStatus(StrEnum):
    PENDING = "pending"  # ready, not issued yet
    INVALID = "invalid"  # flagged in the preview; never issued
    ISSUED = "issued"
    FAILED = "failed"  # refused when issuing (the message says why)


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
CANCELLABLE_STATES = (JobState.PREVIEW, JobState.QUEUED, JobState.RUNNING)

# -- errors ---------------------------------------------------------------------------------


class SpreadsheetError(InvalidRequestError):
    """The uploaded file cannot be read as a spreadsheet of learners (nothing was stored)."""

    code = "unreadable-spreadsheet"


class SpreadsheetTooLargeError(SpreadsheetError):
    code = "spreadsheet-too-large"
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


# -- reading spreadsheets -------------------------------------------------------------------

FIELDS = ("name", "email", "external_id", "evidence_url")


def _aliases(words: str) -> frozenset[str]:
    return frozenset(words.split())


#: Header texts recognised for each column, compared without case, spaces or punctuation.
HEADER_ALIASES: dict[str, frozenset[str]] = {
    "name": _aliases(
        "name fullname learnername learner studentname student participantname participant "
        "recipientname recipient candidatename candidate traineename trainee holdername "
        "nameonbadge"
    ),
    "first_name": _aliases("firstname givenname givennames forename first"),
    "last_name": _aliases("lastname surname familyname last"),
    "email": _aliases(
        "email emailaddress mail mailaddress learneremail studentemail recipientemail "
        "participantemail candidateemail traineeemail"
    ),
    "external_id": _aliases(
        "externalid id learnerid studentid participantid candidateid traineeid reference ref "
        "learnernumber studentnumber candidatenumber learnerreference"
    ),
    "evidence_url": _aliases(
        "evidenceurl evidence evidencelink evidenceuri portfolio portfoliourl"
    ),
}
_ALIAS_FIELD = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
_NOT_ALPHANUMERIC = re.compile(r"[^0-9a-z]")
#: Leading characters that make spreadsheet programs treat a cell as a formula (OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and other Office 97 files)
MACRO_CONTENT_TYPE = "application/vnd.ms-excel.sheet.macroEnabled"
_ENCRYPTED = 0x1  # ZIP general purpose flag bit 0
_XLSX_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
#: What zipfile raises reading a damaged member: a bad CRC, broken deflate data, a cut-off file,
#: or offsets pointing before the start of the file ("negative seek value", a ValueError).
_DAMAGED_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, ValueError)
#: What openpyxl lets through from a damaged workbook: the above, malformed XML (ElementTree's
#: and lxml's ParseError are SyntaxErrors), and parts that are missing or hold odd values.
_DAMAGED_WORKBOOK = (*_DAMAGED_ZIP, SyntaxError, KeyError, ValueError, TypeError)


@dataclass(frozen=True, slots=True)
class RowInput:
    """One learner as the file (or an API request) gave them, before checking."""

    row_number: int  # as in the spreadsheet: the header is row 1 in a usual file
    name: str
    email: str
    external_id: str = ""
    evidence_url: str = ""


@dataclass(frozen=True, slots=True)
class Sheet:
    """What was read from an upload: the learners, and what the reader noticed on the way."""

    rows: tuple[RowInput, ...]
    format: str  # "CSV" or "XLSX"
    encoding: str | None = None  # CSV only: "UTF-8" or "Windows-1252"
    columns: dict[str, str] = field(default_factory=dict)  # field -> header text as written
    ignored_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # for the person: e.g. the encoding that was guessed


def _header_key(text: str) -> str:
    return _NOT_ALPHANUMERIC.sub("", text.casefold())


def _map_header(cells: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """Which column holds which field; the texts of columns that hold none."""
    found: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(cells):
        text = cell.strip()
        if not text:
            continue
        name = _ALIAS_FIELD.get(_header_key(text))
        if name is None:
            ignored.append(text[:60])
            continue
        if name in found:
            raise SpreadsheetError(
                f"two columns look like the {name.replace('_', ' ')} column: "
                f"{cells[found[name]].strip()[:60]!r} and {text[:60]!r}; keep one of them"
            )
        found[name] = index
    if "name" not in found and not {"first_name", "last_name"} <= set(found):
        raise SpreadsheetError(
            "no name column found: the first row must be a header with columns such as "
            "name, email, external_id, evidence_url (or first name and last name)"
        )
    if "email" not in found:
        raise SpreadsheetError(
            "no e-mail column found: the first row must be a header with columns such as "
            "name, email, external_id, evidence_url"
        )
    return found, ignored


def _rows_from_records(
    records: Iterable[tuple[int, list[str]]],
) -> tuple[list[RowInput], dict[str, str], list[str]]:
    """Turn (row number, cells) records into learners: the first non-blank one is the header."""
    header: dict[str, int] | None = None
    header_cells: list[str] = []
    ignored: list[str] = []
    rows: list[RowInput] = []
    for row_number, cells in records:
        if not any(c.strip() for c in cells):
            continue  # blank lines, often at the end of a sheet
        if header is None:
            header, ignored = _map_header(cells)
            header_cells = cells
            continue
        if len(rows) >= MAX_ROWS:
            raise SpreadsheetTooLargeError(
                f"the file has more than {MAX_ROWS:,} learners; split it into several files"
            )

        def cell(name: str, cells: list[str] = cells, header: dict[str, int] = header) -> str:
            index = header.get(name)
            return cells[index] if index is not None and index < len(cells) else ""

        name = cell("name")
        if "name" not in header:
            name = " ".join(p.strip() for p in (cell("first_name"), cell("last_name")) if p)
        rows.append(
            RowInput(
                row_number=row_number,
                name=name,
                email=cell("email"),
                external_id=cell("external_id"),
                evidence_url=cell("evidence_url"),
            )
        )
    if header is None:
        raise SpreadsheetError("the file is empty: it needs a header row and one row per learner")
    columns = {name: header_cells[index].strip() for name, index in header.items()}
    return rows, columns, ignored


def _decode(data: bytes) -> tuple[str, str, list[str]]:
    """The text of a CSV file, the encoding it was read with, and notes for the person."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "UTF-16", []
        except UnicodeDecodeError as e:
            raise SpreadsheetError("the file says it is UTF-16 text but is not") from e
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "UTF-8", []
        except UnicodeDecodeError as e:
            raise SpreadsheetError(
                f"the file says it is UTF-8 but byte {e.start + 3} is not; save it again as "
                "'CSV UTF-8'"
            ) from e
    try:
        return data.decode("utf-8"), "UTF-8", []
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as e:
        raise SpreadsheetError(
            "the file is neither UTF-8 nor Windows-1252 text; save it as 'CSV UTF-8' "
            "(Excel: File > Save as > CSV UTF-8)"
        ) from e
    return (
        text,
        "Windows-1252",
        [
            "The file is not UTF-8, so it was read as Windows-1252 (Western European). Check "
            "that names with accents look right below; if not, save the file as 'CSV UTF-8' "
            "and upload it again."
        ],
    )


def _delimiter(text: str) -> str:
    """Comma, semicolon (Excel in much of Europe) or tab: whichever the header line uses most."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(data: bytes) -> Sheet:
    """Read a CSV file of learners.

    Raises:
        SpreadsheetError: not text, no header with a name and e-mail column, unreadable CSV.
        SpreadsheetTooLargeError: more than ``MAX_ROWS`` learners.
    """
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SpreadsheetError("this is not a CSV file (it contains binary data)")
    text, encoding, notes = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=False)

    def records() -> Iterator[tuple[int, list[str]]]:
        for number, cells in enumerate(reader, start=1):
            if number > MAX_SCANNED_ROWS:
                raise SpreadsheetTooLargeError(
                    f"the file has more than {MAX_SCANNED_ROWS:,} lines; split it into "
                    "several files"
                )
            yield number, cells[:MAX_COLUMNS]

    try:
        rows, columns, ignored = _rows_from_records(records())
    except csv.Error as e:
        raise SpreadsheetError(f"line {reader.line_num}: the CSV cannot be read ({e})") from e
    return Sheet(
        rows=tuple(rows),
        format="CSV",
        encoding=encoding,
        columns=columns,
        ignored_columns=tuple(ignored),
        notes=tuple(notes),
    )


def check_xlsx_container(data: bytes) -> None:
    """Refuse, before any XML is parsed: non-workbooks, macros, and zip bombs.

    The sizes checked are those the archive declares; Python's zipfile never inflates a member
    beyond its declared size (it stops there and checks the CRC), so they bound what openpyxl
    can be made to decompress.

    Raises:
        SpreadsheetError: naming what is wrong.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, NotImplementedError) as e:
        raise SpreadsheetError("the file is not a valid .xlsx workbook (a damaged zip)") from e
    with archive:
        members = archive.infolist()
        if len(members) > MAX_XLSX_MEMBERS:
            raise SpreadsheetError(f"the workbook has more than {MAX_XLSX_MEMBERS} parts")
        if any(m.flag_bits & _ENCRYPTED or m.compress_type not in _XLSX_METHODS for m in members):
            # Excel writes stored and deflated parts only; zipfile would raise RuntimeError
            # or NotImplementedError on the others while openpyxl reads them.
            raise SpreadsheetError(
                "the workbook's parts are encrypted or compressed in a way Excel does not "
                "write; open it in Excel and save it again as .xlsx or CSV"
            )
        names = {m.filename.lower() for m in members}
        if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
            raise SpreadsheetError("the file is a zip archive, not an Excel .xlsx workbook")
        if "xl/workbook.bin" in names:
            raise SpreadsheetError(
                "binary workbooks (.xlsb) cannot be read; save the file as .xlsx or CSV"
            )
        if any(n.endswith("vbaproject.bin") for n in names):
            raise SpreadsheetError(
                "the workbook contains macros (.xlsm); save it as a plain .xlsx or CSV file"
            )
        uncompressed = sum(m.file_size for m in members)
        if uncompressed > MAX_XLSX_UNCOMPRESSED:
            raise SpreadsheetTooLargeError(
                f"the workbook unpacks to {uncompressed / 2**20:,.0f} MiB, more than "
                f"{MAX_XLSX_UNCOMPRESSED // 2**20} MiB; this is refused (a zip bomb, or far "
                "more than a list of learners)"
            )
        if "[content_types].xml" in names:
            try:
                content_types = archive.read(
                    next(m for m in members if m.filename.lower() == "[content_types].xml")
                )
            except _DAMAGED_ZIP as e:
                raise SpreadsheetError(
                    "the file is not a valid .xlsx workbook (a damaged zip)"
                ) from e
            if MACRO_CONTENT_TYPE.encode() in content_types:
                raise SpreadsheetError(
                    "the workbook is macro-enabled (.xlsm); save it as a plain .xlsx or CSV file"
                )


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def read_xlsx(data: bytes) -> Sheet:
    """Read the first worksheet of an .xlsx workbook (cached values; formulas never run).

    Raises:
        SpreadsheetError: not a plain workbook, macros, no header, unreadable.
        SpreadsheetTooLargeError: too big unpacked, or more than ``MAX_ROWS`` learners.
    """
    check_xlsx_container(data)
    # Imported here: only uploads of workbooks need openpyxl.
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    notes: list[str] = []
    with warnings.catch_warnings():
        # openpyxl warns about styles and extensions it skips; none of that matters here.
        warnings.simplefilter("ignore")
        try:
            workbook = load_workbook(
                io.BytesIO(data), read_only=True, data_only=True, keep_links=False
            )
        except (InvalidFileException, *_DAMAGED_WORKBOOK) as e:
            raise SpreadsheetError(f"the workbook cannot be read: {str(e)[:200]}") from e
        try:
            if not workbook.worksheets:
                raise SpreadsheetError("the workbook has no worksheet")
            sheet = workbook.worksheets[0]
            if len(workbook.worksheets) > 1:
                notes.append(
                    f"Only the first worksheet, {sheet.title!r}, was read; the workbook has "
                    f"{len(workbook.worksheets)}."
                )

            def records() -> Iterator[tuple[int, list[str]]]:
                for number, values in enumerate(
                    sheet.iter_rows(min_row=1, max_col=MAX_COLUMNS, values_only=True), start=1
                ):
                    if number > MAX_SCANNED_ROWS:
                        raise SpreadsheetTooLargeError(
                            f"the worksheet has more than {MAX_SCANNED_ROWS:,} rows; split it "
                            "into several files"
                        )
                    yield number, [_cell_text(v) for v in values]

            try:
                rows, columns, ignored = _rows_from_records(records())
            except _DAMAGED_WORKBOOK as e:
                raise SpreadsheetError(f"the worksheet cannot be read: {str(e)[:200]}") from e
        finally:
            workbook.close()
    return Sheet(
        rows=tuple(rows),
        format="XLSX",
        columns=columns,
        ignored_columns=tuple(ignored),
        notes=tuple(notes),
    )


def read_spreadsheet(data: bytes, filename: str) -> Sheet:
    """Read an uploaded CSV or XLSX file (told apart by content, not only by name).

    Raises:
        SpreadsheetTooLargeError: more than ``MAX_UPLOAD_BYTES`` or ``MAX_ROWS`` learners.
        SpreadsheetError: anything else that stops the file being read; nothing is stored.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise SpreadsheetTooLargeError(
            f"the file is {len(data) / 2**20:.1f} MiB; the limit is "
            f"{MAX_UPLOAD_BYTES // 2**20} MiB ({MAX_ROWS:,} learners)"
        )
    if not data.strip():
        raise SpreadsheetError("the file is empty")
    lowered = filename.lower()
    if lowered.endswith((".xlsm", ".xltm", ".xlam")):
        raise SpreadsheetError(
            "macro-enabled workbooks (.xlsm) are refused; save the sheet as .xlsx or CSV"
        )
    if data.startswith(OLE_MAGIC):
        raise SpreadsheetError(
            "this is an old-style Excel file (.xls); save it as .xlsx or CSV and upload that"
        )
    if data.startswith(XLSX_MAGIC):
        return read_xlsx(data)
    if lowered.endswith((".xlsx", ".xls")):
        raise SpreadsheetError("the file is named like a workbook but is not an .xlsx file")
    return read_csv(data)


# -- checking rows --------------------------------------------------------------------------

_email = validate.Email()
_http_url = validate.URL(schemes={"http", "https"}, require_tld=True)


@dataclass(frozen=True, slots=True)
class CheckedRow:
    """A learner after checking: cleaned values, and the reasons it cannot be issued."""

    row_number: int
    name: str
    email: str
    external_id: str | None
    evidence_url: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _formula_problem(label: str, raw: str) -> str | None:
    text = raw.lstrip(" ")
    if text[:1] in FORMULA_PREFIXES:
        shown = {"\t": "a tab", "\r": "a line break"}.get(text[0], repr(text[0]))
        return (
            f"{label} starts with {shown}: spreadsheet programs could run it as a formula, so "
            "it is refused (remove that first character)"
        )
    return None


def _check_text(label: str, raw: str, limit: int, problems: list[str]) -> str:
    formula = _formula_problem(label, raw)
    if formula:
        problems.append(formula)
    value = raw.strip()
    if len(value) > limit:
        problems.append(f"{label} is longer than {limit} characters")
    if services.CONTROL_CHARACTERS.search(value) or "\n" in value or "\r" in value:
        problems.append(f"{label} contains control characters or line breaks")
    return value


def check_row(row: RowInput) -> CheckedRow:
    """Check one learner on its own (duplicates are ``check_rows``' business)."""
    problems: list[str] = []
    name = _check_text("name", row.name, MAX_NAME, problems)
    if not name:
        problems.append("name is missing")
    email = _check_text("e-mail", row.email, MAX_EMAIL, problems)
    if not email:
        problems.append("e-mail is missing")
    elif len(email) <= MAX_EMAIL:
        try:
            _email(email)
        except ValidationError:
            problems.append(f"{email[:80]!r} is not a valid e-mail address")
    external_id = _check_text("external id", row.external_id, MAX_EXTERNAL_ID, problems)
    evidence = row.evidence_url.strip()
    if evidence:
        if len(evidence) > MAX_EVIDENCE_URL:
            problems.append(f"evidence URL is longer than {MAX_EVIDENCE_URL} characters")
        else:
            try:
                _http_url(evidence)
            except ValidationError:
                problems.append(
                    "evidence must be a web address starting with https:// (or http://)"
                )
    return CheckedRow(
        row_number=row.row_number,
        name=name,
        email=email,
        external_id=external_id or None,
        evidence_url=evidence or None,
        problems=tuple(problems),
    )


def check_rows(
    rows: Sequence[RowInput], *, holders: dict[str, datetime] | None = None
) -> list[CheckedRow]:
    """Check every row, and flag repeated e-mail addresses and learners who already hold it.

    The first row with an address is kept; later ones are flagged (as duplicates of it).
    ``holders`` maps normalised e-mail addresses to when they were last issued the achievement.
    """
    holders = holders or {}
    first_seen: dict[str, int] = {}
    checked: list[CheckedRow] = []
    for row in rows:
        result = check_row(row)
        key = normalize_email(result.email)
        extra: list[str] = []
        if key and "@" in key:
            if key in first_seen:
                extra.append(
                    f"the same e-mail address as row {first_seen[key]}: each learner is "
                    "issued once per file"
                )
            elif result.ok:
                first_seen[key] = row.row_number
            if key in holders:
                extra.append(
                    f"already holds this achievement (issued {holders[key]:%d %B %Y}): revoke "
                    "that credential first to issue a new one"
                )
        if extra:
            result = CheckedRow(
                row_number=result.row_number,
                name=result.name,
                email=result.email,
                external_id=result.external_id,
                evidence_url=result.evidence_url,
                problems=(*result.problems, *extra),
            )
        checked.append(result)
    return checked


def current_holders(
    session: Session, achievement: Achievement, emails: Iterable[str], *, now: datetime
) -> dict[str, datetime]:
    """Who of ``emails`` already holds a live credential of this achievement (and since when)."""
    wanted = sorted({normalize_email(e) for e in emails if e and "@" in e})
    found: dict[str, datetime] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for email, issued_at in session.execute(
            select(IssuedCredential.recipient_email, func.max(IssuedCredential.issued_at))
            .where(
                IssuedCredential.achievement_id == achievement.id,
                IssuedCredential.recipient_email.in_(chunk),
                IssuedCredential.revoked_at.is_(None),
                or_(IssuedCredential.valid_until.is_(None), IssuedCredential.valid_until > now),
            )
            .group_by(IssuedCredential.recipient_email)
        ):
            found[email] = issued_at
    return found


# -- jobs -----------------------------------------------------------------------------------


def _changed(result: Result[Any]) -> int:
    """Rows an UPDATE changed (``execute`` of an UPDATE returns a ``CursorResult``)."""
    return cast(CursorResult[Any], result).rowcount


def _clip(value: str | None, limit: int) -> str | None:
    """Fit a flagged value into its column (it is shown, never issued)."""
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def stored_email(raw: str) -> str:
    """A row's e-mail as its ``BulkRow`` keeps it (trimmed; clipped if overlong, so flagged)."""
    return _clip(raw.strip(), MAX_EMAIL) or ""


def job_id_for_key(organisation: Organisation, idempotency_key: str) -> str:
    """The public id of the job an API client's Idempotency-Key creates (one per centre)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tessera:bulk:{organisation.id}:{idempotency_key}"))


def create_job(
    session: Session,
    *,
    organisation: Organisation,
    achievement: Achievement,
    rows: Sequence[RowInput],
    filename: str,
    created_by: str,
    now: datetime,
    public_id: str | None = None,
) -> BulkJob:
    """Check the rows and store a job in state ``preview``. Issues nothing.

    Raises:
        NotFoundError: the achievement is another centre's.
        InvalidRequestError: an archived achievement, or no rows at all.
        IntegrityError: ``public_id`` is taken (an Idempotency-Key replay raced this one).
    """
    if achievement.organisation_id != organisation.id:
        raise NotFoundError("that achievement does not belong to this training centre")
    if achievement.archived_at is not None:
        raise InvalidRequestError(
            f"the achievement {achievement.name!r} is archived; pick a current one"
        )
    if not rows:
        raise InvalidRequestError("there are no learners to issue to (no rows under the header)")
    if len(rows) > MAX_ROWS:
        raise SpreadsheetTooLargeError(f"at most {MAX_ROWS:,} learners per job")
    holders = current_holders(session, achievement, (r.email for r in rows), now=now)
    checked = check_rows(rows, holders=holders)
    ready = sum(1 for r in checked if r.ok)
    with transaction(session):
        job = BulkJob(
            public_id=public_id or str(uuid.uuid4()),
            organisation_id=organisation.id,
            achievement_id=achievement.id,
            created_by=created_by[:200],
            filename=_clip(filename.strip() or "upload", MAX_FILENAME) or "upload",
            state=JobState.PREVIEW,
            total=ready,
            issued=0,
            failed=0,
            created_at=now,
        )
        session.add(job)
        session.flush()
        session.add_all(
            BulkRow(
                job_id=job.id,
                row_number=r.row_number,
                name=_clip(r.name, MAX_NAME) or "",
                email=stored_email(r.email),
                external_id=_clip(r.external_id, MAX_EXTERNAL_ID),
                evidence=_clip(r.evidence_url, MAX_EVIDENCE_URL + 1),
                status=RowStatus.PENDING if r.ok else RowStatus.INVALID,
                message="\n".join(r.problems) or None,  # one problem per line
            )
            for r in checked
        )
        record_event(
            session,
            action="bulk.created",
            subject=job.public_id,
            now=now,
            actor=created_by,
            organisation_id=organisation.id,
            details={
                "achievement": achievement.public_id,
                "filename": job.filename,
                "rows": len(checked),
                "ready": ready,
            },
        )
    return job


def get_job(session: Session, organisation: Organisation, public_id: str) -> BulkJob:
    """A job of ``organisation`` (another centre's id is simply not found)."""
    job = session.scalars(
        select(BulkJob).where(
            BulkJob.public_id == public_id, BulkJob.organisation_id == organisation.id
        )
    ).first()
    if job is None:
        raise NotFoundError(f"this training centre has no bulk job {public_id[:60]!r}")
    return job


def find_job(session: Session, public_id: str) -> BulkJob:
    """Any centre's job (for the instance operator's CLI; pages and the API use get_job)."""
    job = session.scalars(select(BulkJob).where(BulkJob.public_id == public_id)).first()
    if job is None:
        raise NotFoundError(f"no bulk job {public_id[:60]!r}")
    return job


def list_jobs(session: Session, organisation: Organisation, *, limit: int = 20) -> list[BulkJob]:
    return list(
        session.scalars(
            select(BulkJob)
            .where(BulkJob.organisation_id == organisation.id)
            .order_by(BulkJob.created_at.desc(), BulkJob.id.desc())
            .limit(limit)
        )
    )


def refresh(session: Session, job: BulkJob) -> BulkJob:
    """The job as stored now (a worker may have moved it on since it was loaded)."""
    return session.scalars(
        select(BulkJob).where(BulkJob.id == job.id).execution_options(populate_existing=True)
    ).one()


def confirm_job(session: Session, job: BulkJob, *, now: datetime, actor: str) -> BulkJob:
    """``preview`` → ``queued``. The caller then enqueues it (``jobs.enqueue_job``).

    Raises:
        ConflictError: the job is not a preview any more (already confirmed, or cancelled).
        InvalidRequestError: no row is ready to issue.
    """
    if job.total == 0:
        raise InvalidRequestError(
            "no row of this file can be issued; correct the rows flagged and upload it again"
        )
    with transaction(session):
        moved = _changed(
            session.execute(
                update(BulkJob)
                .where(BulkJob.id == job.id, BulkJob.state == JobState.PREVIEW)
                .values(state=JobState.QUEUED, heartbeat_at=now)
            )
        )
        if moved != 1:
            raise ConflictError(f"this job was already {refresh(session, job).state}")
        record_event(
            session,
            action="bulk.confirmed",
            subject=job.public_id,
            now=now,
            actor=actor,
            organisation_id=job.organisation_id,
            details={"rows": job.total},
        )
    return refresh(session, job)


def cancel_job(session: Session, job: BulkJob, *, now: datetime, actor: str) -> BulkJob:
    """Stop the job before its next row (rows already issued stay issued).

    Raises:
        ConflictError: the job has already finished or been cancelled.
    """
    with transaction(session):
        moved = _changed(
            session.execute(
                update(BulkJob)
                .where(BulkJob.id == job.id, BulkJob.state.in_(CANCELLABLE_STATES))
                .values(state=JobState.CANCELLED, finished_at=now)
            )
        )
        if moved != 1:
            raise ConflictError(f"this job has already {refresh(session, job).state}")
        record_event(
            session,
            action="bulk.cancelled",
            subject=job.public_id,
            now=now,
            actor=actor,
            organisation_id=job.organisation_id,
        )
    return refresh(session, job)


@dataclass(frozen=True, slots=True)
class Progress:
    """What the progress bar shows."""

    state: str
    total: int
    issued: int
    failed: int
    heartbeat_at: datetime | None

    @property
    def done(self) -> int:
        return self.issued + self.failed

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else min(100, self.done * 100 // self.total)

    @property
    def over(self) -> bool:
        return self.state in (JobState.FINISHED, JobState.CANCELLED)


def progress(session: Session, job: BulkJob) -> Progress:
    current = refresh(session, job)
    return Progress(
        current.state, current.total, current.issued, current.failed, current.heartbeat_at
    )


def rows_for_display(
    session: Session, job: BulkJob, *, offset: int = 0, limit: int = 500
) -> tuple[list[BulkRow], int]:
    """Rows with problems first (invalid, failed, not issued), then the rest; and how many."""
    order = (
        BulkRow.status.in_((RowStatus.INVALID, RowStatus.FAILED)).desc(),
        (BulkRow.status == RowStatus.PENDING).desc(),
        BulkRow.row_number,
    )
    count = session.scalar(select(func.count()).where(BulkRow.job_id == job.id)) or 0
    rows = session.scalars(
        select(BulkRow)
        .where(BulkRow.job_id == job.id)
        .options(
            selectinload(BulkRow.credential).load_only(
                IssuedCredential.id, IssuedCredential.public_id
            )
        )
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), count


def row_counts(session: Session, job: BulkJob) -> dict[str, int]:
    counts = dict.fromkeys(RowStatus, 0)
    for status, count in session.execute(
        select(BulkRow.status, func.count())
        .where(BulkRow.job_id == job.id)
        .group_by(BulkRow.status)
    ):
        counts[RowStatus(status)] = count
    return {str(k): v for k, v in counts.items()}


# -- the worker -----------------------------------------------------------------------------


class Outcome(StrEnum):
    """How one run of ``process_job`` ended."""

    FINISHED = "finished"
    CANCELLED = "cancelled"
    BUSY = "busy"  # another worker holds the job, or it is not queued (preview, finished)
    STOPPED = "stopped"  # this worker is shutting down; the job went back to the queue
    LOST = "lost"  # this worker was too slow and the job was handed to another


class _LeaseLost(Exception):
    """The job's heartbeat is no longer the one this worker wrote."""


def _claim(session: Session, job_id: int, now: datetime) -> datetime | None:
    """Take a queued job, or a running one whose worker stopped beating; returns the lease."""
    with transaction(session):
        taken = _changed(
            session.execute(
                update(BulkJob)
                .where(
                    BulkJob.id == job_id,
                    or_(
                        BulkJob.state == JobState.QUEUED,
                        (BulkJob.state == JobState.RUNNING)
                        & or_(
                            BulkJob.heartbeat_at.is_(None), BulkJob.heartbeat_at < now - STALE_AFTER
                        ),
                    ),
                )
                .values(
                    state=JobState.RUNNING,
                    heartbeat_at=now,
                    started_at=func.coalesce(BulkJob.started_at, now),
                )
            )
        )
    return now if taken == 1 else None


def _held_by(job_id: int, lease: datetime) -> tuple[ColumnElement[bool], ...]:
    """The job is running under this lease (the worker that wrote it still holds it)."""
    return (BulkJob.id == job_id, BulkJob.heartbeat_at == lease, BulkJob.state == JobState.RUNNING)


def _release(session: Session, job_id: int, lease: datetime, now: datetime) -> bool:
    """Give a running job back to the queue (this worker stops); True when it was ours."""
    with transaction(session):
        return bool(
            _changed(
                session.execute(
                    update(BulkJob)
                    .where(*_held_by(job_id, lease))
                    .values(state=JobState.QUEUED, heartbeat_at=now)
                )
            )
        )


def _record_rows(
    session: Session,
    *,
    job: BulkJob,
    rows: Sequence[BulkRow],
    outcomes: Sequence[services.BatchIssued | str],
    lease: datetime,
) -> None:
    """The rows' outcomes and the job's counters, under the lease (in the batch)."""
    issued = sum(isinstance(outcome, services.BatchIssued) for outcome in outcomes)
    # Plain UPDATEs: the job and its rows are always re-read (``refresh``, the next batch's
    # query) rather than taken from this session's objects, and keeping those objects in step
    # cost more than the statements themselves.
    held = _changed(
        session.execute(
            update(BulkJob)
            .where(BulkJob.id == job.id, BulkJob.heartbeat_at == lease)
            .values(issued=BulkJob.issued + issued, failed=BulkJob.failed + len(rows) - issued),
            execution_options={"synchronize_session": False},
        )
    )
    if held != 1:
        raise _LeaseLost()
    if not rows:
        return
    issued_rows = {
        row.id: outcome.id
        for row, outcome in zip(rows, outcomes, strict=True)
        if isinstance(outcome, services.BatchIssued)
    }
    failed_rows = [
        {"row": row.id, "why": str(outcome)[:2000]}
        for row, outcome in zip(rows, outcomes, strict=True)
        if not isinstance(outcome, services.BatchIssued)
    ]
    table = BulkRow.__table__
    pending = table.c.status == RowStatus.PENDING
    moved = 0
    if issued_rows:
        # One statement for the batch's issued rows (an executemany is one per row on the wire).
        moved += _changed(
            session.connection().execute(
                update(table)
                .where(table.c.id.in_(issued_rows), pending)
                .values(
                    status=RowStatus.ISSUED,
                    message=None,
                    credential_id=case(issued_rows, value=table.c.id),
                )
            )
        )
    if failed_rows:
        failed = session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("row"), pending)
            .values(status=RowStatus.FAILED, message=bindparam("why"), credential_id=None),
            failed_rows,
        )
        moved += (
            failed.rowcount
            if session.get_bind().dialect.supports_sane_multi_rowcount
            else len(failed_rows)
        )
    if moved != len(rows):
        raise _LeaseLost()  # a row was no longer pending: another worker has the job


def _finish(session: Session, job: BulkJob, lease: datetime, now: datetime) -> Outcome:
    with transaction(session):
        done = _changed(
            session.execute(
                update(BulkJob)
                .where(*_held_by(job.id, lease))
                .values(state=JobState.FINISHED, finished_at=now, heartbeat_at=now)
            )
        )
        if done == 1:
            current = refresh(session, job)
            record_event(
                session,
                action="bulk.finished",
                subject=job.public_id,
                now=now,
                actor=job.created_by,
                organisation_id=job.organisation_id,
                details={"issued": current.issued, "failed": current.failed},
            )
            return Outcome.FINISHED
    return Outcome.CANCELLED if refresh(session, job).state == JobState.CANCELLED else Outcome.LOST


def _hold(session: Session, job: BulkJob, lease: datetime, now: datetime) -> Outcome | None:
    """Renew the lease at the start of a batch; ``None`` while the job is still this worker's.

    The renewed row stays locked until the batch commits (PostgreSQL's row lock; SQLite's
    write transaction), so no one can cancel or take the job in the middle of a batch.
    """
    renewed = _changed(
        session.execute(
            update(BulkJob).where(*_held_by(job.id, lease)).values(heartbeat_at=now),
            execution_options={"synchronize_session": False},
        )
    )
    if renewed == 1:
        return None
    state = session.scalar(select(BulkJob.state).where(BulkJob.id == job.id))
    return Outcome.CANCELLED if state == JobState.CANCELLED else Outcome.LOST


@dataclass(frozen=True, slots=True)
class _BatchDone:
    issued: list[int]  # ids of the credentials issued
    issued_at: datetime
    rows: int  # rows done, from the start of those given
    lease: datetime
    ended: Outcome | None  # set when the job must not go on in this worker


def _issue_batch(
    session: Session,
    kek: MultiFernet,
    *,
    job: BulkJob,
    rows: Sequence[BulkRow],
    lease: datetime,
    public_url: str,
    clock: Callable[[], datetime],
    should_stop: Callable[[], bool],
) -> _BatchDone:
    """Issue up to ``BATCH_ROWS`` rows from the start of ``rows`` in one transaction.

    ``should_stop`` is asked before each row is taken; the rows before it first says so
    are issued. A conflict with a concurrent writer (a status index taken meanwhile) rolls
    the whole batch back and it is tried again; a row refused for its own data fails alone.
    """
    taken: list[BulkRow] = []
    ended: Outcome | None = None
    for row in rows[:BATCH_ROWS]:
        if should_stop():
            ended = Outcome.STOPPED
            break
        taken.append(row)
    if not taken:
        return _BatchDone([], lease, 0, lease, ended)
    signers = services.Signers()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction(session):
                now = clock()
                lost = _hold(session, job, lease, now)
                if lost is not None:
                    return _BatchDone([], now, 0, lease, lost)
                outcomes = services.issue_batch(
                    session,
                    kek,
                    organisation=job.organisation,
                    achievement=job.achievement,
                    items=[
                        services.BatchItem(
                            name=row.name,
                            email=row.email,
                            idempotency_key=f"bulk:{job.public_id}:{row.row_number}",
                            external_id=row.external_id,
                            evidence=[{"id": row.evidence}] if row.evidence else None,
                        )
                        for row in taken
                    ],
                    public_url=public_url,
                    now=now,
                    signers=signers,
                    actor=job.created_by,
                    bulk_job_id=job.id,
                )
                _record_rows(session, job=job, rows=taken, outcomes=outcomes, lease=now)
        except DBAPIError as e:
            if not retryable(e) or attempt == MAX_ATTEMPTS:
                raise
            continue
        issued = [o.id for o in outcomes if isinstance(o, services.BatchIssued)]
        return _BatchDone(issued, now, len(taken), now, ended)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


#: Rows written in one transaction (one disk flush, a handful of statements). Other writers,
#: and a cancel, wait for a batch at most this many credentials' signing long.
BATCH_ROWS = 100


def process_job(
    session: Session,
    kek: MultiFernet,
    *,
    job_id: int,
    public_url: str,
    clock: Callable[[], datetime],
    should_stop: Callable[[], bool] = lambda: False,
    batch: int = 100,
) -> Outcome:
    """Issue the pending rows of a queued job in order, each exactly once; see the module doc.

    Safe to run any number of times, in any number of workers at once: one claims the job,
    the others return ``Outcome.BUSY``. Rows already issued (before a crash, say) are skipped;
    a row whose credential was written but whose outcome was not is completed from the
    credential the idempotency key finds. ``should_stop`` is asked before every row; when it
    says so, the rows issued so far are committed and the job goes back to the queue for the
    next worker.

    Rows are written in batches of ``BATCH_ROWS``, each batch one transaction holding its
    credentials, their audit events, the rows' outcomes and the job's counters: a crash
    loses the batch in progress whole, and its rows are issued again by the next worker,
    never twice.

    Raises whatever the database or key store raises (the job is then handed back to the
    queue when the database still answers, and recovered after ``STALE_AFTER`` otherwise).
    """
    lease = _claim(session, job_id, clock())
    if lease is None:
        return Outcome.BUSY
    job = session.scalars(
        select(BulkJob).where(BulkJob.id == job_id).execution_options(populate_existing=True)
    ).one()
    last_row = 0
    try:
        while True:
            pending = list(
                session.scalars(
                    select(BulkRow)
                    .where(
                        BulkRow.job_id == job.id,
                        BulkRow.row_number > last_row,
                        BulkRow.status == RowStatus.PENDING,
                    )
                    .order_by(BulkRow.row_number)
                    .limit(batch)
                )
            )
            if not pending:
                return _finish(session, job, lease, clock())
            while pending:
                done = _issue_batch(
                    session,
                    kek,
                    job=job,
                    rows=pending,
                    lease=lease,
                    public_url=public_url,
                    clock=clock,
                    should_stop=should_stop,
                )
                lease = done.lease
                # After the batch's own transaction; never raises (see pathways).
                pathways.after_issue_many(
                    session,
                    kek,
                    job.achievement,
                    done.issued,
                    public_url=public_url,
                    now=done.issued_at,
                )
                if done.ended == Outcome.STOPPED:
                    _release(session, job.id, lease, clock())
                if done.ended is not None:
                    return done.ended
                last_row = pending[done.rows - 1].row_number
                pending = pending[done.rows :]
    except _LeaseLost:
        session.rollback()
        return Outcome.LOST
    except BaseException:
        session.rollback()
        # Hand the job back for a retry; if even that fails, the original error is what
        # matters (the job is recovered once its heartbeat is stale).
        with contextlib.suppress(Exception):
            _release(session, job.id, lease, clock())
        raise


def stale_jobs(session: Session, *, now: datetime) -> list[int]:
    """Ids of queued or running jobs whose heartbeat is older than ``STALE_AFTER``."""
    return list(
        session.scalars(
            select(BulkJob.id).where(
                BulkJob.state.in_(ACTIVE_STATES),
                or_(BulkJob.heartbeat_at.is_(None), BulkJob.heartbeat_at < now - STALE_AFTER),
            )
        )
    )


def requeue_stale(session: Session, job_id: int, *, now: datetime) -> bool:
    """Put a stale job back in state ``queued`` (fencing off its old worker); True if done."""
    with transaction(session):
        return bool(
            _changed(
                session.execute(
                    update(BulkJob)
                    .where(
                        BulkJob.id == job_id,
                        BulkJob.state.in_(ACTIVE_STATES),
                        or_(
                            BulkJob.heartbeat_at.is_(None), BulkJob.heartbeat_at < now - STALE_AFTER
                        ),
                    )
                    .values(state=JobState.QUEUED, heartbeat_at=now)
                )
            )
        )


# -- claim links ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimLink:
    row_number: int
    name: str
    email: str
    external_id: str | None
    verify_url: str
    claim_url: str


def claim_links(
    session: Session, job: BulkJob, *, public_url: str, now: datetime, actor: str
) -> list[ClaimLink]:
    """New claim links for every issued row of a job that is over; earlier ones stop working.

    Claim tokens are stored only as hashes, so a link can be shown once: each call makes new
    ones (and retires the links of any earlier call) in one transaction.

    Raises:
        ConflictError: the job is still queued or running (or only a preview).
    """
    current = refresh(session, job)
    if current.state not in (JobState.FINISHED, JobState.CANCELLED):
        raise ConflictError("claim links can be made once the job has finished (or been cancelled)")
    links: list[ClaimLink] = []
    with transaction(session):
        issued = session.execute(
            select(BulkRow, IssuedCredential)
            .join(IssuedCredential, BulkRow.credential_id == IssuedCredential.id)
            .where(BulkRow.job_id == job.id, BulkRow.status == RowStatus.ISSUED)
            .order_by(BulkRow.row_number)
        ).all()
        for row, record in issued:
            token = claims.new_claim_token(session, record, now=now)
            links.append(
                ClaimLink(
                    row_number=row.row_number,
                    name=record.recipient_name,
                    email=record.recipient_email,
                    external_id=row.external_id,
                    verify_url=services.verify_url(public_url, record),
                    claim_url=claims.claim_url(public_url, token),
                )
            )
        record_event(
            session,
            action="bulk.claim_links",
            subject=job.public_id,
            now=now,
            actor=actor,
            organisation_id=job.organisation_id,
            details={"links": len(links)},
        )
    return links


TEMPLATE_CSV = (
    "name,email,external_id,evidence_url\r\n"
    "Amina Haddad,amina.haddad@example.org,L-0001,https://portfolio.example.org/amina\r\n"
    "Yusuf Demir,yusuf.demir@example.org,L-0002,\r\n"
)
