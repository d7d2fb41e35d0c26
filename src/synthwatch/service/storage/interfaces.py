"""Narrow storage interfaces, one per area, and the records they return.

Every method takes the connection of a transaction the caller opened (``db.read()`` /
``db.write()``), so one request or job can compose several stores atomically (e.g. insert a scan,
its idempotency key and its job, or complete a job and record its report, in one transaction).
``sql.py`` implements them on SQLAlchemy Core for SQLite and PostgreSQL. Background work (the scan
job, webhook delivery, retention) is plain functions over these interfaces, callable from tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.engine import Connection

__all__ = [
    "Tenant", "ApiKey", "MediaRecord", "ScanRecord", "ScanFilter", "Job", "Delivery", "WorkerRecord", "Event",
    "TenantStore", "KeyStore", "MediaStore", "ScanStore", "IdempotencyStore", "JobQueue", "WebhookStore",
    "EventStore", "WorkerStore", "CounterStore",
]


# ---------------------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    created_at: float
    settings: dict[str, Any]
    webhook_secret: str


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    tenant_id: str
    role: str
    name: str
    prefix: str
    hash: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class MediaRecord:
    tenant_id: str
    sha256: str
    size: int
    filename: str
    created_at: float
    expires_at: float
    legal_hold: bool
    hold_reason: str | None
    purged_at: float | None


@dataclass(frozen=True, slots=True)
class ScanRecord:
    id: str
    tenant_id: str
    status: str
    source: str
    url: str | None
    filename: str
    sha256: str | None
    size: int | None
    kind: str | None
    detectors: list[str]
    detectors_fp: str
    declared_ai: bool
    options: dict[str, Any]
    callback_url: str | None
    external_id: str | None
    verdict: str | None
    score: float | None
    report: str | None  # the synthwatch.report/1 JSON text, byte-exact as the worker wrote it
    progress: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    attempts: int
    reused_from: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class ScanFilter:
    status: str | None = None
    verdict: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    external_id: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    ref: str
    tenant_id: str
    status: str
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: float | None
    created_at: float
    last_error: str | None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    tenant_id: str
    event: str
    object_id: str | None
    url: str
    body: str
    status: str
    attempts: int
    max_attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    state: str
    current_job: str | None
    jobs_done: int
    models: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Event:
    """One state change. ``actor``: an API key id, ``worker:<id>``, ``cli`` or ``system``."""

    action: str
    object_type: str
    object_id: str
    tenant_id: str | None = None
    actor: str = "system"
    role: str | None = None
    source_ip: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- stores
class TenantStore(Protocol):
    def create(self, conn: Connection, name: str, settings: dict[str, Any]) -> Tenant: ...
    def get(self, conn: Connection, tenant_id: str) -> Tenant | None: ...
    def by_name(self, conn: Connection, name: str) -> Tenant | None: ...
    def list(self, conn: Connection) -> list[Tenant]: ...
    def update_settings(self, conn: Connection, tenant_id: str, settings: dict[str, Any]) -> Tenant: ...
    def set_webhook_secret(self, conn: Connection, tenant_id: str, secret: str) -> None: ...


class KeyStore(Protocol):
    def create(self, conn: Connection, tenant_id: str, role: str, name: str) -> tuple[ApiKey, str]: ...
    def by_prefix(self, conn: Connection, prefix: str) -> ApiKey | None: ...
    def get(self, conn: Connection, tenant_id: str, key_id: str) -> ApiKey | None: ...
    def list(self, conn: Connection, tenant_id: str) -> list[ApiKey]: ...
    def revoke(self, conn: Connection, tenant_id: str, key_id: str) -> bool: ...
    def touch(self, conn: Connection, key_id: str, at: float) -> None: ...


class MediaStore(Protocol):
    def upsert(self, conn: Connection, tenant_id: str, sha256: str, size: int, filename: str,
               retention_s: float) -> MediaRecord: ...
    def get(self, conn: Connection, tenant_id: str, sha256: str) -> MediaRecord | None: ...
    def set_hold(self, conn: Connection, tenant_id: str, sha256: str, hold: bool,
                 reason: str | None) -> MediaRecord | None: ...
    def expired(self, conn: Connection, at: float, limit: int) -> list[MediaRecord]: ...
    def mark_purged(self, conn: Connection, tenant_id: str, sha256: str, at: float) -> bool: ...
    def live_references(self, conn: Connection, sha256: str) -> int: ...


class ScanStore(Protocol):
    def insert(self, conn: Connection, values: dict[str, Any]) -> ScanRecord: ...
    def get(self, conn: Connection, tenant_id: str | None, scan_id: str) -> ScanRecord | None: ...
    def list(self, conn: Connection, tenant_id: str, flt: ScanFilter, limit: int,
             before_id: str | None) -> list[ScanRecord]: ...
    def update(self, conn: Connection, scan_id: str, values: dict[str, Any]) -> None: ...
    def reusable(self, conn: Connection, tenant_id: str, sha256: str, detectors_fp: str,
                 declared_ai: bool, options: str) -> ScanRecord | None: ...


class IdempotencyStore(Protocol):
    def get(self, conn: Connection, tenant_id: str, key: str, not_before: float) -> tuple[str, str] | None: ...
    def put(self, conn: Connection, tenant_id: str, key: str, request_hash: str, scan_id: str) -> None: ...
    def purge(self, conn: Connection, before: float) -> int: ...


class JobQueue(Protocol):
    def enqueue(self, conn: Connection, kind: str, ref: str, tenant_id: str, *, max_attempts: int,
                priority: int = 0, delay_s: float = 0.0) -> str: ...
    def lease(self, owner: str, lease_s: float, kinds: Sequence[str] | None = None) -> Job | None: ...
    def renew(self, job_id: str, owner: str, lease_s: float) -> bool: ...
    def complete(self, conn: Connection, job_id: str, owner: str) -> bool: ...
    def retry_later(self, conn: Connection, job_id: str, owner: str, error: str, delay_s: float) -> bool: ...
    def fail(self, conn: Connection, job_id: str, owner: str, error: str) -> bool: ...
    def release(self, job_id: str, owner: str) -> bool: ...
    def abandon_expired(self) -> list[Job]: ...
    def depth(self, conn: Connection) -> dict[str, int]: ...
    def for_ref(self, conn: Connection, ref: str) -> Job | None: ...


class WebhookStore(Protocol):
    def enqueue(self, conn: Connection, tenant_id: str, event: str, object_id: str | None, url: str, body: str,
                max_attempts: int, delivery_id: str | None = None) -> str: ...
    def lease_due(self, at: float, lease_s: float, limit: int) -> list[Delivery]: ...
    def mark_delivered(self, delivery_id: str, status: int, at: float) -> None: ...
    def mark_failed(self, delivery_id: str, status: int | None, error: str, next_attempt_at: float | None) -> None: ...
    def get(self, conn: Connection, tenant_id: str, delivery_id: str) -> Delivery | None: ...
    def list(self, conn: Connection, tenant_id: str, status: str | None, limit: int,
             before_id: str | None) -> list[Delivery]: ...
    def redeliver(self, conn: Connection, tenant_id: str, delivery_id: str, max_attempts: int) -> bool: ...
    def counts(self, conn: Connection) -> dict[str, int]: ...


class EventStore(Protocol):
    def append(self, conn: Connection, event: Event) -> str: ...
    def list(self, conn: Connection, tenant_id: str | None, object_id: str | None, limit: int) -> list[dict[str, Any]]: ...


class WorkerStore(Protocol):
    def register(self, worker_id: str, host: str, pid: int) -> None: ...
    def heartbeat(self, worker_id: str, state: str, current_job: str | None, jobs_done: int,
                  models: dict[str, Any] | None = None) -> None: ...
    def list(self, conn: Connection) -> list[WorkerRecord]: ...
    def forget_older_than(self, at: float) -> int: ...


class CounterStore(Protocol):
    def add(self, conn: Connection, name: str, labels: str, value: float) -> None: ...
    def all(self, conn: Connection) -> list[tuple[str, str, float]]: ...
