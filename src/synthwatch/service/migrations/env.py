"""Alembic environment: the connection is handed in by :meth:`synthwatch.service.db.Database.upgrade`."""

from __future__ import annotations

from alembic import context

from synthwatch.service.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `synthwatch db upgrade` (synthwatch.service.db.Database.upgrade)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
