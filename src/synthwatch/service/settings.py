"""Service settings (pydantic-settings). Nothing happens at import time.

Environment: ``SYNTHWATCH_HOME`` (data folder), ``SYNTHWATCH_DATABASE_URL`` (default: SQLite under
``$SYNTHWATCH_HOME/service/synthwatch.db``; PostgreSQL as ``postgresql+psycopg://user@host/db``) and
``SYNTHWATCH_SERVICE__<OPTION>`` for every field of :class:`ServiceOptions`, e.g.
``SYNTHWATCH_SERVICE__MAX_UPLOAD_BYTES=100000000`` or
``SYNTHWATCH_SERVICE__FETCH_ALLOW='["127.0.0.1/32"]'``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import platformdirs
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .rooms.settings import RoomOptions

__all__ = ["ServiceOptions", "ServiceSettings"]

MiB = 1024 * 1024


class ServiceOptions(BaseModel):
    # uploads and requests
    max_upload_bytes: int = Field(default=512 * MiB, gt=0, description="largest multipart upload (413 above)")
    max_json_bytes: int = Field(default=64 * 1024, gt=0, description="largest JSON request body")
    # the queue
    lease_s: float = Field(default=60.0, gt=0.5, description="a job's lease; a worker renews it while it works")
    max_attempts: int = Field(default=3, ge=1, le=50, description="runs of a job before it ends failed")
    poll_interval_s: float = Field(default=0.25, gt=0, description="how often an idle worker looks for work")
    shutdown_grace_s: float = Field(default=30.0, ge=0, description="how long a stopping worker may finish its job")
    retry_delay_s: float = Field(default=5.0, ge=0, description="wait before re-running a job that raised")
    scanner_cache: int = Field(default=4, ge=1, description="detector sets kept loaded per worker")
    worker_nice: int = Field(default=19, ge=0, le=19, description="scheduling niceness added to worker processes, "
                             "so that the API answers uploads first while scans use every core left")
    # per-key rate limit (token bucket in the API process)
    rate_limit_per_minute: int = Field(default=1200, gt=0, description="requests per key per minute")
    rate_limit_burst: int = Field(default=200, gt=0, description="requests a key may make at once")
    # media
    retention_days: float = Field(default=30.0, gt=0, description="default media retention for new tenants")
    purge_interval_s: float = Field(default=600.0, gt=0, description="how often workers purge expired media")
    idempotency_ttl_s: float = Field(default=24 * 3600.0, gt=0, description="how long Idempotency-Key is kept")
    # outbound HTTP (URL scans, webhooks)
    fetch_allow: list[str] = Field(default_factory=list, description="addresses/networks (CIDR) or host names "
                                   "that outbound requests may reach although private, loopback or link-local")
    fetch_max_bytes: int = Field(default=512 * MiB, gt=0)
    fetch_timeout_s: float = Field(default=60.0, gt=0, description="whole download, redirects included")
    fetch_max_redirects: int = Field(default=5, ge=0)
    # webhooks
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_base_s: float = Field(default=10.0, gt=0, description="first retry after about this long")
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_poll_interval_s: float = Field(default=0.5, gt=0)
    #: readiness fails when a model of the default detectors is missing (not only when one is corrupt)
    require_models: bool = False
    # review queue, audit log, console (issue 14; docs/review.md)
    case_retention_days: float = Field(default=183.0, gt=0, description="media a case refers to is kept at least "
                                       "this long (unless purged with the case)")
    audit_checkpoint_interval_s: float = Field(default=300.0, gt=0, description="a signed checkpoint of every audit "
                                               "chain that moved, this often (workers)")
    audit_retention_floor_days: float = Field(default=183.0, ge=183.0, description="audit entries and closed cases "
                                              "younger than this cannot be purged (at least six months)")
    console_session_idle_s: float = Field(default=3600.0, gt=0, description="a console session ends after this "
                                          "long without a request")
    console_session_max_s: float = Field(default=12 * 3600.0, gt=0, description="and after this long in any case")
    console_secure_cookie: bool | None = Field(default=None, description="mark the console cookie Secure (None: "
                                               "when the request came over https)")

    @field_validator("fetch_allow")
    @classmethod
    def _check_allow(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if not entry or "/" in entry or " " in entry:
                    raise ValueError(f"fetch_allow entry {entry!r} is neither a network nor a host name") from None
        return value


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNTHWATCH_", env_nested_delimiter="__", extra="ignore")

    home: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("synthwatch")))
    database_url: str | None = None
    service: ServiceOptions = Field(default_factory=ServiceOptions)
    #: live audio rooms (SYNTHWATCH_ROOMS__<OPTION>; synthwatch.service.rooms.settings)
    rooms: RoomOptions = Field(default_factory=RoomOptions)

    @property
    def data_dir(self) -> Path:
        return self.home / "service"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'synthwatch.db'}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"
