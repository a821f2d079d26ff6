"""Tables owned by the issuing service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from credentials.db import Base


class Organisation(Base):
    """A training centre: an issuer with its own DID and keys."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    did: Mapped[str] = mapped_column(String(512), unique=True)
    did_method: Mapped[str] = mapped_column(String(10))
    jwt_algorithm: Mapped[str] = mapped_column(String(10))
    url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]

    achievements: Mapped[list[Achievement]] = relationship(back_populates="organisation")


class Achievement(Base):
    """A job-task competency a centre awards (an Open Badges ``Achievement``)."""

    __tablename__ = "achievement"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    criteria: Mapped[str] = mapped_column(Text)
    achievement_type: Mapped[str] = mapped_column(String(64))
    # JSON list of {"targetName", "targetUrl", "targetCode", ...} alignment objects.
    alignments: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime]

    organisation: Mapped[Organisation] = relationship(back_populates="achievements")


class StatusList(Base):
    """One Bitstring Status List of a centre: the bits, and its last signed publication."""

    __tablename__ = "status_list"
    __table_args__ = (UniqueConstraint("organisation_id", "purpose", "sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[int] = mapped_column(Integer)  # 1, 2, ... in the list's URL
    length: Mapped[int] = mapped_column(Integer)  # in bits
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped on every change of bits
    # The signed BitstringStatusListCredential last published, and for which version.
    signed_version: Mapped[int | None] = mapped_column(Integer)
    signed_at: Mapped[datetime | None]
    signed_document: Mapped[str | None] = mapped_column(Text)
    signed_jwt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    organisation: Mapped[Organisation] = relationship()


class IssuedCredential(Base):
    """A credential as issued: both signed forms, exactly the bytes handed out."""

    __tablename__ = "issued_credential"
    __table_args__ = (
        UniqueConstraint("organisation_id", "idempotency_key"),
        # Two credentials never share a status bit: the database enforces it, so concurrent
        # issuers that pick the same random index cannot both commit.
        UniqueConstraint("status_list_id", "status_index"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Opaque and unguessable: the /v/<public_id> verify URL and the QR code carry it.
    public_id: Mapped[str] = mapped_column(String(43), unique=True)
    credential_id: Mapped[str] = mapped_column(String(100), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievement.id"), index=True)
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_email: Mapped[str] = mapped_column(String(320), index=True)
    identity_hash: Mapped[str] = mapped_column(String(80), index=True)
    document: Mapped[str] = mapped_column(Text)  # JSON with the embedded Data Integrity proof
    jwt: Mapped[str] = mapped_column(Text)  # the OB 3.0 VC-JWT
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    issued_at: Mapped[datetime]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    status_list_id: Mapped[int | None] = mapped_column(ForeignKey("status_list.id"), index=True)
    status_index: Mapped[int | None] = mapped_column(Integer)

    organisation: Mapped[Organisation] = relationship()
    achievement: Mapped[Achievement] = relationship()
    status_list: Mapped[StatusList | None] = relationship()


class AuditEvent(Base):
    """Append-only, hash-chained record of what happened (each row hashes the previous)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(600))
    details: Mapped[str] = mapped_column(Text, default="{}")
    # Unique: two events can never claim the same predecessor, so the chain cannot fork.
    previous_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
