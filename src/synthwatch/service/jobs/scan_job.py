"""The scan job: media (stored upload, or a URL fetched through the SSRF guard) -> ``Scanner.scan``
-> report stored, counters, webhook, event; all of it committed only while the worker still holds
the job's lease, so a job re-run after a lost lease is recorded exactly once."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from ...pipeline.scan import Scanner
from ..core import ServiceCore
from ..fetch import FetchError, FetchPolicy, request
from ..metrics import observe
from ..storage.blobs import TooLarge
from ..storage.interfaces import Job, ScanRecord

__all__ = ["run_scan_job", "finish_abandoned"]

log = logging.getLogger("synthwatch.service.jobs")

ScannerFor = Callable[[list[str]], Scanner]


class _Progress:
    """The scanner's hook -> ``scans.progress``, at most once a second (thread-safe)."""

    def __init__(self, core: ServiceCore, scan_id: str) -> None:
        self.core = core
        self.scan_id = scan_id
        self.lock = threading.Lock()
        self.last = 0.0

    def __call__(self, step: str, info: dict[str, Any]) -> None:
        if step not in ("probe", "frames", "audio", "provenance"):
            return
        at = time.monotonic()
        with self.lock:
            if at - self.last < 1.0:
                return
            self.last = at
        progress = {"step": step, **{k: info[k] for k in ("done", "total") if isinstance(info.get(k), int)}}
        try:
            with self.core.db.write() as conn:
                self.core.stores.scans.update(conn, self.scan_id, {"progress": progress})
        except Exception:  # noqa: BLE001 - progress is best effort
            log.debug("progress update failed", exc_info=True)


def _finish(core: ServiceCore, job: Job, owner: str, scan: ScanRecord, values: dict[str, Any]) -> bool:
    """Commit a scan's outcome if ``owner`` still holds the job; returns whether it did.

    While the database cannot be reached (a restart, a fail-over) the commit is retried for
    ``max(30 s, 2 x lease_s)``, so a finished scan is not thrown away by a short outage: nobody can
    take the job meanwhile, and once someone has, the owner check refuses this commit."""
    deadline = time.monotonic() + max(30.0, 2 * core.opts.lease_s)
    delay = 0.25
    while True:
        try:
            return _finish_once(core, job, owner, scan, values)
        except sa.exc.OperationalError as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("job %s: cannot store the result yet (%s); retrying in %.1f s", job.id,
                        str(exc.orig or exc).splitlines()[0], delay)
            time.sleep(delay)
            delay = min(2 * delay, 5.0)


def _finish_once(core: ServiceCore, job: Job, owner: str, scan: ScanRecord, values: dict[str, Any]) -> bool:
    at = time.time()
    values = {"finished_at": at, "progress": None, **values}
    with core.db.write() as conn:
        if not core.stores.jobs.complete(conn, job.id, owner):
            log.warning("job %s: lease lost before the result was stored; the new holder will store it", job.id)
            return False
        core.stores.scans.update(conn, scan.id, values)
        rec = core.stores.scans.get(conn, None, scan.id)
        tenant = core.stores.tenants.get(conn, scan.tenant_id)
        assert rec is not None and tenant is not None
        kind = rec.kind or "unknown"
        if rec.started_at is not None and not rec.reused_from:
            observe(core.stores, conn, "job_duration_seconds", {"kind": kind}, at - rec.started_at)
        observe(core.stores, conn, "job_latency_seconds", {"kind": kind}, at - rec.created_at)
        core.scan_finished(conn, rec, tenant, actor=f"worker:{owner}")
    return True


def _failed(code: str, message: str) -> dict[str, Any]:
    return {"status": "failed", "error_code": code, "error_message": message[:2000]}


def _fetch(core: ServiceCore, scan: ScanRecord) -> tuple[str, int]:
    """Download ``scan.url`` into the media store; (sha256, size)."""
    o = core.opts
    limit = min(o.fetch_max_bytes, int(core.limits_for(scan.options).max_bytes))
    policy = FetchPolicy(allow=tuple(o.fetch_allow), max_bytes=limit, timeout_s=o.fetch_timeout_s,
                         max_redirects=o.fetch_max_redirects)
    assert scan.url is not None
    with core.blobs.writing(limit) as w:
        try:
            resp = request("GET", scan.url, policy, sink=w.write)
        except TooLarge:
            raise FetchError("fetch_too_large", f"the media is over the limit of {limit} bytes") from None
        if not 200 <= resp.status < 300:
            raise FetchError("fetch_failed", f"the server answered HTTP {resp.status}", status=resp.status)
        size = w.size
        return core.blobs.commit(w), size


def run_scan_job(core: ServiceCore, job: Job, owner: str, scanner_for: ScannerFor) -> bool:
    """Run one leased scan job to the end; returns whether its outcome was committed."""
    with core.db.read() as conn:
        scan = core.stores.scans.get(conn, None, job.ref)
        tenant = core.stores.tenants.get(conn, job.tenant_id)
    if scan is None or tenant is None or scan.status in ("done", "failed"):
        with core.db.write() as conn:
            return core.stores.jobs.complete(conn, job.id, owner)
    with core.db.write() as conn:
        core.stores.scans.update(conn, scan.id, {"status": "running", "attempts": job.attempts,
                                                 "started_at": time.time(), "progress": {"step": "queued"}})
    sha256, size = scan.sha256, scan.size
    if scan.source == "url":
        try:
            sha256, size = _fetch(core, scan)
        except FetchError as exc:
            return _finish(core, job, owner, scan, _failed(exc.code, str(exc)))
        with core.db.write() as conn:
            core.stores.media.upsert(conn, tenant.id, sha256, size, scan.filename, core.retention_s(tenant))
            core.stores.scans.update(conn, scan.id, {"sha256": sha256, "size": size})
            reused = core.stores.scans.reusable(conn, tenant.id, sha256, scan.detectors_fp, scan.declared_ai,
                                                json.dumps(scan.options, sort_keys=True))
        if reused is not None:
            return _finish(core, job, owner, scan, {"status": "done", "kind": reused.kind, "verdict": reused.verdict,
                                                    "score": reused.score, "report": reused.report,
                                                    "reused_from": reused.reused_from or reused.id})
    assert sha256 is not None
    path = core.blobs.path(sha256)
    if not path.is_file():
        return _finish(core, job, owner, scan, _failed("media_missing", "the stored media file is missing "
                                                       "(deleted by retention before the scan ran?)"))
    scanner = scanner_for(scan.detectors)
    report = scanner.scan(path, name=scan.filename or sha256, limits=core.limits_for(scan.options),
                          declared_ai=scan.declared_ai, hook=_Progress(core, scan.id))
    as_dict = report.to_dict()
    doc = json.dumps(as_dict, ensure_ascii=False)
    kind = str(report.media.kind) if report.media else None
    if report.error is not None:
        values = {**_failed(report.error.code, report.error.message), "report": doc, "kind": kind}
    else:
        values = {"status": "done", "report": doc, "kind": kind, "verdict": str(report.verdict.label),
                  "score": as_dict["verdict"]["score"], "error_code": None, "error_message": None}
    return _finish(core, job, owner, scan, values)


def finish_abandoned(core: ServiceCore, job: Job) -> None:
    """A job whose every attempt lost its worker: the scan ends ``failed`` (code ``worker_lost``)."""
    if job.kind != "scan":
        return
    with core.db.write() as conn:
        scan = core.stores.scans.get(conn, None, job.ref)
        tenant = core.stores.tenants.get(conn, job.tenant_id)
        if scan is None or tenant is None or scan.status in ("done", "failed"):
            return
        core.stores.scans.update(conn, scan.id, {"finished_at": time.time(), "progress": None,
                                                 "attempts": job.attempts,
                                                 **_failed("worker_lost", job.last_error or "worker lost")})
        rec = core.stores.scans.get(conn, None, scan.id)
        assert rec is not None
        core.scan_finished(conn, rec, tenant, actor="system")
