"""Alembic migrations: they build the schema the models describe, and they undo cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from issuer import migrate
from issuer.db import make_engine, metadata


def test_upgrade_matches_the_models_and_downgrade_removes_everything(database_factory):
    engine = make_engine(database_factory())
    try:
        assert migrate.pending(engine)
        migrate.upgrade(engine)
        assert not migrate.pending(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert differences == []
        tables = set(inspect(engine).get_table_names())
        assert {
            "organisation",
            "signing_key",
            "achievement",
            "issued_credential",
            "audit_event",
        } <= tables
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)  # and back up again
        assert not migrate.pending(engine)
    finally:
        engine.dispose()


def test_upgrading_an_instance_with_data_keeps_it(database_factory):
    """An instance created before staff accounts existed upgrades with its achievements intact."""
    from sqlalchemy import text

    engine = make_engine(database_factory())
    try:
        migrate.upgrade(engine, "0002")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO organisation (id, slug, name, did, did_method, jwt_algorithm, "
                    "created_at) VALUES (1, 'old', 'Old Centre', 'did:web:x.test:orgs:old', 'web', "
                    "'RS256', '2026-01-01 00:00:00')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO achievement (id, public_id, organisation_id, name, description, "
                    "criteria, achievement_type, alignments, created_at) VALUES (1, 'a1', 1, 'N', "
                    "'D', 'C', 'Competency', '[]', '2026-01-01 00:00:00')"
                )
            )
        migrate.upgrade(engine)
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version FROM achievement")).scalar_one()
        assert version == 1
    finally:
        engine.dispose()
