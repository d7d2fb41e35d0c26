"""The review queue's reaction to service events (called inside the event's transaction)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from ..storage.interfaces import Event

__all__ = ["on_event"]


def on_event(core: Any, conn: Connection, event: Event) -> None:
    if event.action == "scan.completed" and event.object_type == "scan":
        from .cases import scan_completed

        scan_completed(core, conn, event.object_id)
