"""Write transactions that commit whole or not at all, and retry when they lose a race."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

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


def retryable(error: DBAPIError) -> bool:
    """Conflicts a fresh attempt resolves: unique violations, serialization, lock timeouts."""
    if isinstance(error, IntegrityError):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in ("40001", "40P01"):  # serialization failure, deadlock (PostgreSQL)
        return True
    return isinstance(error, OperationalError) and "locked" in str(error.orig)  # SQLite
