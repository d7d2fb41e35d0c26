"""synthwatch serve: the platform's moderation service.

The only package that imports FastAPI, SQLAlchemy and database drivers. Layout::

    settings.py      ServiceSettings (env SYNTHWATCH_DATABASE_URL, SYNTHWATCH_SERVICE__*)
    db.py            engine, transactions (SQLite: WAL + BEGIN IMMEDIATE for writes), migrations
    storage/         schema, narrow interfaces per area (interfaces.py), SQL implementations (sql.py),
                     content-addressed media files (blobs.py)
    jobs/            the leased job queue, the scan job, the worker process and its supervisor
    auth.py          keys, roles, permissions
    problems.py      application/problem+json errors (the one place errors become HTTP responses)
    fetch.py         SSRF-guarded HTTP client (URL scans and webhook deliveries)
    webhooks.py      signed webhook deliveries: enqueue, sign, deliver with backoff, dead letters
    metrics.py       Prometheus exposition
    events.py        the events call site every state change goes through (audit hooks here)
    routes/          one router per area (health, scans, media, tenant, keys, webhooks)
    app.py           create_app(settings)

Scans never run in the API process: workers (``synthwatch worker`` or ``serve --workers N``) lease
jobs from the database queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app", "ServiceSettings"]

if TYPE_CHECKING:
    from .app import create_app
    from .settings import ServiceSettings


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ServiceSettings":
        from .settings import ServiceSettings

        return ServiceSettings
    raise AttributeError(name)
