"""Random secrets handed to people (sessions, links) and stored only as hashes.

Every such secret has 256 bits, so a plain SHA-256 is the right hash (argon2 is for
low-entropy passwords): the database alone never opens anything.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .unit_of_work import transaction

#: A presented token longer than this is not one of ours (they are 43 characters).
MAX_TOKEN_LENGTH = 100

Row = TypeVar("Row")


def new_token() -> str:
    """A fresh 256-bit URL-safe secret."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What is stored of a token: hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def find(session: Session, model: type[Row], token: str) -> Row | None:
    """The row whose ``token_hash`` matches ``token``, or None (also for malformed input)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    column: Any = model.token_hash  # type: ignore[attr-defined]
    return session.scalars(select(model).where(column == digest(token))).first()


def live_session(session: Session, model: type[Row], token: str, *, now: datetime) -> Row | None:
    """A session row (``token_hash``, ``expires_at``, ``ended_at``) that is neither ended nor
    expired, or None."""
    found = find(session, model, token)
    if found is None or found.ended_at is not None or found.expires_at <= now:  # type: ignore[attr-defined]
        return None
    return found


def end_session(session: Session, model: type[Row], token: str, *, now: datetime) -> None:
    """End the session row behind ``token`` (nothing happens for an unknown or ended one)."""
    table: Any = model
    with transaction(session):
        session.execute(
            update(table)
            .where(table.token_hash == digest(token), table.ended_at.is_(None))
            .values(ended_at=now)
        )
