"""Review queue and audit log benchmark: prints figures, asserts nothing.

1. Audit append throughput through ``AuditLog.append`` (the call every event makes): one entry per
   write transaction (as the service appends), and 100 per transaction.
2. ``audit verify`` time for a chain of ``--entries`` entries (default 1,000,000). The chain is
   filled with the same canonical JSON and hashing, inserted in bulk (the fill is not the figure).
3. Console queue page latency (``GET /console/queue``, logged-in session, server-side rendering)
   with ``--cases`` cases (default 100,000) in the tenant: first page, an overdue filter, a reason
   filter and a later page through the cursor.

    python benchmarks/review.py                                  # SQLite in a temporary folder
    python benchmarks/review.py --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python benchmarks/review.py --entries 100000 --cases 10000   # quicker

With PostgreSQL a fresh database is created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _database(url: str | None, folder: Path) -> tuple[str, Any]:
    if not url:
        return f"sqlite:///{folder / 'bench.sqlite'}", None
    import sqlalchemy as sa

    name = f"sw_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False), drop


def _core(url: str, home: Path) -> Any:
    from synthwatch.config import get_settings
    from synthwatch.service.app import create_app
    from synthwatch.service.db import Database
    from synthwatch.service.settings import ServiceSettings

    Database(url).upgrade()
    settings = ServiceSettings(home=home, database_url=url)
    app = create_app(settings, core_settings=get_settings(home=home, detectors=["debug-image"]))
    return app


def bench_append(core: Any, tenant_id: str, n_single: int, n_batched: int) -> dict[str, float]:
    from synthwatch.service.audit import audit_of

    log = audit_of(core)
    t0 = time.perf_counter()
    for i in range(n_single):
        with core.db.write() as conn:
            log.append(conn, action="bench.single", object_type="case", object_id=f"case_{i}", tenant_id=tenant_id,
                       actor="key_bench", role="reviewer", source_ip="10.0.0.1", before={"state": "open"},
                       after={"state": "assigned"}, details={"i": i})
    single = n_single / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    done = 0
    while done < n_batched:
        with core.db.write() as conn:
            for _ in range(100):
                log.append(conn, action="bench.batched", object_type="case", object_id=f"case_{done}",
                           tenant_id=tenant_id, actor="key_bench", role="reviewer", source_ip="10.0.0.1",
                           after={"state": "decided", "i": done}, details={"i": done})
                done += 1
    batched = n_batched / (time.perf_counter() - t0)
    return {"single_per_s": single, "batched100_per_s": batched}


def fill_chain(core: Any, tenant_id: str, total: int) -> float:
    """Extend the tenant's chain to ``total`` entries in bulk (same canonical JSON and hashing)."""
    import sqlalchemy as sa

    from synthwatch.service.audit.log import canonical, chain_hash, digest, iso_us
    from synthwatch.service.ids import new_id
    from synthwatch.service.storage import review_tables as rt

    t0 = time.perf_counter()
    with core.db.read() as conn:
        head = conn.execute(sa.select(rt.audit_heads.c.seq, rt.audit_heads.c.hash)
                            .where(rt.audit_heads.c.chain == tenant_id)).one()
    seq, prev = int(head[0]), str(head[1])
    at_us = time.time_ns() // 1000
    after = digest({"state": "decided"})
    while seq < total:
        rows = []
        for _ in range(min(20000, total - seq)):
            seq += 1
            at_us += 3
            eid = new_id("aud")
            body = canonical({"v": 1, "chain": tenant_id, "seq": seq, "id": eid, "at": iso_us(at_us),
                              "tenant": tenant_id, "actor": "key_fill", "role": "reviewer", "action": "case.decided",
                              "object_type": "case", "object_id": f"case_{seq % 100000}", "source_ip": "10.0.0.2",
                              "before": None, "after": after, "details": {"reason_code": "authentic"}})
            h = chain_hash(prev, body)
            rows.append({"chain": tenant_id, "seq": seq, "id": eid, "at_us": at_us, "tenant_id": tenant_id,
                         "actor": "key_fill", "action": "case.decided", "object_type": "case",
                         "object_id": f"case_{seq % 100000}", "body": body.decode(), "prev_hash": prev, "hash": h})
            prev = h
        with core.db.write() as conn:
            conn.execute(rt.audit_log.insert(), rows)
            conn.execute(rt.audit_heads.update().where(rt.audit_heads.c.chain == tenant_id)
                         .values(seq=seq, hash=prev, updated_us=at_us))
        print(f"  filled {seq:,} entries", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return time.perf_counter() - t0


def fill_cases(core: Any, tenant_id: str, n: int) -> float:
    from synthwatch.service.ids import new_id
    from synthwatch.service.storage import review_tables as rt

    t0 = time.perf_counter()
    now = time.time()
    prios = ["urgent", "high", "normal", "low"]
    triggers = ["likely_synthetic", "face_forgery", "label_violation", "inconclusive", "user_report"]
    states = ["open", "open", "assigned", "decided", "closed", "appealed", "escalated"]
    done = 0
    while done < n:
        rows = []
        for _ in range(min(10000, n - done)):
            i = done
            opened = now - (i % 30) * 86400 - i % 3600
            state = states[i % len(states)]
            rows.append({"id": new_id("case"), "tenant_id": tenant_id, "state": state, "priority": prios[i % 4],
                         "source": "scan", "reasons": json.dumps([{"trigger": triggers[i % 5], "priority": prios[i % 4],
                                                                   "basis": f"benchmark case {i}"}], sort_keys=True),
                         "policy_version": "bench", "policy_digest": "0" * 64, "join_key": f"sha256:{i:064x}",
                         "scan_id": None, "sha256": f"{i:064x}", "kind": "image", "external_id": f"post-{i}",
                         "title": f"upload-{i}.jpg", "verdict": "likely_synthetic", "score": 0.5 + (i % 50) / 100,
                         "assignee": None, "round": 1, "decision": "dismiss" if state in ("decided", "closed") else None,
                         "reason_code": None, "pending": None, "report_count": 0, "legal_hold": False,
                         "hold_reason": None, "opened_at": opened, "due_at": opened + 3600 * (1 + i % 72),
                         "assigned_at": None, "first_decided_at": opened + 600 if state in ("decided", "closed") else None,
                         "decided_at": opened + 600 if state in ("decided", "closed") else None, "appealed_at": None,
                         "closed_at": opened + 700 if state == "closed" else None, "overdue_notified": False,
                         "updated_at": now, "version": 1})
            done += 1
        with core.db.write() as conn:
            conn.execute(rt.cases.insert(), rows)
        print(f"  inserted {done:,} cases", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return time.perf_counter() - t0


def bench_queue(app: Any, key: str, repeats: int) -> dict[str, dict[str, float]]:
    from fastapi.testclient import TestClient

    client = TestClient(app)
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/console/login", data={"api_key": key, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    first = client.get("/console/queue")
    nxt = re.search(r'href="(/console/queue\?[^"]*cursor=[^"]+)"', first.text)
    urls = {"first page (active, most urgent first)": "/console/queue",
            "overdue only": "/console/queue?state=active&overdue=1",
            "reason = face forgery": "/console/queue?state=active&trigger=face_forgery",
            "all states, newest first": "/console/queue?state=all&sort=newest",
            "second page (cursor)": nxt.group(1).replace("&amp;", "&") if nxt else "/console/queue"}
    out = {}
    for name, url in urls.items():
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            resp = client.get(url)
            times.append(time.perf_counter() - t0)
            assert resp.status_code == 200, (url, resp.status_code)
        out[name] = {"p50_ms": 1000 * statistics.median(times), "p95_ms": 1000 * _pct(times, 95),
                     "rows": resp.text.count("<tr") - 1}
    client.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", help="PostgreSQL admin URL (default: SQLite in a temporary folder)")
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--single", type=int, default=5000, help="appends measured one per transaction")
    ap.add_argument("--batched", type=int, default=20000, help="appends measured 100 per transaction")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--skip-queue", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sw-bench-review-") as tmp:
        folder = Path(tmp)
        url, drop = _database(args.database, folder)
        try:
            app = _core(url, folder / "home")
            core = app.state.core
            tenant = core.create_tenant("bench")
            _, key = core.create_key(tenant, "reviewer", "bench")
            backend = core.db.dialect
            print(f"database: {backend} ({core.db.display_url})")
            rates = bench_append(core, tenant.id, args.single, args.batched)
            print(f"audit append, 1 entry per transaction:  {rates['single_per_s']:,.0f} entries/s "
                  f"({args.single:,} appends)")
            print(f"audit append, 100 per transaction:      {rates['batched100_per_s']:,.0f} entries/s "
                  f"({args.batched:,} appends)")
            fill_s = fill_chain(core, tenant.id, args.entries)
            print(f"(filled the chain to {args.entries:,} entries in {fill_s:.1f} s)")
            from synthwatch.service.audit import audit_of

            res = audit_of(core).verify([tenant.id], use_file=False)
            c = res.chains[0]
            assert res.ok, res.to_dict()
            print(f"audit verify: {c.entries:,} entries in {res.seconds:.1f} s "
                  f"({c.entries / res.seconds:,.0f} entries/s), chain intact")
            if not args.skip_queue:
                fill = fill_cases(core, tenant.id, args.cases)
                print(f"(inserted {args.cases:,} cases in {fill:.1f} s)")
                for name, fig in bench_queue(app, key, args.repeats).items():
                    print(f"console queue, {name}: p50 {fig['p50_ms']:.1f} ms, p95 {fig['p95_ms']:.1f} ms "
                          f"({fig['rows']:.0f} rows, {args.repeats} requests)")
            core.db.dispose()
        finally:
            if drop is not None:
                drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
