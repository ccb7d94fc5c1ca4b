"""Alembic environment: uses the engine handed over by hub.store.migrate."""

from __future__ import annotations

from alembic import context

from hub.store.db import get_engine
from hub.store.schema import metadata

engine = context.config.attributes.get("engine") or get_engine()

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
