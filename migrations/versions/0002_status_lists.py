"""Add status lists, each credential's status index, and forbid audit chain forks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credentials.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("signed_version", sa.Integer(), nullable=True),
        sa.Column("signed_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signed_document", sa.Text(), nullable=True),
        sa.Column("signed_jwt", sa.Text(), nullable=True),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_status_list_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_list")),
        sa.UniqueConstraint(
            "organisation_id", "purpose", "sequence", name=op.f("uq_status_list_organisation_id")
        ),
    )
    with op.batch_alter_table("status_list", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_status_list_organisation_id"), ["organisation_id"], unique=False
        )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_audit_event_previous_hash"), ["previous_hash"]
        )

    with op.batch_alter_table("issued_credential", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_list_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("status_index", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_issued_credential_status_list_id"), ["status_list_id"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_issued_credential_status_list_id"), ["status_list_id", "status_index"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_issued_credential_status_list_id_status_list"),
            "status_list",
            ["status_list_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("issued_credential", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_issued_credential_status_list_id_status_list"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_issued_credential_status_list_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_issued_credential_status_list_id"))
        batch_op.drop_column("status_index")
        batch_op.drop_column("status_list_id")

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_event_previous_hash"), type_="unique")

    with op.batch_alter_table("status_list", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_list_organisation_id"))

    op.drop_table("status_list")
