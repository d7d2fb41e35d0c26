"""The audit log (hash chain, signed checkpoints, verification, export, purge) and its hook into
the service's events.

:func:`install` is called once per :class:`~synthwatch.service.core.ServiceCore`: it wraps the
core's event store so that every ``events.record(...)`` (key creation and revocation, tenant
settings, scans, legal holds, purges, and every case state change) also appends an audit entry in
the same transaction, and lets the review queue react to finished scans (cases open by policy).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from ..storage.interfaces import Event
from .log import SYSTEM_CHAIN, AuditEntry, AuditLog, Checkpoint, VerifyResult, canonical, digest

if TYPE_CHECKING:
    from ..core import ServiceCore

__all__ = ["AuditLog", "AuditEntry", "Checkpoint", "VerifyResult", "SYSTEM_CHAIN", "canonical", "digest", "install",
           "audit_of", "AuditedEvents", "event_entry"]

_logger = logging.getLogger("synthwatch.service.audit")

_LOGS: weakref.WeakKeyDictionary[Any, AuditLog] = weakref.WeakKeyDictionary()

#: detail values larger than this (canonical JSON bytes) are kept as their digest only
_MAX_DETAIL = 2000


def _small(details: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in details.items():
        if isinstance(v, str) and len(v) > 300:
            out[k] = {"sha256": digest(v), "length": len(v)}
        elif isinstance(v, dict | list) and len(canonical(v)) > _MAX_DETAIL:
            out[k] = {"sha256": digest(v)}
        else:
            out[k] = v
    return out


def event_entry(log: AuditLog, conn: Connection, event: Event) -> AuditEntry:
    """Append the audit entry of a service event: ``details["before"]`` / ``["after"]`` (when
    given) become the before/after digests, otherwise the details are the state after."""
    details = dict(event.details)
    has_states = "before" in details or "after" in details
    before = details.pop("before", None)
    after = details.pop("after", None) if has_states else event.details
    return log.append(conn, action=event.action, object_type=event.object_type, object_id=event.object_id,
                      tenant_id=event.tenant_id, actor=event.actor, role=event.role, source_ip=event.source_ip,
                      before=before, after=after, details=_small(details))


class AuditedEvents:
    """The core's event store, plus an audit entry per event and the review queue's listeners."""

    def __init__(self, inner: Any, log: AuditLog, listeners: list[Callable[[Connection, Event], None]]) -> None:
        self.inner = inner
        self.log = log
        self.listeners = listeners

    def append(self, conn: Connection, event: Event) -> str:
        eid: str = self.inner.append(conn, event)
        event_entry(self.log, conn, event)
        for fn in self.listeners:
            fn(conn, event)
        return eid

    def list(self, conn: Connection, tenant_id: str | None, object_id: str | None, limit: int) -> list[dict[str, Any]]:
        return self.inner.list(conn, tenant_id, object_id, limit)  # type: ignore[no-any-return]


def audit_of(core: ServiceCore) -> AuditLog:
    log = _LOGS.get(core)
    if log is None:
        log = AuditLog(core.db, core.settings.data_dir / "audit")
        _LOGS[core] = log
    return log


def install(core: ServiceCore) -> None:
    """Hook the audit log and the review queue into ``core`` (idempotent)."""
    if isinstance(core.stores.events, AuditedEvents):
        return
    from ..review.hooks import on_event

    ref = weakref.ref(core)

    def review_listener(conn: Connection, event: Event) -> None:
        c = ref()
        if c is None or event.action != "scan.completed":
            return
        # in a savepoint: a case that cannot be opened (a bad stored policy, a bug) is logged and
        # rolled back alone; it never costs the scan its result
        try:
            with conn.begin_nested():
                on_event(c, conn, event)
        except Exception:  # noqa: BLE001
            _logger.exception("review: no case could be opened for %s %s", event.object_type, event.object_id)

    core.stores.events = AuditedEvents(core.stores.events, audit_of(core), [review_listener])  # type: ignore[assignment]
