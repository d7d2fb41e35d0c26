"""Run N worker processes, restart the ones that die, stop them all gracefully.

Workers are separate processes (``python -m synthwatch.service.jobs.worker``), never threads of
the API: a scan can take seconds of CPU and a crash there must not touch the API. Each worker gets
``SYNTHWATCH_THREADS = cores / N`` (unless set) so N workers do not oversubscribe the cores.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

__all__ = ["Supervisor"]

log = logging.getLogger("synthwatch.service.supervisor")


class Supervisor:
    def __init__(self, n: int, *, grace_s: float = 30.0, env: dict[str, str] | None = None) -> None:
        self.n = n
        self.grace_s = grace_s
        self.env = dict(os.environ if env is None else env)
        self.env["SYNTHWATCH_WORKER_PARENT"] = str(os.getpid())
        if "SYNTHWATCH_THREADS" not in self.env and n > 0:
            self.env["SYNTHWATCH_THREADS"] = str(max(1, (os.cpu_count() or 1) // n))
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * n
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._monitor = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self.restarts = 0

    def _spawn(self, i: int) -> None:
        proc = subprocess.Popen([sys.executable, "-m", "synthwatch.service.jobs.worker"], env=self.env,
                                stdin=subprocess.DEVNULL)
        self.procs[i] = proc
        log.info("started worker %d (pid %d)", i, proc.pid)

    def start(self) -> None:
        with self._lock:
            for i in range(self.n):
                self._spawn(i)
        self._monitor.start()

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self.procs if p is not None and p.poll() is None]

    def _watch(self) -> None:
        recent: list[float] = []
        while not self._stop.wait(0.5):
            with self._lock:
                for i, proc in enumerate(self.procs):
                    if proc is None or proc.poll() is None or self._stop.is_set():
                        continue
                    at = time.monotonic()
                    recent = [t for t in recent if at - t < 60]
                    if proc.returncode == 2:
                        log.error("worker %d exited with status 2 (configuration); not restarting", i)
                        self.procs[i] = None
                        continue
                    if len(recent) >= 10 * max(1, self.n):
                        log.error("workers keep dying; waiting before restarting worker %d", i)
                        continue
                    recent.append(at)
                    log.warning("worker %d (pid %d) exited with %s; restarting", i, proc.pid, proc.returncode)
                    self.restarts += 1
                    self._spawn(i)

    def stop(self) -> None:
        """SIGTERM every worker, wait for the grace period (plus a margin), then SIGKILL the rest."""
        self._stop.set()
        if self._monitor.is_alive():
            self._monitor.join(5)
        with self._lock:
            live = [p for p in self.procs if p is not None and p.poll() is None]
            for p in live:
                p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.grace_s + 10
            for p in live:
                try:
                    p.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("worker pid %d did not stop; killing it", p.pid)
                    p.kill()
                    p.wait(10)
