"""Batch settings (pydantic-settings). Nothing happens at import time.

Environment: ``SYNTHWATCH_BATCH__<OPTION>`` for every field of :class:`BatchOptions`, e.g.
``SYNTHWATCH_BATCH__CPUS_PER_ACTOR=4`` or ``SYNTHWATCH_BATCH__FETCH_ALLOW='["10.0.0.0/8"]'``.
The scan itself (detectors, limits, sampling, ``threads``) is configured by
:class:`synthwatch.Settings` as for ``synthwatch scan``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BatchOptions", "BatchSettings", "get_batch_options"]

MiB = 1024 * 1024


class BatchOptions(BaseModel):
    # ---- Ray: the actor pool
    cpus_per_actor: float = Field(default=1.0, gt=0, description="CPUs Ray reserves for each scan actor; each "
                                  "actor's ONNX Runtime threads are capped at this (rounded up) unless "
                                  "SYNTHWATCH_THREADS says otherwise")
    memory_per_actor_mb: int | None = Field(default=None, gt=0, description="memory Ray reserves for each actor "
                                            "(scheduling only; None: no reservation). benchmarks/scale.py "
                                            "measures what an actor uses")
    min_actors: int = Field(default=1, ge=1, description="smallest actor pool (the pool autoscales up to "
                            "max_actors)")
    max_actors: int | None = Field(default=None, ge=1, description="largest actor pool (None: the cluster's "
                                   "CPUs / cpus_per_actor)")
    # ---- both engines
    batch_size: int = Field(default=1, ge=1, description="items per call of a scan actor (media take seconds "
                            "each: small batches balance the load)")
    threads: int = Field(default=1, ge=1, description="local engine: items scanned at once by threads that "
                         "share one Scanner")
    flush_rows: int = Field(default=256, ge=1, description="a Parquet part is written after this many results")
    flush_s: float = Field(default=30.0, gt=0, description="... or after this many seconds with results pending")
    # ---- URL items (fetched through the SSRF-guarded client of synthwatch.service.fetch)
    fetch_allow: list[str] = Field(default_factory=list, description="addresses/networks (CIDR) or host names "
                                   "URL items may reach although private, loopback or link-local")
    fetch_timeout_s: float = Field(default=60.0, gt=0, description="whole download, redirects included")
    fetch_max_redirects: int = Field(default=5, ge=0)

    @field_validator("fetch_allow")
    @classmethod
    def _check_allow(cls, value: list[str]) -> list[str]:
        """The service's rule for allow-list entries (a network, or a host name)."""
        from ..service.settings import ServiceOptions

        try:
            ServiceOptions(fetch_allow=value)
        except ValidationError as exc:
            raise ValueError("; ".join(str(e.get("ctx", {}).get("error", e["msg"])) for e in exc.errors())) from None
        return value


class BatchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNTHWATCH_", env_nested_delimiter="__", extra="ignore")

    batch: BatchOptions = Field(default_factory=BatchOptions)


def get_batch_options(**overrides: object) -> BatchOptions:
    """Batch options from the environment, then keyword overrides (None values are ignored)."""
    base = BatchSettings().batch
    update = {k: v for k, v in overrides.items() if v is not None}
    return BatchOptions.model_validate({**base.model_dump(), **update}) if update else base
