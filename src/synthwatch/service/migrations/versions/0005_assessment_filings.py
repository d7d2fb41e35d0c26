"""the regulator's inbox: filed self-assessment reports (issue 16)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_filings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("regulator_id", sa.String(length=40), nullable=False),
        sa.Column("assessment_id", sa.String(length=40), nullable=False),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("deadline_at", sa.Double(), nullable=True),
        sa.Column("history", sa.Text(), server_default="[]", nullable=False),
        sa.Column("filed_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["regulator_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_assessment_filings_regulator", "assessment_filings", ["regulator_id", "id"], unique=False)
    op.create_index("ix_assessment_filings_tenant", "assessment_filings", ["tenant_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_assessment_filings_tenant", table_name="assessment_filings")
    op.drop_index("ix_assessment_filings_regulator", table_name="assessment_filings")
    op.drop_table("assessment_filings")
