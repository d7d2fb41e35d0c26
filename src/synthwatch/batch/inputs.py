"""What a batch run scans: files, folders (walked), glob patterns -- by the rules of ``synthwatch
scan`` (:mod:`synthwatch.pipeline.inputs`) -- and manifests, made into one list of items, each
with a unique key.

A manifest is a CSV or Parquet file (suffix ``.csv``, ``.parquet`` or ``.pq``) with a ``path`` or
a ``url`` column (names are matched without regard to case; both may be present, one value per
row) and optionally an ``id`` column, which becomes the item's key and is carried into the
results. Relative paths in a manifest are relative to the manifest's folder. Nothing in a row is
checked here beyond its shape: a path that does not exist or a URL that is refused becomes a result
row with an error code when the item is scanned, never a failed run.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import ConfigError
from ..media.source import display_name
from ..pipeline.inputs import expand_inputs

__all__ = ["BatchItem", "MANIFEST_SUFFIXES", "plan_inputs", "items_table", "items_from_table"]

MANIFEST_SUFFIXES = frozenset({".csv", ".parquet", ".pq"})


@dataclass(frozen=True)
class BatchItem:
    """One thing to scan. ``path`` is an absolute local path in the media layer's lossless display
    form (:func:`synthwatch.media.source.display_name`), or a URL when ``source_type`` is ``url``."""

    key: str
    path: str
    source_type: str  # "file" | "url"
    id: str | None = None
    size_bytes: int | None = None
    mtime_ns: int | None = None


ITEM_SCHEMA = pa.schema([("key", pa.string()), ("path", pa.string()), ("source_type", pa.string()),
                         ("id", pa.string()), ("size_bytes", pa.int64()), ("mtime_ns", pa.int64())])


def items_table(items: Sequence[BatchItem]) -> pa.Table:
    return pa.Table.from_pylist([{f: getattr(i, f) for f in ITEM_SCHEMA.names} for i in items], schema=ITEM_SCHEMA)


def items_from_table(table: pa.Table) -> list[BatchItem]:
    return [BatchItem(**{k: r.get(k) for k in ITEM_SCHEMA.names}) for r in table.to_pylist()]


def _file_item(path: str | os.PathLike[str], *, key: str | None = None, id: str | None = None) -> BatchItem:
    absolute = os.path.abspath(os.fspath(path))
    shown = display_name(absolute)
    size = mtime = None
    try:
        st = os.stat(absolute)
        size, mtime = st.st_size, st.st_mtime_ns
    except OSError:
        pass  # scanned anyway: the scan reports why it cannot be read
    return BatchItem(key=key or shown, path=shown, source_type="file", id=id, size_bytes=size, mtime_ns=mtime)


def _pick(columns: Iterable[str], want: str) -> str | None:
    for c in columns:
        if c.strip().lower() == want:
            return c
    return None


def _read_manifest(path: Path) -> tuple[list[dict[str, Any]], str]:
    """Rows ({'path'|'url'|'id': text or None}) of a manifest and a description for messages."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with open(path, newline="", encoding="utf-8-sig") as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if not header:
                    raise ConfigError(f"manifest {display_name(path)} is empty (it needs a header row with a "
                                      "path or url column)")
                cols = {w: _pick(header, w) for w in ("path", "url", "id")}
                idx = {w: header.index(c) for w, c in cols.items() if c is not None}
                rows: list[dict[str, Any]] = []
                for n, rec in enumerate(reader, start=2):
                    if not any(v.strip() for v in rec):
                        continue
                    if len(rec) != len(header):
                        raise ConfigError(f"manifest {display_name(path)} line {n}: {len(rec)} fields, the header "
                                          f"has {len(header)}")
                    rows.append({w: (rec[i].strip() or None) for w, i in idx.items()})
        else:
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            cols = {w: _pick(schema.names, w) for w in ("path", "url", "id")}
            wanted = [c for c in cols.values() if c is not None]
            table = pq.read_table(path, columns=wanted) if wanted else None
            rows = []
            if table is not None:
                for w, c in cols.items():
                    if c is not None and not (pa.types.is_string(table[c].type)
                                              or pa.types.is_large_string(table[c].type)
                                              or (w == "id" and pa.types.is_integer(table[c].type))):
                        raise ConfigError(f"manifest {display_name(path)}: column {c!r} is {table[c].type}, "
                                          "not text")
                data = {w: table[c].to_pylist() for w, c in cols.items() if c is not None}
                for i in range(table.num_rows):
                    entry = {w: (str(data[w][i]).strip() or None) if data[w][i] is not None else None for w in data}
                    if any(entry.values()):
                        rows.append(entry)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"manifest {display_name(path)} is not UTF-8 text: {exc}") from exc
    except csv.Error as exc:
        raise ConfigError(f"manifest {display_name(path)} is not valid CSV: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read manifest {display_name(path)}: {exc}") from exc
    except pa.ArrowException as exc:
        raise ConfigError(f"manifest {display_name(path)} is not a readable Parquet file: {exc}") from exc
    if cols["path"] is None and cols["url"] is None:
        raise ConfigError(f"manifest {display_name(path)} has no 'path' or 'url' column")
    return rows, display_name(path)


def _manifest_items(path: Path) -> list[BatchItem]:
    rows, shown = _read_manifest(path)
    base = path.parent
    items: list[BatchItem] = []
    for n, r in enumerate(rows, start=1):
        p, u, ident = r.get("path"), r.get("url"), r.get("id")
        if p and u:
            raise ConfigError(f"manifest {shown} row {n}: both a path and a url (give one)")
        if not p and not u:
            raise ConfigError(f"manifest {shown} row {n}: no path or url")
        if u:
            items.append(BatchItem(key=ident or u, path=u, source_type="url", id=ident))
        else:
            assert p is not None
            target = Path(p) if os.path.isabs(p) else base / p
            item = _file_item(target, id=ident)
            items.append(item if not ident else BatchItem(**{**item.__dict__, "key": ident}))
    return items


def plan_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[BatchItem]:
    """The items named by ``inputs``: each a manifest, or what ``synthwatch scan`` would scan for it
    (:func:`synthwatch.pipeline.inputs.expand_inputs`: a file as named, even one that does not exist
    -- its row will say why --, a folder walked for media suffixes, a glob pattern; a pattern that
    matches nothing is a :class:`~synthwatch.errors.ConfigError`). Items are unique by key; the same
    key twice for the same path counts once, for two different paths it is a ConfigError."""
    items: list[BatchItem] = []
    for given in inputs:
        literal = Path(os.fspath(given))
        if literal.suffix.lower() in MANIFEST_SUFFIXES and literal.is_file():
            items.extend(_manifest_items(literal))
        else:
            items.extend(_file_item(f) for f in expand_inputs([given]))
    seen: dict[str, BatchItem] = {}
    for it in items:
        prev = seen.get(it.key)
        if prev is None:
            seen[it.key] = it
        elif prev.path != it.path:
            raise ConfigError(f"the key {it.key!r} names two items: {prev.path!r} and {it.path!r} "
                              "(ids in a manifest must be unique)")
    return list(seen.values())
