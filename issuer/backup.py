"""Logical backups: every table's rows in one archive, restorable on SQLite or PostgreSQL.

``tessera backup FILE`` writes a ZIP archive:

- ``manifest.json``: the format, the Alembic revision of the schema, and per table its columns,
  row count and the SHA-256 of its data file;
- ``tables/<table>.jsonl``: one JSON array per row, columns in the manifest's order, rows in
  primary-key order.

The rows are read in one transaction (a consistent snapshot while the service keeps running)
and streamed in batches, so a table of a million credentials never sits in memory at once.
Values are written by column type, not by engine, so an archive made on SQLite restores on
PostgreSQL and back: bytes as base64, datetimes as ISO 8601 in UTC.

What the archive never holds: the key-encryption key (``TESSERA_KEK``), the Flask secret key,
or any private key in the clear. ``signing_key.encrypted_private_key`` is copied exactly as
stored, Fernet-encrypted under the KEK, so a backup alone cannot sign anything; the KEK is
backed up separately (docs/operations.md, "Secrets and backups"). The archive does hold
personal data (names, e-mail addresses, password hashes) and is written with mode 0600.

``tessera restore FILE`` checks the whole archive before writing anything, migrates the
database to the newest revision, and loads every row in one transaction: all of it, or on any
error nothing.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    Date,
    Engine,
    Enum,
    Integer,
    LargeBinary,
    Table,
    func,
    select,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session

from credentials.db import UTCDateTime

from . import migrate
from .audit import record_event
from .db import metadata
from .errors import IssuerError
from .unit_of_work import WRITE_OPTION

FORMAT = "tessera-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Rows read from the database, or written to it, at a time.
BATCH_ROWS = 1000

#: ``progress(table, rows done, rows in the table)``, called after every batch.
Progress = Callable[[str, int, int], None]


class BackupError(IssuerError):
    """An archive that cannot be written or restored; nothing was changed."""

    code = "backup-error"


class ForeignArchiveError(BackupError):
    """The file is not a Tessera backup, or one of a schema this version cannot load."""

    code = "backup-foreign"


class DamagedArchiveError(BackupError):
    """The archive is a Tessera backup, but its contents do not match its manifest."""

    code = "backup-damaged"


class DatabaseNotEmptyError(BackupError):
    code = "backup-target-not-empty"


@dataclass(frozen=True, slots=True)
class TableSummary:
    name: str
    rows: int


@dataclass(frozen=True, slots=True)
class BackupSummary:
    path: Path
    revision: str
    tables: tuple[TableSummary, ...]

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def tables() -> list[Table]:
    """Every table of the service, parents before children (the order rows are restored in)."""
    return list(metadata.sorted_tables)


# -- values --------------------------------------------------------------------------------


def _encoder(table: Table, column: str) -> Callable[[Any], Any]:
    kind = table.c[column].type
    if isinstance(kind, LargeBinary):
        return lambda v: None if v is None else base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(kind, UTCDateTime | Date):
        return lambda v: None if v is None else v.isoformat()
    return lambda v: v.value if isinstance(v, enum.Enum) else v


def _decoder(table: Table, column: str) -> Callable[[Any], Any]:
    kind = table.c[column].type
    if isinstance(kind, LargeBinary):
        return lambda v: None if v is None else base64.b64decode(v, validate=True)
    if isinstance(kind, UTCDateTime):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if isinstance(kind, Date):
        return lambda v: None if v is None else date.fromisoformat(v)
    if isinstance(kind, Enum) and kind.enum_class is not None:
        enum_class = kind.enum_class
        return lambda v: None if v is None else enum_class(v)
    return lambda v: v


# -- writing -------------------------------------------------------------------------------


def current_revision(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return heads[0] if len(heads) == 1 else None


def head_revision(engine: Engine) -> str:
    heads = ScriptDirectory.from_config(migrate.alembic_config(engine)).get_heads()
    return str(heads[0])


def _snapshot(engine: Engine) -> Connection:
    """A connection whose reads all see one moment, while the service keeps writing."""
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    # SQLite: one read transaction in WAL mode already sees a single snapshot.
    return connection


def write_backup(
    engine: Engine, path: Path, *, now: datetime, progress: Progress | None = None
) -> BackupSummary:
    """Write every table of the database behind ``engine`` to the archive ``path``.

    The archive appears at ``path`` only when complete (written beside it, then renamed).

    Raises:
        BackupError: the database is not migrated to the newest revision, or ``path`` cannot
            be written.
    """
    path = Path(path)
    if path.is_dir():
        raise BackupError(f"{path} is a folder; name the archive file to write")
    try:
        with _snapshot(engine) as connection, connection.begin():
            revision = current_revision(connection)
            if revision != head_revision(engine):
                raise BackupError(
                    f"the database is at revision {revision or 'none'}, not the newest "
                    f"({head_revision(engine)}): run `tessera init` first, then back up"
                )
            summaries = _write_archive(connection, path, revision, now=now, progress=progress)
    except (DBAPIError, StatementError) as e:
        raise BackupError(f"backing up failed, no archive was written: {_reason(e)}") from e
    return BackupSummary(path, revision, tuple(summaries))


def _write_archive(
    connection: Connection, path: Path, revision: str, *, now: datetime, progress: Progress | None
) -> list[TableSummary]:
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".partial", dir=path.parent.resolve()
        )
    except OSError as e:
        raise BackupError(f"cannot write into {path.parent}: {e.strerror}") from e
    entries: list[dict[str, Any]] = []
    try:
        os.fchmod(handle, 0o600)  # names, e-mail addresses and password hashes
        with os.fdopen(handle, "wb") as raw:
            with zipfile.ZipFile(
                raw, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True
            ) as archive:
                entries = [_write_table(connection, archive, t, progress) for t in tables()]
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "alembic_revision": revision,
                    "created_at": now.isoformat(),
                    "source_engine": connection.dialect.name,
                    "private_keys": "encrypted under TESSERA_KEK, exactly as stored; "
                    "the KEK is not in this archive",
                    "tables": entries,
                }
                archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
            # After the ZIP's central directory is written, before the archive takes its name.
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return [TableSummary(e["name"], e["rows"]) for e in entries]


def _write_table(
    connection: Connection, archive: zipfile.ZipFile, table: Table, progress: Progress | None
) -> dict[str, Any]:
    columns = [c.name for c in table.c]
    encoders = [_encoder(table, name) for name in columns]
    total = connection.scalar(select(func.count()).select_from(table)) or 0
    member = f"tables/{table.name}.jsonl"
    digest = hashlib.sha256()
    written = 0
    # Primary-key order: a row that refers to an earlier row of its own table (an
    # achievement's previous version) is restored after it.
    query = select(table).order_by(*table.primary_key.columns)
    result = connection.execution_options(yield_per=BATCH_ROWS).execute(query)
    with archive.open(member, "w", force_zip64=True) as out:
        for batch in result.partitions():
            chunk = b"".join(
                json.dumps(
                    [encode(value) for encode, value in zip(encoders, row, strict=True)],
                    ensure_ascii=False,
                    separators=(",", ":"),
                ).encode("utf-8")
                + b"\n"
                for row in batch
            )
            out.write(chunk)
            digest.update(chunk)
            written += len(batch)
            if progress is not None:
                progress(table.name, written, max(total, written))
    if progress is not None and written == 0:
        progress(table.name, 0, 0)
    return {
        "name": table.name,
        "file": member,
        "columns": columns,
        "rows": written,
        "sha256": digest.hexdigest(),
    }


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Manifest:
    revision: str
    created_at: str
    source_engine: str
    tables: tuple[dict[str, Any], ...]

    @property
    def rows(self) -> int:
        return sum(int(t["rows"]) for t in self.tables)


def _open_archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError as e:
        raise BackupError(f"{path} does not exist") from e
    except (zipfile.BadZipFile, OSError) as e:
        raise ForeignArchiveError(
            f"{path} is not a Tessera backup (not a ZIP archive made by `tessera backup`)"
        ) from e


def read_manifest(archive: zipfile.ZipFile, path: Path) -> Manifest:
    """The archive's manifest, checked against this version's tables.

    Raises:
        ForeignArchiveError: not a Tessera backup, or of other tables than this version's.
        DamagedArchiveError: the manifest itself is unreadable.
    """
    try:
        raw = archive.read(MANIFEST)
    except KeyError as e:
        raise ForeignArchiveError(f"{path} is not a Tessera backup (it has no {MANIFEST})") from e
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DamagedArchiveError(f"{path} is damaged: its manifest cannot be read") from e
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise DamagedArchiveError(f"{path} is damaged: its manifest is not JSON") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ForeignArchiveError(f"{path} is not a Tessera backup (its manifest says otherwise)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ForeignArchiveError(
            f"{path} is a Tessera backup in format {manifest.get('format_version')!r}; this "
            f"version reads format {FORMAT_VERSION}"
        )
    entries = manifest.get("tables")
    expected = {t.name: [c.name for c in t.c] for t in tables()}
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise DamagedArchiveError(f"{path} is damaged: its manifest lists no tables")
    found = {e.get("name"): e.get("columns") for e in entries}
    if found != expected:
        raise ForeignArchiveError(
            f"{path} holds the tables of another Tessera version (schema revision "
            f"{manifest.get('alembic_revision')!r}); restore it with that version"
        )
    return Manifest(
        revision=str(manifest.get("alembic_revision")),
        created_at=str(manifest.get("created_at")),
        source_engine=str(manifest.get("source_engine")),
        tables=tuple(entries),
    )


def _check_members(archive: zipfile.ZipFile, manifest: Manifest, path: Path) -> None:
    """Every data file present, with its recorded checksum and row count, before any write."""
    for entry in manifest.tables:
        digest = hashlib.sha256()
        lines = 0
        try:
            with archive.open(str(entry["file"])) as member:
                while chunk := member.read(1 << 20):
                    digest.update(chunk)
                    lines += chunk.count(b"\n")
        except KeyError as e:
            raise DamagedArchiveError(
                f"{path} is damaged: the rows of table {entry['name']} are missing"
            ) from e
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise DamagedArchiveError(
                f"{path} is damaged: the rows of table {entry['name']} cannot be read ({e})"
            ) from e
        if digest.hexdigest() != entry.get("sha256") or lines != entry.get("rows"):
            raise DamagedArchiveError(
                f"{path} is damaged: the rows of table {entry['name']} do not match the "
                "checksum in its manifest"
            )


def _rows(member: IO[bytes], table: Table, columns: list[str]) -> Iterator[dict[str, Any]]:
    decoders = [_decoder(table, name) for name in columns]
    for number, line in enumerate(io.TextIOWrapper(member, encoding="utf-8"), start=1):
        try:
            values = json.loads(line)
            if not isinstance(values, list) or len(values) != len(columns):
                raise ValueError("wrong number of columns")
            yield {
                name: decode(value)
                for name, decode, value in zip(columns, decoders, values, strict=True)
            }
        except (ValueError, TypeError) as e:
            raise DamagedArchiveError(
                f"row {number} of table {table.name} cannot be read: {e}"
            ) from e


# -- restoring -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreSummary:
    revision: str
    tables: tuple[TableSummary, ...]
    deleted: int  # rows that were in the database before (--force)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def inspect_archive(path: Path, *, verify_rows: bool = True) -> Manifest:
    """Check an archive without touching a database: its manifest, and every checksum.

    ``verify_rows=False`` reads only the manifest (quick, for showing what is in it).

    Raises:
        BackupError: it is missing, damaged or not a Tessera backup of this version.
    """
    with _open_archive(path) as archive:
        manifest = read_manifest(archive, path)
        if verify_rows:
            _check_members(archive, manifest, path)
    return manifest


def count_rows(connection: Connection) -> int:
    return sum(
        connection.scalar(select(func.count()).select_from(table)) or 0 for table in tables()
    )


def restore_backup(
    engine: Engine,
    path: Path,
    *,
    now: datetime,
    force: bool = False,
    progress: Progress | None = None,
) -> RestoreSummary:
    """Load the archive ``path`` into the database behind ``engine``, all or nothing.

    The archive is checked completely first; then the database is migrated to the newest
    revision; then, in one transaction, every row is inserted (after deleting every row
    already there when ``force``), PostgreSQL sequences are moved past the restored ids, and
    a ``backup.restored`` audit event is appended.

    Raises:
        BackupError: the archive is missing, damaged, foreign or of another schema revision
            (``ForeignArchiveError``, ``DamagedArchiveError``); the database is not empty and
            ``force`` is false (``DatabaseNotEmptyError``); or a row cannot be written. In
            every case the database's rows are as they were.
    """
    path = Path(path)
    with _open_archive(path) as archive:
        manifest = read_manifest(archive, path)
        head = head_revision(engine)
        if manifest.revision != head:
            raise ForeignArchiveError(
                f"{path} was made at schema revision {manifest.revision}; this version of "
                f"Tessera is at {head}. Restore it with the version that made it, then upgrade"
            )
        _check_members(archive, manifest, path)
        try:
            migrate.upgrade(engine)
            connection = engine.connect().execution_options(**{WRITE_OPTION: True})
        except (DBAPIError, StatementError) as e:
            raise BackupError(
                f"the database cannot be reached or migrated, nothing was restored: {_reason(e)}"
            ) from e
        try:
            with connection.begin():
                deleted = count_rows(connection)
                if deleted and not force:
                    raise DatabaseNotEmptyError(
                        f"the database already holds {deleted} rows; restore into an empty "
                        "database, or add --force to DELETE every row in it first"
                    )
                if deleted:
                    for table in reversed(tables()):
                        connection.execute(table.delete())
                restored = tuple(
                    _load_table(connection, archive, entry, progress)
                    for entry in _in_dependency_order(manifest)
                )
                _reset_sequences(connection)
                _record_restore(connection, manifest, now=now)
        except (DBAPIError, StatementError) as e:
            raise BackupError(
                f"restoring {path} failed and nothing was written: {_reason(e)}"
            ) from e
        except SQLAlchemyError as e:
            raise BackupError(f"restoring {path} failed and nothing was written: {e}") from e
        finally:
            connection.close()
    return RestoreSummary(manifest.revision, restored, deleted)


def _reason(error: DBAPIError | StatementError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)


def _in_dependency_order(manifest: Manifest) -> list[dict[str, Any]]:
    by_name = {entry["name"]: entry for entry in manifest.tables}
    return [by_name[table.name] for table in tables()]


def _load_table(
    connection: Connection,
    archive: zipfile.ZipFile,
    entry: dict[str, Any],
    progress: Progress | None,
) -> TableSummary:
    table = metadata.tables[entry["name"]]
    total = int(entry["rows"])
    done = 0
    with archive.open(str(entry["file"])) as member:
        batch: list[dict[str, Any]] = []
        for row in _rows(member, table, list(entry["columns"])):
            batch.append(row)
            if len(batch) == BATCH_ROWS:
                connection.execute(table.insert(), batch)
                done += len(batch)
                batch = []
                if progress is not None:
                    progress(table.name, done, total)
        if batch:
            connection.execute(table.insert(), batch)
            done += len(batch)
    if progress is not None:
        progress(table.name, done, total)
    return TableSummary(table.name, done)


def _reset_sequences(connection: Connection) -> None:
    """Move each PostgreSQL id sequence past the restored ids, so new rows do not collide.

    SQLite needs nothing: it takes the next rowid from the largest one present.
    """
    if connection.dialect.name != "postgresql":
        return
    for table in tables():
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer):
                continue
            sequence = func.pg_get_serial_sequence(table.name, column.name)
            next_id = func.coalesce(func.max(column), 0) + 1
            connection.execute(select(func.setval(sequence, next_id, False)))


def _record_restore(connection: Connection, manifest: Manifest, *, now: datetime) -> None:
    with Session(bind=connection) as session:
        record_event(
            session,
            action="backup.restored",
            subject="instance",
            now=now,
            details={
                "backup_created_at": manifest.created_at,
                "source_engine": manifest.source_engine,
                "rows": manifest.rows,
            },
        )
