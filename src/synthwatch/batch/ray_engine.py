"""The Ray engine: Ray Data streams the items through an autoscaling pool of scan actors.

* The plan (one row per item: key, path or URL, size, mtime) becomes a dataset of small blocks
  (``ray.data.from_arrow``); only paths and URLs travel, never media: the actors read each file
  where it lies (a file system every node mounts) or download each URL themselves.
* ``map_batches`` with an actor pool (:class:`ScanActor`): each actor builds one
  :class:`~synthwatch.batch.item.ItemScanner` and loads its models once, then scans batch after
  batch. Each actor reserves ``cpus_per_actor`` CPUs (and ``memory_per_actor_mb``) and caps its
  ONNX Runtime threads at that. The pool grows from ``min_actors`` to ``max_actors`` (default: the
  cluster's CPUs / cpus_per_actor).
* Result rows stream back to the driver (``iter_batches``), which writes them as they arrive.
* An actor whose process dies (a node lost, a pre-empted instance) is restarted and its block
  retried, as Ray Data does by default; a block that fails otherwise is skipped
  (``max_errored_blocks``) and its items get the error ``worker_lost`` (a later run retries them).
* An actor whose detector versions differ from the driver's (another synthwatch version on a node)
  or that lacks a model the driver has refuses to start: mixed answers from one run are worse than
  none.

Ray is an optional extra: ``pip install 'synthwatch[ray]'``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from ..errors import ConfigError
from .inputs import BatchItem, items_table
from .item import ItemScanner, ScanConfig
from .results import rows_table
from .settings import BatchOptions

__all__ = ["ScanActor", "import_ray", "import_ray_for", "connect", "ray_available", "run_ray", "INSTALL_HINT",
           "LOCAL_ONLY_ENV"]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'synthwatch[ray]'"
#: most items in one block (the unit Ray hands to an actor, and retries); fewer for small runs
MAX_BLOCK_ROWS = 16


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


def import_ray() -> Any:
    """The ``ray`` module (with Ray Data), or a :class:`ConfigError` that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"--engine ray needs Ray with Ray Data, which is not installed: {INSTALL_HINT} "
                          f"({exc})") from exc
    return ray


class ScanActor:
    """A Ray Data actor: loads the detectors once, then turns batches of items into result rows."""

    def __init__(self, config: ScanConfig) -> None:
        import ray

        self.scanner = ItemScanner(config)
        self.scanner.node = ray.get_runtime_context().get_node_id()
        if self.scanner.fingerprint != config.fingerprint:
            mine, theirs = self.scanner.versions, config.versions
            diff = {k: (theirs.get(k), mine.get(k)) for k in sorted({*mine, *theirs}) if mine.get(k) != theirs.get(k)}
            raise ConfigError(f"scan worker {self.scanner.worker} would not scan as the driver planned "
                              f"(detector: (driver, worker) = {diff or 'same detectors, other sampling'}); install "
                              "the same synthwatch version and models on every node (synthwatch models setup)")
        self.scanner.load()

    def __call__(self, batch: pa.Table) -> pa.Table:
        return rows_table([self.scanner.scan(item) for item in batch.to_pylist()])


def _block_rows(n: int, max_actors: int, batch_size: int) -> int:
    rows = max(1, min(MAX_BLOCK_ROWS, n // max(1, 4 * max_actors)))
    return max(batch_size, (rows // batch_size) * batch_size)


#: Ray's switch for single-machine instances (its default on macOS and Windows): nodes advertise and
#: bind 127.0.0.1 only. Read by Ray when it is first imported.
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _target(address: str | None) -> str | None:
    return address or os.environ.get("RAY_ADDRESS") or None


def import_ray_for(address: str | None) -> Any:
    """:func:`import_ray`, after arranging that a local instance (no address, no ``RAY_ADDRESS``)
    listens on 127.0.0.1 only -- when this process imports Ray for the first time."""
    import sys

    if _target(address) is None and "ray" not in sys.modules and LOCAL_ONLY_ENV not in os.environ:
        os.environ[LOCAL_ONLY_ENV] = "0"
        try:
            return import_ray()
        finally:
            del os.environ[LOCAL_ONLY_ENV]
    return import_ray()


def connect(ray: Any, address: str | None) -> bool:
    """Connect to ``address`` (``auto``, ``host:port`` or ``ray://host:port``; None: ``RAY_ADDRESS``
    or a new local Ray instance). Returns whether this call started the connection (and so must
    shut it down). A driver that already called ``ray.init`` is used as it is."""
    if ray.is_initialized():
        return False
    # Ray's usage statistics are sent to its vendor unless turned off; synthwatch never sends telemetry
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    target = _target(address)
    if target is None:
        kwargs["include_dashboard"] = False
    try:
        ray.init(address=target, **kwargs)
    except Exception as exc:  # noqa: BLE001 - Ray raises many types here (connection, auth, timeout, version)
        raise ConfigError(f"cannot connect to the Ray cluster at {target or 'a new local instance'}: {exc}") from exc
    return True


def run_ray(items: Sequence[BatchItem], config: ScanConfig, options: BatchOptions, *,
            address: str | None = None, info: dict[str, Any] | None = None) -> Iterator[pa.Table]:
    """Scan ``items`` on Ray; yields result tables as blocks finish. ``info`` (when given) is
    filled with what was used: ``address``, ``cluster_cpus``, ``nodes``, ``min_actors``,
    ``max_actors``, ``block_rows``."""
    ray = import_ray_for(address)
    started = connect(ray, address)
    try:
        resources = ray.cluster_resources()
        cpus = float(resources.get("CPU", 1.0))
        max_actors = options.max_actors or max(1, int(cpus // options.cpus_per_actor))
        min_actors = min(options.min_actors, max_actors)
        n = len(items)
        block = _block_rows(n, max_actors, options.batch_size)
        if info is not None:
            info.update({"address": address or os.environ.get("RAY_ADDRESS") or "local", "cluster_cpus": cpus,
                         "nodes": len([x for x in ray.nodes() if x.get("Alive")]), "min_actors": min_actors,
                         "max_actors": max_actors, "block_rows": block})
        if n == 0:
            return
        table = items_table(items)
        ds = ray.data.from_arrow([table.slice(i, block) for i in range(0, n, block)])
        results = ds.map_batches(
            ScanActor,
            fn_constructor_kwargs={"config": config},
            batch_size=options.batch_size,
            batch_format="pyarrow",
            zero_copy_batch=True,
            compute=ray.data.ActorPoolStrategy(min_size=min_actors, max_size=max_actors,
                                               max_tasks_in_flight_per_actor=2),
            num_cpus=options.cpus_per_actor,
            memory=options.memory_per_actor_mb * 1024 * 1024 if options.memory_per_actor_mb else None,
        )
        ctx = results.context
        ctx.max_errored_blocks = -1  # a block that fails after its retries: its items become worker_lost rows
        ctx.enable_progress_bars = False  # the caller shows progress
        ctx.enable_auto_log_stats = False
        ctx.actor_init_max_retries = 0  # an actor that cannot start (wrong versions, bad config) fails the run
        yield from results.iter_batches(batch_size=None, batch_format="pyarrow")
    finally:
        if started:
            ray.shutdown()
