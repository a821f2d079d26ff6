"""Add worker wallets: wallet sessions, e-mail proofs, imported credentials, hidden links.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credentials.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_proof",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_proof")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_proof_token_hash")),
    )
    with op.batch_alter_table("email_proof", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_proof_email"), ["email"], unique=False)

    op.create_table(
        "held_credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("credential_key", sa.String(length=600), nullable=False),
        sa.Column("issuer_id", sa.String(length=600), nullable=False),
        sa.Column("issuer_name", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("form", sa.String(length=10), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(length=40), nullable=False),
        sa.Column("imported_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_credential")),
        sa.UniqueConstraint("email", "credential_key", name=op.f("uq_held_credential_email")),
    )
    with op.batch_alter_table("held_credential", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_held_credential_email"), ["email"], unique=False)

    op.create_table(
        "wallet_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_wallet_session_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_wallet_session_token_hash")),
    )
    with op.batch_alter_table("wallet_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_session_email"), ["email"], unique=False)

    with op.batch_alter_table("issued_credential", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "public_link_hidden_at", credentials.db.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("issued_credential", schema=None) as batch_op:
        batch_op.drop_column("public_link_hidden_at")

    with op.batch_alter_table("wallet_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_session_email"))

    op.drop_table("wallet_session")
    with op.batch_alter_table("held_credential", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_held_credential_email"))

    op.drop_table("held_credential")
    with op.batch_alter_table("email_proof", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_proof_email"))

    op.drop_table("email_proof")
