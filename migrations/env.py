"""Alembic environment: runs against the engine Tessera passes in (see issuer/migrate.py)."""

from __future__ import annotations

from alembic import context

from issuer.db import make_engine, metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("run migrations with `tessera db upgrade` (it knows the database URL)")
    engine = make_engine(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
