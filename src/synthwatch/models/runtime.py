"""ONNX Runtime session factory: every session is built from a sha256-verified store file.

:func:`session_from_store` reads the model file once, checks its sha256 on those very bytes and
hands the bytes to ONNX Runtime, so the file cannot change between the check and the load.

ONNX Runtime is imported only through :func:`import_onnxruntime`, which turns its telemetry off
first. Recent wheels ship Microsoft's 1DS telemetry client: on import it writes a ``.ses`` session
file into the temporary folder and an SQLite event store under
``~/.cache/Microsoft/DeveloperTools/.onnxruntime``, and it can upload events over HTTPS. The
environment variable ``ORT_DISABLE_TELEMETRY=1`` stops all of it, but ONNX Runtime reads it once,
when it is imported, so it must be set before the first import (setting it later, or calling
``onnxruntime.disable_telemetry_events()``, does not remove those files). Every module that uses
ONNX Runtime imports it through this function.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

from ..errors import ModelLoadError
from .store import ModelStore

__all__ = ["create_session", "session_from_store", "set_thread_cap", "thread_cap", "import_onnxruntime",
           "TELEMETRY_ENV"]

#: process-wide cap on intra-op threads per session (0: none); see :func:`set_thread_cap`
_THREAD_CAP = 0


def set_thread_cap(threads: int) -> None:
    """Cap the intra-op threads of every session created from now on in this process
    (``Settings.threads``; 0 lifts the cap). A model that asks for fewer keeps its own count; one that
    asks for "as many as there are cores" (0) gets the cap. Service workers set it so that N worker
    processes do not each start a thread per core."""
    global _THREAD_CAP
    if threads < 0:
        raise ValueError("threads must be >= 0")
    _THREAD_CAP = int(threads)


def thread_cap() -> int:
    return _THREAD_CAP


def _threads(requested: int) -> int:
    if _THREAD_CAP <= 0:
        return requested
    return _THREAD_CAP if requested <= 0 else min(requested, _THREAD_CAP)


def create_session(path: Path | bytes, *, threads: int = 0, spin: bool = False):  # type: ignore[no-untyped-def]
    """An ONNX Runtime CPU session for a model file path or the model's serialized bytes.

    Intra-op thread spinning is off by default: a scan always has a decoder process working beside
    inference, and spinning threads fight it for the cores (measured about 2x slower per CLIP
    image under contention, about 8% faster when idle; outputs are bit-identical). The graph
    optimisation level stays at ONNX Runtime's default (all): lower levels change the INT8 CLIP
    embeddings."""
    ort = import_onnxruntime()

    opts = ort.SessionOptions()
    threads = _threads(threads)
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Batches vary in size (the last window of a clip, the faces in a frame): with the default
    # arena and memory patterns ONNX Runtime keeps a buffer per shape it has seen, and a long scan
    # grew by hundreds of MB per clip (AASIST-L: 322 -> 1167 MB over two 10 s clips). Plain
    # allocation keeps memory flat at a small cost in speed.
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    opts.log_severity_level = 3
    what = "model bytes" if isinstance(path, bytes | bytearray) else str(path)
    model = bytes(path) if isinstance(path, bytes | bytearray) else str(path)
    try:
        return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"ONNX Runtime cannot load {what}: {exc}") from exc


def session_from_store(store: ModelStore, name: str, *, file: str | None = None, threads: int = 0):  # type: ignore[no-untyped-def]
    data = store.verified_bytes(name, file)
    try:
        return create_session(data, threads=threads)
    except ModelLoadError as exc:
        raise ModelLoadError(f"model {name!r}: {exc}") from exc


#: the variable ONNX Runtime reads when it is imported to switch its telemetry off
TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def import_onnxruntime() -> ModuleType:
    """``onnxruntime``, imported with its telemetry off (see the module docstring).

    The variable stays set, so every process synthwatch starts inherits it. When something else
    imported ONNX Runtime before synthwatch could, telemetry events are still disabled for the
    rest of the process (the files its import wrote cannot be taken back)."""
    os.environ[TELEMETRY_ENV] = "1"
    already = "onnxruntime" in sys.modules
    import onnxruntime as ort

    if already:
        disable = getattr(ort, "disable_telemetry_events", None)
        if disable is not None:
            disable()
    return ort
