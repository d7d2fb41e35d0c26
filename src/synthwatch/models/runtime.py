"""ONNX Runtime session factory: every session is built from a sha256-verified store file."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelLoadError
from .store import ModelStore

__all__ = ["create_session", "session_from_store"]


def create_session(path: Path, *, threads: int = 0):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"ONNX Runtime cannot load {path}: {exc}") from exc


def session_from_store(store: ModelStore, name: str, *, file: str | None = None, threads: int = 0):  # type: ignore[no-untyped-def]
    return create_session(store.verified_path(name, file), threads=threads)
