"""imported synthwatch eval runs, the detection-quality evidence of self-assessments (issue 16)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_eval_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("own_sample", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("results_sha256", sa.String(length=64), nullable=False),
        sa.Column("results_size", sa.BigInteger(), nullable=False),
        sa.Column("scores", sa.Text(), nullable=True),
        sa.Column("scores_sha256", sa.String(length=64), nullable=True),
        sa.Column("scores_size", sa.BigInteger(), nullable=True),
        sa.Column("imported_at", sa.Double(), nullable=False),
        sa.Column("imported_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_assessment_eval_runs_tenant", "assessment_eval_runs", ["tenant_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_assessment_eval_runs_tenant", table_name="assessment_eval_runs")
    op.drop_table("assessment_eval_runs")
