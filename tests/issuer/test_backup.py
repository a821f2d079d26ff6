"""``tessera backup`` / ``tessera restore``: the drill an operator runs, on real databases.

Each test fills a real database through the services (centres, rotated keys, issued and
revoked credentials, staff), backs it up, and restores into a fresh database: the restored
instance must verify everything it verified before and go on issuing. SQLite by default; the
``postgres`` tests also go SQLite -> PostgreSQL -> SQLite.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from issuer import accounts, backup, doctor, migrate, services
from issuer.app import create_app
from issuer.audit import verify_chain
from issuer.cli import cli
from issuer.clock import utcnow
from issuer.models import Achievement, IssuedCredential, Organisation
from keys import KeyDecryptionError, SigningKey
from keys.crypto import decrypt_private_key
from verifier import Verdict
from verifier.backend import verify_any

from ..conftest import app_config

POSTGRES = os.environ.get("TESSERA_TEST_DATABASE_URL")
needs_postgres = pytest.mark.skipif(
    not POSTGRES, reason="needs PostgreSQL: set TESSERA_TEST_DATABASE_URL"
)


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[object]:
    """Apps on given databases, sharing one KEK unless told otherwise (like one instance)."""
    base = app_config(tmp_path / "instance", "sqlite://")
    built: list[Flask] = []

    def make(database_url: str, **overrides: object) -> Flask:
        app = create_app({**base, "DATABASE_URL": database_url, **overrides})
        built.append(app)
        return app

    yield make
    for app in built:
        app.extensions["tessera.engine"].dispose()


def engine_of(app: Flask) -> Engine:
    return app.extensions["tessera.engine"]  # type: ignore[no-any-return]


def session_of(app: Flask) -> Session:
    return app.extensions["tessera.sessionmaker"]()  # type: ignore[no-any-return]


def sqlite_url(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


def populate(app: Flask) -> None:
    """A small instance with a history: rotated keys, revoked credentials, staff."""
    engine = engine_of(app)
    migrate.upgrade(engine)
    kek = app.config["KEK_FERNET"]
    public_url = app.config["PUBLIC_URL"]
    now = utcnow()
    with session_of(app) as db:
        services.ensure_instance_keys(db, kek, public_url=public_url, now=now)
        web = services.create_organisation(
            db,
            kek,
            slug="northside",
            name="Northside Skills Centre",
            public_url=public_url,
            now=now,
        )
        offline = services.create_organisation(
            db,
            kek,
            slug="southside",
            name="Southside Training",
            public_url=public_url,
            now=now,
            did_method="key",
            jwt_algorithm="EdDSA",
        )
        accounts.create_user(
            db,
            email="admin@northside.example",
            name="Ada Admin",
            password="correct horse battery staple",
            now=now,
            organisation=web,
        )
        for centre in (web, offline):
            welding = services.create_achievement(
                db,
                organisation=centre,
                name=f"Perform MAG welding at {centre.name}",
                description="Welds steel.",
                criteria="Passed bend tests.",
                achievement_type="ext:JobTask",
                skills=[],
                now=now,
            )
            for n in range(3):
                services.issue_credential(
                    db,
                    kek,
                    organisation=centre,
                    achievement=welding,
                    name=f"Learner {n}",
                    email=f"learner{n}@example.org",
                    public_url=public_url,
                    now=now,
                )
        first = db.scalars(select(IssuedCredential).order_by(IssuedCredential.id)).first()
        services.revoke_credential(db, first, reason="Issued by mistake", now=now)
        services.rotate_keys(db, kek, web, now=now)
        later = services.get_achievement(db, web, welding_of(db, web))
        services.issue_credential(
            db,
            kek,
            organisation=web,
            achievement=later,
            name="After Rotation",
            email="after@example.org",
            public_url=public_url,
            now=now,
        )


def welding_of(db: Session, centre: Organisation) -> str:
    return db.scalars(
        select(Achievement.public_id).where(Achievement.organisation_id == centre.id)
    ).one()


def every_row(app: Flask) -> dict[str, list[tuple[object, ...]]]:
    with engine_of(app).connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in backup.tables()
        }


def verdicts(app: Flask) -> dict[str, tuple[Verdict, Verdict]]:
    """Each credential's verdict, for both proof forms, through the instance's verifier."""
    with app.app_context(), session_of(app) as db:
        records = db.scalars(select(IssuedCredential).order_by(IssuedCredential.id)).all()
        return {
            r.credential_id: (verify_any(r.jwt).verdict, verify_any(r.document).verdict)
            for r in records
        }


def issue_one_more(app: Flask) -> IssuedCredential:
    with session_of(app) as db:
        centre = services.get_organisation(db, "northside")
        achievement = services.get_achievement(db, centre, welding_of(db, centre))
        return services.issue_credential(
            db,
            app.config["KEK_FERNET"],
            organisation=centre,
            achievement=achievement,
            name="New Learner",
            email="new@example.org",
            public_url=app.config["PUBLIC_URL"],
            now=utcnow(),
        ).record


def problems(app: Flask) -> list[doctor.Finding]:
    with app.app_context():
        report = doctor.diagnose(app, now=utcnow())
    return [f for f in report.findings if f.level == doctor.Level.PROBLEM]


def round_trip(make_app, tmp_path: Path, source_url: str, target_url: str) -> tuple[Flask, Flask]:  # type: ignore[no-untyped-def]
    source = make_app(source_url)
    populate(source)
    archive = tmp_path / "tessera.backup"
    backup.write_backup(engine_of(source), archive, now=utcnow())
    target = make_app(target_url)
    backup.restore_backup(engine_of(target), archive, now=utcnow())
    return source, target


def assert_restored_instance_works(source: Flask, target: Flask) -> None:
    before = verdicts(source)
    assert list(before.values()).count((Verdict.REVOKED, Verdict.REVOKED)) == 1
    assert list(before.values()).count((Verdict.VALID, Verdict.VALID)) == len(before) - 1
    assert verdicts(target) == before
    assert problems(target) == []
    with session_of(target) as db:
        count, broken = verify_chain(db)
        assert broken is None and count > 0
        taken = set(
            db.execute(select(IssuedCredential.status_list_id, IssuedCredential.status_index))
        )
        largest_id = db.scalar(select(func.max(IssuedCredential.id)))
    new = issue_one_more(target)
    assert new.id > largest_id
    assert (new.status_list_id, new.status_index) not in taken
    assert verdicts(target)[new.credential_id] == (Verdict.VALID, Verdict.VALID)


# -- the drill -----------------------------------------------------------------------------


def test_a_restored_instance_verifies_everything_and_issues_again(
    make_app, tmp_path, database_factory
):
    source, target = round_trip(make_app, tmp_path, database_factory(), database_factory())
    before, after = every_row(source), every_row(target)
    restored_event = after["audit_event"].pop()
    assert restored_event[4] == "backup.restored"  # the restore is itself on the record
    assert after == before
    assert_restored_instance_works(source, target)


def test_the_archive_never_holds_the_kek_or_a_private_key(make_app, tmp_path):
    source = make_app(sqlite_url(tmp_path, "a.db"))
    populate(source)
    archive = tmp_path / "tessera.backup"
    backup.write_backup(engine_of(source), archive, now=utcnow())

    kek_text = source.config["KEK"]
    needles = {"the KEK": kek_text.encode(), "the secret key": source.config["SECRET_KEY"].encode()}
    for part in kek_text.split(","):
        raw = base64.urlsafe_b64decode(part)
        needles["a KEK's signing half"] = raw[:16]
        needles["a KEK's encryption half"] = raw[16:]
    with session_of(source) as db:
        stored = db.scalars(select(SigningKey)).all()
        assert {r.algorithm for r in stored} >= {"EdDSA", "RS256"}
        for record in stored:
            key = decrypt_private_key(source.config["KEK_FERNET"], record.encrypted_private_key)
            der = key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            name = record.key_id
            needles[f"{name} as PKCS#8 DER"] = der
            needles[f"{name} as PEM"] = pem.splitlines()[1]
            needles[f"{name} as base64 DER"] = base64.b64encode(der)[8:72]
            needles[f"{name} as hex DER"] = der.hex()[16:80].encode()
            if isinstance(key, ed25519.Ed25519PrivateKey):
                seed = key.private_bytes_raw()
                needles[f"{name} seed"] = seed
                needles[f"{name} seed, base64url"] = base64.urlsafe_b64encode(seed).rstrip(b"=")
            if isinstance(key, rsa.RSAPrivateKey):
                d = key.private_numbers().d
                d_bytes = d.to_bytes((d.bit_length() + 7) // 8, "big")
                needles[f"{name} private exponent"] = d_bytes
                needles[f"{name} private exponent, base64url"] = base64.urlsafe_b64encode(
                    d_bytes
                ).rstrip(b"=")[:64]
    contents = {"the archive file": archive.read_bytes()}
    with zipfile.ZipFile(archive) as opened:
        assert all(n == backup.MANIFEST or n.startswith("tables/") for n in opened.namelist())
        contents |= {name: opened.read(name) for name in opened.namelist()}
    # Every encrypted key is there, exactly as stored: the keys were backed up, not dropped.
    for record in stored:
        assert (
            base64.b64encode(record.encrypted_private_key) in contents["tables/signing_key.jsonl"]
        )
    leaks = [
        f"{what} in {where}"
        for where, data in contents.items()
        for what, needle in needles.items()
        if needle in data
    ]
    assert leaks == []
    assert archive.stat().st_mode & 0o077 == 0


# -- refusals ------------------------------------------------------------------------------


@pytest.fixture
def archive_and_target(make_app, tmp_path, database_factory):  # type: ignore[no-untyped-def]
    """An archive of a populated instance, an empty database, and the instance."""
    source = make_app(database_factory())
    populate(source)
    archive = tmp_path / "tessera.backup"
    backup.write_backup(engine_of(source), archive, now=utcnow())
    return archive, make_app(database_factory()), source


def rewrite(archive: Path, out: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """A copy of ``archive`` with ``change(name, data) -> data`` applied to every member."""
    with zipfile.ZipFile(archive) as old, zipfile.ZipFile(out, "w") as new:
        for name in old.namelist():
            new.writestr(name, change(name, old.read(name)))
    return out


def rows_in(app: Flask) -> int:
    with engine_of(app).connect() as connection:
        if backup.current_revision(connection) is None:
            return 0
        return backup.count_rows(connection)


def test_a_non_empty_database_is_refused_unless_forced(archive_and_target):
    archive, _, source = archive_and_target
    before = every_row(source)
    with pytest.raises(backup.DatabaseNotEmptyError, match="--force to DELETE every row"):
        backup.restore_backup(engine_of(source), archive, now=utcnow())
    assert every_row(source) == before

    issue_one_more(source)  # now the database differs from the archive
    there = rows_in(source)
    summary = backup.restore_backup(engine_of(source), archive, now=utcnow(), force=True)
    assert summary.deleted == there > sum(map(len, before.values()))
    after = every_row(source)
    after["audit_event"].pop()
    assert after == before


def test_damaged_foreign_and_other_version_archives_are_refused_and_change_nothing(
    archive_and_target, tmp_path
):
    archive, target, _ = archive_and_target

    def flip(name: str, data: bytes) -> bytes:
        if name != "tables/issued_credential.jsonl":
            return data
        at = data.index(b"Learner 1")
        return data[:at] + b"Learner 7" + data[at + 9 :]

    damaged = rewrite(archive, tmp_path / "damaged.zip", flip)
    with pytest.raises(backup.DamagedArchiveError, match="issued_credential do not match"):
        backup.restore_backup(engine_of(target), damaged, now=utcnow())

    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(backup.ForeignArchiveError, match="not a Tessera backup"):
        backup.restore_backup(engine_of(target), truncated, now=utcnow())

    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("README.txt", "holiday photos")
    with pytest.raises(backup.ForeignArchiveError, match=r"has no manifest\.json"):
        backup.restore_backup(engine_of(target), other, now=utcnow())

    def earlier_revision(name: str, data: bytes) -> bytes:
        if name != backup.MANIFEST:
            return data
        return json.dumps({**json.loads(data), "alembic_revision": "0001"}).encode()

    older = rewrite(archive, tmp_path / "older.zip", earlier_revision)
    with pytest.raises(backup.ForeignArchiveError, match="made at schema revision 0001"):
        backup.restore_backup(engine_of(target), older, now=utcnow())
    assert rows_in(target) == 0


def test_a_row_that_cannot_be_written_leaves_nothing_written(archive_and_target, tmp_path):
    """Checksums fine, but a late table repeats a row: the whole restore rolls back."""
    archive, target, _ = archive_and_target
    with zipfile.ZipFile(archive) as z:
        manifest = json.loads(z.read(backup.MANIFEST))
        rows = z.read("tables/issued_credential.jsonl")
    duplicated = rows + rows.splitlines(keepends=True)[0]
    for entry in manifest["tables"]:
        if entry["name"] == "issued_credential":
            entry["rows"] += 1
            entry["sha256"] = hashlib.sha256(duplicated).hexdigest()

    def change(name: str, data: bytes) -> bytes:
        if name == backup.MANIFEST:
            return json.dumps(manifest).encode()
        return duplicated if name == "tables/issued_credential.jsonl" else data

    forged = rewrite(archive, tmp_path / "forged.zip", change)
    with pytest.raises(backup.BackupError, match="nothing was written"):
        backup.restore_backup(engine_of(target), forged, now=utcnow())
    assert rows_in(target) == 0


# -- another KEK ---------------------------------------------------------------------------


def test_with_another_kek_restore_succeeds_but_doctor_and_issuing_say_why_not(
    archive_and_target, make_app, database_factory
):
    archive, _, source = archive_and_target
    stranger = make_app(database_factory(), KEK=Fernet.generate_key().decode())
    result = stranger.test_cli_runner().invoke(cli, ["restore", str(archive)])
    assert result.exit_code == 0, result.output
    assert "signing keys cannot be decrypted with the configured TESSERA_KEK" in result.output

    found = problems(stranger)
    assert found[0].check == "signing keys"
    assert "cannot be used with the configured TESSERA_KEK" in found[0].message
    assert {f.check for f in found} >= {"centre northside", "centre southside"}
    # Verifying needs only public keys: what was issued still verifies.
    assert verdicts(stranger) == verdicts(source)
    with pytest.raises(KeyDecryptionError, match="TESSERA_KEK does not contain the key"):
        issue_one_more(stranger)

    doctor_run = stranger.test_cli_runner().invoke(cli, ["doctor"])
    assert doctor_run.exit_code == 1
    assert "PROBLEM" in doctor_run.output
    assert stranger.config["KEK"] not in doctor_run.output


# -- streaming and the command -------------------------------------------------------------


def test_large_tables_stream_in_batches_with_progress(archive_and_target, monkeypatch, tmp_path):
    _, target, source = archive_and_target
    monkeypatch.setattr(backup, "BATCH_ROWS", 2)
    seen: list[tuple[str, int, int]] = []
    again = tmp_path / "again.backup"
    backup.write_backup(engine_of(source), again, now=utcnow(), progress=lambda *p: seen.append(p))
    assert [p for p in seen if p[0] == "issued_credential"] == [
        ("issued_credential", 2, 7),
        ("issued_credential", 4, 7),
        ("issued_credential", 6, 7),
        ("issued_credential", 7, 7),
    ]
    loaded: list[tuple[str, int, int]] = []
    backup.restore_backup(
        engine_of(target), again, now=utcnow(), progress=lambda *p: loaded.append(p)
    )
    assert [p[1] for p in loaded if p[0] == "issued_credential"] == [2, 4, 6, 7]
    assert every_row(target)["issued_credential"] == every_row(source)["issued_credential"]


def test_the_commands_back_up_and_restore(archive_and_target, tmp_path):
    _, target, source = archive_and_target
    out = tmp_path / "by-command.backup"
    made = source.test_cli_runner().invoke(cli, ["backup", str(out)])
    assert made.exit_code == 0, made.output
    assert "to " + str(out) in made.output and "no KEK" in made.output
    restored = target.test_cli_runner().invoke(cli, ["restore", str(out)])
    assert restored.exit_code == 0, restored.output
    assert "Restored" in restored.output and "WARNING" not in restored.output
    again = target.test_cli_runner().invoke(cli, ["restore", str(out)])
    assert again.exit_code == 1
    assert "already holds" in again.output and "--force" in again.output
    forced = target.test_cli_runner().invoke(cli, ["restore", "--force", str(out)])
    assert forced.exit_code == 0, forced.output
    assert "every row now in" in forced.output
    missing = target.test_cli_runner().invoke(cli, ["restore", str(tmp_path / "nope.zip")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert "Traceback" not in missing.output


# -- PostgreSQL ----------------------------------------------------------------------------


def _postgres_url(database_factory) -> str:  # type: ignore[no-untyped-def]
    url = database_factory()
    if not url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: set TESSERA_TEST_DATABASE_URL")
    return url  # type: ignore[no-any-return]


@pytest.mark.postgres
@needs_postgres
def test_sqlite_to_postgresql_and_back(make_app, tmp_path, database_factory):
    source, on_postgres = round_trip(
        make_app, tmp_path, sqlite_url(tmp_path, "a.db"), _postgres_url(database_factory)
    )
    expected = every_row(source)
    restored = every_row(on_postgres)
    assert restored["audit_event"].pop()[4] == "backup.restored"
    assert restored == expected
    assert_restored_instance_works(source, on_postgres)

    back = tmp_path / "from-postgres.backup"
    backup.write_backup(engine_of(on_postgres), back, now=utcnow())
    on_sqlite = make_app(sqlite_url(tmp_path, "c.db"))
    backup.restore_backup(engine_of(on_sqlite), back, now=utcnow())
    again = every_row(on_sqlite)
    again["audit_event"].pop()
    assert again == every_row(on_postgres)
    assert problems(on_sqlite) == []


@pytest.mark.postgres
@needs_postgres
def test_postgresql_restore_is_all_or_nothing_and_forced_restore_resets_sequences(
    make_app, tmp_path, database_factory
):
    source = make_app(_postgres_url(database_factory))
    populate(source)
    archive = tmp_path / "pg.backup"
    backup.write_backup(engine_of(source), archive, now=utcnow())
    for _ in range(3):
        issue_one_more(source)  # ids beyond the archive's
    backup.restore_backup(engine_of(source), archive, now=utcnow(), force=True)
    new = issue_one_more(source)
    with session_of(source) as db:
        assert db.scalar(select(func.count()).select_from(IssuedCredential)) == 8
        assert new.id == max(r[0] for r in every_row(source)["issued_credential"])
    assert problems(source) == []


def test_an_unreachable_database_is_a_message_not_a_traceback(make_app, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    away = make_app(f"postgresql+psycopg://tessera:pw-never-shown@127.0.0.1:{port}/tessera")
    out = tmp_path / "never.backup"
    made = away.test_cli_runner().invoke(cli, ["backup", str(out)])
    assert made.exit_code == 1
    assert "backing up failed, no archive was written" in made.output
    assert not out.exists() and list(tmp_path.glob("*.partial")) == []
    assert "pw-never-shown" not in made.output and "Traceback" not in made.output
