"""Tables of the review queue, the audit log and the reviewers' console (issue 14).

They live on the same :data:`~synthwatch.service.storage.schema.metadata` as the service's other
tables (``schema.py`` imports this module at its end), so the migration check compares them too;
migration ``0002`` creates them. Times are UNIX seconds (double), except the audit log's ``at_us``
(integer microseconds: part of the hashed entry, so it must round-trip exactly on every backend).
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import metadata

__all__ = ["review_policies", "cases", "case_evidence", "case_decisions", "case_appeals", "user_reports",
           "audit_log", "audit_heads", "audit_checkpoints", "audit_keys", "console_sessions"]

review_policies = sa.Table(
    "review_policies", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),  # 1, 2, … per tenant
    sa.Column("version", sa.String(100), nullable=False),  # the policy's own `version:` string
    sa.Column("digest", sa.String(64), nullable=False),  # sha256 of `text`
    sa.Column("text", sa.Text, nullable=False),  # the YAML as given
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.UniqueConstraint("tenant_id", "revision", name="uq_review_policies_revision"),
)

cases = sa.Table(
    "cases", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # open | assigned | escalated | awaiting_second | decided | appealed | closed
    sa.Column("priority", sa.String(20), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),  # scan | report | live_room | manual
    sa.Column("reasons", sa.Text, nullable=False, server_default="[]"),  # JSON list of triggers
    sa.Column("policy_version", sa.String(100), nullable=False),
    sa.Column("policy_digest", sa.String(64), nullable=False),
    sa.Column("join_key", sa.String(200)),  # open cases with the same key are joined (sha256:…, room:…)
    sa.Column("scan_id", sa.String(40)),
    sa.Column("sha256", sa.String(64)),
    sa.Column("kind", sa.String(10)),
    sa.Column("external_id", sa.String(200)),
    sa.Column("title", sa.String(300), nullable=False, server_default=""),
    sa.Column("verdict", sa.String(20)),
    sa.Column("score", sa.Double),
    sa.Column("assignee", sa.String(40)),  # an API key id
    sa.Column("round", sa.Integer, nullable=False, server_default="1"),  # 2 after an appeal
    sa.Column("decision", sa.String(20)),  # the action of the last final decision
    sa.Column("reason_code", sa.String(60)),
    sa.Column("pending", sa.Text),  # JSON: a remove proposed under four-eyes, awaiting a second reviewer
    sa.Column("report_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("legal_hold", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("hold_reason", sa.Text),
    sa.Column("opened_at", sa.Double, nullable=False),
    sa.Column("due_at", sa.Double, nullable=False),
    sa.Column("assigned_at", sa.Double),
    sa.Column("first_decided_at", sa.Double),
    sa.Column("decided_at", sa.Double),
    sa.Column("appealed_at", sa.Double),
    sa.Column("closed_at", sa.Double),
    sa.Column("overdue_notified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),  # optimistic concurrency
    sa.Index("ix_cases_tenant_id", "tenant_id", "id"),
    sa.Index("ix_cases_tenant_state", "tenant_id", "state", "id"),
    sa.Index("ix_cases_tenant_due", "tenant_id", "due_at", "id"),  # the queue: most urgent first
    sa.Index("ix_cases_join", "tenant_id", "join_key", "state"),
    sa.Index("ix_cases_scan", "tenant_id", "scan_id"),
    sa.Index("ix_cases_state_decided", "state", "decided_at"),
    sa.Index("ix_cases_overdue", "overdue_notified", "due_at"),
)

case_evidence = sa.Table(
    "case_evidence", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("kind", sa.String(30), nullable=False),  # media | report | timeline | audio_segment | labelled_copy | scan | file
    sa.Column("scan_id", sa.String(40)),
    sa.Column("sha256", sa.String(64)),
    sa.Column("content_type", sa.String(100)),
    sa.Column("filename", sa.String(300), nullable=False, server_default=""),
    sa.Column("size", sa.BigInteger),
    sa.Column("meta", sa.Text, nullable=False, server_default="{}"),
    sa.Column("added_at", sa.Double, nullable=False),
)

case_decisions = sa.Table(
    "case_decisions", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # label | restrict | remove | dismiss | escalate
    sa.Column("reason_code", sa.String(60), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(20), nullable=False),  # proposed | final | overridden | escalated
    sa.Column("actor", sa.String(40), nullable=False),
    sa.Column("actor_role", sa.String(20)),
    sa.Column("second_actor", sa.String(40)),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("confirmed_at", sa.Double),
    sa.Column("policy_version", sa.String(100), nullable=False),
    sa.Column("label_state", sa.String(20)),  # queued | written | failed (label action)
    sa.Column("label_result", sa.Text),  # JSON: what was written and read back, or the error
)

case_appeals = sa.Table(
    "case_appeals", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("appellant", sa.String(200)),  # the platform's id of the user who appealed (opaque)
    sa.Column("actor", sa.String(40), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
)

user_reports = sa.Table(
    "user_reports", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("case_id", sa.String(40)),
    sa.Column("reason", sa.String(60), nullable=False),
    sa.Column("text", sa.Text, nullable=False, server_default=""),
    sa.Column("reporter", sa.String(200)),  # the platform's id of the reporting user (opaque)
    sa.Column("scan_id", sa.String(40)),
    sa.Column("sha256", sa.String(64)),
    sa.Column("external_id", sa.String(200)),
    sa.Column("url", sa.Text),
    sa.Column("status", sa.String(20), nullable=False),  # received | in_review | handled
    sa.Column("outcome", sa.String(20)),
    sa.Column("actor", sa.String(40), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("handled_at", sa.Double),
    sa.Index("ix_user_reports_tenant", "tenant_id", "id"),
    sa.Index("ix_user_reports_case", "case_id"),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("chain", sa.String(40), primary_key=True),  # the tenant id, or "system"
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),  # 1, 2, … per chain, no gaps
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("tenant_id", sa.String(40)),
    sa.Column("actor", sa.String(80), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("object_type", sa.String(30), nullable=False),
    sa.Column("object_id", sa.String(80), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the canonical JSON of the entry (what is hashed)
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_object", "object_id"),
    sa.Index("ix_audit_chain_at", "chain", "at_us"),
)

audit_heads = sa.Table(
    "audit_heads", metadata,
    sa.Column("chain", sa.String(40), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("first_seq", sa.BigInteger, nullable=False, server_default="1"),  # after a purge: the anchor + 1
    sa.Column("updated_us", sa.BigInteger, nullable=False),
)

audit_checkpoints = sa.Table(
    "audit_checkpoints", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("chain", sa.String(40), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),  # checkpoint | anchor (the last entry a purge removed)
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the signed canonical JSON
    sa.Column("signature", sa.String(200), nullable=False),  # base64 Ed25519 signature of body
    sa.Index("ix_audit_checkpoints_chain", "chain", "seq"),
)

audit_keys = sa.Table(
    "audit_keys", metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),  # sha256 of the raw public key
    sa.Column("public_pem", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

console_sessions = sa.Table(
    "console_sessions", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(40), nullable=False),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("source_ip", sa.String(64)),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("last_seen_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("ended_at", sa.Double),
)
