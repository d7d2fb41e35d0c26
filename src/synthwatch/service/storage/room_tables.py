"""Tables of the live audio rooms (issue 15): one row per speaker stream, one per alert.

They live on the same :data:`~synthwatch.service.storage.schema.metadata` as the service's other
tables (``schema.py`` imports this module at its end), so the migration check compares them too;
migration ``0003`` creates them. The live state of a room (who is speaking, current scores) is in the
API process's memory (``synthwatch.service.rooms.hub``); these rows are what outlives a stream.
Room and participant names are the client's: stored as given (at most 200 characters), shown only
as data. Times are UNIX seconds (double); ``t_start`` / ``t_end`` are seconds of the speaker's
stream.
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import metadata

__all__ = ["room_streams", "room_alerts"]

room_streams = sa.Table(
    "room_streams", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("room", sa.String(200), nullable=False),
    sa.Column("participant", sa.String(200), nullable=False),
    sa.Column("transport", sa.String(12), nullable=False),  # websocket | twilio | whip
    sa.Column("format", sa.Text, nullable=False, server_default="{}"),  # JSON: encoding, sample_rate, channels
    sa.Column("key_id", sa.String(40)),
    sa.Column("source_ip", sa.String(64)),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("ended_at", sa.Double),
    sa.Column("close_code", sa.Integer),
    sa.Column("close_reason", sa.Text),
    sa.Column("audio_s", sa.Double, nullable=False, server_default="0"),
    sa.Column("speech_s", sa.Double, nullable=False, server_default="0"),
    sa.Column("windows_scored", sa.Integer, nullable=False, server_default="0"),
    sa.Column("speech_windows", sa.Integer, nullable=False, server_default="0"),
    sa.Column("skipped_windows", sa.Integer, nullable=False, server_default="0"),
    sa.Column("skipped_audio_s", sa.Double, nullable=False, server_default="0"),
    sa.Column("alerts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("peak_score", sa.Double),
    sa.Column("detector", sa.String(60), nullable=False),
    sa.Index("ix_room_streams_room", "tenant_id", "room", "started_at"),
    sa.Index("ix_room_streams_tenant", "tenant_id", "started_at"),
)

room_alerts = sa.Table(
    "room_alerts", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("stream_id", sa.String(40), nullable=False),
    sa.Column("room", sa.String(200), nullable=False),
    sa.Column("participant", sa.String(200), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("t_start", sa.Double, nullable=False),
    sa.Column("t_end", sa.Double, nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("threshold", sa.Double, nullable=False),
    sa.Column("detector", sa.String(60), nullable=False),
    sa.Column("detector_version", sa.String(40), nullable=False),
    sa.Column("clip_start_s", sa.Double, nullable=False),
    sa.Column("clip_end_s", sa.Double, nullable=False),
    sa.Column("flac_sha256", sa.String(64)),
    sa.Column("report_sha256", sa.String(64)),
    sa.Column("timeline_sha256", sa.String(64)),
    sa.Column("verdict", sa.String(20)),
    sa.Column("case_id", sa.String(40)),
    sa.Column("processing_s", sa.Double),
    sa.Index("ix_room_alerts_room", "tenant_id", "room", "id"),
    sa.Index("ix_room_alerts_tenant", "tenant_id", "id"),
)
