"""A stream's row and its audit events: ``room.stream_started`` when it starts, ``room.stream_ended``
(its figures and close code) once it has ended and its alerts are stored."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..events import record
from ..storage.interfaces import Event
from . import store

if TYPE_CHECKING:
    from ..core import ServiceCore
    from .hub import LiveStream

__all__ = ["open_stream", "end_stream"]


def open_stream(core: ServiceCore, stream: LiveStream, detector: str) -> None:
    """The stream's row and its ``room.stream_started`` event (in a thread: database I/O)."""
    p = stream.principal
    with core.db.write() as conn:
        store.insert_stream(conn, {"id": stream.id, "tenant_id": p.tenant_id, "room": stream.room,
                                   "participant": stream.participant, "transport": stream.transport,
                                   "format": stream.format, "key_id": p.key_id, "source_ip": p.source_ip,
                                   "started_at": stream.started_at, "detector": detector})
        record(core.stores.events, conn, Event("room.stream_started", "room_stream", stream.id, p.tenant_id,
                                               p.key_id, p.role, p.source_ip,
                                               {"room": stream.room, "participant": stream.participant,
                                                "transport": stream.transport, "format": stream.format}))


def end_stream(core: ServiceCore, stream: LiveStream, summary: dict[str, Any]) -> None:
    p = stream.principal
    values = {"ended_at": time.time(), "close_code": stream.close_code, "close_reason": stream.close_reason[:500],
              "audio_s": summary.get("audio_s", 0.0), "speech_s": summary.get("speech_s", 0.0),
              "windows_scored": summary.get("windows_scored", 0), "speech_windows": summary.get("speech_windows", 0),
              "skipped_windows": summary.get("skipped_windows", 0),
              "skipped_audio_s": summary.get("skipped_audio_s", 0.0), "peak_score": summary.get("peak_score")}
    with core.db.write() as conn:
        store.end_stream(conn, stream.id, values)
        record(core.stores.events, conn, Event("room.stream_ended", "room_stream", stream.id, p.tenant_id,
                                               p.key_id, p.role, p.source_ip,
                                               {"room": stream.room, "participant": stream.participant,
                                                **{k: v for k, v in values.items() if k != "ended_at"},
                                                "alerts": summary.get("alerts", 0),
                                                "dropped_events": stream.dropped_events}))
