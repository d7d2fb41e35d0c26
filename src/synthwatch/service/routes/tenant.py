"""The caller, its tenant's settings, API keys and webhook secret."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ...errors import SynthwatchError
from ..auth import Principal, Role
from ..core import LIMIT_KEYS, iso
from ..deps import Caller, CoreDep, require
from ..events import record
from ..problems import Problem
from ..storage.interfaces import ApiKey, Event, Tenant
from .scans import _check_url, _limits

router = APIRouter(prefix="/v1", tags=["tenant"])


@router.get("/me", summary="The calling key: its tenant and role")
def me(principal: Caller) -> dict[str, Any]:
    return {"key_id": principal.key_id, "tenant": {"id": principal.tenant_id, "name": principal.tenant_name},
            "role": principal.role.value}


def tenant_resource(t: Tenant, core: Any) -> dict[str, Any]:
    s = t.settings
    return {"object": "tenant", "id": t.id, "name": t.name, "created_at": iso(t.created_at),
            "settings": {"retention_days": s.get("retention_days", core.opts.retention_days),
                         "rate_limit_per_minute": s.get("rate_limit_per_minute", core.opts.rate_limit_per_minute),
                         "callback_url": s.get("callback_url"), "detectors": s.get("detectors"),
                         "limits": s.get("limits") or {}}}


class TenantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retention_days: float | None = Field(None, gt=0, le=36500)
    rate_limit_per_minute: int | None = Field(None, gt=0, le=1_000_000)
    callback_url: str | None = None
    detectors: list[str] | None = None
    limits: dict[str, float] | None = Field(None, description=f"scan limits: {', '.join(LIMIT_KEYS)}")


@router.get("/tenant", summary="The tenant's settings")
def get_tenant(core: CoreDep, principal: Annotated[Principal, require("tenant:read")]) -> dict[str, Any]:
    with core.db.read() as conn:
        tenant = core.stores.tenants.get(conn, principal.tenant_id)
    assert tenant is not None
    return tenant_resource(tenant, core)


@router.patch("/tenant", summary="Change the tenant's settings (fields given are replaced; null clears)")
def patch_tenant(body: TenantPatch, core: CoreDep,
                 principal: Annotated[Principal, require("tenant:write")]) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("callback_url"):
        _check_url(core, changes["callback_url"], "callback_url")
    if changes.get("detectors"):
        try:
            core.resolve_detectors(changes["detectors"])
        except SynthwatchError as exc:
            raise Problem(422, exc.code, str(exc)) from None
    if "limits" in changes:
        changes["limits"] = _limits(changes["limits"])
    with core.db.write() as conn:
        tenant = core.stores.tenants.get(conn, principal.tenant_id)
        assert tenant is not None
        before = dict(tenant.settings)
        settings = {**before, **changes}
        settings = {k: v for k, v in settings.items() if v is not None}
        tenant = core.stores.tenants.update_settings(conn, principal.tenant_id, settings)
        record(core.stores.events, conn, Event("tenant.settings_changed", "tenant", principal.tenant_id,
                                               principal.tenant_id, principal.key_id, principal.role,
                                               principal.source_ip, {"before": before, "after": settings}))
    return tenant_resource(tenant, core)


@router.post("/tenant/webhook-secret", summary="Rotate the webhook signing secret (shown once)")
def rotate_secret(core: CoreDep, principal: Annotated[Principal, require("tenant:write")]) -> dict[str, str]:
    return {"webhook_secret": core.rotate_webhook_secret(principal)}


def key_resource(k: ApiKey) -> dict[str, Any]:
    return {"object": "api_key", "id": k.id, "role": k.role, "name": k.name, "prefix": f"swk_{k.prefix}",
            "created_at": iso(k.created_at), "last_used_at": iso(k.last_used_at), "revoked_at": iso(k.revoked_at)}


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    name: str = Field("", max_length=200)


@router.get("/keys", summary="The tenant's API keys (never the secret)")
def list_keys(core: CoreDep, principal: Annotated[Principal, require("keys:manage")]) -> dict[str, Any]:
    with core.db.read() as conn:
        keys = core.stores.keys.list(conn, principal.tenant_id)
    return {"object": "list", "data": [key_resource(k) for k in keys]}


@router.post("/keys", status_code=201, summary="Create an API key (the key is in this answer only)")
def create_key(body: KeyCreate, core: CoreDep, principal: Annotated[Principal, require("keys:manage")]) -> JSONResponse:
    with core.db.read() as conn:
        tenant = core.stores.tenants.get(conn, principal.tenant_id)
    assert tenant is not None
    key, secret = core.create_key(tenant, body.role.value, body.name, actor=principal.key_id,
                                  actor_role=principal.role.value, source_ip=principal.source_ip)
    return JSONResponse({**key_resource(key), "key": secret}, status_code=201)


@router.delete("/keys/{key_id}", summary="Revoke an API key")
def revoke_key(key_id: str, core: CoreDep, principal: Annotated[Principal, require("keys:manage")]) -> dict[str, Any]:
    with core.db.read() as conn:
        key = core.stores.keys.get(conn, principal.tenant_id, key_id)
    if key is None:
        raise Problem(404, "not_found", "no such key")
    core.revoke_key(principal.tenant_id, key_id, actor=principal.key_id, actor_role=principal.role.value,
                    source_ip=principal.source_ip)
    with core.db.read() as conn:
        key = core.stores.keys.get(conn, principal.tenant_id, key_id)
    assert key is not None
    return key_resource(key)
