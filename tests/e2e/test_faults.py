"""When the database goes away or fills up, issuing answers a clear 503 and recovers by itself.

Two real faults, no mocks:

- PostgreSQL unreachable: the app reaches PostgreSQL through a TCP relay on loopback that the
  test cuts (every open connection dropped, new ones refused) and restores: the network edge
  between the service and its database.
- Disk full on SQLite: SQLite's own limit, ``PRAGMA max_page_count``, set on every connection
  the app takes from its pool; at the current size, the next write fails with SQLITE_FULL
  ("database or disk is full"), exactly as on a full disk. Raising it is "space was freed".

Each time: the issuing API answers 503 problem+json with ``Retry-After`` and a message a
person can act on, a browser gets the 503 error page (never a 500 or a trace), nothing is
half-written (credentials, status lists and audit events counted before and after), and the
next request after the fault ends succeeds without restarting the app.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from issuer.app import create_app
from issuer.audit import verify_chain
from issuer.db import make_engine
from issuer.models import AuditEvent, IssuedCredential, StatusList

from .instance import seeded

PUBLIC_URL = "https://faults.test"
PROBLEM = "application/problem+json"


# -- a relay that stands for the network between the service and PostgreSQL -----------------


class Relay:
    """Forwards loopback TCP connections to ``target``; ``cut`` and ``restore`` the link.

    ``cut`` closes the listening socket (new connections are refused) and every relayed
    connection (the server's side vanishes mid-conversation, as when a database restarts).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        if self._listener is not None:
            _close(self._listener)  # shutdown first: a bare close leaves accept() listening
            self._listener = None
        with self._lock:
            for connection in self._open:
                _close(connection)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {source, sink}
            _close(source)
            _close(sink)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()


# -- an instance with a centre, an achievement and an API token ------------------------------


@dataclass
class Instance:
    app: Flask
    client: FlaskClient
    achievement: str
    token: str
    public_id: str  # of a credential issued while all was well

    def issue(self, name: str, key: str) -> Any:
        return self.client.post(
            "/api/v1/credentials",
            json={"achievement": self.achievement, "name": name, "email": f"{key}@example.org"},
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": key},
        )


def _config(tmp_path: Path, database_url: str) -> dict[str, object]:
    return {
        "INSTANCE": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "KEK": Fernet.generate_key().decode(),
        "PUBLIC_URL": PUBLIC_URL,
        "RATELIMIT_ENABLED": False,
    }


def _instance(app: Flask) -> Instance:
    """A centre, an achievement, an issuing token and one credential, through the app's engine."""
    with seeded(app, token_name="faults", scopes=["issue", "read"]) as made:
        achievement_id = made.achievement.public_id
    instance = Instance(app, app.test_client(), achievement_id, made.token, "")
    first = instance.issue("Amina Haddad", "before-the-fault")
    assert first.status_code == HTTPStatus.CREATED, first.get_json()
    instance.public_id = first.get_json()["id"]
    return instance


def _written(engine: Engine) -> tuple[int, int, tuple[tuple[int, int, bytes], ...]]:
    """Credentials, audit events, and every status list's allocation and bits."""
    with Session(engine) as session:
        lists = session.execute(
            select(StatusList.allocated, StatusList.version, StatusList.bits).order_by(
                StatusList.id
            )
        ).all()
        return (
            session.scalar(select(func.count()).select_from(IssuedCredential)) or 0,
            session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            tuple((a, v, bytes(b)) for a, v, b in lists),
        )


def _assert_unavailable(response: Any, code: str, *, says: str) -> None:
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["code"] == code
    assert body["status"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "nothing was issued" in body["detail"]
    assert says in body["detail"]
    assert int(response.headers["Retry-After"]) > 0
    assert "Traceback" not in response.get_data(as_text=True)


def _assert_error_page(response: Any, says: str) -> None:
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "The service is unavailable for a moment" in page
    assert says in page
    assert "Traceback" not in page
    assert int(response.headers["Retry-After"]) > 0


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


# -- PostgreSQL goes away and comes back -----------------------------------------------------


@pytest.fixture
def relayed_postgres(tmp_path: Path, database_factory: Any) -> Iterator[tuple[Relay, str, str]]:
    """(relay, the app's URL through the relay, the direct URL) for a fresh schema."""
    if not os.environ.get("TESSERA_TEST_DATABASE_URL"):
        pytest.skip("needs PostgreSQL: set TESSERA_TEST_DATABASE_URL")
    direct = database_factory()
    target = make_url(direct)
    relay = Relay((target.host or "127.0.0.1", target.port or 5432))
    relay.restore()
    relayed = target.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    yield relay, relayed, direct
    relay.cut()


@pytest.mark.postgres
def test_postgresql_unreachable_gives_503_writes_nothing_and_recovers(
    tmp_path, relayed_postgres, caplog
):
    relay, relayed, direct = relayed_postgres
    app = create_app(_config(tmp_path, relayed))
    observer = make_engine(direct)  # the test's own view, around the relay
    try:
        instance = _instance(app)
        before = _written(observer)

        relay.cut()  # pooled connections die, new ones are refused
        answer = instance.issue("Yusuf Demir", "during-the-outage")
        _assert_unavailable(answer, "database-unavailable", says="try again")
        page = instance.client.get(f"/v/{instance.public_id}", headers=BROWSER)
        _assert_error_page(page, "could not reach its database")
        health = instance.client.get("/healthz")
        assert health.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert _written(observer) == before  # nothing half-written

        relay.restore()  # the database is back; the app is not restarted
        again = instance.issue("Yusuf Demir", "during-the-outage")
        # The same Idempotency-Key issues afresh (201, not a 200 replay): nothing was kept.
        assert again.status_code == HTTPStatus.CREATED, again.get_json()
        assert instance.client.get(f"/v/{instance.public_id}", headers=BROWSER).status_code == 200
        credentials, events, _ = _written(observer)
        assert credentials == before[0] + 1
        assert events > before[1]
        with Session(observer) as session:
            assert verify_chain(session)[1] is None
    finally:
        app.extensions["tessera.engine"].dispose()
        observer.dispose()
    unavailable = [r for r in caplog.records if "database-unavailable" in r.getMessage()]
    assert unavailable, "the outage was not logged"
    assert all(r.exc_info is None for r in unavailable)  # one line each, no trace


# -- SQLite runs out of space, then space is freed -------------------------------------------


class PageLimit:
    """``PRAGMA max_page_count`` on every connection the app checks out: a disk of set size."""

    def __init__(self, engine: Engine) -> None:
        self.pages: int | None = None
        event.listen(engine, "checkout", self._apply)

    def _apply(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        # SQLite never lowers the limit below the current size, so "no limit" is its maximum.
        cursor.execute(f"PRAGMA max_page_count = {self.pages or 4294967294}")
        cursor.close()


def test_sqlite_disk_full_gives_503_writes_nothing_and_recovers(tmp_path, caplog):
    database = tmp_path / "instance" / "tessera.db"
    app = create_app(_config(tmp_path, f"sqlite:///{database}"))
    engine = app.extensions["tessera.engine"]
    limit = PageLimit(engine)
    observer = make_engine(f"sqlite:///{database}")
    try:
        instance = _instance(app)
        before = _written(observer)
        with observer.connect() as connection:
            size = connection.exec_driver_sql("PRAGMA page_count").scalar_one()

        limit.pages = size  # full: not one more page
        answer = instance.issue("Yusuf Demir", "while-full")
        _assert_unavailable(answer, "storage-full", says="free space")
        assert _written(observer) == before  # nothing half-written
        reading = instance.client.get(f"/v/{instance.public_id}", headers=BROWSER)
        assert reading.status_code == HTTPStatus.OK  # reading still works on a full disk

        limit.pages = None  # space freed; the app is not restarted
        again = instance.issue("Yusuf Demir", "while-full")
        assert again.status_code == HTTPStatus.CREATED, again.get_json()
        assert _written(observer)[0] == before[0] + 1
        with Session(observer) as session:
            assert verify_chain(session)[1] is None
    finally:
        engine.dispose()
        observer.dispose()
    full = [r for r in caplog.records if "storage-full" in r.getMessage()]
    assert len(full) == 1  # logged once, as one line
    assert full[0].exc_info is None
