"""Batch scans: many items, one Parquet dataset of results, on this machine or a Ray cluster.

::

    from synthwatch.batch import run_batch, read_results
    summary = run_batch(["uploads/", "more/*.mp4", "manifest.parquet"], "results/", engine="ray",
                        address="auto", detectors=["clip-probe", "sw-voice"])
    table = read_results("results/")          # pyarrow.Table, one row per item

The analysis is the library's: each process (the caller for ``engine="local"``, each Ray actor for
``engine="ray"``) builds one :class:`synthwatch.Scanner` and calls ``scanner.scan(path)``; the
``report`` column is the exact document ``synthwatch scan --json`` prints
(``synthwatch.types.Report.from_dict(json.loads(row["report"]))`` reads it back).

Layout::

    settings.py     BatchOptions (env SYNTHWATCH_BATCH__*): actor CPUs and memory, pool size, batch
                    size, flush interval, URL fetch policy
    inputs.py       folders, globs and CSV/Parquet manifests (path / url / id columns) -> items
    item.py         ItemScanner: one item -> one result row (URLs through synthwatch.service.fetch)
    results.py      the Parquet schema, the writer (atomic parts), resume facts, compaction
    local.py        the local engine (threads sharing one Scanner)
    ray_engine.py   the Ray engine (Ray Data, map_batches over an actor pool); Ray is optional
    run.py          run_batch: plan, skip what OUT holds, scan, write, sum up

Resuming: an item whose newest row in ``OUT`` has the same detector versions and sampling
(``config_fp``), the same path and, for a file, the same size and modification time is skipped;
rows with a transient error (:data:`~synthwatch.batch.results.RETRY_CODES`) are retried, other
errors only with ``retry_errors``.
"""

from __future__ import annotations

from .inputs import BatchItem, plan_inputs
from .results import RESULT_SCHEMA, RETRY_CODES, SCHEMA_ID, iter_rows, read_results
from .run import ENGINES, BatchPlan, BatchSummary, prepare, run_batch
from .settings import BatchOptions, BatchSettings, get_batch_options

__all__ = [
    "BatchItem",
    "BatchOptions",
    "BatchPlan",
    "BatchSettings",
    "BatchSummary",
    "ENGINES",
    "RESULT_SCHEMA",
    "RETRY_CODES",
    "SCHEMA_ID",
    "get_batch_options",
    "iter_rows",
    "plan_inputs",
    "prepare",
    "read_results",
    "run_batch",
]
