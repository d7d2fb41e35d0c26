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
``next()`` calls is not charged, since detectors run there. Every call also takes a ``deadline``
(a :func:`time.monotonic` value, e.g. the end of a whole scan's ``--timeout``): past it the call
stops waiting, whatever is left of its own budget, and raises
:class:`~synthwatch.errors.DecodeTimeout` (a call made after the deadline starts nothing).

Streams use credit-based backpressure: the worker runs at most ``window`` items ahead of the
consumer, so a long video is never held in memory. Closing the iterator early stops the worker
cleanly (it is killed only if it does not stop within a few seconds).

Idle workers are kept (at most :data:`MAX_IDLE`) and reused; a worker is retired after
:data:`MAX_TASKS` tasks, after any resource failure and after any timeout.

The machinery is a class, :class:`Sandbox` (one pool of workers that run one entry script); the
module-level functions use the decoder sandbox. :mod:`synthwatch.provenance.isolation` runs a second
one, whose workers re-encode labelled copies (they import synthwatch, the decoder workers never do).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Generator, Mapping
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
    SynthwatchError,
    UnsupportedMedia,
)
from synthwatch.media._worker import recv_msg, safe_loads

__all__ = ["RemoteTraceback", "Sandbox", "call", "stream", "warm_up", "shutdown", "worker_vm_mb", "worker_pids",
           "limits_payload", "MAX_IDLE", "MAX_TASKS", "STARTUP_TIMEOUT_S"]

MB = 1024 * 1024
MAX_IDLE = 2  # idle workers kept for reuse (a video is usually read by two streams: frames + audio)
MAX_TASKS = 200  # tasks before a worker is retired
STARTUP_TIMEOUT_S = 60.0  # a worker that is not ready by then is treated as broken
STOP_GRACE_S = 5.0  # how long an early-closed stream may take to stop before its worker is killed

_WORKER_SCRIPT = str(Path(__file__).with_name("_worker.py"))
_ERRORS: dict[str, type[SynthwatchError]] = {
    "MediaError": MediaError,
    "UnsupportedMedia": UnsupportedMedia,
    "CorruptMedia": CorruptMedia,
    "MediaTooLarge": MediaTooLarge,
    "DecodeTimeout": DecodeTimeout,
    "DecodeResourceError": DecodeResourceError,
}


class RemoteTraceback(Exception):
    """The traceback of the exception inside the worker, attached as ``__cause__``."""

    def __init__(self, tb: str, role: str = "decoder worker") -> None:
        super().__init__(tb)
        self.tb = tb
        self.role = role

    def __str__(self) -> str:
        return f"\n\n--- in the {self.role} ---\n" + self.tb


def limits_payload(limits: Limits) -> dict[str, Any]:
    """The limits the worker enforces while decoding."""
    return {"max_pixels": limits.max_pixels, "max_duration_s": limits.max_duration_s, "max_frames": limits.max_frames}


class _Budget:
    """Wall-clock budget charged only while the caller waits for the worker, and never past the
    caller's ``deadline`` (a :func:`time.monotonic` value) when there is one."""

    def __init__(self, limit_s: float, deadline: float | None = None) -> None:
        self.limit_s = float(limit_s)
        self.spent_s = 0.0
        self.deadline = deadline

    def remaining(self) -> float:
        left = self.limit_s - self.spent_s
        if self.deadline is not None:
            left = min(left, self.deadline - time.monotonic())
        return max(0.0, left)

    def expired(self) -> bool:
        return self.spent_s > self.limit_s or (self.deadline is not None and time.monotonic() >= self.deadline)

    def message(self, what: str, role: str) -> str:
        if self.deadline is not None and time.monotonic() >= self.deadline and self.spent_s <= self.limit_s:
            return f"{what} was stopped at the caller's time limit (deadline); the {role} was stopped"
        return f"{what} took longer than {self.limit_s:g} s; the {role} was stopped"


def _check_deadline(deadline: float | None, what: str) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise DecodeTimeout(f"{what} was not started: the caller's time limit (deadline) has passed")


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class _Worker:
    def __init__(self, script: str = _WORKER_SCRIPT, role: str = "decoder worker", crash: str = "a decoder crash",
                 tag: str = "decoder") -> None:
        self.role, self.crash, self.tag = role, crash, tag
        if not sys.executable:
            raise DecodeResourceError(f"cannot start a {role}: sys.executable is unknown")
        parent_sock, child_sock = socket.socketpair()
        self._stderr = tempfile.TemporaryFile(prefix=f"synthwatch-{tag}-")  # noqa: SIM115 (lives as long as the worker)
        env = dict(os.environ)
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
        cmd = [sys.executable, "-P", "-X", "faulthandler", script, str(child_sock.fileno()), str(os.getpid())]
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
            raise DecodeResourceError(f"cannot start a {role}: {exc}") from exc
        finally:
            if child_sock.fileno() >= 0:
                child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self.tasks = 0
        self.pid = self.proc.pid
        self.vm_bytes = 0
        if not self.conn.poll(STARTUP_TIMEOUT_S):
            self.kill()
            raise DecodeResourceError(f"the {role} did not start within {STARTUP_TIMEOUT_S:g} s")
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
        """The end of what the worker wrote on stderr (FFmpeg's log, a fault handler's traceback),
        as plain text: control characters other than newline and tab, which a decoder may echo
        from a hostile file, are shown as ``\\xNN`` so that no terminal or log acts on them."""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - n))
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)

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
        msg = f"the {self.role} {what}: it {how} (out of memory, {self.crash} or a kill)"
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
            err = self.death_error(f"died while {what}")
            self.kill()
            raise err from exc
        finally:
            budget.spent_s += time.monotonic() - t0
        if not ready or budget.expired():  # (poll() rounds its timeout up to 1 ms)
            self.kill()
            raise DecodeTimeout(budget.message(what, self.role))

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
            raise DecodeResourceError(f"the {self.role} broke the protocol ({exc}); it was stopped") from exc
        except TimeoutError as exc:
            self.kill()
            raise DecodeTimeout(budget.message(what, self.role)) from exc
        except (EOFError, OSError) as exc:
            err = self.death_error(f"died while {what}")
            self.kill()
            raise err from exc
        if not (isinstance(msg, tuple) and msg and isinstance(msg[0], str)):
            self.kill()
            raise DecodeResourceError(f"the {self.role} sent a malformed message; it was stopped")
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
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LIVE_LOCK = threading.Lock()


class _Pool:
    def __init__(self, factory: Callable[[], _Worker] = _Worker, max_idle: int = MAX_IDLE,
                 max_tasks: int = MAX_TASKS) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._owner = os.getpid()
        self._factory = factory
        self.max_idle = max_idle
        self.max_tasks = max_tasks

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
        return self._factory()

    def release(self, worker: _Worker, healthy: bool) -> None:
        worker.tasks += 1
        if not healthy:  # it may be mid-task (interrupted caller) or in a bad state: no goodbyes
            worker.kill()
            return
        if worker.tasks < self.max_tasks and worker.alive() and os.getpid() == self._owner:
            with self._lock:
                if len(self._idle) < self.max_idle:
                    self._idle.append(worker)
                    return
        worker.close()

    def add_idle(self, worker: _Worker) -> bool:
        with self._lock:
            if len(self._idle) < self.max_idle:
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


def _rebuild(msg: tuple[Any, ...], errors: Mapping[str, type[SynthwatchError]] = _ERRORS,
             default: type[SynthwatchError] = CorruptMedia, role: str = "decoder worker") -> SynthwatchError:
    """The typed error for an ``("error", kind, message, attrs, traceback)`` reply."""
    kind, message, attrs, tb = (list(msg[1:5]) + [None] * 4)[:4]
    cls = errors.get(kind, default) if isinstance(kind, str) else default
    message = message if isinstance(message, str) else f"the {role} failed"
    exc: SynthwatchError
    if issubclass(cls, MediaTooLarge):
        attrs = attrs if isinstance(attrs, dict) else {}
        limit = attrs.get("limit", "")
        value, maximum = attrs.get("value"), attrs.get("maximum")
        exc = cls(
            message,
            limit=limit if isinstance(limit, str) else "",
            value=value if isinstance(value, int | float) else None,
            maximum=maximum if isinstance(maximum, int | float) else None,
        )
    else:
        try:
            exc = cls(message)
        except TypeError:  # an error class whose constructor wants more than a message
            exc = default(message)
    if isinstance(tb, str) and tb:
        exc.__cause__ = RemoteTraceback(tb, role)
    return exc


class Sandbox:
    """A pool of disposable worker processes that run one entry script (see the module docstring).

    ``script`` is started as ``python -P -X faulthandler SCRIPT FD PPID`` and must serve the
    protocol of :func:`synthwatch.media._worker.serve`. ``role`` names the workers in error messages
    (``crash`` says what a crash there usually is); ``errors`` maps the error names a worker sends
    back to the classes raised here (``default`` for a name not in it), or is a function that
    returns that mapping when an error comes back (so it can name classes loaded later).
    """

    def __init__(self, script: str, *, role: str, tag: str, crash: str = "a crash",
                 errors: Mapping[str, type[SynthwatchError]] | Callable[[], Mapping[str, type[SynthwatchError]]] = _ERRORS,
                 default: type[SynthwatchError] = CorruptMedia, max_idle: int = MAX_IDLE,
                 max_tasks: int = MAX_TASKS) -> None:
        self.script, self.role, self.tag, self.crash = script, role, tag, crash
        self.errors = errors if callable(errors) else dict(errors)
        self.default = default
        self.pool = _Pool(self._new_worker, max_idle, max_tasks)
        atexit.register(self.pool.shutdown)

    def _new_worker(self) -> _Worker:
        return _Worker(self.script, self.role, self.crash, self.tag)

    def _run_msg(self, task: str, kwargs: dict[str, Any], memory_mb: int, window: int,
                 cap_setting: str | None) -> tuple[Any, ...]:
        # the caller's working directory goes with every task: a pooled worker was started in
        # another one, and a relative path must name the caller's file
        try:
            cwd: str | None = os.getcwd()
        except OSError:  # the caller's directory was removed: relative paths cannot name anything
            cwd = None
        return ("run", task, kwargs, int(memory_mb) * MB, window, cap_setting or "decode_memory_mb", cwd)

    def _error(self, msg: tuple[Any, ...]) -> SynthwatchError:
        errors = self.errors() if callable(self.errors) else self.errors
        return _rebuild(msg, errors, self.default, self.role)

    def call(self, task: str, kwargs: dict[str, Any], *, timeout_s: float, memory_mb: int, what: str = "decoding",
             cap_setting: str | None = None, deadline: float | None = None) -> Any:
        """Run one task in a worker and return its result (or raise its typed error).

        ``cap_setting`` names the setting behind ``memory_mb`` in the worker's messages;
        ``deadline`` (:func:`time.monotonic`) cuts the wait short (see the module docstring)."""
        _check_deadline(deadline, what)
        worker = self.pool.acquire()
        healthy = False
        try:
            worker.send(self._run_msg(task, kwargs, memory_mb, 0, cap_setting))
            msg = worker.receive(_Budget(timeout_s, deadline), what)
            if msg[0] == "done":
                healthy = True
                return msg[1]
            if msg[0] == "error":
                healthy = msg[1] != "DecodeResourceError"
                raise self._error(msg)
            raise DecodeResourceError(f"the {self.role} answered {msg[0]!r} to a {task!r} task")
        finally:
            self.pool.release(worker, healthy)

    def stream(self, task: str, kwargs: dict[str, Any], *, timeout_s: float, memory_mb: int, window: int = 2,
               what: str = "decoding", cap_setting: str | None = None,
               deadline: float | None = None) -> Generator[Any, None, None]:
        """Run a streaming task in a worker and yield its items with backpressure.

        The worker is acquired on the first ``next()``; closing the generator stops the worker.
        ``deadline`` (:func:`time.monotonic`) ends the whole stream (see the module docstring).
        """
        _check_deadline(deadline, what)
        worker = self.pool.acquire()
        healthy = False
        finished = False
        budget = _Budget(timeout_s, deadline)
        try:
            worker.send(self._run_msg(task, kwargs, memory_mb, max(1, int(window)), cap_setting))
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
                    raise self._error(msg)
                else:
                    finished = True
                    raise DecodeResourceError(f"the {self.role} answered {kind!r} to a {task!r} task")
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
            self.pool.release(worker, healthy)

    def warm_up(self, workers: int = 1) -> None:
        """Start up to ``workers`` idle workers now (at most the pool's ``max_idle`` are kept)."""
        for _ in range(max(0, min(int(workers), self.pool.max_idle))):
            worker = self._new_worker()
            if not self.pool.add_idle(worker):
                worker.close()
                return

    def shutdown(self) -> None:
        """Stop every idle worker (also done at interpreter exit)."""
        self.pool.shutdown()

    def worker_pids(self) -> list[int]:
        """Process ids of this sandbox's live workers (idle or busy) started by this process."""
        with _LIVE_LOCK:
            workers = list(_LIVE)
        return sorted(w.pid for w in workers if w.tag == self.tag and w.alive())


_DECODERS = Sandbox(_WORKER_SCRIPT, role="decoder worker", tag="decoder", crash="a decoder crash")
_POOL = _DECODERS.pool


def call(task: str, kwargs: dict[str, Any], *, timeout_s: float, memory_mb: int, what: str = "decoding",
         deadline: float | None = None) -> Any:
    """Run one task in a decoder worker and return its result (or raise its typed error)."""
    return _DECODERS.call(task, kwargs, timeout_s=timeout_s, memory_mb=memory_mb, what=what, deadline=deadline)


def stream(task: str, kwargs: dict[str, Any], *, timeout_s: float, memory_mb: int, window: int = 2,
           what: str = "decoding", deadline: float | None = None) -> Generator[Any, None, None]:
    """Run a streaming task in a decoder worker and yield its items with backpressure.

    The worker is acquired on the first ``next()``; closing the generator stops the worker.
    """
    return _DECODERS.stream(task, kwargs, timeout_s=timeout_s, memory_mb=memory_mb, window=window, what=what,
                            deadline=deadline)


def warm_up(workers: int = 1) -> None:
    """Start up to ``workers`` idle decoder workers now (at most :data:`MAX_IDLE` are kept), so that
    the first scan does not pay the interpreter start-up (a fraction of a second)."""
    _DECODERS.warm_up(workers)


def shutdown() -> None:
    """Stop every idle decoder worker (also done at interpreter exit)."""
    _DECODERS.shutdown()


def worker_vm_mb(timeout_s: float = 30.0) -> float:
    """Address space (MB) an idle decoder worker already maps: ``decode_memory_mb`` must leave room above it."""
    return float(call("vm_bytes", {}, timeout_s=timeout_s, memory_mb=0, what="measuring the worker")) / MB


def worker_pids() -> list[int]:
    """Process ids of the live decoder workers (idle or busy) started by this process."""
    return _DECODERS.worker_pids()
