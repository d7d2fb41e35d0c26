"""Stored media: retention state and legal hold (a held file is never deleted by retention)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ..auth import Principal
from ..core import iso
from ..deps import CoreDep, require
from ..events import record
from ..problems import Problem
from ..storage.interfaces import Event, MediaRecord

router = APIRouter(prefix="/v1/media", tags=["media"])


def media_resource(m: MediaRecord) -> dict[str, Any]:
    return {"object": "media", "sha256": m.sha256, "size": m.size, "filename": m.filename or None,
            "created_at": iso(m.created_at), "expires_at": iso(m.expires_at), "legal_hold": m.legal_hold,
            "hold_reason": m.hold_reason, "purged_at": iso(m.purged_at)}


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="why the media is held (case, request)")


def _get(core: Any, principal: Principal, sha256: str) -> MediaRecord:
    with core.db.read() as conn:
        rec = core.stores.media.get(conn, principal.tenant_id, sha256.lower())
    if rec is None:
        raise Problem(404, "not_found", "no such media")
    return rec  # type: ignore[no-any-return]


@router.get("/{sha256}", summary="Retention and legal-hold state of a stored file")
def get_media(sha256: str, core: CoreDep, principal: Annotated[Principal, require("media:read")]) -> dict[str, Any]:
    return media_resource(_get(core, principal, sha256))


def _set_hold(core: Any, principal: Principal, sha256: str, hold: bool, reason: str | None) -> dict[str, Any]:
    _get(core, principal, sha256)
    with core.db.write() as conn:
        rec = core.stores.media.set_hold(conn, principal.tenant_id, sha256.lower(), hold, reason)
        record(core.stores.events, conn, Event("media.hold_set" if hold else "media.hold_released", "media",
                                               sha256.lower(), principal.tenant_id, principal.key_id, principal.role,
                                               principal.source_ip, {"reason": reason}))
    return media_resource(rec)


@router.put("/{sha256}/legal-hold", summary="Place a legal hold: retention will not delete the file")
def put_hold(sha256: str, body: HoldBody, core: CoreDep,
             principal: Annotated[Principal, require("media:hold")]) -> dict[str, Any]:
    return _set_hold(core, principal, sha256, True, body.reason)


@router.delete("/{sha256}/legal-hold", summary="Release a legal hold (retention applies again)")
def delete_hold(sha256: str, core: CoreDep, principal: Annotated[Principal, require("media:hold")]) -> dict[str, Any]:
    return _set_hold(core, principal, sha256, False, None)
