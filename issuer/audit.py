"""The hash-chained audit log. Events are written in the transaction of the change they record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from credentials.dates import format_datetime

from .models import AuditEvent

GENESIS = "0" * 64
AUDIT_CHAIN_LOCK = 0x7E55E8A  # an arbitrary, fixed advisory-lock key for the chain's head


def _event_hash(previous_hash: str, event: AuditEvent | Mapping[str, Any]) -> str:
    if isinstance(event, AuditEvent):
        event = {
            "organisation_id": event.organisation_id,
            "occurred_at": event.occurred_at,
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "details": event.details,
        }
    body = json.dumps(
        {
            "previous": previous_hash,
            "organisation": event["organisation_id"],
            "at": format_datetime(event["occurred_at"]),
            "actor": event["actor"],
            "action": event["action"],
            "subject": event["subject"],
            "details": event["details"],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    """An event to append (``record_events``)."""

    action: str
    subject: str
    now: datetime
    actor: str = "cli"
    organisation_id: int | None = None
    details: dict[str, Any] | None = None


def record_event(
    session: Session,
    *,
    action: str,
    subject: str,
    now: datetime,
    actor: str = "cli",
    organisation_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an event to the chain (the caller commits it with its change)."""
    record_events(session, [Event(action, subject, now, actor, organisation_id, details)])


def record_events(session: Session, events: Sequence[Event]) -> None:
    """Append events to the chain in order, in one statement (the caller commits)."""
    if not events:
        return
    session.flush()  # the caller's own rows first: an event may follow one of them
    if session.get_bind().dialect.name == "postgresql":
        # Writers queue here for the chain's head rather than fork it and retry; the lock is
        # released when the transaction ends. (SQLite already lets one writer in at a time.)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN_LOCK})
    previous_hash = (
        session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)) or GENESIS
    )
    rows = []
    for event in events:
        row = {
            "organisation_id": event.organisation_id,
            "occurred_at": event.now,
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "details": json.dumps(event.details or {}, sort_keys=True),
            "previous_hash": previous_hash,
        }
        row["hash"] = previous_hash = _event_hash(previous_hash, row)
        rows.append(row)
    # The chain is read in id order, so ids must follow the list's order. Asking for the ids
    # back in that order makes SQLAlchemy use a form that guarantees it: on PostgreSQL an
    # INSERT ... SELECT ordered by position (serial values are drawn in that order), on SQLite
    # one INSERT per row.
    session.execute(
        insert(AuditEvent).returning(AuditEvent.id, sort_by_parameter_order=True), rows
    ).all()


def verify_chain(session: Session) -> tuple[int, int | None]:
    """Walk the chain. Returns (events checked, id of the first broken event or None)."""
    previous_hash = GENESIS
    count = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        count += 1
        if event.previous_hash != previous_hash or event.hash != _event_hash(previous_hash, event):
            return count, event.id
        previous_hash = event.hash
    return count, None
