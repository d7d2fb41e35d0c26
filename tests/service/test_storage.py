"""Storage and queue semantics on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from synthwatch.service.db import Database, NotMigrated
from synthwatch.service.storage import schema
from synthwatch.service.storage.sql import Stores


@pytest.fixture
def stores(db_url: str) -> Stores:
    db = Database(db_url)
    db.upgrade()
    s = Stores.over(db)
    yield s
    db.dispose()


def _tenant(s: Stores, name: str = "acme") -> str:
    with s.db.write() as conn:
        return s.tenants.create(conn, name, {}).id


def test_migrations_create_the_schema_the_code_uses(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = Database(db_url)
    with pytest.raises(NotMigrated, match="synthwatch db upgrade"):
        db.require_migrated()
    state = db.upgrade()
    assert state.ok and state.current == state.head  # every migration applies, in order
    db.require_migrated()
    assert db.upgrade().ok  # running it again is harmless
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diff == [], f"migrations and storage/schema.py disagree: {diff}"
    db.dispose()


def test_tenants_keys_and_revocation(stores: Stores) -> None:
    tid = _tenant(stores)
    with stores.db.write() as conn:
        key, secret = stores.keys.create(conn, tid, "uploader", "ci")
    assert secret.startswith(f"swk_{key.prefix}_") and key.hash != secret and secret not in key.hash
    with stores.db.read() as conn:
        row = conn.execute(sa.select(schema.api_keys)).mappings().one()
    assert secret not in str(dict(row))  # only the hash is stored
    with stores.db.write() as conn:
        assert stores.keys.revoke(conn, tid, key.id)
        assert not stores.keys.revoke(conn, tid, key.id)
        assert not stores.keys.revoke(conn, "ten_other", key.id)
    with stores.db.read() as conn:
        assert stores.keys.by_prefix(conn, key.prefix).revoked_at is not None  # type: ignore[union-attr]
    with pytest.raises(sa.exc.IntegrityError), stores.db.write() as conn:
        stores.tenants.create(conn, "acme", {})


def test_queue_lease_complete_once_and_lost_lease(stores: Stores) -> None:
    tid = _tenant(stores)
    with stores.db.write() as conn:
        jid = stores.jobs.enqueue(conn, "scan", "scan_1", tid, max_attempts=3)
    job = stores.jobs.lease("w1", lease_s=0.3)
    assert job is not None and job.id == jid and job.attempts == 1
    assert stores.jobs.lease("w2", lease_s=0.3) is None  # leased: nobody else gets it
    assert stores.jobs.renew(jid, "w1", 0.3)
    time.sleep(0.4)  # w1 stalls past its lease
    again = stores.jobs.lease("w2", lease_s=5)
    assert again is not None and again.id == jid and again.attempts == 2
    assert not stores.jobs.renew(jid, "w1", 5)
    with stores.db.write() as conn:
        assert not stores.jobs.complete(conn, jid, "w1")  # the old holder cannot finish it
        assert stores.jobs.complete(conn, jid, "w2")
        assert not stores.jobs.complete(conn, jid, "w2")  # completes once
        job = stores.jobs.for_ref(conn, "scan_1")
    assert job is not None and job.status == "done"
    assert [h["outcome"] for h in job.history] == ["started", "lease_expired", "started", "done"]


def test_queue_gives_up_after_max_attempts_and_release_does_not_count(stores: Stores) -> None:
    tid = _tenant(stores)
    with stores.db.write() as conn:
        jid = stores.jobs.enqueue(conn, "scan", "scan_2", tid, max_attempts=2)
    job = stores.jobs.lease("w1", lease_s=5)
    assert job is not None and stores.jobs.release(jid, "w1")  # graceful shutdown hands it back
    for owner in ("w2", "w3"):
        job = stores.jobs.lease(owner, lease_s=0.2)
        assert job is not None
        time.sleep(0.3)  # the worker dies
    assert job.attempts == 2
    assert stores.jobs.lease("w4", lease_s=1) is None  # no attempts left: not leased again
    dead = stores.jobs.abandon_expired()
    assert [j.id for j in dead] == [jid] and "2 attempts" in (dead[0].last_error or "")
    with stores.db.read() as conn:
        assert stores.jobs.for_ref(conn, "scan_2").status == "failed"  # type: ignore[union-attr]
    assert stores.jobs.abandon_expired() == []


def test_concurrent_workers_never_take_the_same_job(stores: Stores) -> None:
    tid = _tenant(stores)
    with stores.db.write() as conn:
        ids = {stores.jobs.enqueue(conn, "scan", f"scan_{i}", tid, max_attempts=1) for i in range(40)}
    got: list[str] = []
    lock = threading.Lock()

    def work(owner: str) -> None:
        while True:
            job = stores.jobs.lease(owner, lease_s=30)
            if job is None:
                return
            with lock:
                got.append(job.id)
            with stores.db.write() as conn:
                assert stores.jobs.complete(conn, job.id, owner)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == sorted(ids)  # each job exactly once
    with stores.db.read() as conn:
        assert stores.jobs.depth(conn) == {"queued": 0, "running": 0}


def test_media_retention_and_legal_hold(stores: Stores) -> None:
    tid = _tenant(stores)
    other = _tenant(stores, "other")
    sha = "ab" * 32
    with stores.db.write() as conn:
        stores.media.upsert(conn, tid, sha, 10, "a.jpg", retention_s=0.0)
        stores.media.upsert(conn, other, sha, 10, "b.jpg", retention_s=3600)
        stores.media.upsert(conn, tid, "cd" * 32, 10, "c.jpg", retention_s=0.0)
        stores.media.set_hold(conn, tid, "cd" * 32, True, "case 42")
    at = time.time() + 1
    with stores.db.read() as conn:
        due = stores.media.expired(conn, at, 10)
    assert [(m.tenant_id, m.sha256) for m in due] == [(tid, sha)]  # the held one is never due
    with stores.db.write() as conn:
        assert stores.media.mark_purged(conn, tid, sha, at)
        assert not stores.media.mark_purged(conn, tid, "cd" * 32, at)
        assert stores.media.live_references(conn, sha) == 1  # the other tenant still holds it


def test_counters_and_webhook_leases(stores: Stores) -> None:
    tid = _tenant(stores)
    with stores.db.write() as conn:
        stores.counters.add(conn, "verdicts_total", '{"verdict":"x"}', 1)
        stores.counters.add(conn, "verdicts_total", '{"verdict":"x"}', 2.5)
        did = stores.webhooks.enqueue(conn, tid, "ping", None, "http://127.0.0.1:1/", "{}", 3)
    with stores.db.read() as conn:
        assert stores.counters.all(conn) == [("verdicts_total", '{"verdict":"x"}', 3.5)]
    leased = stores.webhooks.lease_due(time.time(), lease_s=30, limit=10)
    assert [d.id for d in leased] == [did]
    assert stores.webhooks.lease_due(time.time(), lease_s=30, limit=10) == []  # being sent
    stores.webhooks.mark_failed(did, 500, "HTTP 500", None)
    with stores.db.read() as conn:
        d = stores.webhooks.get(conn, tid, did)
        assert d is not None and d.status == "dead" and d.attempts == 1
        assert stores.webhooks.get(conn, "ten_other", did) is None


def test_scan_flow_on_each_backend(env_factory, db_url: str, svc_media) -> None:  # type: ignore[no-untyped-def]
    """The whole path (upload, queue, worker, report, reuse, webhook row) on SQLite and PostgreSQL."""
    env = env_factory(db_url)
    first = env.upload(svc_media["image"], callback_url="http://127.0.0.1:9/hook").json()
    assert env.drain() == 1
    done = env.client.get(f"/v1/scans/{first['id']}", headers=env.auth()).json()
    assert done["status"] == "done" and done["report"]["schema"] == "synthwatch.report/1"
    again = env.upload(svc_media["image"]).json()
    assert again["status"] == "done" and again["reused_from"] == first["id"]
    hooks = env.client.get("/v1/webhooks/deliveries", headers=env.auth("admin")).json()["data"]
    assert [(h["event"], h["object_id"]) for h in hooks] == [("scan.completed", first["id"])]
