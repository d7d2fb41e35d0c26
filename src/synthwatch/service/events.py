"""The events call site: every state change the service makes goes through :func:`record`.

Today events are appended to the ``events`` table. The audit log (issue 14: hash chain, signed
checkpoints) hooks in here: register a listener with :func:`add_listener`; it is called inside the
same transaction as the change, so an audit entry commits or rolls back with it.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection

from .storage.interfaces import Event, EventStore

__all__ = ["Event", "record", "add_listener", "remove_listener"]

Listener = Callable[[Connection, Event], None]
_listeners: list[Listener] = []


def add_listener(fn: Listener) -> None:
    _listeners.append(fn)


def remove_listener(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def record(store: EventStore, conn: Connection, event: Event) -> str:
    eid = store.append(conn, event)
    for fn in list(_listeners):
        fn(conn, event)
    return eid
