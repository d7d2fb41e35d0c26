"""security self-assessments (issue 16)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("function_kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), server_default="", nullable=False),
        sa.Column("triggers", sa.String(length=200), server_default="", nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("rules_name", sa.String(length=200), nullable=False),
        sa.Column("rules_version", sa.String(length=60), nullable=False),
        sa.Column("rules_sha256", sa.String(length=64), nullable=False),
        sa.Column("rules_text", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), server_default="{}", nullable=False),
        sa.Column("results", sa.Text(), server_default="[]", nullable=False),
        sa.Column("findings", sa.Text(), server_default="[]", nullable=False),
        sa.Column("window_since", sa.Double(), nullable=True),
        sa.Column("window_until", sa.Double(), nullable=True),
        sa.Column("collected_at", sa.Double(), nullable=True),
        sa.Column("collections", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("finalised_at", sa.Double(), nullable=True),
        sa.Column("finalised_by", sa.String(length=80), nullable=True),
        sa.Column("report_json", sa.Text(), nullable=True),
        sa.Column("report_html", sa.Text(), nullable=True),
        sa.Column("report_pdf", sa.LargeBinary(), nullable=True),
        sa.Column("report_sha256", sa.String(length=64), nullable=True),
        sa.Column("html_sha256", sa.String(length=64), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_assessments_tenant", "assessments", ["tenant_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_assessments_tenant", table_name="assessments")
    op.drop_table("assessments")
