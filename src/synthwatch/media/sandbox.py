"""Run decoders in disposable worker processes with a wall-clock timeout and a memory cap.

Why a separate process: a hostile or corrupt file can make FFmpeg or Pillow hang, crash or
allocate without bound. Here the worst it can do is kill its own worker: a timeout kills the
worker and raises :class:`~synthwatch.errors.DecodeTimeout`; a crash or a kill by signal raises
:class:`~synthwatch.errors.DecodeResourceError`; an exception inside the worker comes back as the
same typed error, with the worker's traceback attached as ``__cause__``. The next call gets a
healthy worker (a fresh one when needed).

How workers start: ``python -P synthwatch/media/_worker.py`` through :mod:`subprocess`, i.e. a
fresh interpreter (exec, never a bare fork: callers may run threads and ONNX Runtime). This is
what ``multiprocessing``'s ``spawn`` start method does, minus its re-import of the caller's
``__main__`` in every worker (which re-runs unguarded scripts and drags the whole application into
the decoder); the worker imports only NumPy, PyAV and Pillow. Its environment caps BLAS threads and
glibc malloc arenas so that the address-space cap measures decoding, not thread reservations.

Limits, per task: ``RLIMIT_AS`` = ``decode_memory_mb`` (the worker's whole address space, set in the
worker before the task and lifted after it); the wall-clock budget is the time the caller spends
waiting for the worker (``probe_timeout_s`` for probes, ``decode_timeout_s`` for a whole image or a
whole stream of frames or audio windows). Time the consumer spends on each item between two
``next()`` calls is not charged, since detectors run there.

Streams use credit-based backpressure: the worker runs at most ``window`` items ahead of the
consumer, so a long video is never held in memory. Closing the iterator early stops the worker
cleanly (it is killed only if it does not stop within a few seconds).

Idle workers are kept (at most :data:`MAX_IDLE`) and reused; a worker is retired after
:data:`MAX_TASKS` tasks, after any resource failure and after any timeout.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Generator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from synthwatch.config import Limits
from synthwatch.errors import (
    CorruptMedia,
    DecodeResourceError,
    DecodeTimeout,
    MediaError,
    MediaTooLarge,
    UnsupportedMedia,
)
from synthwatch.media._worker import recv_msg, safe_loads

__all__ = ["RemoteTraceback", "call", "stream", "warm_up", "shutdown", "worker_vm_mb", "worker_pids", "limits_payload",
           "MAX_IDLE", "MAX_TASKS", "STARTUP_TIMEOUT_S"]

MB = 1024 * 1024
MAX_IDLE = 2  # idle workers kept for reuse (a video is usually read by two streams: frames + audio)
MAX_TASKS = 200  # tasks before a worker is retired
STARTUP_TIMEOUT_S = 60.0  # a worker that is not ready by then is treated as broken
STOP_GRACE_S = 5.0  # how long an early-closed stream may take to stop before its worker is killed

_WORKER_SCRIPT = str(Path(__file__).with_name("_worker.py"))
_ERRORS: dict[str, type[MediaError]] = {
    "UnsupportedMedia": UnsupportedMedia,
    "CorruptMedia": CorruptMedia,
    "MediaTooLarge": MediaTooLarge,
    "DecodeTimeout": DecodeTimeout,
    "DecodeResourceError": DecodeResourceError,
}


class RemoteTraceback(Exception):
    """The traceback of the exception inside the worker, attached as ``__cause__``."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return "\n\n--- in the decoder worker ---\n" + self.tb


def limits_payload(limits: Limits) -> dict[str, Any]:
    """The limits the worker enforces while decoding."""
    return {"max_pixels": limits.max_pixels, "max_duration_s": limits.max_duration_s, "max_frames": limits.max_frames}


class _Budget:
    """Wall-clock budget charged only while the caller waits for the worker."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = float(limit_s)
        self.spent_s = 0.0

    def remaining(self) -> float:
        return max(0.0, self.limit_s - self.spent_s)


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class _Worker:
    def __init__(self) -> None:
        if not sys.executable:
            raise DecodeResourceError("cannot start a decoder worker: sys.executable is unknown")
        parent_sock, child_sock = socket.socketpair()
        self._stderr = tempfile.TemporaryFile(prefix="synthwatch-decoder-")  # noqa: SIM115 (lives as long as the worker)
        env = dict(os.environ)
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
        cmd = [sys.executable, "-P", "-X", "faulthandler", _WORKER_SCRIPT, str(child_sock.fileno()), str(os.getpid())]
        try:
            self.proc = subprocess.Popen(
                cmd,
                pass_fds=[child_sock.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            parent_sock.close()
            child_sock.close()
            self._stderr.close()
            raise DecodeResourceError(f"cannot start a decoder worker: {exc}") from exc
        finally:
            if child_sock.fileno() >= 0:
                child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self.tasks = 0
        self.pid = self.proc.pid
        self.vm_bytes = 0
        if not self.conn.poll(STARTUP_TIMEOUT_S):
            self.kill()
            raise DecodeResourceError(f"the decoder worker did not start within {STARTUP_TIMEOUT_S:g} s")
        try:
            msg = safe_loads(self.conn.recv_bytes())
            self.vm_bytes = int(msg[1].get("vm_bytes", 0))
        except (EOFError, OSError, pickle.UnpicklingError, TypeError, IndexError, AttributeError) as exc:
            err = self.death_error("failed to start")
            self.kill()
            raise err from exc
        with _LIVE_LOCK:
            _LIVE.add(self)

    # -- lifecycle ------------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc.poll() is None and not self.conn.closed

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._close_handles()

    def close(self) -> None:
        """Ask the worker to exit; kill it if it does not."""
        if self.proc.poll() is None and not self.conn.closed:
            try:
                self.conn.send(("exit",))
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def _close_handles(self) -> None:
        if not self.conn.closed:
            self.conn.close()
        if not self._stderr.closed:
            self._stderr.close()

    def stderr_tail(self, n: int = 1500) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - n))
            return self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def death_error(self, what: str = "died") -> DecodeResourceError:
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        if rc is None:
            how = "stopped answering"
        elif rc < 0:
            how = f"was killed by {_signal_name(-rc)}"
        else:
            how = f"exited with status {rc}"
        tail = self.stderr_tail()
        msg = f"the decoder worker {what}: it {how} (out of memory, a decoder crash or a kill)"
        if tail:
            msg += f"\n--- worker stderr (tail) ---\n{tail}"
        return DecodeResourceError(msg)

    # -- messaging ------------------------------------------------------------------------------

    def send(self, msg: tuple[Any, ...]) -> None:
        try:
            self.conn.send(msg)
        except (OSError, ValueError) as exc:
            err = self.death_error()
            self.kill()
            raise err from exc

    def receive(self, budget: _Budget, what: str) -> Any:
        t0 = time.monotonic()
        try:
            ready = self.conn.poll(budget.remaining())
        except (OSError, ValueError) as exc:
            err = self.death_error()
            self.kill()
            raise err from exc
        finally:
            budget.spent_s += time.monotonic() - t0
        if not ready or budget.spent_s > budget.limit_s:  # (poll() rounds its timeout up to 1 ms)
            self.kill()
            raise DecodeTimeout(f"{what} took longer than {budget.limit_s:g} s; the decoder worker was stopped")

        def wait() -> bool:
            t1 = time.monotonic()
            try:
                return bool(self.conn.poll(budget.remaining()))
            finally:
                budget.spent_s += time.monotonic() - t1

        try:
            msg = recv_msg(self.conn, wait)
        except pickle.UnpicklingError as exc:
            self.kill()
            raise DecodeResourceError(f"the decoder worker broke the protocol ({exc}); it was stopped") from exc
        except TimeoutError as exc:
            self.kill()
            raise DecodeTimeout(f"{what} took longer than {budget.limit_s:g} s; the decoder worker was stopped") from exc
        except (EOFError, OSError) as exc:
            err = self.death_error()
            self.kill()
            raise err from exc
        if not (isinstance(msg, tuple) and msg and isinstance(msg[0], str)):
            self.kill()
            raise DecodeResourceError("the decoder worker sent a malformed message; it was stopped")
        return msg

    def stop(self, grace_s: float) -> bool:
        """Stop a running stream; True when the worker is idle and reusable again."""
        try:
            self.conn.send(("stop",))
        except (OSError, ValueError):
            self.kill()
            return False
        deadline = time.monotonic() + grace_s
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 or not self.conn.poll(remaining):
                    self.kill()
                    return False
                msg = recv_msg(self.conn)
            except (EOFError, OSError, ValueError, pickle.UnpicklingError):
                self.kill()
                return False
            if not (isinstance(msg, tuple) and msg):
                self.kill()
                return False
            if msg[0] in ("stopped", "done"):
                return True
            if msg[0] == "error":
                return bool(msg[1] != "DecodeResourceError")
            # an item already in flight: drop it


_LIVE: weakref.WeakSet[_Worker] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._owner = os.getpid()

    def acquire(self) -> _Worker:
        with self._lock:
            if os.getpid() != self._owner:  # we were forked: those workers belong to the parent
                self._idle = []
                self._owner = os.getpid()
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.kill()
        return _Worker()

    def release(self, worker: _Worker, healthy: bool) -> None:
        worker.tasks += 1
        if not healthy:  # it may be mid-task (interrupted caller) or in a bad state: no goodbyes
            worker.kill()
            return
        if worker.tasks < MAX_TASKS and worker.alive() and os.getpid() == self._owner:
            with self._lock:
                if len(self._idle) < MAX_IDLE:
                    self._idle.append(worker)
                    return
        worker.close()

    def add_idle(self, worker: _Worker) -> bool:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(worker)
                return True
        return False

    def shutdown(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        if os.getpid() != self._owner:
            return
        for worker in idle:
            worker.close()


_POOL = _Pool()
atexit.register(_POOL.shutdown)


def _rebuild(msg: tuple[Any, ...]) -> MediaError:
    """The typed error for an ``("error", kind, message, attrs, traceback)`` reply."""
    kind, message, attrs, tb = (list(msg[1:5]) + [None] * 4)[:4]
    cls = _ERRORS.get(kind, CorruptMedia) if isinstance(kind, str) else CorruptMedia
    message = message if isinstance(message, str) else "the decoder failed"
    exc: MediaError
    if cls is MediaTooLarge:
        attrs = attrs if isinstance(attrs, dict) else {}
        limit = attrs.get("limit", "")
        value, maximum = attrs.get("value"), attrs.get("maximum")
        exc = MediaTooLarge(
            message,
            limit=limit if isinstance(limit, str) else "",
            value=value if isinstance(value, int | float) else None,
            maximum=maximum if isinstance(maximum, int | float) else None,
        )
    else:
        exc = cls(message)
    if isinstance(tb, str) and tb:
        exc.__cause__ = RemoteTraceback(tb)
    return exc


def call(task: str, kwargs: dict[str, Any], *, timeout_s: float, memory_mb: int, what: str = "decoding") -> Any:
    """Run one task in a worker and return its result (or raise its typed error)."""
    worker = _POOL.acquire()
    healthy = False
    try:
        worker.send(("run", task, kwargs, int(memory_mb) * MB, 0))
        msg = worker.receive(_Budget(timeout_s), what)
        if msg[0] == "done":
            healthy = True
            return msg[1]
        if msg[0] == "error":
            healthy = msg[1] != "DecodeResourceError"
            raise _rebuild(msg)
        raise DecodeResourceError(f"the decoder worker answered {msg[0]!r} to a {task!r} task")
    finally:
        _POOL.release(worker, healthy)


def stream(task: str, kwargs: dict[str, Any], *, timeout_s: float, memory_mb: int, window: int = 2,
           what: str = "decoding") -> Generator[Any, None, None]:
    """Run a streaming task in a worker and yield its items with backpressure.

    The worker is acquired on the first ``next()``; closing the generator stops the worker.
    """
    worker = _POOL.acquire()
    healthy = False
    finished = False
    budget = _Budget(timeout_s)
    try:
        worker.send(("run", task, kwargs, int(memory_mb) * MB, max(1, int(window))))
        while True:
            msg = worker.receive(budget, what)
            kind = msg[0]
            if kind == "item":
                yield msg[1]
                worker.send(("ack",))
            elif kind == "done":
                finished = healthy = True
                return
            elif kind == "error":
                finished = True
                healthy = msg[1] != "DecodeResourceError"
                raise _rebuild(msg)
            else:
                finished = True
                raise DecodeResourceError(f"the decoder worker answered {kind!r} to a {task!r} task")
    except GeneratorExit:  # the consumer closed the stream early: stop the worker cleanly below
        raise
    except BaseException:
        if not finished:  # interrupted while waiting (KeyboardInterrupt, ...): no clean stop
            finished = True
            healthy = False
        raise
    finally:
        if not finished and worker.alive():
            healthy = worker.stop(max(0.5, min(STOP_GRACE_S, budget.remaining())))
        _POOL.release(worker, healthy)


def warm_up(workers: int = 1) -> None:
    """Start up to ``workers`` idle decoder workers now (at most :data:`MAX_IDLE` are kept), so that
    the first scan does not pay the interpreter start-up (a fraction of a second)."""
    for _ in range(max(0, min(int(workers), MAX_IDLE))):
        worker = _Worker()
        if not _POOL.add_idle(worker):
            worker.close()
            return


def shutdown() -> None:
    """Stop every idle worker (also done at interpreter exit)."""
    _POOL.shutdown()


def worker_vm_mb(timeout_s: float = 30.0) -> float:
    """Address space (MB) an idle decoder worker already maps: ``decode_memory_mb`` must leave room above it."""
    return float(call("vm_bytes", {}, timeout_s=timeout_s, memory_mb=0, what="measuring the worker")) / MB


def worker_pids() -> list[int]:
    """Process ids of the live decoder workers (idle or busy) started by this process."""
    with _LIVE_LOCK:
        workers = list(_LIVE)
    return sorted(w.pid for w in workers if w.alive())
