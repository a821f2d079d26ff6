"""Write transactions that commit whole or not at all, and retry when they lose a race."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

M = TypeVar("M")

#: Attempts at a write transaction that lost a race to a concurrent one.
MAX_ATTEMPTS = 8
#: Execution option read by the SQLite "begin" hook (issuer/db.py).
WRITE_OPTION = "tessera_write"


def _begin_write(session: Session) -> None:
    """On SQLite, start the transaction as a writer (BEGIN IMMEDIATE).

    A deferred SQLite transaction that reads and then writes fails at once, without waiting,
    when another writer got in between; an immediate one waits its turn (busy_timeout).
    PostgreSQL needs nothing here: its row locks and constraints do the work.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        session.commit()  # end the read-only transaction the caller's look-ups opened
    session.connection(execution_options={WRITE_OPTION: True})


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Commit on success, roll back on any exception (and re-raise it)."""
    _begin_write(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def locked(session: Session, model: type[M], row_id: int) -> M:
    """The row as it is now, locked until the transaction ends.

    ``populate_existing``: never the copy this session may already hold. Deciding on a copy
    read before the lock (is it revoked? which bits are set?) would let a concurrent change be
    overwritten. PostgreSQL locks the row; SQLite's write transaction already excludes others.
    """
    return session.scalars(
        select(model)
        .where(model.id == row_id)  # type: ignore[attr-defined]
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def retryable(error: DBAPIError) -> bool:
    """Conflicts a fresh attempt resolves: unique violations, serialization, lock timeouts."""
    if isinstance(error, IntegrityError):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in ("40001", "40P01"):  # serialization failure, deadlock (PostgreSQL)
        return True
    return isinstance(error, OperationalError) and "locked" in str(error.orig)  # SQLite
