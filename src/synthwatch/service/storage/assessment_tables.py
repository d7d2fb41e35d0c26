"""Tables of the security self-assessments (issue 16): one row per assessment.

They live on the same :data:`~synthwatch.service.storage.schema.metadata` as the service's other
tables (``schema.py`` imports this module at its end), so the migration check compares them too;
migration ``0004`` creates ``assessments``, ``0005`` the regulator's inbox (``assessment_filings``),
``0006`` the imported evaluation runs (``assessment_eval_runs``). The declared facts, the latest evidence, the evaluation and the
findings (with their remediation records) are JSON documents of ``synthwatch.assess``; a finalised
assessment keeps the report exactly as it was signed (``report_json``, ``report_html``). Times are
UNIX seconds (double).
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import metadata

__all__ = ["assessments", "assessment_filings", "assessment_eval_runs"]

assessments = sa.Table(
    "assessments", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # draft | finalised
    sa.Column("function_kind", sa.String(40), nullable=False),
    sa.Column("title", sa.String(300), nullable=False, server_default=""),  # the function's English name
    sa.Column("triggers", sa.String(200), nullable=False, server_default=""),  # comma-separated ids
    sa.Column("spec", sa.Text, nullable=False),  # JSON: the declared facts (synthwatch.assessment/1)
    sa.Column("rules_name", sa.String(200), nullable=False),
    sa.Column("rules_version", sa.String(60), nullable=False),
    sa.Column("rules_sha256", sa.String(64), nullable=False),
    sa.Column("rules_text", sa.Text, nullable=False),  # the rules as used, so a re-collection uses the same
    sa.Column("evidence", sa.Text, nullable=False, server_default="{}"),  # JSON: evidence id -> Evidence
    sa.Column("results", sa.Text, nullable=False, server_default="[]"),  # JSON: ItemResult list
    sa.Column("findings", sa.Text, nullable=False, server_default="[]"),  # JSON: findings and remediations
    sa.Column("window_since", sa.Double),
    sa.Column("window_until", sa.Double),
    sa.Column("collected_at", sa.Double),
    sa.Column("collections", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("finalised_at", sa.Double),
    sa.Column("finalised_by", sa.String(80)),
    sa.Column("report_json", sa.Text),  # the finalised report document, byte-exact as hashed and signed
    sa.Column("report_html", sa.Text),
    sa.Column("report_pdf", sa.LargeBinary),  # printed from report_html when WeasyPrint is installed
    sa.Column("report_sha256", sa.String(64)),  # sha256 of report_json's UTF-8 bytes
    sa.Column("html_sha256", sa.String(64)),
    sa.Column("signature", sa.Text),  # JSON: the detached Ed25519 signatures of report.json and report.html
    sa.Column("key_id", sa.String(64)),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),  # optimistic concurrency
    sa.Index("ix_assessments_tenant", "tenant_id", "id"),
)

assessment_filings = sa.Table(
    "assessment_filings", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),  # the platform
    sa.Column("regulator_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),  # the regulator's tenant
    sa.Column("assessment_id", sa.String(40), nullable=False),  # the report filed now (a resubmission replaces it)
    sa.Column("report_sha256", sa.String(64), nullable=False),
    sa.Column("state", sa.String(30), nullable=False),  # filed | acknowledged | rectification_requested | resubmitted | accepted
    sa.Column("deadline_at", sa.Double),  # of a rectification request
    sa.Column("history", sa.Text, nullable=False, server_default="[]"),  # JSON: every transition
    sa.Column("filed_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_assessment_filings_regulator", "regulator_id", "id"),
    sa.Index("ix_assessment_filings_tenant", "tenant_id", "id"),
)

assessment_eval_runs = sa.Table(
    "assessment_eval_runs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("own_sample", sa.Boolean, nullable=False, server_default=sa.false()),  # the tenant's own labelled data
    sa.Column("results", sa.Text, nullable=False),  # results.json (synthwatch.eval/1) as imported
    sa.Column("results_sha256", sa.String(64), nullable=False),
    sa.Column("results_size", sa.BigInteger, nullable=False),
    sa.Column("scores", sa.Text),  # scores.csv as imported (ROC curves)
    sa.Column("scores_sha256", sa.String(64)),
    sa.Column("scores_size", sa.BigInteger),
    sa.Column("imported_at", sa.Double, nullable=False),
    sa.Column("imported_by", sa.String(80), nullable=False),
    sa.Index("ix_assessment_eval_runs_tenant", "tenant_id", "id"),
)
