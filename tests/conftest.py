"""Fixtures: an app per test on a real database, each test inside a rolled-back transaction.

The database is SQLite unless TESSERA_TEST_DATABASE_URL names a PostgreSQL server, in which
case every run gets its own schema there (dropped at the end), so runs never collide.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, MultiFernet
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from issuer import migrate, services
from issuer.app import create_app
from issuer.db import make_engine
from issuer.models import Achievement, Organisation
from issuer.status import LocalStatusSource
from verifier import verify_credential
from verifier.resolvers import instance_resolver
from verifier.status import StatusChain

from .helpers import NOW, WELDING_SKILL

PUBLIC_URL = "https://tessera.test"


def issue_to_amina(
    db: Session,
    kek: MultiFernet,
    organisation: Organisation,
    achievement: Achievement,
    now: datetime = NOW,
    **options: Any,
) -> services.Issued:
    """Issue ``achievement`` to Amina Haddad (amina@example.org), as a centre's staff would.

    ``options`` are issue_credential's other keywords (valid_until, evidence, external_id...).
    """
    return services.issue_credential(
        db,
        kek,
        organisation=organisation,
        achievement=achievement,
        name="Amina Haddad",
        email="amina@example.org",
        public_url=PUBLIC_URL,
        now=now,
        **options,
    )


def _postgres_url_with_schema(base_url: str, schema: str) -> str:
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Makes fresh, empty databases: SQLite files, or PostgreSQL schemas when configured."""
    base = os.environ.get("TESSERA_TEST_DATABASE_URL")
    created: list[str] = []

    def new_database() -> str:
        if not base:
            return f"sqlite:///{tmp_path_factory.mktemp('db') / 'tessera.db'}"
        schema = f"tessera_test_{secrets.token_hex(6)}"
        admin = create_engine(base)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        created.append(schema)
        return _postgres_url_with_schema(base, schema)

    yield new_database
    if base and created:
        admin = create_engine(base)
        # One transaction per schema: dropping every schema of a run at once takes a lock per
        # table of each, more than PostgreSQL's shared lock table holds by default
        # (max_locks_per_transaction) once a run has made a few dozen schemas.
        for schema in created:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(database_factory) -> str:  # type: ignore[no-untyped-def]
    return database_factory()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def now() -> datetime:
    return NOW


def app_config(instance: Path, database_url: str) -> dict[str, object]:
    return {
        "TESTING": True,
        "INSTANCE": str(instance),
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "KEK": Fernet.generate_key().decode(),
        "PUBLIC_URL": PUBLIC_URL,
        # Tests read verification counts right after verifying; the buffered mode a
        # deployment uses is tested on its own (tests/issuer/test_outcomes.py).
        "TALLY_FLUSH_SECONDS": 0,
    }


@pytest.fixture
def app(tmp_path: Path, database_url: str, engine: Engine) -> Iterator[Flask]:
    """The app, its sessions bound to one connection whose transaction is rolled back."""
    app = create_app(app_config(tmp_path / "instance", database_url))
    connection = engine.connect()
    outer = connection.begin()
    app.extensions["tessera.sessionmaker"] = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield app
    outer.rollback()
    connection.close()
    app.extensions["tessera.engine"].dispose()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    session = app.extensions["tessera.sessionmaker"]()
    yield session
    session.close()


@pytest.fixture
def kek(app: Flask):  # type: ignore[no-untyped-def]
    return app.config["KEK_FERNET"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def centre(db: Session, kek, now: datetime):  # type: ignore[no-untyped-def]
    """A did:web training centre (RS256 JWTs) on this instance."""
    return services.create_organisation(
        db, kek, slug="northside", name="Northside Skills Centre", public_url=PUBLIC_URL, now=now
    )


@pytest.fixture
def welding(db: Session, centre, now: datetime):  # type: ignore[no-untyped-def]
    """A job-task achievement of ``centre`` aligned to an ESCO skill."""
    return services.create_achievement(
        db,
        organisation=centre,
        name="Perform MAG welding",
        description="Welds steel.",
        criteria="Passed bend tests.",
        achievement_type="ext:JobTask",
        skills=[f"{WELDING_SKILL}=perform metal active gas welding"],
        now=now,
    )


@pytest.fixture
def verify_here(db: Session, now: datetime):  # type: ignore[no-untyped-def]
    """Verify as this instance does: its keys and status lists, trusting its own centres."""

    def verify(data, *, at: datetime | None = None, trusted=None):  # type: ignore[no-untyped-def]
        trusted = {o.did for o in services.list_organisations(db)} if trusted is None else trusted
        return verify_credential(
            data,
            resolver=instance_resolver(db),
            status=StatusChain([LocalStatusSource(db, PUBLIC_URL)]),
            now=at or now,
            trusted_issuers=trusted,
        )

    return verify


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Refuse every outbound connection and record the attempts (loopback stays allowed)."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("::1", "localhost")):
            return real_connect(self, address)  # type: ignore[arg-type]
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)  # type: ignore[arg-type]
        attempts.append(address)
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


#: Seconds a rate-limit test may take: it starts at least this far from a clock minute's end.
RATE_LIMIT_TEST_SECONDS = 5


@pytest.fixture
def clear_of_a_minute_boundary() -> None:
    """Start the test at least RATE_LIMIT_TEST_SECONDS before the current clock minute ends.

    The limiter counts in windows aligned to the clock (limits' sliding-window-counter). Just
    after a boundary the last window's count is weighted down and rounded, so one request more
    than an "N/minute" limit gets through: a test that fills a limit and expects the next
    request refused failed whenever a minute ended while it ran (about one run in sixty per
    second of test). Waiting out a minute's last seconds (in one test in twelve, at most 5 s)
    removes that.
    """
    left = 60 - time.time() % 60
    if left < RATE_LIMIT_TEST_SECONDS:
        time.sleep(left + 0.05)
