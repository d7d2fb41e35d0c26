"""The audit log of the caller's tenant: entries, chain verification, signed checkpoints, the
public key that verifies them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ..audit import audit_of
from ..auth import Principal
from ..deps import CoreDep, require
from ..events import record
from ..problems import Problem
from ..storage.interfaces import Event

router = APIRouter(prefix="/v1/audit", tags=["audit"])


def _us(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(422, "validation_error", f"{name} must be an ISO 8601 time with a zone") from None
    if dt.tzinfo is None:
        raise Problem(422, "validation_error", f"{name} needs a time zone (e.g. Z)")
    return int(dt.timestamp() * 1e6)


@router.get("", summary="Audit entries of the tenant's chain, newest first (filters, cursor = a seq)")
def list_entries(core: CoreDep, principal: Annotated[Principal, require("audit:read")],
                 object_id: str | None = None, action: Annotated[str | None, Query(description="exact, or a prefix "
                                                                                   "with *: case.*")] = None,
                 actor: str | None = None, since: str | None = None, until: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100,
                 cursor: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    log = audit_of(core)
    with core.db.read() as conn:
        rows = log.entries(conn, principal.tenant_id, object_ids=[object_id] if object_id else None, action=action,
                           actor=actor, since_us=_us(since, "since"), until_us=_us(until, "until"),
                           before_seq=cursor, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"object": "list", "chain": principal.tenant_id, "data": [e.to_dict() for e in rows],
            "next_cursor": rows[-1].seq if more else None}


@router.get("/verify", summary="Re-compute the tenant's hash chain against its signed checkpoints")
async def verify(core: CoreDep, principal: Annotated[Principal, require("audit:read")]) -> dict[str, Any]:
    result = await run_in_threadpool(audit_of(core).verify, [principal.tenant_id])
    return result.to_dict()


@router.get("/checkpoints", summary="Signed checkpoints of the tenant's chain, newest first")
def list_checkpoints(core: CoreDep, principal: Annotated[Principal, require("audit:read")],
                     limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    with core.db.read() as conn:
        cks = audit_of(core).checkpoints(conn, principal.tenant_id, limit=limit)
    return {"object": "list", "data": [c.to_dict() for c in cks]}


@router.post("/checkpoints", status_code=201, summary="Sign a checkpoint of the tenant's chain now")
def create_checkpoint(core: CoreDep, principal: Annotated[Principal, require("audit:checkpoint")]) -> dict[str, Any]:
    log = audit_of(core)
    made = log.checkpoint([principal.tenant_id], force=True)
    with core.db.write() as conn:
        record(core.stores.events, conn, Event("audit.checkpoint_requested", "audit_chain", principal.tenant_id,
                                               principal.tenant_id, principal.key_id, principal.role,
                                               principal.source_ip, {"checkpoints": [c.id for c in made]}))
    return {"object": "list", "data": [c.to_dict() for c in made]}


@router.get("/public-key", summary="The Ed25519 public key that signs checkpoints (PEM)",
            response_class=PlainTextResponse)
def public_key(core: CoreDep, principal: Annotated[Principal, require("audit:read")]) -> PlainTextResponse:
    log = audit_of(core)
    return PlainTextResponse(log.signer.public_pem(), media_type="application/x-pem-file",
                             headers={"X-Key-Id": log.signer.key_id()})
