"""Storage of live rooms: stream rows and alert rows (SQLAlchemy Core; SQLite and PostgreSQL).

Functions take the caller's connection, so a stream's row and its audit event, or an alert's row,
its webhook and its case, commit together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from ..storage.room_tables import room_alerts, room_streams

__all__ = ["StreamRecord", "AlertRecord", "insert_stream", "end_stream", "streams_of_room", "insert_alert",
           "set_alert_case", "set_alert_timeline", "get_alert", "alerts_of_room", "recent_rooms", "room_exists"]


@dataclass(frozen=True)
class StreamRecord:
    id: str
    tenant_id: str
    room: str
    participant: str
    transport: str
    format: dict[str, Any]
    started_at: float
    ended_at: float | None
    close_code: int | None
    close_reason: str | None
    audio_s: float
    speech_s: float
    windows_scored: int
    speech_windows: int
    skipped_windows: int
    skipped_audio_s: float
    alerts: int
    peak_score: float | None
    detector: str


@dataclass(frozen=True)
class AlertRecord:
    id: str
    tenant_id: str
    stream_id: str
    room: str
    participant: str
    at: float
    t_start: float
    t_end: float
    score: float
    threshold: float
    detector: str
    detector_version: str
    clip_start_s: float
    clip_end_s: float
    flac_sha256: str | None
    report_sha256: str | None
    timeline_sha256: str | None
    verdict: str | None
    case_id: str | None
    processing_s: float | None


def _stream(row: RowMapping) -> StreamRecord:
    d = dict(row)
    d.pop("key_id", None)
    d.pop("source_ip", None)
    d["format"] = json.loads(d["format"] or "{}")
    return StreamRecord(**d)


def _alert(row: RowMapping) -> AlertRecord:
    return AlertRecord(**dict(row))


def insert_stream(conn: Connection, values: dict[str, Any]) -> None:
    row = dict(values)
    row["format"] = json.dumps(row.get("format") or {})
    conn.execute(room_streams.insert().values(**row))


def end_stream(conn: Connection, stream_id: str, values: dict[str, Any]) -> None:
    conn.execute(room_streams.update().where(room_streams.c.id == stream_id).values(**values))


def streams_of_room(conn: Connection, tenant_id: str, room: str, since: float, limit: int = 500) -> list[StreamRecord]:
    q = (sa.select(room_streams).where(room_streams.c.tenant_id == tenant_id, room_streams.c.room == room,
                                       sa.or_(room_streams.c.started_at >= since, room_streams.c.ended_at.is_(None),
                                              room_streams.c.ended_at >= since))
         .order_by(room_streams.c.started_at.desc()).limit(limit))
    return [_stream(r) for r in conn.execute(q).mappings()]


def room_exists(conn: Connection, tenant_id: str, room: str) -> bool:
    q = sa.select(room_streams.c.id).where(room_streams.c.tenant_id == tenant_id, room_streams.c.room == room).limit(1)
    return conn.execute(q).first() is not None


def recent_rooms(conn: Connection, tenant_id: str, since: float, limit: int = 200) -> list[dict[str, Any]]:
    """Rooms with a stream that started or ended since ``since``: name, streams, last activity, alerts."""
    active = sa.func.max(sa.func.coalesce(room_streams.c.ended_at, room_streams.c.started_at))
    q = (sa.select(room_streams.c.room, sa.func.count().label("streams"), active.label("last_activity"),
                   sa.func.sum(room_streams.c.alerts).label("alerts"),
                   sa.func.max(room_streams.c.peak_score).label("peak_score"))
         .where(room_streams.c.tenant_id == tenant_id,
                sa.or_(room_streams.c.started_at >= since, room_streams.c.ended_at.is_(None),
                       room_streams.c.ended_at >= since))
         .group_by(room_streams.c.room).order_by(active.desc()).limit(limit))
    return [dict(r) for r in conn.execute(q).mappings()]


def insert_alert(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(room_alerts.insert().values(**values))
    conn.execute(room_streams.update().where(room_streams.c.id == values["stream_id"])
                 .values(alerts=room_streams.c.alerts + 1))


def set_alert_case(conn: Connection, alert_id: str, case_id: str | None) -> None:
    conn.execute(room_alerts.update().where(room_alerts.c.id == alert_id).values(case_id=case_id))


def set_alert_timeline(conn: Connection, alert_id: str, sha256: str) -> None:
    conn.execute(room_alerts.update().where(room_alerts.c.id == alert_id).values(timeline_sha256=sha256))


def get_alert(conn: Connection, tenant_id: str, alert_id: str) -> AlertRecord | None:
    row = conn.execute(sa.select(room_alerts).where(room_alerts.c.id == alert_id,
                                                    room_alerts.c.tenant_id == tenant_id)).mappings().first()
    return _alert(row) if row else None


def alerts_of_room(conn: Connection, tenant_id: str, room: str | None, limit: int,
                   before: str | None = None) -> list[AlertRecord]:
    q = sa.select(room_alerts).where(room_alerts.c.tenant_id == tenant_id)
    if room is not None:
        q = q.where(room_alerts.c.room == room)
    if before:
        q = q.where(room_alerts.c.id < before)
    q = q.order_by(room_alerts.c.id.desc()).limit(limit)
    return [_alert(r) for r in conn.execute(q).mappings()]
