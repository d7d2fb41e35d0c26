"""SQL implementations of the storage interfaces (SQLAlchemy Core; SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from ..auth import generate_key
from ..db import Database, now
from ..ids import new_id
from . import schema as t
from .interfaces import (
    ApiKey,
    Delivery,
    Event,
    Job,
    MediaRecord,
    ScanFilter,
    ScanRecord,
    Tenant,
    WorkerRecord,
)

__all__ = ["Stores", "SqlTenants", "SqlKeys", "SqlMedia", "SqlScans", "SqlIdempotency", "SqlJobQueue",
           "SqlWebhooks", "SqlEvents", "SqlWorkers", "SqlCounters", "new_webhook_secret"]


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _upsert_add(conn: Connection, table: sa.Table, keys: dict[str, Any], column: str, value: float) -> None:
    """INSERT … ON CONFLICT DO UPDATE SET column = column + value (SQLite and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    stmt = stmt.values(**keys, **{column: value})
    stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={column: table.c[column] + stmt.excluded[column]})
    conn.execute(stmt)


# ----------------------------------------------------------------------------------------- tenants
def _tenant(row: RowMapping) -> Tenant:
    return Tenant(id=row["id"], name=row["name"], created_at=row["created_at"],
                  settings=json.loads(row["settings"] or "{}"), webhook_secret=row["webhook_secret"])


class SqlTenants:
    def create(self, conn: Connection, name: str, settings: dict[str, Any]) -> Tenant:
        values = {"id": new_id("ten"), "name": name, "created_at": now(), "settings": json.dumps(settings),
                  "webhook_secret": new_webhook_secret()}
        conn.execute(t.tenants.insert().values(**values))
        return _tenant(values)  # type: ignore[arg-type]

    _GET = sa.select(t.tenants).where(t.tenants.c.id == sa.bindparam("id"))  # built once: read on every request

    def get(self, conn: Connection, tenant_id: str) -> Tenant | None:
        row = conn.execute(self._GET, {"id": tenant_id}).mappings().first()
        return _tenant(row) if row else None

    def by_name(self, conn: Connection, name: str) -> Tenant | None:
        row = conn.execute(sa.select(t.tenants).where(t.tenants.c.name == name)).mappings().first()
        return _tenant(row) if row else None

    def list(self, conn: Connection) -> list[Tenant]:
        return [_tenant(r) for r in conn.execute(sa.select(t.tenants).order_by(t.tenants.c.name)).mappings()]

    def update_settings(self, conn: Connection, tenant_id: str, settings: dict[str, Any]) -> Tenant:
        conn.execute(t.tenants.update().where(t.tenants.c.id == tenant_id).values(settings=json.dumps(settings)))
        tenant = self.get(conn, tenant_id)
        assert tenant is not None
        return tenant

    def set_webhook_secret(self, conn: Connection, tenant_id: str, secret: str) -> None:
        conn.execute(t.tenants.update().where(t.tenants.c.id == tenant_id).values(webhook_secret=secret))


# ----------------------------------------------------------------------------------------- keys
def _key(row: RowMapping) -> ApiKey:
    return ApiKey(**{k: row[k] for k in ("id", "tenant_id", "role", "name", "prefix", "hash", "created_at",
                                         "last_used_at", "revoked_at")})


class SqlKeys:
    def create(self, conn: Connection, tenant_id: str, role: str, name: str) -> tuple[ApiKey, str]:
        key, prefix, digest = generate_key()
        values = {"id": new_id("key"), "tenant_id": tenant_id, "role": role, "name": name, "prefix": prefix,
                  "hash": digest, "created_at": now(), "last_used_at": None, "revoked_at": None}
        conn.execute(t.api_keys.insert().values(**values))
        return _key(values), key  # type: ignore[arg-type]

    _BY_PREFIX = sa.select(t.api_keys).where(t.api_keys.c.prefix == sa.bindparam("prefix"))  # every request

    def by_prefix(self, conn: Connection, prefix: str) -> ApiKey | None:
        row = conn.execute(self._BY_PREFIX, {"prefix": prefix}).mappings().first()
        return _key(row) if row else None

    def get(self, conn: Connection, tenant_id: str, key_id: str) -> ApiKey | None:
        row = conn.execute(sa.select(t.api_keys).where(t.api_keys.c.id == key_id,
                                                       t.api_keys.c.tenant_id == tenant_id)).mappings().first()
        return _key(row) if row else None

    def list(self, conn: Connection, tenant_id: str) -> list[ApiKey]:
        rows = conn.execute(sa.select(t.api_keys).where(t.api_keys.c.tenant_id == tenant_id)
                            .order_by(t.api_keys.c.id)).mappings()
        return [_key(r) for r in rows]

    def revoke(self, conn: Connection, tenant_id: str, key_id: str) -> bool:
        res = conn.execute(t.api_keys.update().where(t.api_keys.c.id == key_id, t.api_keys.c.tenant_id == tenant_id,
                                                     t.api_keys.c.revoked_at.is_(None)).values(revoked_at=now()))
        return bool(res.rowcount)

    def touch(self, conn: Connection, key_id: str, at: float) -> None:
        conn.execute(t.api_keys.update().where(t.api_keys.c.id == key_id).values(last_used_at=at))


# ----------------------------------------------------------------------------------------- media
def _media(row: RowMapping) -> MediaRecord:
    return MediaRecord(**{k: row[k] for k in ("tenant_id", "sha256", "size", "filename", "created_at",
                                              "expires_at", "hold_reason", "purged_at")},
                       legal_hold=bool(row["legal_hold"]))


class SqlMedia:
    def upsert(self, conn: Connection, tenant_id: str, sha256: str, size: int, filename: str,
               retention_s: float) -> MediaRecord:
        """Record (or refresh) a tenant's copy of a file: retention restarts at each upload."""
        at = now()
        cur = self.get(conn, tenant_id, sha256)
        if cur is None:
            row = {"tenant_id": tenant_id, "sha256": sha256, "size": size, "filename": filename[:300], "created_at": at,
                   "expires_at": at + retention_s, "legal_hold": False, "hold_reason": None, "purged_at": None}
            conn.execute(t.media.insert(), row)
            return _media(row)  # type: ignore[arg-type]
        else:
            conn.execute(t.media.update().where(t.media.c.tenant_id == tenant_id, t.media.c.sha256 == sha256)
                         .values(expires_at=max(cur.expires_at, at + retention_s), purged_at=None))
        rec = self.get(conn, tenant_id, sha256)
        assert rec is not None
        return rec

    _GET = sa.select(t.media).where(t.media.c.tenant_id == sa.bindparam("tenant_id"),
                                    t.media.c.sha256 == sa.bindparam("sha256"))  # built once: every upload

    def get(self, conn: Connection, tenant_id: str, sha256: str) -> MediaRecord | None:
        row = conn.execute(self._GET, {"tenant_id": tenant_id, "sha256": sha256}).mappings().first()
        return _media(row) if row else None

    def set_hold(self, conn: Connection, tenant_id: str, sha256: str, hold: bool,
                 reason: str | None) -> MediaRecord | None:
        conn.execute(t.media.update().where(t.media.c.tenant_id == tenant_id, t.media.c.sha256 == sha256)
                     .values(legal_hold=hold, hold_reason=reason if hold else None))
        return self.get(conn, tenant_id, sha256)

    def expired(self, conn: Connection, at: float, limit: int) -> list[MediaRecord]:
        rows = conn.execute(sa.select(t.media).where(t.media.c.purged_at.is_(None), t.media.c.expires_at <= at,
                                                     t.media.c.legal_hold.is_(False)).limit(limit)).mappings()
        return [_media(r) for r in rows]

    def mark_purged(self, conn: Connection, tenant_id: str, sha256: str, at: float) -> bool:
        res = conn.execute(t.media.update().where(t.media.c.tenant_id == tenant_id, t.media.c.sha256 == sha256,
                                                  t.media.c.purged_at.is_(None), t.media.c.legal_hold.is_(False),
                                                  t.media.c.expires_at <= at).values(purged_at=at))
        return bool(res.rowcount)

    def live_references(self, conn: Connection, sha256: str) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.media).where(
            t.media.c.sha256 == sha256, t.media.c.purged_at.is_(None))).scalar_one())


# ----------------------------------------------------------------------------------------- scans
_JSON_COLS = {"detectors": list, "options": dict}


def _scan(row: RowMapping) -> ScanRecord:
    d = dict(row)
    d["detectors"] = json.loads(d["detectors"])
    d["options"] = json.loads(d["options"] or "{}")
    d["progress"] = json.loads(d["progress"]) if d["progress"] else None
    d["declared_ai"] = bool(d["declared_ai"])
    return ScanRecord(**d)


def _scan_values(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for k in ("detectors", "options", "progress"):
        if k in out and not isinstance(out[k], str) and out[k] is not None:
            out[k] = json.dumps(out[k], sort_keys=True)
    return out


class SqlScans:
    def insert(self, conn: Connection, values: dict[str, Any]) -> ScanRecord:
        row: dict[str, Any] = {c.name: None for c in t.scans.columns}
        row.update(attempts=0, declared_ai=False, options="{}", filename="")
        row.update(_scan_values(values))
        conn.execute(t.scans.insert(), row)  # one compiled statement for every insert
        return _scan(row)  # type: ignore[arg-type]

    def get(self, conn: Connection, tenant_id: str | None, scan_id: str) -> ScanRecord | None:
        q = sa.select(t.scans).where(t.scans.c.id == scan_id)
        if tenant_id is not None:
            q = q.where(t.scans.c.tenant_id == tenant_id)
        row = conn.execute(q).mappings().first()
        return _scan(row) if row else None

    def list(self, conn: Connection, tenant_id: str, flt: ScanFilter, limit: int,
             before_id: str | None) -> list[ScanRecord]:
        c = t.scans.c
        q = sa.select(t.scans).where(c.tenant_id == tenant_id)
        if flt.status:
            q = q.where(c.status == flt.status)
        if flt.verdict:
            q = q.where(c.verdict == flt.verdict)
        if flt.created_after is not None:
            q = q.where(c.created_at >= flt.created_after)
        if flt.created_before is not None:
            q = q.where(c.created_at < flt.created_before)
        if flt.external_id:
            q = q.where(c.external_id == flt.external_id)
        if flt.sha256:
            q = q.where(c.sha256 == flt.sha256)
        if before_id:
            q = q.where(c.id < before_id)
        q = q.order_by(c.id.desc()).limit(limit)
        return [_scan(r) for r in conn.execute(q).mappings()]

    def update(self, conn: Connection, scan_id: str, values: dict[str, Any]) -> None:
        conn.execute(t.scans.update().where(t.scans.c.id == scan_id).values(**_scan_values(values)))

    @staticmethod
    def _reusable_query(declared_ai: bool) -> Any:
        c = t.scans.c
        return sa.select(t.scans).where(
            c.tenant_id == sa.bindparam("tenant_id"), c.sha256 == sa.bindparam("sha256"),
            c.detectors_fp == sa.bindparam("fp"), c.declared_ai.is_(declared_ai), c.options == sa.bindparam("options"),
            c.status == "done", c.report.is_not(None),
        ).order_by(c.id.desc()).limit(1)

    # built once (every upload asks): one per declaration, since ``IS`` takes a literal on PostgreSQL
    _REUSABLE = {True: _reusable_query(True), False: _reusable_query(False)}

    def reusable(self, conn: Connection, tenant_id: str, sha256: str, detectors_fp: str,
                 declared_ai: bool, options: str) -> ScanRecord | None:
        """The latest finished scan of the same bytes, detector versions, declaration and limits."""
        row = conn.execute(self._REUSABLE[bool(declared_ai)], {"tenant_id": tenant_id, "sha256": sha256,
                                                               "fp": detectors_fp, "options": options}).mappings().first()
        return _scan(row) if row else None


# ----------------------------------------------------------------------------------------- idempotency
class SqlIdempotency:
    def get(self, conn: Connection, tenant_id: str, key: str, not_before: float) -> tuple[str, str] | None:
        row = conn.execute(sa.select(t.idempotency.c.request_hash, t.idempotency.c.scan_id).where(
            t.idempotency.c.tenant_id == tenant_id, t.idempotency.c.key == key,
            t.idempotency.c.created_at >= not_before)).first()
        return (row[0], row[1]) if row else None

    def put(self, conn: Connection, tenant_id: str, key: str, request_hash: str, scan_id: str) -> None:
        conn.execute(t.idempotency.delete().where(t.idempotency.c.tenant_id == tenant_id,
                                                  t.idempotency.c.key == key))
        conn.execute(t.idempotency.insert().values(tenant_id=tenant_id, key=key, request_hash=request_hash,
                                                   scan_id=scan_id, created_at=now()))

    def purge(self, conn: Connection, before: float) -> int:
        return int(conn.execute(t.idempotency.delete().where(t.idempotency.c.created_at < before)).rowcount)


# ----------------------------------------------------------------------------------------- job queue
def _job(row: RowMapping) -> Job:
    return Job(id=row["id"], kind=row["kind"], ref=row["ref"], tenant_id=row["tenant_id"], status=row["status"],
               attempts=row["attempts"], max_attempts=row["max_attempts"], lease_owner=row["lease_owner"],
               lease_expires_at=row["lease_expires_at"], created_at=row["created_at"], last_error=row["last_error"],
               history=json.loads(row["history"] or "[]"))


class SqlJobQueue:
    """A leased job queue in the database.

    ``lease`` takes the oldest ready job (queued and due, or running with an expired lease and
    attempts left), marks it running for ``owner`` until ``now + lease_s`` and counts an attempt.
    SQLite: one statement under ``BEGIN IMMEDIATE`` (writers are serialised). PostgreSQL: ``SELECT …
    FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on or take the same row. A worker keeps
    its lease with ``renew``; ``complete``/``fail`` succeed only while the caller still holds the lease,
    so a job whose worker lost it (killed, paused past the lease) is finished exactly once, by
    whoever holds it then. ``abandon_expired`` ends jobs whose last allowed attempt lost its lease.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _clock(conn: Connection) -> float:
        """The clock of every time in the queue (due, lease expiry, history): the database server's
        on PostgreSQL, so API and worker hosts whose clocks differ still agree on when a job is due
        and when a lease has run out; SQLite is a file on one host: that host's clock."""
        if conn.dialect.name == "postgresql":
            return float(conn.execute(sa.text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one())
        return now()

    def enqueue(self, conn: Connection, kind: str, ref: str, tenant_id: str, *, max_attempts: int,
                priority: int = 0, delay_s: float = 0.0) -> str:
        job_id = new_id("job")
        at = self._clock(conn)
        conn.execute(t.jobs.insert(), {"id": job_id, "kind": kind, "ref": ref, "tenant_id": tenant_id, "status": "queued",
                                       "priority": priority, "attempts": 0, "max_attempts": max_attempts,
                                       "available_at": at + delay_s, "created_at": at, "history": "[]"})
        return job_id

    def _ready(self, at: float, kinds: Sequence[str] | None) -> Any:
        c = t.jobs.c
        cond = sa.or_(sa.and_(c.status == "queued", c.available_at <= at),
                      sa.and_(c.status == "running", c.lease_expires_at < at, c.attempts < c.max_attempts))
        q = sa.select(t.jobs).where(cond)
        if kinds:
            q = q.where(c.kind.in_(list(kinds)))
        return q.order_by(c.priority.desc(), c.available_at, c.id).limit(1)

    def lease(self, owner: str, lease_s: float, kinds: Sequence[str] | None = None) -> Job | None:
        with self.db.read() as conn:  # idle workers poll: look before taking the write lock
            if conn.execute(self._ready(self._clock(conn), kinds)).first() is None:
                return None
        with self.db.write() as conn:
            at = self._clock(conn)
            q = self._ready(at, kinds)
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            row = conn.execute(q).mappings().first()
            if row is None:
                return None
            history = json.loads(row["history"] or "[]")
            if row["status"] == "running":  # the previous holder lost its lease (killed, stalled)
                history.append({"attempt": row["attempts"], "owner": row["lease_owner"], "outcome": "lease_expired",
                                "at": at})
            history.append({"attempt": row["attempts"] + 1, "owner": owner, "outcome": "started", "at": at})
            res = conn.execute(t.jobs.update().where(t.jobs.c.id == row["id"], t.jobs.c.status == row["status"],
                                                     t.jobs.c.attempts == row["attempts"]).values(
                status="running", lease_owner=owner, lease_expires_at=at + lease_s, attempts=row["attempts"] + 1,
                started_at=sa.func.coalesce(t.jobs.c.started_at, at), history=json.dumps(history)))
            if not res.rowcount:
                return None
            got = conn.execute(sa.select(t.jobs).where(t.jobs.c.id == row["id"])).mappings().one()
            return _job(got)

    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        with self.db.write() as conn:
            res = conn.execute(t.jobs.update().where(t.jobs.c.id == job_id, t.jobs.c.lease_owner == owner,
                                                     t.jobs.c.status == "running")
                               .values(lease_expires_at=self._clock(conn) + lease_s))
            return bool(res.rowcount)

    def _finish(self, conn: Connection, job_id: str, owner: str, outcome: str, values: dict[str, Any]) -> bool:
        row = conn.execute(sa.select(t.jobs.c.history, t.jobs.c.attempts).where(
            t.jobs.c.id == job_id, t.jobs.c.lease_owner == owner, t.jobs.c.status == "running")).first()
        if row is None:
            return False
        history = json.loads(row[0] or "[]")
        history.append({"attempt": row[1], "owner": owner, "outcome": outcome, "at": self._clock(conn),
                        **({"error": values["last_error"]} if values.get("last_error") else {})})
        res = conn.execute(t.jobs.update().where(t.jobs.c.id == job_id, t.jobs.c.lease_owner == owner,
                                                 t.jobs.c.status == "running")
                           .values(history=json.dumps(history), **values))
        return bool(res.rowcount)

    def complete(self, conn: Connection, job_id: str, owner: str) -> bool:
        return self._finish(conn, job_id, owner, "done", {"status": "done", "finished_at": self._clock(conn),
                                                          "lease_owner": None, "lease_expires_at": None})

    def retry_later(self, conn: Connection, job_id: str, owner: str, error: str, delay_s: float) -> bool:
        return self._finish(conn, job_id, owner, "error", {"status": "queued",
                                                           "available_at": self._clock(conn) + delay_s,
                                                           "last_error": error, "lease_owner": None,
                                                           "lease_expires_at": None})

    def fail(self, conn: Connection, job_id: str, owner: str, error: str) -> bool:
        return self._finish(conn, job_id, owner, "failed", {"status": "failed", "finished_at": self._clock(conn),
                                                            "last_error": error, "lease_owner": None,
                                                            "lease_expires_at": None})

    def release(self, job_id: str, owner: str) -> bool:
        """Give a job back untouched (graceful shutdown): the attempt is not counted."""
        with self.db.write() as conn:
            return self._finish(conn, job_id, owner, "returned", {
                "status": "queued", "available_at": self._clock(conn), "attempts": t.jobs.c.attempts - 1,
                "lease_owner": None, "lease_expires_at": None})

    def abandon_expired(self) -> list[Job]:
        """Jobs whose last allowed attempt lost its lease end ``failed``; returns them."""
        c = t.jobs.c
        with self.db.read() as conn:
            at = self._clock(conn)
            q = sa.select(t.jobs).where(c.status == "running", c.lease_expires_at < at, c.attempts >= c.max_attempts)
            if conn.execute(q.limit(1)).first() is None:
                return []
        with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(conn.execute(q).mappings())
            out = []
            for row in rows:
                history = json.loads(row["history"] or "[]")
                error = (f"the worker running this job was lost (killed or stalled past its lease) on each of "
                         f"{row['attempts']} attempts")
                history.append({"attempt": row["attempts"], "owner": row["lease_owner"], "outcome": "lease_expired",
                                "at": at})
                conn.execute(t.jobs.update().where(c.id == row["id"], c.status == "running").values(
                    status="failed", finished_at=at, last_error=error, lease_owner=None, lease_expires_at=None,
                    history=json.dumps(history)))
                out.append(_job({**row, "status": "failed", "last_error": error,  # type: ignore[arg-type]
                                  "history": json.dumps(history)}))
            return out

    def depth(self, conn: Connection) -> dict[str, int]:
        rows = conn.execute(sa.select(t.jobs.c.status, sa.func.count()).where(
            t.jobs.c.status.in_(["queued", "running"])).group_by(t.jobs.c.status))
        out = {"queued": 0, "running": 0}
        out.update({r[0]: int(r[1]) for r in rows})
        return out

    def for_ref(self, conn: Connection, ref: str) -> Job | None:
        row = conn.execute(sa.select(t.jobs).where(t.jobs.c.ref == ref).order_by(t.jobs.c.id.desc())
                           .limit(1)).mappings().first()
        return _job(row) if row else None


# ----------------------------------------------------------------------------------------- webhooks
def _delivery(row: RowMapping) -> Delivery:
    return Delivery(**{k: row[k] for k in ("id", "tenant_id", "event", "object_id", "url", "body", "status",
                                           "attempts", "max_attempts", "next_attempt_at", "last_status",
                                           "last_error", "created_at", "delivered_at")})


class SqlWebhooks:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, conn: Connection, tenant_id: str, event: str, object_id: str | None, url: str, body: str,
                max_attempts: int, delivery_id: str | None = None) -> str:
        did = delivery_id or new_id("whd")
        at = now()
        conn.execute(t.webhook_deliveries.insert().values(
            id=did, tenant_id=tenant_id, event=event, object_id=object_id, url=url, body=body, status="pending",
            attempts=0, max_attempts=max_attempts, next_attempt_at=at, created_at=at))
        return did

    def lease_due(self, at: float, lease_s: float, limit: int) -> list[Delivery]:
        c = t.webhook_deliveries.c
        q = sa.select(t.webhook_deliveries).where(sa.or_(
            sa.and_(c.status == "pending", c.next_attempt_at <= at),
            sa.and_(c.status == "sending", c.lease_expires_at < at))).order_by(c.next_attempt_at).limit(limit)
        with self.db.read() as conn:  # dispatchers poll: look before taking the write lock
            if conn.execute(q.limit(1)).first() is None:
                return []
        with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(conn.execute(q).mappings())
            for r in rows:
                conn.execute(t.webhook_deliveries.update().where(c.id == r["id"]).values(
                    status="sending", lease_expires_at=at + lease_s))
            return [_delivery(r) for r in rows]

    def mark_delivered(self, delivery_id: str, status: int, at: float) -> None:
        c = t.webhook_deliveries.c
        with self.db.write() as conn:
            conn.execute(t.webhook_deliveries.update().where(c.id == delivery_id).values(
                status="delivered", attempts=c.attempts + 1, last_status=status, last_error=None, delivered_at=at,
                lease_expires_at=None))

    def mark_failed(self, delivery_id: str, status: int | None, error: str, next_attempt_at: float | None) -> None:
        """``next_attempt_at`` None: the last attempt failed; the delivery is dead-lettered."""
        c = t.webhook_deliveries.c
        with self.db.write() as conn:
            values: dict[str, Any] = {"attempts": c.attempts + 1, "last_status": status, "last_error": error[:2000],
                                      "lease_expires_at": None}
            if next_attempt_at is None:
                values["status"] = "dead"
            else:
                values.update(status="pending", next_attempt_at=next_attempt_at)
            conn.execute(t.webhook_deliveries.update().where(c.id == delivery_id).values(**values))

    def get(self, conn: Connection, tenant_id: str, delivery_id: str) -> Delivery | None:
        c = t.webhook_deliveries.c
        row = conn.execute(sa.select(t.webhook_deliveries).where(c.id == delivery_id, c.tenant_id == tenant_id)
                           ).mappings().first()
        return _delivery(row) if row else None

    def list(self, conn: Connection, tenant_id: str, status: str | None, limit: int,
             before_id: str | None) -> list[Delivery]:
        c = t.webhook_deliveries.c
        q = sa.select(t.webhook_deliveries).where(c.tenant_id == tenant_id)
        if status:
            q = q.where(c.status == status)
        if before_id:
            q = q.where(c.id < before_id)
        return [_delivery(r) for r in conn.execute(q.order_by(c.id.desc()).limit(limit)).mappings()]

    def redeliver(self, conn: Connection, tenant_id: str, delivery_id: str, max_attempts: int) -> bool:
        c = t.webhook_deliveries.c
        res = conn.execute(t.webhook_deliveries.update().where(
            c.id == delivery_id, c.tenant_id == tenant_id, c.status.in_(["dead", "delivered"])).values(
            status="pending", next_attempt_at=now(), max_attempts=c.attempts + max_attempts, lease_expires_at=None))
        return bool(res.rowcount)

    def counts(self, conn: Connection) -> dict[str, int]:
        c = t.webhook_deliveries.c
        rows = conn.execute(sa.select(c.status, sa.func.count()).where(c.status.in_(["pending", "sending", "dead"]))
                            .group_by(c.status))
        out = {"pending": 0, "sending": 0, "dead": 0}
        out.update({r[0]: int(r[1]) for r in rows})
        return out


# ----------------------------------------------------------------------------------------- events
class SqlEvents:
    def append(self, conn: Connection, event: Event) -> str:
        eid = new_id("evt")
        conn.execute(t.events.insert(), {
            "id": eid, "tenant_id": event.tenant_id, "at": now(), "actor": event.actor, "role": event.role,
            "action": event.action, "object_type": event.object_type, "object_id": event.object_id,
            "source_ip": event.source_ip, "details": json.dumps(event.details, sort_keys=True, ensure_ascii=False)})
        return eid

    def list(self, conn: Connection, tenant_id: str | None, object_id: str | None, limit: int) -> list[dict[str, Any]]:
        c = t.events.c
        q = sa.select(t.events)
        if tenant_id is not None:
            q = q.where(c.tenant_id == tenant_id)
        if object_id is not None:
            q = q.where(c.object_id == object_id)
        rows = conn.execute(q.order_by(c.id).limit(limit)).mappings()
        return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


# ----------------------------------------------------------------------------------------- workers
def _worker(row: RowMapping) -> WorkerRecord:
    return WorkerRecord(**{k: row[k] for k in ("id", "host", "pid", "started_at", "heartbeat_at", "state",
                                               "current_job", "jobs_done")}, models=json.loads(row["models"]))


class SqlWorkers:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, worker_id: str, host: str, pid: int) -> None:
        at = now()
        with self.db.write() as conn:
            conn.execute(t.workers.delete().where(t.workers.c.id == worker_id))
            conn.execute(t.workers.insert().values(id=worker_id, host=host[:200], pid=pid, started_at=at,
                                                   heartbeat_at=at, state="starting", jobs_done=0, models="{}"))

    def heartbeat(self, worker_id: str, state: str, current_job: str | None, jobs_done: int,
                  models: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {"heartbeat_at": now(), "state": state, "current_job": current_job,
                                  "jobs_done": jobs_done}
        if models is not None:
            values["models"] = json.dumps(models, sort_keys=True)
        with self.db.write() as conn:
            conn.execute(t.workers.update().where(t.workers.c.id == worker_id).values(**values))

    def list(self, conn: Connection) -> list[WorkerRecord]:
        return [_worker(r) for r in conn.execute(sa.select(t.workers).order_by(t.workers.c.id)).mappings()]

    def forget_older_than(self, at: float) -> int:
        with self.db.write() as conn:
            return int(conn.execute(t.workers.delete().where(t.workers.c.heartbeat_at < at)).rowcount)


# ----------------------------------------------------------------------------------------- counters
class SqlCounters:
    """Monotonic counters shared by every process (job latency histograms, verdict counts)."""

    def add(self, conn: Connection, name: str, labels: str, value: float) -> None:
        _upsert_add(conn, t.counters, {"name": name, "labels": labels}, "value", value)

    def all(self, conn: Connection) -> list[tuple[str, str, float]]:
        return [(r[0], r[1], float(r[2])) for r in conn.execute(sa.select(t.counters.c.name, t.counters.c.labels,
                                                                          t.counters.c.value))]


@dataclass
class Stores:
    """Every store over one database."""

    db: Database
    tenants: SqlTenants
    keys: SqlKeys
    media: SqlMedia
    scans: SqlScans
    idempotency: SqlIdempotency
    jobs: SqlJobQueue
    webhooks: SqlWebhooks
    events: SqlEvents
    workers: SqlWorkers
    counters: SqlCounters

    @classmethod
    def over(cls, db: Database) -> Stores:
        return cls(db=db, tenants=SqlTenants(), keys=SqlKeys(), media=SqlMedia(), scans=SqlScans(),
                   idempotency=SqlIdempotency(), jobs=SqlJobQueue(db), webhooks=SqlWebhooks(db), events=SqlEvents(),
                   workers=SqlWorkers(db), counters=SqlCounters())
