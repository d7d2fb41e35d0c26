"""live audio rooms: room_streams, room_alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_streams",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("room", sa.String(length=200), nullable=False),
        sa.Column("participant", sa.String(length=200), nullable=False),
        sa.Column("transport", sa.String(length=12), nullable=False),
        sa.Column("format", sa.Text(), server_default="{}", nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("close_code", sa.Integer(), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("audio_s", sa.Double(), server_default="0", nullable=False),
        sa.Column("speech_s", sa.Double(), server_default="0", nullable=False),
        sa.Column("windows_scored", sa.Integer(), server_default="0", nullable=False),
        sa.Column("speech_windows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped_windows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped_audio_s", sa.Double(), server_default="0", nullable=False),
        sa.Column("alerts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("peak_score", sa.Double(), nullable=True),
        sa.Column("detector", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("room_streams", schema=None) as batch_op:
        batch_op.create_index("ix_room_streams_room", ["tenant_id", "room", "started_at"], unique=False)
        batch_op.create_index("ix_room_streams_tenant", ["tenant_id", "started_at"], unique=False)

    op.create_table(
        "room_alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("stream_id", sa.String(length=40), nullable=False),
        sa.Column("room", sa.String(length=200), nullable=False),
        sa.Column("participant", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("t_start", sa.Double(), nullable=False),
        sa.Column("t_end", sa.Double(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("detector", sa.String(length=60), nullable=False),
        sa.Column("detector_version", sa.String(length=40), nullable=False),
        sa.Column("clip_start_s", sa.Double(), nullable=False),
        sa.Column("clip_end_s", sa.Double(), nullable=False),
        sa.Column("flac_sha256", sa.String(length=64), nullable=True),
        sa.Column("report_sha256", sa.String(length=64), nullable=True),
        sa.Column("timeline_sha256", sa.String(length=64), nullable=True),
        sa.Column("verdict", sa.String(length=20), nullable=True),
        sa.Column("case_id", sa.String(length=40), nullable=True),
        sa.Column("processing_s", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("room_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_room_alerts_room", ["tenant_id", "room", "id"], unique=False)
        batch_op.create_index("ix_room_alerts_tenant", ["tenant_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("room_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_room_alerts_tenant")
        batch_op.drop_index("ix_room_alerts_room")
    op.drop_table("room_alerts")
    with op.batch_alter_table("room_streams", schema=None) as batch_op:
        batch_op.drop_index("ix_room_streams_tenant")
        batch_op.drop_index("ix_room_streams_room")
    op.drop_table("room_streams")
