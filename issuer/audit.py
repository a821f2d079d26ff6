"""The hash-chained audit log. Events are written in the transaction of the change they record."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from credentials.dates import format_datetime

from .models import AuditEvent

GENESIS = "0" * 64
AUDIT_CHAIN_LOCK = 0x7E55E8A  # an arbitrary, fixed advisory-lock key for the chain's head


def _event_hash(previous_hash: str, event: AuditEvent) -> str:
    body = json.dumps(
        {
            "previous": previous_hash,
            "organisation": event.organisation_id,
            "at": format_datetime(event.occurred_at),
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "details": event.details,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record_event(
    session: Session,
    *,
    action: str,
    subject: str,
    now: datetime,
    actor: str = "cli",
    organisation_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event to the chain (flushes; the caller commits with its change)."""
    if session.get_bind().dialect.name == "postgresql":
        # Writers queue here for the chain's head rather than fork it and retry; the lock is
        # released when the transaction ends. (SQLite already lets one writer in at a time.)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN_LOCK})
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()
    previous_hash = last.hash if last else GENESIS
    event = AuditEvent(
        organisation_id=organisation_id,
        occurred_at=now,
        actor=actor,
        action=action,
        subject=subject,
        details=json.dumps(details or {}, sort_keys=True),
        previous_hash=previous_hash,
    )
    event.hash = _event_hash(previous_hash, event)
    session.add(event)
    session.flush()
    return event


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
