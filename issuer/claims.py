"""Claim links: how a worker reaches their credentials without a password.

The token has 256 bits, is stored only as a SHA-256 hash, expires, and can be re-issued by the
centre (which retires the old link). The worker page behind it grows in the wallet issue.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import tokens
from .models import ClaimToken, IssuedCredential

CLAIM_LIFETIME = timedelta(days=365)


def claim_url(public_url: str, token: str) -> str:
    return f"{public_url}/claim/{token}"


def new_claim_token(session: Session, credential: IssuedCredential, *, now: datetime) -> str:
    """A fresh claim token for the credential (inside the caller's transaction).

    Earlier links of the same credential stop working. Returns the token: it is shown once
    (on the result page or in a bulk job's CSV) and never stored in the clear.
    """
    session.execute(
        update(ClaimToken)
        .where(ClaimToken.credential_id == credential.id, ClaimToken.replaced_at.is_(None))
        .values(replaced_at=now)
    )
    token = tokens.new_token()
    session.add(
        ClaimToken(
            credential_id=credential.id,
            token_hash=tokens.digest(token),
            created_at=now,
            expires_at=now + CLAIM_LIFETIME,
        )
    )
    session.flush()
    return token


def credential_for_claim(session: Session, token: str, *, now: datetime) -> IssuedCredential | None:
    """The credential a claim link opens, or None (unknown, replaced or expired)."""
    if not token or len(token) > 100:
        return None
    found = session.scalars(
        select(ClaimToken).where(ClaimToken.token_hash == tokens.digest(token))
    ).first()
    if found is None or found.replaced_at is not None or found.expires_at <= now:
        return None
    return found.credential
