"""A batch run from start to end: plan the items, skip what ``OUT`` already holds, scan the rest on
an engine, write results as they arrive, mark lost items, drop superseded rows, sum up."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..config import Settings, get_settings
from ..detectors.registry import Registry
from ..errors import ConfigError
from ..pipeline.scan import Scanner
from .inputs import BatchItem, plan_inputs
from .item import ScanConfig, config_fingerprint, detector_versions, error_row, worker_threads
from .results import (
    RETRY_CODES,
    Existing,
    OutLock,
    ResultWriter,
    compact,
    new_run_id,
    read_existing,
    read_results,
    rows_table,
)
from .settings import BatchOptions, get_batch_options

__all__ = ["ENGINES", "BatchPlan", "BatchSummary", "Progress", "prepare", "run_batch"]

ENGINES = ("local", "ray")

#: progress(event, info): "plan" {planned, todo, skipped}; "result" {key, verdict, error_code}
#: once per item; "lost" {keys}; "done" {}
Progress = Callable[[str, dict[str, Any]], None]


@dataclass
class BatchPlan:
    items: list[BatchItem]
    todo: list[BatchItem]
    skipped: int
    config: ScanConfig


@dataclass
class BatchSummary:
    out: Path
    run_id: str
    engine: str
    planned: int
    skipped: int
    scanned: int = 0
    lost: int = 0
    superseded: int = 0
    seconds: float = 0.0
    verdicts: dict[str, int] = field(default_factory=dict)  # over every planned item's row in OUT
    errors: dict[str, int] = field(default_factory=dict)  # error code -> items
    engine_info: dict[str, Any] = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        return self.scanned / self.seconds if self.seconds > 0 else 0.0

    @property
    def any_error(self) -> bool:
        return bool(self.errors)

    @property
    def any_synthetic(self) -> bool:
        return self.verdicts.get("likely_synthetic", 0) > 0


def _is_done(item: BatchItem, prev: Existing | None, fingerprint: str, retry_errors: bool) -> bool:
    if prev is None or prev.config_fp != fingerprint or prev.path != item.path:
        return False
    if prev.error_code is not None and (retry_errors or prev.error_code in RETRY_CODES):
        return False
    if item.source_type == "file" and item.size_bytes is not None:  # a changed file is scanned again
        return prev.size_bytes == item.size_bytes and prev.mtime_ns == item.mtime_ns
    return True


def prepare(inputs: Sequence[str], out: Path, *, engine: str, settings: Settings, options: BatchOptions,
            detectors: list[str] | None = None, face_detector: str = "centerface", retry_errors: bool = False,
            registry: Registry | None = None, run_id: str | None = None) -> BatchPlan:
    """Plan the items and decide which ``out`` already holds (reads ``out``; writes nothing)."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r} (local or ray)")
    items = plan_inputs(inputs)
    if not items:
        raise ConfigError("no media files found in the given inputs")
    probe = Scanner(settings, detectors=detectors, face_detector=face_detector, registry=registry)  # names checked
    versions = detector_versions(probe.registry, probe.store, probe.detector_names)
    fingerprint = config_fingerprint(versions, settings, face_detector)
    worker_settings = worker_threads(settings, options.cpus_per_actor) if engine == "ray" else settings
    config = ScanConfig(settings=worker_settings.model_dump(mode="json"), detectors=probe.detector_names,
                        face_detector=face_detector, options=options.model_dump(mode="json"), engine=engine,
                        run_id=run_id or new_run_id(), fingerprint=fingerprint, versions=versions)
    existing = read_existing(out) if out.is_dir() else {}
    todo = [it for it in items if not _is_done(it, existing.get(it.key), fingerprint, retry_errors)]
    return BatchPlan(items=items, todo=todo, skipped=len(items) - len(todo), config=config)


def _engine_rows(plan: BatchPlan, engine: str, options: BatchOptions, address: str | None,
                 registry: Registry | None, info: dict[str, Any]) -> Iterator[pa.Table]:
    if engine == "local":
        from .local import run_local

        info.update({"threads": options.threads})
        return run_local(plan.todo, plan.config, threads=options.threads, registry=registry)
    from .ray_engine import import_ray_for, run_ray

    if registry is not None:
        raise ConfigError("an injected detector registry cannot travel to Ray actors (they use the entry points)")
    import_ray_for(address)  # fail with the install hint before anything else
    return run_ray(plan.todo, plan.config, options, address=address, info=info)


def run_batch(inputs: Sequence[str], out: str | Path, *, engine: str = "local", address: str | None = None,
              settings: Settings | None = None, options: BatchOptions | None = None,
              detectors: list[str] | None = None, face_detector: str = "centerface", retry_errors: bool = False,
              dry_run: bool = False, progress: Progress | None = None, registry: Registry | None = None) -> BatchSummary:
    """Scan everything ``inputs`` names into the Parquet dataset ``out`` (see the package docstring).

    Raises :class:`~synthwatch.errors.ConfigError` for bad inputs or options (and when the engine
    is ``ray`` and Ray is not installed), model errors when a model is corrupt. Items never raise:
    each gets a row, with an error code when it could not be scanned."""
    out = Path(out)
    settings = settings or get_settings()
    options = options or get_batch_options()
    emit = progress or (lambda event, info: None)
    if engine == "ray" and address is not None and not address:
        raise ConfigError("--address is empty")
    t0 = time.perf_counter()
    with OutLock(out) if not dry_run else _nolock():
        plan = prepare(inputs, out, engine=engine, settings=settings, options=options, detectors=detectors,
                       face_detector=face_detector, retry_errors=retry_errors, registry=registry)
        summary = BatchSummary(out=out, run_id=plan.config.run_id, engine=engine, planned=len(plan.items),
                               skipped=plan.skipped)
        emit("plan", {"planned": len(plan.items), "todo": len(plan.todo), "skipped": plan.skipped,
                      "run_id": plan.config.run_id})
        if dry_run:
            return summary
        writer = ResultWriter(out, plan.config.run_id, flush_rows=options.flush_rows, flush_s=options.flush_s)
        received: set[str] = set()
        todo_keys = {it.key for it in plan.todo}
        t_scan = time.perf_counter()
        try:
            if plan.todo:
                for table in _engine_rows(plan, engine, options, address, registry, summary.engine_info):
                    writer.add(table)
                    for key, verdict, code in zip(table["key"].to_pylist(), table["verdict"].to_pylist(),
                                                  table["error_code"].to_pylist(), strict=True):
                        if key in todo_keys and key not in received:
                            received.add(key)
                            summary.scanned += 1
                            emit("result", {"key": key, "verdict": verdict, "error_code": code})
        finally:
            writer.flush()
        summary.seconds = time.perf_counter() - t_scan
        lost = [it for it in plan.todo if it.key not in received]
        if lost:
            cfg = plan.config
            msg = "the worker scanning this item died and its retries ran out (see the Ray logs); a later run retries it"
            writer.add(rows_table([error_row(asdict(it), "worker_lost", msg, versions=cfg.versions,
                                             fingerprint=cfg.fingerprint, engine=engine, run_id=cfg.run_id)
                                   for it in lost]))
            writer.flush()
            summary.lost = len(lost)
            emit("lost", {"keys": [it.key for it in lost]})
        summary.superseded = compact(out)
        planned = {it.key for it in plan.items}
        final = read_results(out, columns=["key", "verdict", "error_code"])
        verdicts: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        for key, verdict, code in zip(final["key"].to_pylist(), final["verdict"].to_pylist(),
                                      final["error_code"].to_pylist(), strict=True):
            if key in planned:
                verdicts[verdict] += 1
                if code:
                    errors[code] += 1
        summary.verdicts, summary.errors = dict(verdicts), dict(errors)
    emit("done", {"seconds": time.perf_counter() - t0})
    return summary


class _nolock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
