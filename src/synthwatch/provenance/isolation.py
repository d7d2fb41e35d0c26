"""Run the provenance operations that decode user files in an isolated worker process.

A hostile file can make FFmpeg or Pillow crash, hang or allocate without bound. The writers that
re-encode a labelled copy (:func:`~synthwatch.provenance.visible_video.burn_video_label`,
:func:`~synthwatch.provenance.audible.add_audio_cue`,
:func:`~synthwatch.provenance.visible.burn_image_label`, the decoding half of
:func:`~synthwatch.provenance.perth_watermark.embed_file`) and the readers that decode a file in full
(:func:`~synthwatch.provenance.security_data.content_digest`,
:func:`~synthwatch.provenance.watermark.detect_image`,
:func:`~synthwatch.provenance.c2pa_manifest.read_c2pa`) therefore run their decoding in a worker
process, never in the caller's:

* the worker is a fresh interpreter started with ``python -P _isolated_worker.py`` (no fork of the
  caller, the caller's ``__main__`` is never re-imported), through the same machinery as the scan
  decoders (:class:`synthwatch.media.sandbox.Sandbox`: one socket, a wall-clock budget enforced by
  the parent, ``RLIMIT_AS`` set in the worker for the task). Unlike the decoder worker it imports
  synthwatch (the writers' own code runs there);
* limits (:class:`synthwatch.config.Limits`, from the caller's :mod:`.scope`, never read from the
  environment here; a scan's deadline cuts every call short): re-encoding a copy runs under
  ``transcode_timeout_s`` / ``transcode_memory_mb``; reading a file in full under
  ``decode_timeout_s`` / ``decode_memory_mb``, as the scan decoders do;
* failures: an error the operation raises comes back as the same synthwatch error (its traceback in
  the worker attached as ``__cause__``); running past the wall-clock budget is
  :class:`~synthwatch.errors.DecodeTimeout`; running out of the memory cap, a crash (a signal such as
  SIGSEGV) or any other death of the worker is :class:`~synthwatch.errors.DecodeResourceError`,
  whose message names the operation. The caller goes on with the next item; the next call gets a
  healthy worker;
* files: the caller creates the temporary output beside the destination, the worker writes into it,
  the caller moves it into place on success and removes it otherwise, so a killed worker leaves
  nothing behind;
* results: the worker sends back plain values only (the parent unpickles nothing else).

The worker-side half of this module (:data:`TASKS`) runs in the worker; the caller only uses
:func:`run` and :func:`stream`.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

from synthwatch.config import Limits
from synthwatch.errors import DecodeResourceError, MediaTooLarge, SynthwatchError
from synthwatch.media.sandbox import Sandbox

__all__ = ["ROLE", "TASKS", "run", "stream", "limits", "error_classes", "checked", "malformed", "warm_up",
           "shutdown", "worker_pids", "worker_vm_mb"]

ROLE = "isolated provenance worker"
#: what the worker process calls itself in messages
PROCESS_NAME = "isolated provenance process"
_SCRIPT = str(Path(__file__).with_name("_isolated_worker.py"))
_LOCK = threading.Lock()
_SANDBOX: Sandbox | None = None

#: Test-only fault injection: "crash" (the worker kills itself with SIGSEGV), "hang" (it never
#: answers) or "oom" (it allocates until its memory cap stops it), at the start of the next task.
#: Only code in the calling process can set it; nothing in a file reaches it.
_FAULT: str | None = None


def error_classes() -> dict[str, type[SynthwatchError]]:
    """Name -> class of every synthwatch error class loaded now (sent by name, raised again here).

    Found by walking the subclasses of :class:`~synthwatch.errors.SynthwatchError`, so this
    module imports none of the writers whose errors it carries (no cycle through ``visible`` or
    ``c2pa_manifest``): a writer's error class exists in the caller as soon as the caller has
    imported the writer, which it has before it can ask the worker to run it."""
    from synthwatch.errors import SynthwatchError

    from . import errors as _prov  # noqa: F401  (the provenance tree is always known)

    found: dict[str, type[SynthwatchError]] = {}
    todo: list[type[SynthwatchError]] = [SynthwatchError]
    while todo:
        cls = todo.pop(0)
        if cls.__module__.startswith("synthwatch"):
            found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


def limits() -> Limits:
    """The limits in force: those of the caller's :mod:`.scope` (defaults when none is open)."""
    from .scope import current

    return current().limits


def _sandbox() -> Sandbox:
    global _SANDBOX
    with _LOCK:
        if _SANDBOX is None:
            from .errors import TranscodeError

            _SANDBOX = Sandbox(_SCRIPT, role=ROLE, tag="provenance", crash="an FFmpeg or Pillow crash",
                               errors=error_classes, default=TranscodeError, max_idle=2, max_tasks=50)
        return _SANDBOX


def _budget(transcode: bool) -> tuple[float, int, str]:
    lim = limits()
    if transcode:
        return lim.transcode_timeout_s, lim.transcode_memory_mb, "transcode_memory_mb"
    return lim.decode_timeout_s, lim.decode_memory_mb, "decode_memory_mb"


def run(task: str, kwargs: dict[str, Any], *, what: str, transcode: bool, deadline: float | None = None) -> Any:
    """Run ``task`` in the isolated worker and return its (plain) result, or raise its typed error.

    ``what`` names the operation in errors ("re-encoding the video with a visible notice");
    ``transcode`` picks the transcode limits (else the decode limits); ``deadline`` (a
    :func:`time.monotonic` value) stops the worker there whatever is left of those limits
    (:class:`~synthwatch.errors.DecodeTimeout`)."""
    from .scope import deadline_for

    timeout_s, memory_mb, setting = _budget(transcode)
    payload = {**kwargs, "_fault": _FAULT, "_cap_setting": setting}
    return _sandbox().call(task, payload, timeout_s=timeout_s, memory_mb=memory_mb, what=what, cap_setting=setting,
                           deadline=deadline_for(deadline))


def stream(task: str, kwargs: dict[str, Any], *, what: str, transcode: bool = False,
           window: int = 2, deadline: float | None = None) -> Generator[Any, None, None]:
    """Run a streaming ``task`` in the isolated worker and yield its items (see :func:`run`)."""
    from .scope import deadline_for

    timeout_s, memory_mb, setting = _budget(transcode)
    payload = {**kwargs, "_fault": _FAULT, "_cap_setting": setting}
    return _sandbox().stream(task, payload, timeout_s=timeout_s, memory_mb=memory_mb, window=window, what=what,
                             cap_setting=setting, deadline=deadline_for(deadline))


def checked(value: Any, types: dict[str, type | tuple[type, ...]], what: str) -> dict[str, Any]:
    """``value`` when it is a dict holding ``types``' keys with values of those types, else
    :class:`DecodeResourceError` (a worker that sends anything else is not trusted)."""
    if isinstance(value, dict) and all(isinstance(value.get(k), t) for k, t in types.items()):
        return value
    raise malformed(what)


def malformed(what: str) -> DecodeResourceError:
    """The error for a result that a healthy worker cannot have sent."""
    return DecodeResourceError(f"the {ROLE} sent a malformed result for {what}")


def warm_up(workers: int = 1) -> None:
    """Start an idle worker now, so that the first labelled copy does not pay its start-up."""
    _sandbox().warm_up(workers)


def shutdown() -> None:
    """Stop the idle workers (also done at interpreter exit)."""
    if _SANDBOX is not None:
        _SANDBOX.shutdown()


def worker_vm_mb(timeout_s: float = 30.0) -> float:
    """Address space (MB) an idle isolated worker already maps: its memory caps must leave room above it."""
    vm = _sandbox().call("vm_bytes", {}, timeout_s=timeout_s, memory_mb=0, what="measuring the worker")
    return float(vm) / (1024 * 1024)


def worker_pids() -> list[int]:
    """Process ids of the live isolated workers started by this process."""
    return _SANDBOX.worker_pids() if _SANDBOX is not None else []


# ----------------------------------------------------------------------------------------------
# the worker's side: task name -> (function, streams items?)
# ----------------------------------------------------------------------------------------------


def _out_of_memory(exc: BaseException) -> bool:
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 16:
        if isinstance(e, MemoryError) or (isinstance(e, OSError) and e.errno == errno.ENOMEM):
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


def _to_fail(exc: Exception, default_kind: str, setting: str) -> Exception:
    from synthwatch.media._worker import Fail

    if isinstance(exc, Fail):
        return exc
    if _out_of_memory(exc):
        return Fail("DecodeResourceError", f"the {ROLE} ran out of memory under its cap ({setting}): "
                                           f"{type(exc).__name__}: {exc}")
    if isinstance(exc, SynthwatchError):
        names = error_classes()
        kind = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in names), default_kind)
        attrs: dict[str, Any] = {}
        if isinstance(exc, MediaTooLarge):
            attrs = {"limit": exc.limit, "value": exc.value, "maximum": exc.maximum}
        return Fail(kind, str(exc), **attrs)
    return Fail(default_kind, f"{type(exc).__name__}: {exc}")


def _inject(fault: str | None) -> None:
    if fault is None:
        return
    if fault == "crash":
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)
    elif fault == "hang":
        import time

        while True:
            time.sleep(3600)
    elif fault == "oom":
        import numpy as np

        hog: list[Any] = []
        try:
            while True:
                hog.append(np.empty(64 * 1024 * 1024, dtype=np.uint8))  # address space, not touched
        except MemoryError:
            hog.clear()
            raise MemoryError("test fault: allocated until the memory cap stopped it") from None
    else:
        raise ValueError(f"unknown test fault {fault!r}")


def _task(target: str, default_kind: str, *, structure: str | None = None) -> Callable[..., Any]:
    """A task that calls ``module:function`` and sends every failure back typed. ``structure``
    names the path argument whose container is checked first
    (:func:`synthwatch.media.sniff.check_structure`: libraries such as the C2PA SDK take time that
    grows faster than the number of boxes)."""
    module, _, name = target.partition(":")

    def task(_fault: str | None = None, _cap_setting: str = "transcode_memory_mb", **kwargs: Any) -> Any:
        try:
            _inject(_fault)
            import importlib

            if structure is not None:
                from synthwatch.media.sniff import check_structure

                check_structure(kwargs[structure])

            fn = getattr(importlib.import_module(module, __package__), name)
            return fn(**kwargs)
        except Exception as exc:
            raise _to_fail(exc, default_kind, _cap_setting) from exc

    return task


def _stream_task(target: str, default_kind: str) -> Callable[..., Iterator[Any]]:
    module, _, name = target.partition(":")

    def task(_fault: str | None = None, _cap_setting: str = "decode_memory_mb", **kwargs: Any) -> Iterator[Any]:
        try:
            _inject(_fault)
            import importlib

            fn = getattr(importlib.import_module(module, __package__), name)
            yield from fn(**kwargs)
        except Exception as exc:
            raise _to_fail(exc, default_kind, _cap_setting) from exc

    return task


TASKS: dict[str, tuple[Callable[..., Any], bool]] = {
    "visible_video": (_task(".visible_video:_transcode_task", "TranscodeError"), False),
    "audio_cue": (_task(".audible:_transcode", "TranscodeError"), False),
    "visible_image": (_task(".visible:_burn_task", "TranscodeError"), False),
    "content_digest": (_task(".security_data:_digest_task", "CorruptContainer"), False),
    "sd_watermark": (_task(".watermark:_detect_task", "CorruptContainer"), False),
    "c2pa_read": (_task(".c2pa_manifest:_read_task", "CorruptContainer", structure="path"), False),
    "c2pa_sign": (_task(".c2pa_manifest:_sign_task", "C2paSigningError", structure="src"), False),
    "perth_decode": (_stream_task(".perth_watermark:_decode_task", "CorruptContainer"), True),
}
