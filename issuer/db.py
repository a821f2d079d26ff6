"""Database engine and per-request sessions, bound to the app (flaskr's get_db pattern)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

# Import every model so the shared metadata knows all tables (Alembic and tests use it).
import issuer.models  # noqa: F401
import keys.models  # noqa: F401
from credentials.db import Base

from .errors import DatabaseUnavailableError, StorageFullError
from .unit_of_work import WRITE_OPTION

metadata = Base.metadata


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that
    # SAVEPOINTs and transactional DDL work (SQLAlchemy's documented pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; FULL fsyncs every commit, so an issued
    # credential survives a power cut; foreign keys are off in SQLite unless asked for.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Writers start as writers (see issuer/unit_of_work.py); readers stay deferred.
    immediate = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine with Tessera's settings for SQLite (embedded) or PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Learners' names and e-mail addresses: readable by the service's account only.
            # SQLite gives its -wal and -shm files the database file's permissions.
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # pre-ping: a connection the server dropped (restart, failover, network cut) is replaced
    # before use, so the first request after the database returns succeeds.
    return create_engine(url, pool_pre_ping=True)


#: The errors of a database that is down, unreachable, restarting or full, rather than of a
#: query that is wrong (those stay 500s: they are bugs, and retrying does not help).
UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)

#: PostgreSQL's SQLSTATE for "disk full" (class 53, insufficient resources).
_PG_DISK_FULL = "53100"


def is_storage_full(error: BaseException) -> bool:
    """SQLite's SQLITE_FULL (disk full or ``max_page_count`` reached), PostgreSQL's disk full."""
    original = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(original, sqlite3.Error):
        return getattr(original, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return getattr(original, "sqlstate", None) == _PG_DISK_FULL


def unavailable(
    error: SQLAlchemyError, *, writing: bool
) -> DatabaseUnavailableError | StorageFullError:
    """The error to answer with when the database could not do its part of a request.

    ``writing``: the request meant to change something (then the answer says that nothing
    was half-written: each write is one transaction, rolled back whole).
    """
    outcome = "nothing was issued, and no change was half-made" if writing else "nothing changed"
    if is_storage_full(error):
        return StorageFullError(
            f"the database is full (no space left to store data): {outcome}; an operator "
            "must free space or raise the limit, then try again"
        )
    return DatabaseUnavailableError(
        f"the database is unavailable: {outcome}; try again in a minute"
    )


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["tessera.engine"] = engine
    app.extensions["tessera.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(close_db)


def db() -> Session:
    """The session of the current request or CLI command."""
    if "db" not in g:
        g.db = current_app.extensions["tessera.sessionmaker"]()
    return g.db  # type: ignore[no-any-return]


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
