"""The results dataset of a batch run: one Parquet row per item, written as results arrive.

``OUT`` is a folder of Parquet files (``part-<run>-<seq>.parquet``), each written whole under a
temporary name and renamed into place, so a run that is killed loses at most the results it had
not flushed yet, and a reader never sees half a file. Every file has the same Arrow schema
(:data:`RESULT_SCHEMA`); any Parquet reader (pyarrow, pandas, DuckDB, Spark, Ray Data) reads the
folder as one table. A run that scans an item again (other detector versions, a changed file, a
retried error) supersedes its old row: at the end of the run the parts holding superseded rows are
rewritten without them, and :func:`read_results` already reads only the newest row of each item.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import ConfigError

__all__ = ["RESULT_SCHEMA", "SCHEMA_ID", "RETRY_CODES", "ResultWriter", "OutLock", "Existing", "new_run_id",
           "part_files", "read_existing", "read_results", "compact", "rows_table", "iter_rows",
           "report_json"]

log = logging.getLogger(__name__)

#: the ``synthwatch.batch`` key of every part file's schema metadata
SCHEMA_ID = "synthwatch.batch/1"

#: error codes that a later run retries without being asked (the cause may have passed: a worker
#: process died, a download failed or timed out, an unexpected exception)
RETRY_CODES = frozenset({"worker_lost", "fetch_failed", "fetch_timeout", "internal_error"})

RESULT_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),  # the manifest id, else path
        pa.field("id", pa.string()),  # the manifest's id column, when it has one
        pa.field("path", pa.string(), nullable=False),  # absolute path (lossless display form) or URL
        pa.field("source_type", pa.string(), nullable=False),  # "file" | "url"
        pa.field("size_bytes", pa.int64()),
        pa.field("mtime_ns", pa.int64()),  # of a file when it was planned (a changed file is scanned again)
        pa.field("sha256", pa.string()),
        pa.field("kind", pa.string()),  # image | audio | video
        pa.field("format", pa.string()),
        pa.field("duration_s", pa.float64()),
        pa.field("verdict", pa.string(), nullable=False),
        pa.field("score", pa.float64()),
        pa.field("detector_scores", pa.map_(pa.string(), pa.float64())),  # detector -> score (null: n/a)
        pa.field("detector_versions", pa.map_(pa.string(), pa.string())),
        pa.field("config_fp", pa.string(), nullable=False),  # detector versions + sampling: resume key
        pa.field("error_code", pa.string()),
        pa.field("error_message", pa.string()),
        pa.field("report", pa.string()),  # the synthwatch.report/1 document, as `scan --json` writes it
        pa.field("scanned_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("elapsed_s", pa.float64()),  # fetch + scan of this item in its worker
        # CPU seconds of the worker process and its children (decoders) meanwhile; exact when the
        # worker scans one item at a time (a Ray actor, the local engine with one thread)
        pa.field("cpu_s", pa.float64()),
        pa.field("engine", pa.string(), nullable=False),  # local | ray
        pa.field("worker", pa.string()),  # host:pid of the process that scanned it
        pa.field("node", pa.string()),  # the Ray node it ran on (null for the local engine)
        pa.field("worker_peak_rss_mb", pa.float64()),  # that process's peak resident memory so far
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("synthwatch_version", pa.string(), nullable=False),
    ],
    metadata={"synthwatch.batch": SCHEMA_ID},
)

_PART = re.compile(r"^part-[A-Za-z0-9_.-]+\.parquet$")
_LOCK = ".synthwatch-batch.lock"


def new_run_id() -> str:
    """Sortable by start time: ``20261203T144500Z-1a2b3c``."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (dicts with the schema's fields; maps as dicts) as a table of :data:`RESULT_SCHEMA`."""
    fixed = []
    for r in rows:
        d = {name: r.get(name) for name in RESULT_SCHEMA.names}
        for m in ("detector_scores", "detector_versions"):
            value = d[m]
            if isinstance(value, dict):
                d[m] = list(value.items())
        fixed.append(d)
    return pa.Table.from_pylist(fixed, schema=RESULT_SCHEMA)


def part_files(out: Path) -> list[Path]:
    """The result parts in ``out``, oldest run first."""
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir() if _PART.match(p.name) and p.is_file())


def _check_part(path: Path) -> pa.Schema:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{path} is not a readable Parquet file: {exc}") from exc
    meta = schema.metadata or {}
    if meta.get(b"synthwatch.batch") != SCHEMA_ID.encode():
        raise ConfigError(f"{path} is not a synthwatch batch result (schema {SCHEMA_ID}); choose another --out")
    return schema


class OutLock:
    """An exclusive lock on ``OUT`` for the length of a run (two runs writing one dataset at once
    would scan the same items twice). ``flock`` on ``OUT/.synthwatch-batch.lock``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._fd: int | None = None

    def __enter__(self) -> OutLock:
        if self.out.exists() and not self.out.is_dir():
            raise ConfigError(f"--out {self.out} exists and is not a folder")
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.out / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot write to --out {self.out}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(f"another batch run is writing {self.out} (it holds {_LOCK}); wait for it or "
                              "choose another --out") from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _write_atomic(table: pa.Table, target: Path) -> None:
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex}.parquet")
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class ResultWriter:
    """Collects result rows and writes a part every ``flush_rows`` rows or ``flush_s`` seconds."""

    def __init__(self, out: Path, run_id: str, *, flush_rows: int = 256, flush_s: float = 30.0) -> None:
        self.out = out
        self.run_id = run_id
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self._pending: list[pa.Table] = []
        self._n_pending = 0
        self._seq = 0
        self._last = time.monotonic()
        self.written = 0
        self.parts: list[Path] = []

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._pending.append(table.cast(RESULT_SCHEMA) if table.schema != RESULT_SCHEMA else table)
        self._n_pending += table.num_rows
        if self._n_pending >= self.flush_rows or time.monotonic() - self._last >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not self._pending:
            return
        table = pa.concat_tables(self._pending)
        self._seq += 1
        target = self.out / f"part-{self.run_id}-{self._seq:06d}.parquet"
        _write_atomic(table.replace_schema_metadata(RESULT_SCHEMA.metadata), target)
        self.parts.append(target)
        self.written += table.num_rows
        self._pending.clear()
        self._n_pending = 0


@dataclass(frozen=True)
class Existing:
    """The newest row of an item already in ``OUT`` (what resuming needs to know)."""

    path: str
    config_fp: str
    error_code: str | None
    size_bytes: int | None
    mtime_ns: int | None


_RESUME_COLUMNS = ["key", "path", "config_fp", "error_code", "size_bytes", "mtime_ns", "scanned_at"]


def _read_parts(parts: Iterable[Path], columns: list[str] | None) -> pa.Table:
    tables = []
    for p in parts:
        _check_part(p)
        try:
            tables.append(pq.read_table(p, columns=columns, schema=RESULT_SCHEMA))
        except (OSError, pa.ArrowException) as exc:
            raise ConfigError(f"cannot read {p}: {exc}") from exc
    if not tables:
        schema = RESULT_SCHEMA if columns is None else pa.schema([RESULT_SCHEMA.field(c) for c in columns])
        return schema.empty_table()
    return pa.concat_tables(tables)


def _latest_mask(table: pa.Table) -> pa.Array:
    """True for the newest row of each key (by ``scanned_at``, the later part on a tie)."""
    n = table.num_rows
    if n == 0:
        return pa.array([], pa.bool_())
    idx = pa.array(range(n), pa.int64())
    t = pa.table({"key": table["key"], "at": table["scanned_at"], "i": idx})
    order = pc.sort_indices(t, sort_keys=[("key", "ascending"), ("at", "descending"), ("i", "descending")])
    keys = pc.take(t["key"], order).to_pylist()
    rows = pc.take(t["i"], order).to_pylist()
    keep = [False] * n
    prev: object = object()
    for k, i in zip(keys, rows, strict=True):
        if k != prev:
            keep[i] = True
            prev = k
    return pa.array(keep, pa.bool_())


def read_existing(out: Path) -> dict[str, Existing]:
    """key -> the newest row's resume facts, for every item in ``out``."""
    table = _read_parts(part_files(out), _RESUME_COLUMNS)
    table = table.filter(_latest_mask(table))
    return {r["key"]: Existing(r["path"], r["config_fp"], r["error_code"], r["size_bytes"], r["mtime_ns"])
            for r in table.to_pylist()}


def read_results(out: str | os.PathLike[str], *, columns: list[str] | None = None, latest: bool = True) -> pa.Table:
    """The results in ``out`` as one Arrow table (``latest``: only the newest row of each item)."""
    path = Path(out)
    if not path.is_dir():
        raise ConfigError(f"{path} is not a batch results folder")
    cols = None if columns is None else list(dict.fromkeys([*columns, *(["key", "scanned_at"] if latest else [])]))
    table = _read_parts(part_files(path), cols)
    if latest:
        table = table.filter(_latest_mask(table))
    return table.select(columns) if columns is not None else table


def compact(out: Path) -> int:
    """Rewrite the parts that hold superseded rows without them (a part left empty is removed);
    returns how many rows were dropped."""
    parts = part_files(out)
    table = _read_parts(parts, ["key", "scanned_at"])
    if table.num_rows == 0:
        return 0
    keep = _latest_mask(table).to_pylist()
    dropped = keep.count(False)
    if not dropped:
        return 0
    offset = 0
    for p in parts:
        n = pq.ParquetFile(p).metadata.num_rows
        mask = keep[offset : offset + n]
        offset += n
        if all(mask):
            continue
        if not any(mask):
            p.unlink()
            continue
        whole = pq.read_table(p, schema=RESULT_SCHEMA).filter(pa.array(mask, pa.bool_()))
        _write_atomic(whole.replace_schema_metadata(RESULT_SCHEMA.metadata), p)
    return int(dropped)


def iter_rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    """Rows of a results table as dicts (maps as dicts)."""
    for r in table.to_pylist():
        for m in ("detector_scores", "detector_versions"):
            if isinstance(r.get(m), list):
                r[m] = dict(r[m])
        yield r


def report_json(doc: dict[str, Any]) -> str:
    """A report document as ``synthwatch scan --json`` serialises it (UTF-8 text; see render.text)."""
    from ..render.text import json_bytes

    return json_bytes(doc).decode("utf-8")
