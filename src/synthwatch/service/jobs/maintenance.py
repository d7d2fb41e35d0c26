"""Retention: delete media whose retention period ended, unless a legal hold is on it.

A file is removed from disk when no tenant still holds a live reference to the same bytes. Scan
rows and reports are kept (they are the evidence); their media download answers 410.
"""

from __future__ import annotations

import logging
import time

from ..core import ServiceCore
from ..events import record
from ..storage.interfaces import Event

__all__ = ["purge_expired"]

log = logging.getLogger("synthwatch.service.retention")


def purge_expired(core: ServiceCore, *, at: float | None = None, batch: int = 500) -> int:
    """Purge expired, unheld media; returns how many tenant references were purged."""
    at = time.time() if at is None else at
    purged = 0
    with core.db.read() as conn:
        due = core.stores.media.expired(conn, at, batch)
    for m in due:
        with core.db.write() as conn:
            if not core.stores.media.mark_purged(conn, m.tenant_id, m.sha256, at):
                continue  # held or refreshed meanwhile
            record(core.stores.events, conn, Event("media.purged", "media", m.sha256, m.tenant_id, "system",
                                                   details={"expired_at": m.expires_at}))
            last = core.stores.media.live_references(conn, m.sha256) == 0
        purged += 1
        if last and core.blobs.delete(m.sha256):
            log.info("deleted media %s (retention ended)", m.sha256)
    with core.db.write() as conn:
        core.stores.idempotency.purge(conn, at - core.opts.idempotency_ttl_s)
    return purged
