"""Add job profiles, stackable pathways and daily verification tallies.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credentials.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_profile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("occupation_uri", sa.String(length=500), nullable=True),
        sa.Column("tasks", sa.Text(), nullable=False),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("archived_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_job_profile_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_profile")),
        sa.UniqueConstraint("public_id", name=op.f("uq_job_profile_public_id")),
    )
    with op.batch_alter_table("job_profile", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_profile_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "pathway",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("archived_at", credentials.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievement.id"],
            name=op.f("fk_pathway_achievement_id_achievement"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_pathway_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pathway")),
        sa.UniqueConstraint("public_id", name=op.f("uq_pathway_public_id")),
    )
    with op.batch_alter_table("pathway", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pathway_achievement_id"), ["achievement_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pathway_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "verification_tally",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("verdict", sa.String(length=30), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievement.id"],
            name=op.f("fk_verification_tally_achievement_id_achievement"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_verification_tally_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_tally")),
        sa.UniqueConstraint(
            "day",
            "organisation_id",
            "achievement_id",
            "channel",
            "verdict",
            name=op.f("uq_verification_tally_day"),
        ),
    )
    with op.batch_alter_table("verification_tally", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_tally_achievement_id"), ["achievement_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_verification_tally_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "pathway_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pathway_id", sa.Integer(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievement.id"],
            name=op.f("fk_pathway_part_achievement_id_achievement"),
        ),
        sa.ForeignKeyConstraint(
            ["pathway_id"], ["pathway.id"], name=op.f("fk_pathway_part_pathway_id_pathway")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pathway_part")),
        sa.UniqueConstraint(
            "pathway_id", "achievement_id", name=op.f("uq_pathway_part_pathway_id")
        ),
    )
    with op.batch_alter_table("pathway_part", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pathway_part_achievement_id"), ["achievement_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pathway_part_pathway_id"), ["pathway_id"], unique=False
        )

    op.create_table(
        "pathway_award",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pathway_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.Integer(), nullable=False),
        sa.Column("created_at", credentials.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["issued_credential.id"],
            name=op.f("fk_pathway_award_credential_id_issued_credential"),
        ),
        sa.ForeignKeyConstraint(
            ["pathway_id"], ["pathway.id"], name=op.f("fk_pathway_award_pathway_id_pathway")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pathway_award")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_pathway_award_credential_id")),
    )
    with op.batch_alter_table("pathway_award", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pathway_award_pathway_id"), ["pathway_id"], unique=False
        )

    op.create_table(
        "pathway_award_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["award_id"],
            ["pathway_award.id"],
            name=op.f("fk_pathway_award_part_award_id_pathway_award"),
        ),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["issued_credential.id"],
            name=op.f("fk_pathway_award_part_credential_id_issued_credential"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pathway_award_part")),
        sa.UniqueConstraint(
            "award_id", "credential_id", name=op.f("uq_pathway_award_part_award_id")
        ),
    )
    with op.batch_alter_table("pathway_award_part", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pathway_award_part_award_id"), ["award_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pathway_award_part_credential_id"), ["credential_id"], unique=False
        )
    with op.batch_alter_table("issued_credential", schema=None) as batch_op:
        batch_op.create_index(
            "ix_issued_credential_organisation_issued_at",
            ["organisation_id", "issued_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_issued_credential_revoked_at"), ["revoked_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("issued_credential", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issued_credential_revoked_at"))
        batch_op.drop_index("ix_issued_credential_organisation_issued_at")

    with op.batch_alter_table("pathway_award_part", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pathway_award_part_credential_id"))
        batch_op.drop_index(batch_op.f("ix_pathway_award_part_award_id"))

    op.drop_table("pathway_award_part")
    with op.batch_alter_table("pathway_award", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pathway_award_pathway_id"))

    op.drop_table("pathway_award")
    with op.batch_alter_table("pathway_part", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pathway_part_pathway_id"))
        batch_op.drop_index(batch_op.f("ix_pathway_part_achievement_id"))

    op.drop_table("pathway_part")
    with op.batch_alter_table("verification_tally", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_tally_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_verification_tally_achievement_id"))

    op.drop_table("verification_tally")
    with op.batch_alter_table("pathway", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pathway_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_pathway_achievement_id"))

    op.drop_table("pathway")
    with op.batch_alter_table("job_profile", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_profile_organisation_id"))

    op.drop_table("job_profile")
