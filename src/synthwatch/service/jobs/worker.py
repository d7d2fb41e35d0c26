"""The scan worker: a process that leases jobs from the database queue and runs them.

``synthwatch worker`` runs one (another machine can share the database); ``synthwatch serve
--workers N`` starts N of these as separate processes. Each worker loads a
:class:`~synthwatch.Scanner` once per detector set and keeps it (``scanner_cache`` sets at most).

While a job runs a heartbeat thread renews its lease every ``lease_s / 3`` and records the
worker's heartbeat; if the process dies (``kill -9``, OOM, power) the lease runs out and another
worker takes the job (the job's ``history`` shows the lost attempt). After ``max_attempts`` lost
attempts the job ends ``failed`` with ``worker_lost``.

Stopping (SIGTERM or SIGINT): no new job is leased; the running job may finish within
``shutdown_grace_s``; past that, or on a second signal, it is handed back to the queue (the attempt
not counted) and the worker exits. The sandboxed decoder processes are stopped on the way out.
Each worker also delivers due webhooks (a thread) and purges expired media now and then.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from types import FrameType
from typing import Any

from ...config import Settings
from ...pipeline.scan import Scanner
from ..core import ServiceCore
from ..ids import new_id
from ..settings import ServiceSettings
from ..storage.interfaces import Job
from ..webhooks import Dispatcher
from .maintenance import purge_expired
from .scan_job import finish_abandoned, run_scan_job

__all__ = ["Worker", "main", "JOB_KINDS"]

#: the job kinds a worker runs: scans, and the review queue's label action (issue 14)
JOB_KINDS = ("scan", "case_label")

log = logging.getLogger("synthwatch.service.worker")


class Worker:
    def __init__(self, settings: ServiceSettings | None = None, *, core_settings: Settings | None = None,
                 core: ServiceCore | None = None, worker_id: str | None = None, webhooks: bool = True) -> None:
        self.core = core or ServiceCore(settings, core=core_settings)
        self.opts = self.core.opts
        self.id = worker_id or f"{socket.gethostname()[:40]}-{os.getpid()}-{new_id('w')[-6:]}"
        self._scanners: OrderedDict[tuple[str, ...], Scanner] = OrderedDict()
        self._scanner_lock = threading.Lock()
        self.stopping = threading.Event()
        self.hard_stop = threading.Event()
        self.jobs_done = 0
        self.current: Job | None = None
        self._webhooks = webhooks
        self._last_sweep = 0.0
        self._last_purge = 0.0
        self._last_review = 0.0

    # ------------------------------------------------------------------ scanners
    def scanner_for(self, names: list[str]) -> Scanner:
        key = tuple(names)
        with self._scanner_lock:
            if key in self._scanners:
                self._scanners.move_to_end(key)
                return self._scanners[key]
        scanner = Scanner(self.core.core, detectors=names)
        scanner.load()
        with self._scanner_lock:
            self._scanners[key] = scanner
            while len(self._scanners) > self.opts.scanner_cache:
                self._scanners.popitem(last=False)
        return scanner

    def _models_state(self, scanner: Scanner) -> dict[str, Any]:
        """Which of the loaded detectors have their models (recorded with the worker's heartbeat)."""
        from ...detectors import registry
        from ...models.store import ModelStore

        store = ModelStore(self.core.core.model_dir)
        state: dict[str, Any] = {}
        for name in scanner.detector_names:
            missing = registry.missing_models(name, store)
            state[name] = "ok" if not missing else f"missing: {', '.join(missing)}"
        return {"detectors": state}

    # ------------------------------------------------------------------ one job
    def sweep(self, force: bool = False) -> None:
        """End jobs whose last allowed attempt lost its worker; purge expired media now and then."""
        at = time.monotonic()
        if force or at - self._last_sweep > max(1.0, self.opts.lease_s / 4):
            self._last_sweep = at
            for job in self.core.stores.jobs.abandon_expired():
                log.warning("job %s (%s %s) failed: %s", job.id, job.kind, job.ref, job.last_error)
                finish_abandoned(self.core, job)
        if force or at - self._last_purge > self.opts.purge_interval_s:
            self._last_purge = at
            purge_expired(self.core)
        if force or at - self._last_review > min(30.0, self.opts.audit_checkpoint_interval_s / 2):
            self._last_review = at
            from ..review.maintenance import tick  # audit checkpoints, overdue cases, appeal windows

            tick(self.core)

    def run_once(self) -> bool:
        """Lease and run one job in this thread (tests use this). Returns False when none was ready."""
        self.sweep()
        job = self.core.stores.jobs.lease(self.id, self.opts.lease_s, kinds=JOB_KINDS)
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: Job) -> None:
        self.current = job
        try:
            if job.kind == "case_label":
                from ..review.label_job import run_label_job

                run_label_job(self.core, job, self.id)
            else:
                run_scan_job(self.core, job, self.id, self.scanner_for)
        except Exception as exc:  # noqa: BLE001 - a job that raises is retried, then failed; the worker goes on
            log.exception("job %s raised", job.id)
            try:
                self._record_failure(job, exc)
            except Exception:  # noqa: BLE001 - the database is unreachable: the job's lease runs out and it is retried
                log.warning("job %s: the database is unreachable; the job is retried when its lease runs out", job.id,
                            exc_info=True)
        finally:
            self.current = None
            self.jobs_done += 1

    def _record_failure(self, job: Job, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        with self.core.db.write() as conn:
            if job.attempts < job.max_attempts:
                if self.core.stores.jobs.retry_later(conn, job.id, self.id, message, self.opts.retry_delay_s):
                    self.core.stores.scans.update(conn, job.ref, {"status": "queued", "progress": None})
            elif self.core.stores.jobs.fail(conn, job.id, self.id, message):
                scan = self.core.stores.scans.get(conn, None, job.ref)
                tenant = self.core.stores.tenants.get(conn, job.tenant_id)
                self.core.stores.scans.update(conn, job.ref, {"status": "failed", "error_code": "internal_error",
                                                              "error_message": message[:2000],
                                                              "finished_at": time.time(), "progress": None})
                scan = self.core.stores.scans.get(conn, None, job.ref)
                if scan is not None and tenant is not None:
                    self.core.scan_finished(conn, scan, tenant, actor=f"worker:{self.id}")

    # ------------------------------------------------------------------ the process
    def _heartbeat_loop(self) -> None:
        every = max(0.2, self.opts.lease_s / 3)
        lost: str | None = None
        while not self.hard_stop.wait(every):
            job = self.current
            try:
                renewed = job is None or job.id == lost or self.core.stores.jobs.renew(job.id, self.id,
                                                                                        self.opts.lease_s)
                if not renewed and job is not None and self.current is job:  # not merely finished meanwhile
                    lost = job.id  # said once; its result is stored only if nobody took the job
                    log.warning("lost the lease of job %s (another worker may run it; this run's result is "
                                "stored only if none has)", job.id)
                state = "stopping" if self.stopping.is_set() else ("busy" if job else "idle")
                self.core.stores.workers.heartbeat(self.id, state, job.id if job else None, self.jobs_done)
            except Exception:  # noqa: BLE001 - the database may be restarting; the next beat retries
                log.warning("heartbeat failed", exc_info=True)

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping.is_set():
            log.warning("second signal: returning the running job and exiting")
            self.hard_stop.set()
        self.stopping.set()

    def run(self, *, install_signals: bool = True, warm: bool = True) -> int:
        """Work until stopped. Returns the exit status."""
        if install_signals:
            signal.signal(signal.SIGTERM, self._signal)
            signal.signal(signal.SIGINT, self._signal)
        self.core.db.require_migrated()
        self.core.stores.workers.register(self.id, socket.gethostname(), os.getpid())
        models: dict[str, Any] = {}
        if warm:
            scanner = self.scanner_for(self.core.default_detectors())
            models = self._models_state(scanner)
        self.core.stores.workers.heartbeat(self.id, "idle", None, 0, models)
        log.info("worker %s ready (pid %d)", self.id, os.getpid())
        beat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        beat.start()
        dispatcher = None
        if self._webhooks:
            dispatcher = Dispatcher(self.core.stores.webhooks, self.core.stores.tenants, self.core.db, self.opts)
            dispatcher.start()
        try:
            while not self.stopping.is_set():
                try:
                    self.sweep()
                    job = self.core.stores.jobs.lease(self.id, self.opts.lease_s, kinds=JOB_KINDS)
                except Exception:  # noqa: BLE001 - database unreachable: wait and retry
                    log.warning("cannot lease a job", exc_info=True)
                    self.stopping.wait(2.0)
                    continue
                if job is None:
                    self.stopping.wait(self.opts.poll_interval_s)
                    continue
                self._run_with_grace(job)
        finally:
            if dispatcher is not None:
                dispatcher.stop()
            self.hard_stop.set()
            with contextlib.suppress(Exception):
                self.core.stores.workers.heartbeat(self.id, "stopped", None, self.jobs_done)
            _stop_sandboxes()
            self.core.db.dispose()
        log.info("worker %s stopped", self.id)
        return 0

    def _run_with_grace(self, job: Job) -> None:
        runner = threading.Thread(target=self._run, args=(job,), name=f"job-{job.id}", daemon=True)
        runner.start()
        deadline: float | None = None
        while runner.is_alive():
            runner.join(0.2)
            if self.stopping.is_set() and deadline is None:
                deadline = time.monotonic() + self.opts.shutdown_grace_s
                log.info("stopping: job %s may finish within %.0f s", job.id, self.opts.shutdown_grace_s)
            if runner.is_alive() and deadline is not None and (self.hard_stop.is_set() or time.monotonic() > deadline):
                try:
                    returned = self.core.stores.jobs.release(job.id, self.id)
                    if returned:
                        with self.core.db.write() as conn:
                            self.core.stores.scans.update(conn, job.ref, {"status": "queued", "progress": None})
                except Exception:  # noqa: BLE001 - database unreachable: the lease runs out and the job is retried
                    log.warning("job %s: cannot hand the job back (database unreachable); its lease will run out",
                                job.id, exc_info=True)
                    returned = False
                log.warning("job %s %s; exiting", job.id, "returned to the queue" if returned else "was already lost")
                _stop_sandboxes()
                with contextlib.suppress(Exception):
                    self.core.stores.workers.heartbeat(self.id, "stopped", None, self.jobs_done)
                logging.shutdown()
                os._exit(0)


def _stop_sandboxes() -> None:
    from ...media import sandbox
    from ...provenance import isolation

    for stop in (sandbox.shutdown, isolation.shutdown):
        with contextlib.suppress(Exception):
            stop()


def _die_with_parent() -> None:
    """When started by ``synthwatch serve``: exit if the parent dies (Linux PR_SET_PDEATHSIG)."""
    parent = os.environ.get("SYNTHWATCH_WORKER_PARENT")
    if not parent:
        return
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if str(os.getppid()) != parent:
        sys.exit(0)


def main() -> int:
    """Entry point of a worker process (``python -m synthwatch.service.jobs.worker``)."""
    logging.basicConfig(level=os.environ.get("SYNTHWATCH_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s worker[%(process)d] %(name)s: %(message)s")
    _die_with_parent()
    from ..db import NotMigrated

    try:
        worker = Worker()
        with contextlib.suppress(OSError):
            os.nice(worker.opts.worker_nice)
        return worker.run()
    except NotMigrated as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
