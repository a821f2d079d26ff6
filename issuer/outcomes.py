"""Outcomes: what the partnership achieved, in figures a funder can put in a report.

Verifications are counted, never logged: one row per day, centre, achievement, channel and
verdict holds a number. Who verified, from where, and which credential are not kept at all.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from verifier import VerificationResult
from verifier.backend import CHANNELS

from .models import IssuedCredential, VerificationTally
from .unit_of_work import transaction

log = logging.getLogger(__name__)


def _issued(session: Session, result: VerificationResult) -> IssuedCredential | None:
    """The record this instance issued the verified credential as, if it did."""
    credential = result.credential
    credential_id = credential.get("id") if credential is not None else None
    if not isinstance(credential_id, str) or len(credential_id) > 100:
        return None
    record = session.scalars(
        select(IssuedCredential).where(IssuedCredential.credential_id == credential_id)
    ).first()
    if record is None:
        return None
    issuer = credential.get("issuer") if credential is not None else None
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    # A forgery can copy an id; only a credential naming our centre as its issuer counts.
    return record if issuer_id == record.organisation.did else None


def record_verification(
    session: Session, result: VerificationResult, channel: str, *, now: datetime
) -> bool:
    """Add one to today's count for the credential's centre, achievement, channel and verdict.

    Credentials issued elsewhere are not counted. A failure to count is logged and swallowed:
    an employer's verification must never fail because a statistic could not be written.
    Returns whether a count was added.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    try:
        record = _issued(session, result)
        if record is None:
            return False
        values = {
            "day": now.date(),
            "organisation_id": record.organisation_id,
            "achievement_id": record.achievement_id,
            "channel": channel,
            "verdict": str(result.verdict),
            "count": 1,
        }
        insert = (
            postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        statement = insert(VerificationTally).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["day", "organisation_id", "achievement_id", "channel", "verdict"],
            set_={"count": VerificationTally.count + 1},
        )
        with transaction(session):
            session.execute(statement)
    except SQLAlchemyError:
        log.warning("could not count a verification", exc_info=True)
        session.rollback()
        return False
    return True
