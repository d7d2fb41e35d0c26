"""The service's tables (SQLAlchemy Core). The Alembic migrations in ``service/migrations`` create
them; ``tests/service/test_migrations.py`` checks that the migrated database matches this file.

Times are UNIX seconds (double precision) on every backend; ids are prefixed ULIDs (``ids.py``).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["metadata", "tenants", "api_keys", "media", "scans", "jobs", "idempotency", "webhook_deliveries",
           "events", "workers", "counters"]

metadata = sa.MetaData()

tenants = sa.Table(
    "tenants", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("settings", sa.Text, nullable=False, server_default="{}"),
    sa.Column("webhook_secret", sa.String(100), nullable=False),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False, index=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("prefix", sa.String(40), nullable=False, unique=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("last_used_at", sa.Double),
    sa.Column("revoked_at", sa.Double),
)

media = sa.Table(
    "media", metadata,
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("filename", sa.String(300), nullable=False, server_default=""),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("legal_hold", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("hold_reason", sa.Text),
    sa.Column("purged_at", sa.Double),
    sa.Index("ix_media_sha256", "sha256"),
    sa.Index("ix_media_expiry", "purged_at", "expires_at"),
)

scans = sa.Table(
    "scans", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("source", sa.String(10), nullable=False),  # upload | url
    sa.Column("url", sa.Text),
    sa.Column("filename", sa.String(300), nullable=False, server_default=""),
    sa.Column("sha256", sa.String(64)),
    sa.Column("size", sa.BigInteger),
    sa.Column("kind", sa.String(10)),
    sa.Column("detectors", sa.Text, nullable=False),  # JSON list of names
    sa.Column("detectors_fp", sa.String(64), nullable=False),  # names + versions digest (dedupe)
    sa.Column("declared_ai", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("options", sa.Text, nullable=False, server_default="{}"),  # JSON: limits
    sa.Column("callback_url", sa.Text),
    sa.Column("external_id", sa.String(200)),
    sa.Column("verdict", sa.String(20)),
    sa.Column("score", sa.Double),
    sa.Column("report", sa.Text),
    sa.Column("progress", sa.Text),
    sa.Column("error_code", sa.String(60)),
    sa.Column("error_message", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("reused_from", sa.String(40)),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("started_at", sa.Double),
    sa.Column("finished_at", sa.Double),
    sa.Index("ix_scans_tenant_id", "tenant_id", "id"),
    sa.Index("ix_scans_tenant_status", "tenant_id", "status", "id"),
    sa.Index("ix_scans_dedupe", "tenant_id", "sha256", "detectors_fp"),
    sa.Index("ix_scans_external", "tenant_id", "external_id"),
)

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("ref", sa.String(40), nullable=False),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # queued | running | done | failed
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("available_at", sa.Double, nullable=False),
    sa.Column("lease_owner", sa.String(80)),
    sa.Column("lease_expires_at", sa.Double),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("started_at", sa.Double),
    sa.Column("finished_at", sa.Double),
    sa.Column("last_error", sa.Text),
    sa.Column("history", sa.Text, nullable=False, server_default="[]"),  # JSON list of attempt records
    sa.Index("ix_jobs_ready", "status", "priority", "available_at"),
    sa.Index("ix_jobs_lease", "status", "lease_expires_at"),
    sa.Index("ix_jobs_ref", "ref"),
)

idempotency = sa.Table(
    "idempotency", metadata,
    sa.Column("tenant_id", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("scan_id", sa.String(40), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False, index=True),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("event", sa.String(60), nullable=False),
    sa.Column("object_id", sa.String(40)),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # pending | sending | delivered | dead
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Double, nullable=False),
    sa.Column("lease_expires_at", sa.Double),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("delivered_at", sa.Double),
    sa.Index("ix_webhooks_due", "status", "next_attempt_at"),
    sa.Index("ix_webhooks_tenant", "tenant_id", "id"),
)

events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40)),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("actor", sa.String(80), nullable=False),  # key id, "worker:<id>", "cli", "system"
    sa.Column("role", sa.String(20)),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("object_type", sa.String(30), nullable=False),
    sa.Column("object_id", sa.String(80), nullable=False),
    sa.Column("source_ip", sa.String(64)),
    sa.Column("details", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_events_tenant", "tenant_id", "id"),
    sa.Index("ix_events_object", "object_type", "object_id"),
)

workers = sa.Table(
    "workers", metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # idle | busy | stopping | stopped
    sa.Column("current_job", sa.String(40)),
    sa.Column("jobs_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("models", sa.Text, nullable=False, server_default="{}"),
)

counters = sa.Table(
    "counters", metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("labels", sa.String(200), primary_key=True),
    sa.Column("value", sa.Double, nullable=False),
)

# the security self-assessments' tables (issue 16) and the review queue's, audit log's and console's
# (issue 14), on the same metadata
from . import assessment_tables as _assessment_tables  # noqa: E402,F401
from . import review_tables as _review_tables  # noqa: E402,F401

# the live audio rooms' tables, on the same metadata (issue 15)
from . import room_tables as _room_tables  # noqa: E402,F401
