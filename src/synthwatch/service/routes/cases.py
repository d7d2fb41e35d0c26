"""Review cases: the queue (filters, cursor), one case with its evidence and history, assign,
decide, appeal, close, legal hold, evidence files, the timeline picture, the export zip; the review
policy and the dashboard figures."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from ...errors import SynthwatchError
from ..auth import Principal
from ..deps import CoreDep, require
from ..events import record
from ..problems import Problem
from ..review import cases as rc
from ..review.policy import (
    ACTIONS,
    PRIORITY_ORDER,
    TRIGGERS,
    PolicyError,
    active_policy,
    policy_summary,
    save_policy,
)
from ..review.records import STATES, case_resource
from ..storage.interfaces import Event

router = APIRouter(prefix="/v1", tags=["cases"])

T = TypeVar("T")

#: content types shown inline (players, pictures); anything else is sent as an attachment
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4", "video/webm",
                          "audio/wav", "audio/flac", "audio/mpeg", "audio/ogg", "audio/mp4", "audio/aac"})


def actor_of(p: Principal) -> rc.Actor:
    return rc.Actor(p.key_id, p.role.value, p.source_ip)


def review_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a review operation; its typed errors become problem documents."""
    try:
        return fn(*args, **kwargs)
    except rc.ReviewError as exc:
        raise Problem(exc.status, exc.code, str(exc)) from None
    except PolicyError as exc:
        raise Problem(422, "invalid_policy", str(exc), errors=exc.errors) from None
    except SynthwatchError as exc:
        raise Problem(422, exc.code, str(exc)) from None


# ------------------------------------------------------------------------------------------ cursors
def encode_cursor(rec: rc.CaseRecord, sort: str) -> str:
    raw = rec.id if sort == "newest" else f"{rec.due_at!r}|{rec.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, sort: str) -> tuple[float, str] | str | None:
    if not cursor:
        return None
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
        if sort == "newest":
            if not raw.startswith("case_") or len(raw) > 40:
                raise ValueError
            return raw
        due, cid = raw.split("|", 1)
        if not cid.startswith("case_") or len(cid) > 40:
            raise ValueError
        return float(due), cid
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Problem(422, "validation_error", "invalid cursor") from None


def case_filter(state: str | None, priority: str | None, source: str | None, trigger: str | None,
                assignee: str | None, overdue: bool | None, verdict: str | None, kind: str | None,
                scan_id: str | None, external_id: str | None, sha256: str | None, me: str) -> rc.CaseFilter:
    states: tuple[str, ...] = ()
    if state:
        if state == "active":
            from ..review.records import ACTIVE_STATES

            states = ACTIVE_STATES
        else:
            states = tuple(s.strip() for s in state.split(",") if s.strip())
            bad = [s for s in states if s not in STATES]
            if bad:
                raise Problem(422, "validation_error", f"state must be 'active' or of {', '.join(STATES)}")
    if priority and priority not in PRIORITY_ORDER:
        raise Problem(422, "validation_error", f"priority must be one of {', '.join(PRIORITY_ORDER)}")
    if trigger and trigger not in TRIGGERS:
        raise Problem(422, "validation_error", f"trigger must be one of {', '.join(TRIGGERS)}")
    unassigned = assignee == "none"
    who = me if assignee == "me" else (None if unassigned else assignee)
    return rc.CaseFilter(states=states, priority=priority, source=source, trigger=trigger, assignee=who,
                         unassigned=unassigned, overdue=overdue, verdict=verdict, kind=kind, scan_id=scan_id,
                         external_id=external_id, sha256=sha256)


@router.get("/cases", summary="The review queue: cases with filters, most urgent first (cursor pagination)")
def list_cases(core: CoreDep, principal: Annotated[Principal, require("cases:read")],
               state: Annotated[str | None, Query(description="'active' or comma-separated: " + ", ".join(STATES))] = None,
               priority: Annotated[str | None, Query(description=" | ".join(PRIORITY_ORDER))] = None,
               source: Annotated[str | None, Query(description="scan | report | live_room | manual")] = None,
               trigger: Annotated[str | None, Query(description=" | ".join(TRIGGERS))] = None,
               assignee: Annotated[str | None, Query(description="a key id, 'me' or 'none'")] = None,
               overdue: bool | None = None, verdict: str | None = None, kind: str | None = None,
               scan_id: str | None = None, external_id: str | None = None, sha256: str | None = None,
               sort: Annotated[str, Query(pattern="^(due|newest)$")] = "due",
               limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None) -> JSONResponse:
    flt = case_filter(state, priority, source, trigger, assignee, overdue, verdict, kind, scan_id, external_id,
                      sha256, principal.key_id)
    at = time.time()
    with core.db.read() as conn:
        rows = rc.list_cases(conn, principal.tenant_id, flt, sort=sort, limit=limit + 1,
                             after=decode_cursor(cursor, sort), at=at)
    more = len(rows) > limit
    rows = rows[:limit]
    return JSONResponse({"object": "list", "data": [case_resource(r, at) for r in rows],
                         "next_cursor": encode_cursor(rows[-1], sort) if more else None})


def _get(core: Any, principal: Principal, case_id: str) -> rc.CaseRecord:
    with core.db.read() as conn:
        rec = rc.get_case(conn, principal.tenant_id, case_id)
    if rec is None:
        raise Problem(404, "not_found", "no such case")
    return rec


def case_document(core: Any, principal: Principal, case_id: str) -> dict[str, Any]:
    rec = _get(core, principal, case_id)
    with core.db.read() as conn:
        d = rc.case_detail(core, conn, rec)
    from ..core import scan_resource

    return {**d["resource"], "evidence": [e.to_dict() for e in d["evidence"]],
            "decisions": [x.to_dict() for x in d["decisions"]], "appeals": [a.to_dict() for a in d["appeals"]],
            "reports": [r.to_dict() for r in d["reports"]],
            "scans": [scan_resource(s) for s in d["scans"].values()],
            "history": [e.to_dict() for e in d["history"]]}


@router.get("/cases/{case_id}", summary="A case: reasons, SLA, evidence, scans with their reports, decisions, "
            "appeals, user reports and its audit history")
def get_case(case_id: str, core: CoreDep, principal: Annotated[Principal, require("cases:read")]) -> JSONResponse:
    return JSONResponse(case_document(core, principal, case_id))


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(None, max_length=40, description="a reviewer's or admin's key id (default: you)")
    version: int | None = Field(None, description="the case version you saw (409 stale_case if it moved)")


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(description=" | ".join(ACTIONS))
    reason_code: str = Field(min_length=1, max_length=60, description="a reason code of the tenant's policy")
    note: str = Field("", max_length=5000)
    version: int | None = None


class AppealBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=5000, description="the appellant's statement")
    appellant: str | None = Field(None, max_length=200, description="your id of the user who appeals")
    version: int | None = None


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/cases/{case_id}/assign", summary="Assign the case (default: to the caller)")
def assign(case_id: str, body: AssignBody, core: CoreDep,
           principal: Annotated[Principal, require("cases:decide")]) -> JSONResponse:
    rec = review_call(rc.assign, core, principal.tenant_id, case_id, actor_of(principal), body.assignee, body.version)
    return JSONResponse(case_resource(rec, time.time()))


@router.post("/cases/{case_id}/decision", summary="Decide: label, restrict, remove (four-eyes), dismiss or escalate")
def decide(case_id: str, body: DecisionBody, core: CoreDep,
           principal: Annotated[Principal, require("cases:decide")]) -> JSONResponse:
    rec, dec = review_call(rc.decide, core, principal.tenant_id, case_id, actor_of(principal), action=body.action,
                           reason_code=body.reason_code, note=body.note, expected_version=body.version)
    return JSONResponse({**case_resource(rec, time.time()), "decision_made": dec.to_dict()})


@router.post("/cases/{case_id}/appeal", summary="Record an appeal: the decided case reopens (round 2)")
def appeal(case_id: str, body: AppealBody, core: CoreDep,
           principal: Annotated[Principal, require("cases:decide")]) -> JSONResponse:
    rec, apl = review_call(rc.appeal, core, principal.tenant_id, case_id, actor_of(principal), text=body.text,
                           appellant=body.appellant, expected_version=body.version)
    return JSONResponse({**case_resource(rec, time.time()), "appeal": apl.to_dict()})


@router.post("/cases/{case_id}/close", summary="Close a decided case before its appeal window ends")
def close(case_id: str, core: CoreDep, principal: Annotated[Principal, require("cases:decide")]) -> JSONResponse:
    rec = review_call(rc.close, core, principal.tenant_id, case_id, actor_of(principal), why="closed by a reviewer")
    return JSONResponse(case_resource(rec, time.time()))


@router.put("/cases/{case_id}/legal-hold", summary="Legal hold: the case, its audit entries and media are never purged")
def put_hold(case_id: str, body: HoldBody, core: CoreDep,
             principal: Annotated[Principal, require("cases:hold")]) -> JSONResponse:
    rec = review_call(rc.set_legal_hold, core, principal.tenant_id, case_id, actor_of(principal), True, body.reason)
    return JSONResponse(case_resource(rec, time.time()))


@router.delete("/cases/{case_id}/legal-hold", summary="Release a case's legal hold")
def delete_hold(case_id: str, core: CoreDep, principal: Annotated[Principal, require("cases:hold")]) -> JSONResponse:
    rec = review_call(rc.set_legal_hold, core, principal.tenant_id, case_id, actor_of(principal), False, None)
    return JSONResponse(case_resource(rec, time.time()))


def evidence_response(core: Any, tenant_id: str, case_id: str, evidence_id: str) -> FileResponse:
    """A stored evidence file with its recorded content type: inline for pictures, audio and video
    (the console's players), as an attachment otherwise; never sniffed by the browser."""
    with core.db.read() as conn:
        ev, path = review_call(rc.case_media_path, core, conn, tenant_id, case_id, evidence_id)
    if path is None:
        raise Problem(410, "media_purged", "the file was deleted when its retention period ended")
    ctype = (ev.content_type or "application/octet-stream").split(";")[0].strip().lower()
    inline = ctype in INLINE_TYPES
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
               "Cache-Control": "private, max-age=300", "X-Content-SHA256": ev.sha256 or "",
               "Content-Disposition": f"{'inline' if inline else 'attachment'}; filename=\"{ev.sha256}\""}
    return FileResponse(path, media_type=ctype if inline else "application/octet-stream", headers=headers)


@router.get("/cases/{case_id}/evidence/{evidence_id}", summary="An evidence file (media, audio segment, labelled copy…)",
            response_class=FileResponse)
def get_evidence(case_id: str, evidence_id: str, core: CoreDep,
                 principal: Annotated[Principal, require("cases:read")]) -> FileResponse:
    return evidence_response(core, principal.tenant_id, case_id, evidence_id)


def timeline_png(core: Any, tenant_id: str, case_id: str) -> Path | None:
    """The case's timeline picture: the one its source supplied (live rooms), else drawn from its
    scan's report once and cached under the data folder."""
    with core.db.read() as conn:
        rec = rc.get_case(conn, tenant_id, case_id)
        if rec is None:
            raise Problem(404, "not_found", "no such case")
        d = rc.case_detail(core, conn, rec, history_limit=1)
    for ev in d["evidence"]:
        if ev.kind == "timeline" and ev.sha256 and core.blobs.exists(ev.sha256):
            return core.blobs.path(ev.sha256)  # type: ignore[no-any-return]
    scan = d["scans"].get(rec.scan_id) if rec.scan_id else next(iter(d["scans"].values()), None)
    if scan is None or not scan.report:
        return None
    out = core.settings.data_dir / "review" / "timelines" / f"{scan.id}.png"
    if out.is_file():
        return out  # type: ignore[no-any-return]
    from ...render.timeline import draw_timeline
    from ...types import Report

    doc = json.loads(scan.report)
    doc["source"] = scan.id  # never draw an uploaded file name (matplotlib reads $…$ as math)
    try:
        report = Report.from_dict(doc)
    except (SynthwatchError, ValueError, KeyError, TypeError):
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkstemp(dir=out.parent, suffix=".png")[1])
    try:
        draw_timeline(report, tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out  # type: ignore[no-any-return]


@router.get("/cases/{case_id}/timeline.png", summary="The case's timeline picture (scores over time, face tracks)",
            response_class=FileResponse)
def get_timeline(case_id: str, core: CoreDep, principal: Annotated[Principal, require("cases:read")]) -> Response:
    path = timeline_png(core, principal.tenant_id, case_id)
    if path is None:
        raise Problem(404, "not_found", "this case has no scan report to draw")
    return FileResponse(path, media_type="image/png", headers={"X-Content-Type-Options": "nosniff",
                                                                "Cache-Control": "private, max-age=300"})


@router.get("/cases/{case_id}/export", summary="The evidence export zip (verifiable offline; see docs/review.md)",
            response_class=FileResponse)
def export(case_id: str, core: CoreDep, principal: Annotated[Principal, require("audit:export")],
           media: bool = False) -> FileResponse:
    from ..audit.export import export_case

    _get(core, principal, case_id)
    fd, name = tempfile.mkstemp(dir=core.blobs.tmp_dir, prefix="export-", suffix=".zip")
    import os

    os.close(fd)
    path = Path(name)
    try:
        review_call(export_case, core, principal.tenant_id, case_id, path, include_media=media,
                    actor=actor_of(principal))
    except BaseException:
        path.unlink(missing_ok=True)
        raise

    def cleanup() -> None:
        with contextlib.suppress(OSError):
            path.unlink()

    return FileResponse(path, media_type="application/zip", filename=f"{case_id}.zip",
                        background=BackgroundTask(cleanup))


# ------------------------------------------------------------------------------------------ policy and figures
@router.get("/review/policy", summary="The tenant's review policy (YAML text, parsed, version, revision)")
def get_policy(core: CoreDep, principal: Annotated[Principal, require("policy:read")]) -> JSONResponse:
    with core.db.read() as conn:
        return JSONResponse(active_policy(conn, principal.tenant_id).to_dict())


@router.put("/review/policy", summary="Replace the review policy (YAML body, or JSON {\"text\": …}); validated, "
            "versioned, audited", openapi_extra={"requestBody": {"required": True, "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}}}}}})
async def put_policy(request: Request, core: CoreDep,
                     principal: Annotated[Principal, require("policy:write")]) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    from ..review.policy import MAX_POLICY_BYTES
    from ..uploads import read_json_body

    raw = await read_json_body(request, MAX_POLICY_BYTES + 1024)
    ctype = request.headers.get("content-type", "").lower()
    text: Any = raw
    if ctype.startswith("application/json"):
        try:
            text = json.loads(raw).get("text")
        except (ValueError, AttributeError):
            text = None
        if not isinstance(text, str):
            raise Problem(422, "validation_error", "send the policy as YAML, or JSON {\"text\": \"<yaml>\"}")

    def save() -> dict[str, Any]:
        with core.db.write() as conn:
            before, after = save_policy(conn, principal.tenant_id, text.decode("utf-8") if isinstance(text, bytes)
                                        else text, principal.key_id)
            record(core.stores.events, conn, Event("review.policy_changed", "review_policy", principal.tenant_id,
                                                   principal.tenant_id, principal.key_id, principal.role,
                                                   principal.source_ip, {"before": policy_summary(before),
                                                                         "after": policy_summary(after),
                                                                         "version": after.version,
                                                                         "revision": after.revision}))
        return after.to_dict()

    if isinstance(text, bytes):
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            raise Problem(422, "invalid_policy", "the policy is not UTF-8 text") from None
    return JSONResponse(await run_in_threadpool(review_call, save))


@router.get("/review/stats", summary="Dashboard figures: volumes, verdict mix, review latency p50/p95, overdue, reports")
def get_stats(core: CoreDep, principal: Annotated[Principal, require("cases:read")],
              days: Annotated[float, Query(gt=0, le=366)] = 30.0) -> JSONResponse:
    with core.db.read() as conn:
        return JSONResponse(rc.stats(conn, principal.tenant_id, days=days))
