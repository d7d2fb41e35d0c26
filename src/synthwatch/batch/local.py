"""The local engine: one :class:`~synthwatch.batch.item.ItemScanner` in this process, items scanned
by ``threads`` threads that share it (the Scanner is thread-safe; ONNX Runtime and the decoder
processes run outside the GIL)."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Iterator, Sequence
from dataclasses import asdict

import pyarrow as pa

from ..detectors.registry import Registry
from .inputs import BatchItem
from .item import ItemScanner, ScanConfig
from .results import rows_table

__all__ = ["run_local"]


def run_local(items: Sequence[BatchItem], config: ScanConfig, *, threads: int = 1,
              registry: Registry | None = None) -> Iterator[pa.Table]:
    """Scan ``items``; yields one-row tables as items finish (in completion order)."""
    scanner = ItemScanner(config, registry=registry)
    try:
        scanner.load()
        if threads <= 1:
            for it in items:
                yield rows_table([scanner.scan(asdict(it))])
            return
        with cf.ThreadPoolExecutor(threads, thread_name_prefix="synthwatch-batch") as pool:
            pending: set[cf.Future[dict]] = set()  # type: ignore[type-arg]
            queue = iter(items)
            try:
                while True:
                    while len(pending) < 2 * threads:
                        nxt = next(queue, None)
                        if nxt is None:
                            break
                        pending.add(pool.submit(scanner.scan, asdict(nxt)))
                    if not pending:
                        break
                    done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    for f in done:
                        yield rows_table([f.result()])
            finally:
                for f in pending:
                    f.cancel()
    finally:
        scanner.close()
