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
