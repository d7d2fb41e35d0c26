"""Live audio rooms in the service: the WebSocket and WHIP endpoints (``routes/rooms.py``), the
room state and its figures (:mod:`.hub`), storage (:mod:`.store`), alerts as cases, webhooks and
audit events (:mod:`.alerts`), and settings (:mod:`.settings`). The monitor itself
(windows, scores, alerts) is :mod:`synthwatch.stream`, which knows nothing of the service.

Nothing is imported here, so that reading the settings does not load the monitor.
"""
