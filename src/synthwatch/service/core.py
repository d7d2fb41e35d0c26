"""The service's operations, shared by the HTTP routes, the CLI (``synthwatch admin``) and tests.

:class:`ServiceCore` holds the settings, the database, the stores and the media files. It never
scans: submitting a scan writes a ``scans`` row and a job; workers do the rest
(:mod:`synthwatch.service.jobs`).
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from .. import __version__
from ..config import Limits, Settings, get_settings
from ..errors import ConfigError
from .auth import Principal, Role
from .db import Database, now
from .events import record
from .ids import new_id
from .settings import ServiceSettings
from .storage.blobs import BlobStore
from .storage.interfaces import Event, ScanRecord, Tenant
from .storage.sql import Stores, new_webhook_secret
from .webhooks import enqueue as enqueue_webhook

__all__ = ["ServiceCore", "ScanRequest", "Submitted", "IdempotencyConflict", "TENANT_SETTING_KEYS", "LIMIT_KEYS", "iso",
           "scan_resource"]

#: tenant settings an admin may change (PATCH /v1/tenant)
TENANT_SETTING_KEYS = ("retention_days", "rate_limit_per_minute", "callback_url", "detectors", "limits")
#: scan limits a tenant or a request may set (a request may only lower its tenant's)
LIMIT_KEYS = ("max_bytes", "max_duration_s", "max_pixels", "max_frames", "decode_timeout_s")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class ScanRequest:
    """What a client asked for, validated; the media is either ``sha256`` (stored upload) or ``url``."""

    detectors: list[str] | None = None
    declared_ai: bool = False
    callback_url: str | None = None
    external_id: str | None = None
    limits: dict[str, float] = field(default_factory=dict)
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    filename: str = ""

    def fingerprint(self) -> str:
        body = {"detectors": self.detectors, "declared_ai": self.declared_ai, "callback_url": self.callback_url,
                "external_id": self.external_id, "limits": self.limits, "url": self.url, "sha256": self.sha256,
                "filename": self.filename}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass
class Submitted:
    scan: ScanRecord
    replayed: bool = False


def scan_resource(rec: ScanRecord, *, include_report: bool = True) -> dict[str, Any]:
    """The API's view of a scan (``GET /v1/scans/{id}``; also the data of scan webhooks)."""
    report = json.loads(rec.report) if rec.report else None
    decision = None
    if report and isinstance(report.get("provenance"), dict):
        decision = report["provenance"].get("decision")
    out: dict[str, Any] = {
        "id": rec.id,
        "object": "scan",
        "status": rec.status,
        "created_at": iso(rec.created_at),
        "started_at": iso(rec.started_at),
        "finished_at": iso(rec.finished_at),
        "external_id": rec.external_id,
        "source": {"type": rec.source, "filename": rec.filename or None, "url": rec.url},
        "media": {"sha256": rec.sha256, "size": rec.size, "kind": rec.kind} if rec.sha256 else None,
        "detectors": rec.detectors,
        "declared_ai": rec.declared_ai,
        "limits": rec.options.get("limits", {}),
        "callback_url": rec.callback_url,
        "attempts": rec.attempts,
        "progress": rec.progress,
        "reused_from": rec.reused_from,
        "verdict": ({"label": rec.verdict, "score": rec.score} if rec.verdict else None),
        "label_decision": decision,
        "error": ({"code": rec.error_code, "message": rec.error_message} if rec.error_code else None),
    }
    if include_report:
        out["report"] = report
    return out


class ServiceCore:
    def __init__(self, settings: ServiceSettings | None = None, *, core: Settings | None = None,
                 db: Database | None = None) -> None:
        self.settings = settings or ServiceSettings()
        self.core = core or get_settings(home=self.settings.home)
        self.db = db or Database(self.settings.db_url)
        self.stores = Stores.over(self.db)
        self.blobs = BlobStore(self.settings.media_dir)
        # every event is audited; cases open by policy (issue 14)
        from .audit import install as _install_audit

        _install_audit(self)
        self._fp_lock = threading.Lock()
        self._fp_cache: dict[tuple[str, ...], tuple[list[str], str]] = {}
        self._defaults: list[str] | None = None
        self._batcher = _SubmitBatcher(self)
        self._pool: Any = None

    @property
    def opts(self) -> Any:
        return self.settings.service

    # ------------------------------------------------------------------ detectors
    def default_detectors(self, tenant: Tenant | None = None) -> list[str]:
        if tenant and tenant.settings.get("detectors"):
            return list(tenant.settings["detectors"])
        if self.core.detectors:
            return list(self.core.detectors)
        if self._defaults is None:  # looked up once: every submission asks
            from ..detectors import registry

            self._defaults = list(registry.default_names())
        return list(self._defaults)

    def resolve_detectors(self, names: list[str]) -> tuple[list[str], str]:
        """Canonical names and the fingerprint of their versions (plus synthwatch's), for dedupe.
        Raises :class:`UnknownDetector` for a name that is not registered."""
        key = tuple(names)
        with self._fp_lock:
            if key in self._fp_cache:
                return self._fp_cache[key]
        from ..detectors import registry

        if names == ["all"]:
            names = registry.available()
        infos = [registry.detector_class(n).info for n in names]
        canon = [i.name for i in infos]
        if len(set(canon)) != len(canon):
            raise ConfigError("a detector is named twice")
        digest = hashlib.sha256(json.dumps({"synthwatch": __version__,
                                            "detectors": [[i.name, i.version, i.model] for i in infos]},
                                           sort_keys=True).encode()).hexdigest()
        with self._fp_lock:
            self._fp_cache[key] = (canon, digest)
        return canon, digest

    # ------------------------------------------------------------------ limits
    def effective_limits(self, tenant: Tenant, requested: dict[str, float]) -> dict[str, float]:
        """Tenant limits (or the system's), lowered by the request's; only values that differ from
        the system's are kept (they are part of the dedupe key)."""
        base = self.core.limits.model_dump()
        tenant_limits = tenant.settings.get("limits") or {}
        out: dict[str, float] = {}
        for k in LIMIT_KEYS:
            value = tenant_limits.get(k, base[k])
            if k in requested:
                value = min(value, requested[k])
            if value != base[k]:
                out[k] = value
        return out

    def limits_for(self, options: dict[str, Any]) -> Limits:
        values = self.core.limits.model_dump()
        values.update(options.get("limits") or {})
        return Limits.model_validate(values)

    # ------------------------------------------------------------------ tenants and keys
    def create_tenant(self, name: str, *, actor: str = "cli") -> Tenant:
        name = name.strip()
        if not name or len(name) > 200 or any(ord(ch) < 32 for ch in name):
            raise ConfigError("a tenant name is 1-200 printable characters")
        with self.db.write() as conn:
            if self.stores.tenants.by_name(conn, name):
                raise ConfigError(f"a tenant named {name!r} already exists")
            tenant = self.stores.tenants.create(conn, name, {"retention_days": self.opts.retention_days})
            record(self.stores.events, conn, Event("tenant.created", "tenant", tenant.id, tenant.id, actor,
                                                   details={"name": name}))
        return tenant

    def tenant_by_name(self, name: str) -> Tenant:
        with self.db.read() as conn:
            tenant = self.stores.tenants.by_name(conn, name)
        if tenant is None:
            raise ConfigError(f"no tenant named {name!r} (create it with `synthwatch admin tenant create`)")
        return tenant

    def create_key(self, tenant: Tenant, role: str, name: str = "", *, actor: str = "cli",
                   actor_role: str | None = None, source_ip: str | None = None) -> tuple[Any, str]:
        try:
            role = Role(role).value
        except ValueError:
            raise ConfigError(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}") from None
        with self.db.write() as conn:
            key, secret = self.stores.keys.create(conn, tenant.id, role, name[:200])
            record(self.stores.events, conn, Event("key.created", "api_key", key.id, tenant.id, actor, actor_role,
                                                   source_ip, {"role": role, "name": name[:200]}))
        return key, secret

    def revoke_key(self, tenant_id: str, key_id: str, *, actor: str = "cli", actor_role: str | None = None,
                   source_ip: str | None = None) -> bool:
        with self.db.write() as conn:
            ok = self.stores.keys.revoke(conn, tenant_id, key_id)
            if ok:
                record(self.stores.events, conn, Event("key.revoked", "api_key", key_id, tenant_id, actor, actor_role,
                                                       source_ip))
        return ok

    def rotate_webhook_secret(self, principal: Principal) -> str:
        secret = new_webhook_secret()
        with self.db.write() as conn:
            self.stores.tenants.set_webhook_secret(conn, principal.tenant_id, secret)
            record(self.stores.events, conn, Event("tenant.webhook_secret_rotated", "tenant", principal.tenant_id,
                                                   principal.tenant_id, principal.key_id, principal.role,
                                                   principal.source_ip))
        return secret

    # ------------------------------------------------------------------ scans
    def submit(self, principal: Principal, req: ScanRequest, idempotency_key: str | None) -> Submitted:
        """Record a scan and queue its job (or reuse a finished scan of the same bytes and detector
        versions). With ``idempotency_key``: the same key and request give the same scan; the same
        key with another request raises :class:`IdempotencyConflict`."""
        for attempt in range(2):
            try:
                return self._submit(principal, req, idempotency_key)
            except sa.exc.IntegrityError:
                if attempt:  # a concurrent request with the same idempotency key won the race
                    raise
        raise AssertionError("unreachable")

    def submit_later(self, principal: Principal, req: ScanRequest, idempotency_key: str | None) -> Future[Submitted]:
        """:meth:`submit`, by the core's submission thread: with SQLite, submissions that arrive
        together are written in arrival order, many to a transaction (each in its own savepoint: one
        request's conflict or error is its own); the future holds the result or the exception. On a
        database server each is its own transaction, in a thread of the default executor."""
        if self.db.dialect != "sqlite":
            return self._executor().submit(self.submit, principal, req, idempotency_key)
        return self._batcher.put(principal, req, idempotency_key)

    def _executor(self) -> Any:
        with self._fp_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="submit")
            return self._pool

    def _submit(self, principal: Principal, req: ScanRequest, idempotency_key: str | None) -> Submitted:
        with self.db.write() as conn:
            return self._submit_in(conn, principal, req, idempotency_key)

    def _submit_in(self, conn: Any, principal: Principal, req: ScanRequest, idempotency_key: str | None) -> Submitted:
        at = now()
        request_hash = req.fingerprint()
        tenant = self.stores.tenants.get(conn, principal.tenant_id)
        assert tenant is not None
        if idempotency_key:
            seen = self.stores.idempotency.get(conn, tenant.id, idempotency_key, at - self.opts.idempotency_ttl_s)
            if seen is not None:
                if seen[0] != request_hash:
                    raise IdempotencyConflict(seen[1])
                rec = self.stores.scans.get(conn, tenant.id, seen[1])
                if rec is not None:
                    return Submitted(rec, replayed=True)
        names, fp = self.resolve_detectors(req.detectors or self.default_detectors(tenant))
        options = {"limits": self.effective_limits(tenant, req.limits)}
        callback = req.callback_url or tenant.settings.get("callback_url")
        scan_id = new_id("scan")
        values: dict[str, Any] = {
            "id": scan_id, "tenant_id": tenant.id, "status": "queued", "source": "url" if req.url else "upload",
            "url": req.url, "filename": req.filename[:300], "sha256": req.sha256, "size": req.size,
            "detectors": names, "detectors_fp": fp, "declared_ai": req.declared_ai, "options": options,
            "callback_url": callback, "external_id": req.external_id, "created_at": at, "attempts": 0,
        }
        reused = None
        if req.sha256:
            self.stores.media.upsert(conn, tenant.id, req.sha256, req.size or 0, req.filename,
                                     self.retention_s(tenant))
            reused = self.stores.scans.reusable(conn, tenant.id, req.sha256, fp, req.declared_ai,
                                                json.dumps(options, sort_keys=True))
        if reused is not None:
            values.update(status="done", kind=reused.kind, verdict=reused.verdict, score=reused.score,
                          report=reused.report, reused_from=reused.reused_from or reused.id, started_at=at,
                          finished_at=at)
            rec = self.stores.scans.insert(conn, values)
            self.scan_finished(conn, rec, tenant, actor=principal.key_id)
        else:
            rec = self.stores.scans.insert(conn, values)
            self.stores.jobs.enqueue(conn, "scan", scan_id, tenant.id, max_attempts=self.opts.max_attempts)
        if idempotency_key:
            self.stores.idempotency.put(conn, tenant.id, idempotency_key, request_hash, scan_id)
        record(self.stores.events, conn, Event("scan.created", "scan", scan_id, tenant.id, principal.key_id,
                                               principal.role, principal.source_ip,
                                               {"sha256": req.sha256, "url": req.url, "reused_from": rec.reused_from}))
        return Submitted(rec)

    def retention_s(self, tenant: Tenant) -> float:
        return float(tenant.settings.get("retention_days") or self.opts.retention_days) * 86400.0

    def scan_finished(self, conn: Any, rec: ScanRecord, tenant: Tenant, *, actor: str) -> None:
        """Inside the transaction that finished ``rec``: counters, the webhook, the event."""
        event = "scan.completed" if rec.status == "done" else "scan.failed"
        if rec.verdict:
            self.stores.counters.add(conn, "verdicts_total", json.dumps({"verdict": rec.verdict}), 1)
        self.stores.counters.add(conn, "scans_total", json.dumps({"status": rec.status}), 1)
        if rec.callback_url:
            enqueue_webhook(self.stores.webhooks, conn, tenant_id=tenant.id, tenant_name=tenant.name, event=event,
                            object_id=rec.id, url=rec.callback_url, data=scan_resource(rec),
                            max_attempts=self.opts.webhook_max_attempts)
        record(self.stores.events, conn, Event(event, "scan", rec.id, tenant.id, actor,
                                               details={"verdict": rec.verdict, "error": rec.error_code}))

    def get_scan(self, principal: Principal, scan_id: str) -> ScanRecord | None:
        with self.db.read() as conn:
            return self.stores.scans.get(conn, principal.tenant_id, scan_id)


class IdempotencyConflict(Exception):
    def __init__(self, scan_id: str) -> None:
        super().__init__("this Idempotency-Key was used with a different request")
        self.scan_id = scan_id



class _SubmitBatcher:
    """One thread writes the submissions of this process, in arrival order, up to ``max_batch``
    per transaction. SQLite has one writer at a time anyway: a burst of uploads then costs one
    commit and one thread wake-up per batch instead of per upload, and no upload waits behind
    later ones for the write lock. The thread stops after ``idle_s`` without work and starts
    again with the next submission."""

    def __init__(self, core: ServiceCore, max_batch: int = 32, idle_s: float = 5.0) -> None:
        self.core = core
        self.max_batch = max_batch
        self.idle_s = idle_s
        self._q: queue.SimpleQueue[tuple[Principal, ScanRequest, str | None, Future[Submitted]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, principal: Principal, req: ScanRequest, idempotency_key: str | None) -> Future[Submitted]:
        fut: Future[Submitted] = Future()
        with self._lock:
            self._q.put((principal, req, idempotency_key, fut))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="submit-batcher", daemon=True)
                self._thread.start()
        return fut

    def _run(self) -> None:
        while True:
            try:
                batch = [self._q.get(timeout=self.idle_s)]
            except queue.Empty:
                with self._lock:  # put() holds the lock: nothing can arrive unseen
                    if self._q.empty():
                        self._thread = None
                        return
                continue
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[tuple[Principal, ScanRequest, str | None, Future[Submitted]]]) -> None:
        outcomes: list[tuple[Future[Submitted], Submitted | None, BaseException | None]] = []
        try:
            with self.core.db.write() as conn:
                for principal, req, key, fut in batch:  # written even if its caller went away meanwhile
                    for attempt in range(2):
                        try:
                            with conn.begin_nested():
                                result = self.core._submit_in(conn, principal, req, key)
                            outcomes.append((fut, result, None))
                            break
                        except sa.exc.IntegrityError as exc:  # another process's request with the same key won
                            if attempt:
                                outcomes.append((fut, None, exc))
                        except Exception as exc:  # noqa: BLE001 - this request's own error (conflict, detector)
                            outcomes.append((fut, None, exc))
                            break
        except Exception as exc:  # noqa: BLE001 - the transaction failed: nothing of it was written
            for *_, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for done, value, error in outcomes:  # answered once committed
            if done.done():  # cancelled by its caller
                continue
            if error is not None:
                done.set_exception(error)
            elif value is not None:
                done.set_result(value)
