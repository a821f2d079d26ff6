"""Add staff accounts, sessions, API tokens, bulk jobs, claim tokens and achievement versions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credentials.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email", name=op.f("uq_user_account_email")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_api_token_created_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_api_token_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_token_prefix")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_token_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_invitation_created_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_invitation_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitation_token_hash")),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invitation_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "login_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_login_session_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_login_session_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_session_token_hash")),
    )
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_session_user_id"), ["user_id"], unique=False)

    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_membership_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_membership_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
        sa.UniqueConstraint("user_id", "organisation_id", name=op.f("uq_membership_user_id")),
    )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_membership_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_membership_user_id"), ["user_id"], unique=False)

    op.create_table(
        "bulk_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievement.id"],
            name=op.f("fk_bulk_job_achievement_id_achievement"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_bulk_job_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_job")),
        sa.UniqueConstraint("public_id", name=op.f("uq_bulk_job_public_id")),
    )
    with op.batch_alter_table("bulk_job", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bulk_job_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "bulk_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("credential_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["issued_credential.id"],
            name=op.f("fk_bulk_row_credential_id_issued_credential"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["bulk_job.id"], name=op.f("fk_bulk_row_job_id_bulk_job")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_row")),
        sa.UniqueConstraint("job_id", "row_number", name=op.f("uq_bulk_row_job_id")),
    )
    with op.batch_alter_table("bulk_row", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bulk_row_job_id"), ["job_id"], unique=False)

    op.create_table(
        "claim_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["issued_credential.id"],
            name=op.f("fk_claim_token_credential_id_issued_credential"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_claim_token_token_hash")),
    )
    with op.batch_alter_table("claim_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_claim_token_credential_id"), ["credential_id"], unique=False
        )

    with op.batch_alter_table("achievement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("previous_version_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("archived_at", credentials.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("validity_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("evidence_required", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("image", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("image_type", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_achievement_previous_version_id_achievement"),
            "achievement",
            ["previous_version_id"],
            ["id"],
        )

    with op.batch_alter_table("issued_credential", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("evidence", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("bulk_job_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_issued_credential_bulk_job_id"), ["bulk_job_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_issued_credential_bulk_job_id_bulk_job"),
            "bulk_job",
            ["bulk_job_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("issued_credential", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_issued_credential_bulk_job_id_bulk_job"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_issued_credential_bulk_job_id"))
        batch_op.drop_column("bulk_job_id")
        batch_op.drop_column("evidence")
        batch_op.drop_column("external_id")

    with op.batch_alter_table("achievement", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_achievement_previous_version_id_achievement"), type_="foreignkey"
        )
        batch_op.drop_column("image_type")
        batch_op.drop_column("image")
        batch_op.drop_column("evidence_required")
        batch_op.drop_column("validity_days")
        batch_op.drop_column("archived_at")
        batch_op.drop_column("previous_version_id")
        batch_op.drop_column("version")

    with op.batch_alter_table("claim_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_token_credential_id"))

    op.drop_table("claim_token")
    with op.batch_alter_table("bulk_row", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulk_row_job_id"))

    op.drop_table("bulk_row")
    with op.batch_alter_table("bulk_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulk_job_organisation_id"))

    op.drop_table("bulk_job")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_user_id"))
        batch_op.drop_index(batch_op.f("ix_membership_organisation_id"))

    op.drop_table("membership")
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_session_user_id"))

    op.drop_table("login_session")
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_organisation_id"))

    op.drop_table("invitation")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_organisation_id"))

    op.drop_table("api_token")
    op.drop_table("user_account")
