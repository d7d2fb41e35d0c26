"""Signed webhooks: enqueue, sign, deliver with exponential backoff and jitter, dead-letter.

Every delivery is a POST of a JSON body::

    {"id": "whd_…", "type": "scan.completed", "created_at": "2026-…Z", "tenant": "acme", "data": {…}}

with headers ``Content-Type: application/json``, ``Synthwatch-Event``, ``Synthwatch-Delivery``
(the id: receivers de-duplicate on it, since delivery is at least once) and

    Synthwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

under the tenant's webhook secret. ``t`` is the time of *this attempt*, so a receiver rejects
signatures older than its replay window (:data:`REPLAY_WINDOW_S`, 5 minutes, recommended) and
checks ``v1`` with a constant-time comparison over the raw body bytes (see :func:`verify`).

A 2xx answer is a delivery. Anything else (status, timeout, refused address) is retried after
``base * 2**(attempt-1)`` seconds (capped), half of it random (jitter), until ``max_attempts``; then
the delivery is ``dead`` (visible at ``GET /v1/webhooks/deliveries?status=dead``, re-sent with
``POST /v1/webhooks/deliveries/{id}/retry``). Callbacks go through the same SSRF guard as URL scans.
Other areas (review cases, rooms, assessments) send their events with :func:`enqueue`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from .fetch import FetchError, FetchPolicy, request
from .settings import ServiceOptions
from .storage.interfaces import Delivery, TenantStore, WebhookStore

__all__ = ["REPLAY_WINDOW_S", "sign", "verify", "enqueue", "backoff_s", "deliver_due", "Dispatcher"]

log = logging.getLogger("synthwatch.service.webhooks")

REPLAY_WINDOW_S = 300
SIGNATURE_HEADER = "Synthwatch-Signature"


def sign(secret: str, body: bytes, t: int | None = None) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = REPLAY_WINDOW_S,
           now: float | None = None) -> bool:
    """True when ``header`` is a valid signature of ``body`` made within ``tolerance_s``."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    current = time.time() if now is None else now
    if abs(current - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def enqueue(store: WebhookStore, conn: Connection, *, tenant_id: str, tenant_name: str, event: str,
            object_id: str | None, url: str, data: dict[str, Any], max_attempts: int) -> str:
    """Queue one event for ``url`` inside the caller's transaction; the body is fixed now."""
    from .ids import new_id

    # the delivery id is in the body, so it is chosen before the row is written
    did = new_id("whd")
    body = json.dumps({"id": did, "type": event, "created_at": _iso(time.time()), "tenant": tenant_name,
                       "data": data}, ensure_ascii=False, separators=(",", ":"))
    return store.enqueue(conn, tenant_id, event, object_id, url, body, max_attempts, delivery_id=did)


def backoff_s(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay after failed attempt ``attempt`` (1-based): half fixed, half random ("equal jitter")."""
    d = min(cap, base * (2 ** (attempt - 1)))
    return d / 2 + (rng or random).uniform(0, d / 2)


def deliver_one(d: Delivery, secret: str, opts: ServiceOptions, policy: FetchPolicy) -> tuple[bool, int | None, str]:
    body = d.body.encode("utf-8")
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
               "Synthwatch-Event": d.event, "Synthwatch-Delivery": d.id}
    try:
        resp = request("POST", d.url, policy, body=body, headers=headers, follow_redirects=False)
    except FetchError as exc:
        return False, exc.status, f"{exc.code}: {exc}"
    if 200 <= resp.status < 300:
        return True, resp.status, ""
    return False, resp.status, f"HTTP {resp.status}"


def deliver_due(webhooks: WebhookStore, tenants: TenantStore, db: Any, opts: ServiceOptions,
                limit: int = 20) -> int:
    """Send every delivery that is due now; returns how many were attempted. A plain function:
    workers call it in a loop (:class:`Dispatcher`), tests call it directly."""
    policy = FetchPolicy(allow=tuple(opts.fetch_allow), max_bytes=1024 * 1024, timeout_s=opts.webhook_timeout_s,
                         max_redirects=0)
    due = webhooks.lease_due(time.time(), lease_s=opts.webhook_timeout_s * 3 + 10, limit=limit)
    secrets: dict[str, str] = {}
    for d in due:
        if d.tenant_id not in secrets:
            with db.read() as conn:
                tenant = tenants.get(conn, d.tenant_id)
            secrets[d.tenant_id] = tenant.webhook_secret if tenant else ""
        ok, status, error = deliver_one(d, secrets[d.tenant_id], opts, policy)
        if ok:
            webhooks.mark_delivered(d.id, status or 200, time.time())
            continue
        attempt = d.attempts + 1
        if attempt >= d.max_attempts:
            log.warning("webhook %s to %s dead after %d attempts: %s", d.id, d.url, attempt, error)
            webhooks.mark_failed(d.id, status, error, None)
        else:
            webhooks.mark_failed(d.id, status, error,
                                 time.time() + backoff_s(attempt, opts.webhook_backoff_base_s, opts.webhook_backoff_max_s))
    return len(due)


class Dispatcher:
    """A thread that delivers due webhooks until stopped (runs inside each worker process)."""

    def __init__(self, webhooks: WebhookStore, tenants: TenantStore, db: Any, opts: ServiceOptions) -> None:
        self._args = (webhooks, tenants, db, opts)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        opts = self._args[3]
        while not self._stop.is_set():
            try:
                n = deliver_due(*self._args)
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the dispatcher
                log.exception("webhook dispatch failed")
                n = 0
            if n == 0:
                self._stop.wait(opts.webhook_poll_interval_s)
