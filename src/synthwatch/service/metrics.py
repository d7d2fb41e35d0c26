"""Prometheus metrics (``GET /metrics``).

Two sources: the API process's own request histogram, and figures read from the database at
scrape time, so that every worker process (on any machine) is counted: queue depth, job duration
and end-to-end latency histograms by media kind, verdict and scan counts, webhook deliveries, and
each worker's last heartbeat. Workers add to the shared ``counters`` table (:func:`observe`).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Connection

from .storage.sql import Stores

__all__ = ["BUCKETS", "observe", "DatabaseCollector", "make_registry"]

#: histogram buckets (seconds) of job duration and latency
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


def observe(stores: Stores, conn: Connection, metric: str, labels: dict[str, str], value: float) -> None:
    """Add one observation to a histogram kept in the ``counters`` table (non-cumulative buckets)."""
    le = next((str(b) for b in BUCKETS if value <= b), "+Inf")
    stores.counters.add(conn, f"{metric}_bucket", json.dumps({**labels, "le": le}, sort_keys=True), 1)
    stores.counters.add(conn, f"{metric}_sum", json.dumps(labels, sort_keys=True), value)


class DatabaseCollector(Collector):
    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def collect(self) -> Iterator[Any]:
        try:
            with self.stores.db.read() as conn:
                depth = self.stores.jobs.depth(conn)
                hooks = self.stores.webhooks.counts(conn)
                workers = self.stores.workers.list(conn)
                counters = self.stores.counters.all(conn)
        except Exception:  # noqa: BLE001 - an unreachable database shows as up == 0, not as a 500
            g = GaugeMetricFamily("synthwatch_database_up", "1 when the database answered this scrape")
            g.add_metric([], 0)
            yield g
            return
        g = GaugeMetricFamily("synthwatch_database_up", "1 when the database answered this scrape")
        g.add_metric([], 1)
        yield g
        q = GaugeMetricFamily("synthwatch_queue_jobs", "jobs in the queue by state", labels=["state"])
        for state, n in sorted(depth.items()):
            q.add_metric([state], n)
        yield q
        w = GaugeMetricFamily("synthwatch_webhook_deliveries", "webhook deliveries by state", labels=["state"])
        for state, n in sorted(hooks.items()):
            w.add_metric([state], n)
        yield w
        at = time.time()
        hb = GaugeMetricFamily("synthwatch_worker_heartbeat_age_seconds", "seconds since each worker's heartbeat",
                               labels=["worker", "host", "state"])
        done = CounterMetricFamily("synthwatch_worker_jobs", "jobs each worker finished", labels=["worker"])
        for rec in workers:
            hb.add_metric([rec.id, rec.host, rec.state], max(0.0, at - rec.heartbeat_at))
            done.add_metric([rec.id], rec.jobs_done)
        yield hb
        yield done
        yield from _from_counters(counters)


def _from_counters(rows: list[tuple[str, str, float]]) -> Iterator[Any]:
    hist: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    sums: dict[str, dict[str, float]] = defaultdict(dict)
    plain: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for name, labels, value in rows:
        lab = json.loads(labels)
        if name.endswith("_bucket"):
            le = lab.pop("le")
            hist[name[:-7]][json.dumps(lab, sort_keys=True)][le] = value
        elif name.endswith("_sum"):
            sums[name[:-4]][json.dumps(lab, sort_keys=True)] = value
        else:
            plain[name].append((lab, value))
    docs = {"job_duration_seconds": "time a worker spent on a scan job, by media kind",
            "job_latency_seconds": "time from submission to a finished scan, by media kind"}
    for metric, series in sorted(hist.items()):
        label_names = sorted({k for key in series for k in json.loads(key)})
        fam = HistogramMetricFamily(f"synthwatch_{metric}", docs.get(metric, metric), labels=label_names)
        for key, buckets in sorted(series.items()):
            lab = json.loads(key)
            cum = 0.0
            out = []
            for b in [*map(str, BUCKETS), "+Inf"]:
                cum += buckets.get(b, 0.0)
                out.append((b, cum))
            fam.add_metric([lab.get(n, "") for n in label_names], out, sums[metric].get(key, 0.0))
        yield fam
    docs_plain = {"verdicts_total": "finished scans by verdict", "scans_total": "finished scans by status"}
    for name, items in sorted(plain.items()):
        base = name[:-6] if name.endswith("_total") else name
        label_names = sorted({k for lab, _ in items for k in lab})
        fam2 = CounterMetricFamily(f"synthwatch_{base}", docs_plain.get(name, name), labels=label_names)
        for lab, value in items:
            fam2.add_metric([lab.get(n, "") for n in label_names], value)
        yield fam2


def make_registry(stores: Stores) -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(stores))
    http = Histogram("synthwatch_http_request_duration_seconds", "API request latency", ["method", "route", "status"],
                     registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    return registry, http
