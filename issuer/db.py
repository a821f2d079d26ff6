"""Database engine and per-request sessions, bound to the app (flaskr's get_db pattern)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Import every model so the shared metadata knows all tables (Alembic and tests use it).
import issuer.models  # noqa: F401
import keys.models  # noqa: F401
from credentials.db import Base

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
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


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
