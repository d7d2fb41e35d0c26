"""Scanning one batch item into one result row, the same way on every engine.

:class:`ItemScanner` wraps one :class:`synthwatch.Scanner` (models loaded once per process or Ray
actor) and turns an item into a row of :data:`~synthwatch.batch.results.RESULT_SCHEMA`: a local
file is scanned where it lies; a URL is downloaded through the service's SSRF-guarded client
(:mod:`synthwatch.service.fetch`: public addresses only unless allow-listed, redirects checked,
size and time capped) into a private temporary folder and scanned from there. Whatever goes wrong
with one item becomes that item's ``error_code``; nothing raises out of :meth:`ItemScanner.scan`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import resource
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Settings
from ..detectors.registry import Registry
from ..media.source import name_from_display
from ..models.store import ModelStore
from ..pipeline.scan import Scanner
from ..service.fetch import FetchError, FetchPolicy, request
from ..types import Report
from .results import report_json
from .settings import BatchOptions

__all__ = ["ScanConfig", "ItemScanner", "detector_versions", "config_fingerprint", "error_row", "worker_threads",
           "process_cpu_s"]

log = logging.getLogger(__name__)


def detector_versions(registry: Registry, store: ModelStore, names: Iterable[str]) -> dict[str, str]:
    """detector -> its version and the card version of each model it needs (``missing`` when the
    model is not installed here): a scan with another version, or with a model installed since,
    is a different scan."""
    from ..errors import SynthwatchError
    from ..models.resolvers import model_status

    out: dict[str, str] = {}
    for name in names:
        info = registry.detector_class(name).info
        models = []
        for m in (info.model, *info.requires):
            if not m:
                continue
            try:
                st = model_status(store, m, verify=False)
                models.append(f"{m}={st.card.version}" if st.ok else f"{m}=missing")
            except SynthwatchError:
                models.append(f"{m}=missing")
        out[name] = info.version + (f" ({', '.join(models)})" if models else "")
    return out


def config_fingerprint(versions: Mapping[str, str], settings: Settings, face_detector: str) -> str:
    """What makes two scans of the same bytes comparable: detector versions, sampling, face detector."""
    doc = {"detectors": dict(sorted(versions.items())), "sampling": settings.sampling.model_dump(mode="json"),
           "face_detector": face_detector}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class ScanConfig:
    """Everything a worker needs to scan exactly as the driver planned (sent to Ray actors as is)."""

    settings: dict[str, Any]  # Settings.model_dump(mode="json")
    detectors: list[str] | None
    face_detector: str
    options: dict[str, Any]  # BatchOptions.model_dump(mode="json")
    engine: str
    run_id: str
    fingerprint: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    def make_settings(self) -> Settings:
        return Settings(**self.settings)

    def make_options(self) -> BatchOptions:
        return BatchOptions.model_validate(self.options)


_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(x) for x in fh.read().split())
    except OSError:
        return out
    return out


def _proc_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK  # utime, stime


def process_cpu_s() -> float | None:
    """CPU seconds used so far by this process, its finished children and its live child processes
    (the sandboxed decoders and provenance workers); None where /proc is not available."""
    if not os.path.isdir("/proc/self/task"):
        return None
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system + sum(_proc_cpu_s(c) for c in _children(os.getpid()))


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # Linux: KiB


def _now() -> datetime:
    return datetime.now(UTC)


def error_row(item: Mapping[str, Any], code: str, message: str, *, versions: Mapping[str, str], fingerprint: str,
              engine: str, run_id: str, elapsed_s: float | None = None, worker: str | None = None,
              node: str | None = None) -> dict[str, Any]:
    """A result row for an item that has no report (``message`` is cut at 2000 characters)."""
    return {**_item_fields(item), "verdict": "not_applicable", "score": None, "detector_scores": {},
            "detector_versions": dict(versions), "config_fp": fingerprint, "error_code": code,
            "error_message": message[:2000], "report": None, "scanned_at": _now(), "elapsed_s": elapsed_s, "cpu_s": None,
            "engine": engine, "worker": worker, "node": node, "worker_peak_rss_mb": None, "run_id": run_id,
            "synthwatch_version": __version__}


def _item_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: item.get(k) for k in ("key", "id", "path", "source_type", "size_bytes", "mtime_ns")}


class ItemScanner:
    """One Scanner and the fetch policy; :meth:`scan` turns an item (a mapping with the fields of
    :class:`~synthwatch.batch.inputs.BatchItem`) into a result row. Thread-safe."""

    def __init__(self, config: ScanConfig, *, registry: Registry | None = None) -> None:
        self.config = config
        self.settings = config.make_settings()
        self.options = config.make_options()
        self.scanner = Scanner(self.settings, detectors=config.detectors, face_detector=config.face_detector,
                               registry=registry)
        self.versions = detector_versions(self.scanner.registry, self.scanner.store, self.scanner.detector_names)
        self.fingerprint = config_fingerprint(self.versions, self.settings, config.face_detector)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.node: str | None = None  # set by the engine (the Ray node id)
        self._tmp = Path(tempfile.mkdtemp(prefix="synthwatch-batch-"))
        self.policy = FetchPolicy(allow=tuple(self.options.fetch_allow), max_bytes=int(self.settings.limits.max_bytes),
                                  timeout_s=self.options.fetch_timeout_s,
                                  max_redirects=self.options.fetch_max_redirects)

    def load(self) -> None:
        self.scanner.load()

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __del__(self) -> None:  # an actor that is torn down without close()
        with contextlib.suppress(Exception):  # interpreter shutdown
            shutil.rmtree(self._tmp, ignore_errors=True)

    # ------------------------------------------------------------------ one item
    def scan(self, item: Mapping[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        cpu0 = process_cpu_s()
        try:
            row = self._scan_url(item) if item.get("source_type") == "url" else self._scan_file(item)
        except Exception as exc:  # noqa: BLE001 - one item's failure is that item's row, never the run's
            log.exception("batch item %r failed", item.get("key"))
            row = self._error(item, "internal_error", f"{type(exc).__name__}: {exc}")
        row["elapsed_s"] = time.perf_counter() - t0
        cpu1 = process_cpu_s()
        row["cpu_s"] = round(cpu1 - cpu0, 3) if cpu0 is not None and cpu1 is not None else None
        return row

    def _error(self, item: Mapping[str, Any], code: str, message: str) -> dict[str, Any]:
        return error_row(item, code, message, versions=self.versions, fingerprint=self.fingerprint,
                         engine=self.config.engine, run_id=self.config.run_id, worker=self.worker, node=self.node)

    def _scan_file(self, item: Mapping[str, Any]) -> dict[str, Any]:
        try:
            path = name_from_display(str(item["path"]))
        except ValueError as exc:
            return self._error(item, "media_error", f"not a valid path: {exc}")
        report = self.scanner.scan(path)
        sha = None
        if report.media is None or not report.media.sha256:
            sha = _sha256_of(path, int(self.settings.limits.max_bytes))
        return self._row(item, report, sha)

    def _scan_url(self, item: Mapping[str, Any]) -> dict[str, Any]:
        url = str(item["path"])
        fd, name = tempfile.mkstemp(prefix="item-", suffix=".media", dir=self._tmp)
        target = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:

                def sink(chunk: bytes) -> None:
                    fh.write(chunk)

                try:
                    resp = request("GET", url, self.policy, sink=sink)
                except FetchError as exc:
                    return self._error(item, exc.code, str(exc))
                if not 200 <= resp.status < 300:
                    return self._error(item, "fetch_failed", f"the server answered HTTP {resp.status}")
            report = self.scanner.scan(target, name=url)
            row = self._row(item, report, None)
            if row["size_bytes"] is None:
                row["size_bytes"] = resp.size
            return row
        finally:
            target.unlink(missing_ok=True)

    def _row(self, item: Mapping[str, Any], report: Report, sha256: str | None) -> dict[str, Any]:
        doc = report.to_dict()
        media = report.media
        fields = _item_fields(item)
        if media is not None and fields["size_bytes"] is None:
            fields["size_bytes"] = media.size_bytes
        score = doc["verdict"]["score"]
        return {
            **fields,
            "sha256": (media.sha256 if media is not None and media.sha256 else sha256),
            "kind": str(media.kind) if media is not None else None,
            "format": media.format if media is not None else None,
            "duration_s": media.duration_s if media is not None else None,
            "verdict": str(report.verdict.label),
            "score": float(score) if score is not None and math.isfinite(score) else None,
            "detector_scores": {d["name"]: d["score"] for d in doc["detectors"]},
            "detector_versions": self.versions,
            "config_fp": self.fingerprint,
            "error_code": report.error.code if report.error else None,
            "error_message": report.error.message[:2000] if report.error else None,
            "report": report_json(doc),
            "scanned_at": _now(),
            "engine": self.config.engine,
            "worker": self.worker,
            "node": self.node,
            "worker_peak_rss_mb": _peak_rss_mb(),
            "run_id": self.config.run_id,
            "synthwatch_version": __version__,
        }


def _sha256_of(path: str, limit: int) -> str | None:
    """sha256 of a file the scan could not read as media (a corrupt upload is still identified);
    None for anything that is not a regular file within ``limit`` bytes."""
    h = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO named in a manifest must not block
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return h.hexdigest()


def worker_threads(settings: Settings, cpus: float) -> Settings:
    """``settings`` with ONNX Runtime threads capped at the CPUs this worker was given (unless the
    settings already cap them)."""
    if settings.threads:
        return settings
    return settings.model_copy(update={"threads": max(1, math.ceil(cpus))})
