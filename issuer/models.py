"""Tables owned by the issuing service."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
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
    # Editing makes a new version (a new row and id); issued credentials keep the old one.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    previous_version_id: Mapped[int | None] = mapped_column(ForeignKey("achievement.id"))
    archived_at: Mapped[datetime | None]
    validity_days: Mapped[int | None] = mapped_column(Integer)  # -> validUntil when issuing
    evidence_required: Mapped[str | None] = mapped_column(Text)
    image: Mapped[bytes | None] = mapped_column(LargeBinary)
    image_type: Mapped[str | None] = mapped_column(String(40))  # image/png or image/svg+xml

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
        # The outcomes figures count a centre's credentials by month.
        Index("ix_issued_credential_organisation_issued_at", "organisation_id", "issued_at"),
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
    revoked_at: Mapped[datetime | None] = mapped_column(index=True)
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    status_list_id: Mapped[int | None] = mapped_column(ForeignKey("status_list.id"), index=True)
    status_index: Mapped[int | None] = mapped_column(Integer)
    external_id: Mapped[str | None] = mapped_column(String(200))  # the centre's own learner id
    evidence: Mapped[str | None] = mapped_column(Text)  # JSON list of OB 3.0 Evidence objects
    bulk_job_id: Mapped[int | None] = mapped_column(ForeignKey("bulk_job.id"), index=True)
    # Set when the holder turned the public verify page off (the files still verify).
    public_link_hidden_at: Mapped[datetime | None]

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


class User(Base):
    """A member of training-centre staff."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # normalised
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id; None until set
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None]

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")


class Membership(Base):
    """A user's role at one centre: ``admin``, ``issuer`` or ``viewer``."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]

    user: Mapped[User] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship()


class Invitation(Base):
    """A one-time link that lets someone join a centre with a role (token stored hashed)."""

    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()


class LoginSession(Base):
    """A server-side session: the cookie holds only a random id, stored here hashed.

    Ending a row (logout, password change) ends the session everywhere at once.
    """

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A centre's API token: shown once, stored hashed, scoped, revocable."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # public part, for lookup
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()


class BulkJob(Base):
    """Issuing one achievement to every row of an uploaded spreadsheet, in the background."""

    __tablename__ = "bulk_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievement.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    # preview -> queued -> running -> finished (or cancelled)
    state: Mapped[str] = mapped_column(String(20))
    total: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]  # a worker holding the job touches this

    organisation: Mapped[Organisation] = relationship()
    achievement: Mapped[Achievement] = relationship()
    rows: Mapped[list[BulkRow]] = relationship(back_populates="job", order_by="BulkRow.row_number")


class BulkRow(Base):
    """One learner of a bulk job and what became of them."""

    __tablename__ = "bulk_row"
    __table_args__ = (UniqueConstraint("job_id", "row_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("bulk_job.id"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)  # as in the spreadsheet (header is 1)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(200))
    evidence: Mapped[str | None] = mapped_column(Text)
    # pending -> issued | failed; "invalid" rows were flagged in the preview and are skipped
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("issued_credential.id"))

    job: Mapped[BulkJob] = relationship(back_populates="rows")
    credential: Mapped[IssuedCredential | None] = relationship()


class ClaimToken(Base):
    """The worker's claim link for a credential (the token is stored hashed; re-issuable)."""

    __tablename__ = "claim_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("issued_credential.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    replaced_at: Mapped[datetime | None]

    credential: Mapped[IssuedCredential] = relationship()


class WalletSession(Base):
    """A worker's signed-in wallet: opened by a claim link, or by a one-time e-mail link.

    A claim link shows what its centre issued to that e-mail address (``organisation_id``); a
    proven e-mail address shows everything issued to it on this instance (``organisation_id``
    is NULL). The browser holds only a random token, stored here hashed.
    """

    __tablename__ = "wallet_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), index=True)  # normalised
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    organisation: Mapped[Organisation | None] = relationship()


class EmailProof(Base):
    """A one-time link e-mailed to a worker to prove they control the address."""

    __tablename__ = "email_proof"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), index=True)  # normalised
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class HeldCredential(Base):
    """A credential issued elsewhere that a worker added to their wallet (verified on import)."""

    __tablename__ = "held_credential"
    __table_args__ = (UniqueConstraint("email", "credential_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)  # the wallet's, normalised
    # The credential's id, or "sha256:<hex>" of its content when it has none.
    credential_key: Mapped[str] = mapped_column(String(600))
    issuer_id: Mapped[str] = mapped_column(String(600))
    issuer_name: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))  # the achievement's name
    form: Mapped[str] = mapped_column(String(10))  # "json" or "jwt", as presented
    content: Mapped[str] = mapped_column(Text)  # exactly as presented: the proof covers it
    verdict: Mapped[str] = mapped_column(String(40))  # at import
    imported_at: Mapped[datetime]


class JobProfile(Base):
    """A role described task by task, for matching workers' credentials against it.

    ``tasks`` is a JSON list of ``{"name", "skills": [ESCO skill URI], "achievements":
    [achievement public id]}``: a task is covered by a valid credential for any of those
    achievements (any version) or aligned to any of those skills. Published profiles are
    offered on the public match page; drafts only to the centre's staff.
    """

    __tablename__ = "job_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    occupation_uri: Mapped[str | None] = mapped_column(String(500))  # an ESCO occupation
    tasks: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()


class Pathway(Base):
    """A larger credential earned by holding valid credentials for a set of achievements.

    The award is an ordinary achievement of the defining centre; the parts may belong to any
    centre on this instance, and any version of a part counts.
    """

    __tablename__ = "pathway"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievement.id"), index=True)
    mode: Mapped[str] = mapped_column(String(20))  # "automatic" or "on_request"
    created_at: Mapped[datetime]
    archived_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
    achievement: Mapped[Achievement] = relationship()
    parts: Mapped[list[PathwayPart]] = relationship(
        back_populates="pathway", order_by="PathwayPart.id"
    )


class PathwayPart(Base):
    """One achievement a pathway requires."""

    __tablename__ = "pathway_part"
    __table_args__ = (UniqueConstraint("pathway_id", "achievement_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pathway_id: Mapped[int] = mapped_column(ForeignKey("pathway.id"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievement.id"), index=True)

    pathway: Mapped[Pathway] = relationship(back_populates="parts")
    achievement: Mapped[Achievement] = relationship()


class PathwayAward(Base):
    """A pathway credential as issued, and the part credentials it was built from."""

    __tablename__ = "pathway_award"

    id: Mapped[int] = mapped_column(primary_key=True)
    pathway_id: Mapped[int] = mapped_column(ForeignKey("pathway.id"), index=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("issued_credential.id"), unique=True)
    created_at: Mapped[datetime]

    pathway: Mapped[Pathway] = relationship()
    credential: Mapped[IssuedCredential] = relationship()
    parts: Mapped[list[PathwayAwardPart]] = relationship(
        back_populates="award", order_by="PathwayAwardPart.id"
    )


class PathwayAwardPart(Base):
    """One credential a pathway credential depends on."""

    __tablename__ = "pathway_award_part"
    __table_args__ = (UniqueConstraint("award_id", "credential_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("pathway_award.id"), index=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("issued_credential.id"), index=True)

    award: Mapped[PathwayAward] = relationship(back_populates="parts")
    credential: Mapped[IssuedCredential] = relationship()


class VerificationTally(Base):
    """How often this instance's credentials were verified: counts per day, nothing else.

    No verifier identity, address or credential id is kept: one row per day, centre,
    achievement, channel ("page", "upload", "api", "wallet", "match") and verdict.
    """

    __tablename__ = "verification_tally"
    __table_args__ = (
        UniqueConstraint("day", "organisation_id", "achievement_id", "channel", "verdict"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievement.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[str] = mapped_column(String(30))
    count: Mapped[int] = mapped_column(Integer, default=0)
