"""Webhook deliveries: list (dead letters with ``status=dead``), inspect, re-send, send a test."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from ..auth import Principal
from ..core import iso
from ..deps import CoreDep, require
from ..events import record
from ..problems import Problem
from ..storage.interfaces import Delivery, Event
from ..webhooks import enqueue
from .scans import _check_url, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

DELIVERY_STATUSES = ("pending", "sending", "delivered", "dead")


def delivery_resource(d: Delivery, *, body: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"object": "webhook_delivery", "id": d.id, "event": d.event, "object_id": d.object_id,
                           "url": d.url, "status": d.status, "attempts": d.attempts, "max_attempts": d.max_attempts,
                           "next_attempt_at": iso(d.next_attempt_at) if d.status == "pending" else None,
                           "last_status": d.last_status, "last_error": d.last_error, "created_at": iso(d.created_at),
                           "delivered_at": iso(d.delivered_at)}
    if body:
        out["body"] = json.loads(d.body)
    return out


@router.get("/deliveries", summary="Webhook deliveries, newest first (status=dead: the dead-letter queue)")
def list_deliveries(core: CoreDep, principal: Annotated[Principal, require("webhooks:read")],
                    status: Annotated[str | None, Query(description=" | ".join(DELIVERY_STATUSES))] = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None) -> dict[str, Any]:
    if status is not None and status not in DELIVERY_STATUSES:
        raise Problem(422, "validation_error", f"status must be one of {', '.join(DELIVERY_STATUSES)}")
    with core.db.read() as conn:
        rows = core.stores.webhooks.list(conn, principal.tenant_id, status, limit + 1, decode_cursor(cursor))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"object": "list", "data": [delivery_resource(d) for d in rows],
            "next_cursor": encode_cursor(rows[-1].id) if more else None}


@router.get("/deliveries/{delivery_id}", summary="One delivery, with the exact body that is signed")
def get_delivery(delivery_id: str, core: CoreDep,
                 principal: Annotated[Principal, require("webhooks:read")]) -> dict[str, Any]:
    with core.db.read() as conn:
        d = core.stores.webhooks.get(conn, principal.tenant_id, delivery_id)
    if d is None:
        raise Problem(404, "not_found", "no such delivery")
    return delivery_resource(d, body=True)


@router.post("/deliveries/{delivery_id}/retry", summary="Send a dead (or delivered) delivery again")
def retry_delivery(delivery_id: str, core: CoreDep,
                   principal: Annotated[Principal, require("webhooks:manage")]) -> dict[str, Any]:
    with core.db.write() as conn:
        d = core.stores.webhooks.get(conn, principal.tenant_id, delivery_id)
        if d is None:
            raise Problem(404, "not_found", "no such delivery")
        if not core.stores.webhooks.redeliver(conn, principal.tenant_id, delivery_id, core.opts.webhook_max_attempts):
            raise Problem(409, "conflict", f"the delivery is {d.status}; only dead or delivered ones are re-sent")
        record(core.stores.events, conn, Event("webhook.redelivered", "webhook_delivery", delivery_id,
                                               principal.tenant_id, principal.key_id, principal.role,
                                               principal.source_ip))
        d = core.stores.webhooks.get(conn, principal.tenant_id, delivery_id)
    assert d is not None
    return delivery_resource(d)


class PingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = None


@router.post("/test", status_code=202, summary="Queue a signed 'ping' event to a URL (default: the tenant's)")
def send_test(body: PingBody, core: CoreDep, principal: Annotated[Principal, require("webhooks:manage")]) -> JSONResponse:
    with core.db.write() as conn:
        tenant = core.stores.tenants.get(conn, principal.tenant_id)
        assert tenant is not None
        url = body.url or tenant.settings.get("callback_url")
        if not url:
            raise Problem(422, "validation_error", "give a url or set the tenant's callback_url")
        _check_url(core, url, "url")
        did = enqueue(core.stores.webhooks, conn, tenant_id=tenant.id, tenant_name=tenant.name, event="ping",
                      object_id=None, url=url, data={"message": "synthwatch webhook test"},
                      max_attempts=core.opts.webhook_max_attempts)
        d = core.stores.webhooks.get(conn, tenant.id, did)
    assert d is not None
    return JSONResponse(delivery_resource(d), status_code=202)
