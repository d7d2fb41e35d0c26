"""Alembic migrations of the service database (run with ``synthwatch db upgrade``)."""
