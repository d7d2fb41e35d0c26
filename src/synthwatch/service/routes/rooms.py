"""Live audio rooms: ingest (WebSocket, Twilio Media Streams, WHIP), room state, alerts, evidence.

``WebSocket /v1/rooms/{room}/live?participant={id}``: one speaker's stream (docs/rooms.md);
``POST /v1/rooms/{room}/whip?participant={id}``: a WebRTC publisher's SDP offer (RFC 9725, extra
``[webrtc]``), ``DELETE`` on the session URL it returns ends it; ``GET /v1/rooms``,
``GET /v1/rooms/{room}``: live state per participant; ``GET /v1/rooms/{room}/alerts[/{id}]`` and
the evidence files of an alert.

Room names are a tenant's own namespace: another tenant's room of the same name is a different
room. Names are the client's data (1-200 characters, no control characters; a room name has no
``/`` since it is a path segment), returned as given and never interpreted.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import FileResponse, Response

from ..auth import Principal
from ..core import iso
from ..deps import CoreDep, require
from ..problems import Problem
from ..rooms import store
from ..rooms.alerts import EVIDENCE_FILES, alert_resource
from ..rooms.hub import LiveStream, RoomHub
from ..rooms.live import check_name, run_live

router = APIRouter(prefix="/v1/rooms", tags=["rooms"])


def _hub(request: Request | WebSocket) -> RoomHub:
    return request.app.state.rooms  # type: ignore[no-any-return]


def _room(room: str) -> str:
    try:
        check_name(room, "room")
    except ValueError as exc:
        raise Problem(422, "validation_error", str(exc)) from None
    return room


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise Problem(422, "validation_error", "invalid cursor") from None


@router.websocket("/{room}/live")
async def live(websocket: WebSocket, room: str, participant: str | None = None) -> None:
    """One speaker's audio stream (binary PCM or Twilio Media Streams); alerts come back on it."""
    await run_live(websocket, _hub(websocket), room, participant)


def _live_participant(s: LiveStream) -> dict[str, Any]:
    state = s.state()
    state["started_at"] = iso(state["started_at"])
    return state


def _ended_participant(rec: store.StreamRecord) -> dict[str, Any]:
    return {"participant": rec.participant, "status": "ended" if rec.ended_at else "unknown",
            "stream_id": rec.id, "transport": rec.transport, "format": rec.format,
            "started_at": iso(rec.started_at), "ended_at": iso(rec.ended_at), "close_code": rec.close_code,
            "close_reason": rec.close_reason, "audio_s": rec.audio_s, "speech_s": rec.speech_s,
            "windows_scored": rec.windows_scored, "speech_windows": rec.speech_windows,
            "skipped_windows": rec.skipped_windows, "skipped_audio_s": rec.skipped_audio_s,
            "alerts": rec.alerts, "peak_score": rec.peak_score, "detector": rec.detector}


def room_state(core: Any, hub: RoomHub, tenant_id: str, room: str, *, alerts: int = 20) -> dict[str, Any] | None:
    """The state of one room (``GET /v1/rooms/{room}``; the console's live-rooms page), or None when
    the tenant has no live or recent stream of that name."""
    live_streams = hub.live_streams(tenant_id, room)
    live_ids = {s.id for s in live_streams}
    since = time.time() - hub.opts.history_hours * 3600.0
    with core.db.read() as conn:
        recent = [r for r in store.streams_of_room(conn, tenant_id, room, since) if r.id not in live_ids]
        known = bool(live_streams or recent) or store.room_exists(conn, tenant_id, room)
        recent_alerts = store.alerts_of_room(conn, tenant_id, room, alerts)
    if not known:
        return None
    participants = [_live_participant(s) for s in sorted(live_streams, key=lambda s: s.started_at)]
    ended = [_ended_participant(r) for r in recent]
    mon = hub.loaded_monitor
    return {
        "object": "room", "room": room, "live": bool(live_streams), "at": iso(time.time()),
        "detector": mon.detector_name if mon else None, "threshold": mon.threshold if mon else None,
        "participants": participants, "ended": ended,
        "alerts": [alert_resource(a) for a in recent_alerts],
        "totals": {"live_participants": len(participants),
                   "alerting": sum(1 for p in participants if p.get("state") == "alerting"),
                   "skipped_windows": sum(int(p.get("skipped_windows") or 0) for p in participants + ended),
                   "skipped_audio_s": round(sum(float(p.get("skipped_audio_s") or 0) for p in participants + ended), 3),
                   "lagging": sum(1 for p in participants if p.get("lagging"))},
    }


def rooms_list(core: Any, hub: RoomHub, tenant_id: str, include_ended: bool) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, streams in hub.live_rooms(tenant_id).items():
        states = [s.state() for s in streams]
        scores = [float(st["evidence"]) for st in states if st.get("evidence") is not None]
        out[name] = {"room": name, "live": True, "participants": len(streams),
                     "alerting": sum(1 for st in states if st.get("state") == "alerting"),
                     "alerts": sum(int(st.get("alerts") or 0) for st in states),
                     "max_evidence": max(scores) if scores else None,
                     "skipped_audio_s": round(sum(float(st.get("skipped_audio_s") or 0) for st in states), 3),
                     "last_activity": iso(time.time())}
    if include_ended:
        since = time.time() - hub.opts.history_hours * 3600.0
        with core.db.read() as conn:
            for r in store.recent_rooms(conn, tenant_id, since):
                if r["room"] in out:
                    continue
                out[r["room"]] = {"room": r["room"], "live": False, "participants": 0, "alerting": 0,
                                  "alerts": int(r["alerts"] or 0), "max_evidence": None,
                                  "peak_score": r["peak_score"], "skipped_audio_s": None,
                                  "last_activity": iso(r["last_activity"])}
    return sorted(out.values(), key=lambda d: (not d["live"], -(d["alerting"] or 0), d["room"]))


@router.get("", summary="Rooms with live speakers (and, with include_ended, rooms active in the last day)")
def list_rooms(request: Request, core: CoreDep, principal: Annotated[Principal, require("rooms:read")],
               include_ended: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": rooms_list(core, _hub(request), principal.tenant_id, include_ended)}


@router.get("/{room}", summary="Live state of a room: per participant score, evidence, alerts, lag, skipped audio")
def get_room(room: str, request: Request, core: CoreDep,
             principal: Annotated[Principal, require("rooms:read")]) -> dict[str, Any]:
    state = room_state(core, _hub(request), principal.tenant_id, _room(room))
    if state is None:
        raise Problem(404, "not_found", "no such room (no live or recorded stream of that name)")
    return state


@router.get("/{room}/alerts", summary="Alerts raised in a room, newest first")
def list_alerts(room: str, core: CoreDep, principal: Annotated[Principal, require("rooms:read")],
                limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None) -> dict[str, Any]:
    _room(room)
    with core.db.read() as conn:
        if not store.room_exists(conn, principal.tenant_id, room):
            raise Problem(404, "not_found", "no such room")
        rows = store.alerts_of_room(conn, principal.tenant_id, room, limit + 1, decode_cursor(cursor))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"object": "list", "data": [alert_resource(a) for a in rows],
            "next_cursor": encode_cursor(rows[-1].id) if more else None}


def _alert(core: Any, principal: Principal, room: str, alert_id: str) -> store.AlertRecord:
    with core.db.read() as conn:
        rec = store.get_alert(conn, principal.tenant_id, alert_id)
    if rec is None or rec.room != room:
        raise Problem(404, "not_found", "no such alert in this room")
    return rec


@router.get("/{room}/alerts/{alert_id}", summary="One alert with links to its evidence")
def get_alert(room: str, alert_id: str, core: CoreDep,
              principal: Annotated[Principal, require("rooms:read")]) -> dict[str, Any]:
    return alert_resource(_alert(core, principal, _room(room), alert_id))


@router.get("/{room}/alerts/{alert_id}/evidence/{name}",
            summary="An alert's evidence: segment.flac, report.json or timeline.png",
            responses={200: {"content": {"audio/flac": {}, "application/json": {}, "image/png": {}}}})
def get_evidence(room: str, alert_id: str, name: str, core: CoreDep,
                 principal: Annotated[Principal, require("rooms:evidence")]) -> Response:
    rec = _alert(core, principal, _room(room), alert_id)
    if name not in EVIDENCE_FILES:
        raise Problem(404, "not_found", f"evidence is one of {', '.join(EVIDENCE_FILES)}")
    column, ctype = EVIDENCE_FILES[name]
    sha = getattr(rec, column)
    if not sha:
        raise Problem(404, "not_found", f"{name} is not (or not yet) stored for this alert")
    with core.db.read() as conn:
        media = core.stores.media.get(conn, principal.tenant_id, sha)
    path = core.blobs.path(sha)
    if media is None or media.purged_at is not None or not path.is_file():
        raise Problem(410, "gone", f"{name} was deleted by the retention policy")
    return FileResponse(path, media_type=ctype, filename=f"{alert_id}-{name}",
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


# ------------------------------------------------------------------------------------------ WHIP
@router.post("/{room}/whip", status_code=201, summary="WHIP (RFC 9725): publish a speaker's Opus track over WebRTC",
             responses={201: {"content": {"application/sdp": {}}, "description": "the SDP answer; Location: the "
                              "session URL (DELETE it to stop)"}})
async def whip_publish(room: str, request: Request,
                       principal: Annotated[Principal, require("rooms:stream")],
                       participant: Annotated[str, Query(min_length=1, max_length=200)]) -> Response:
    from ..rooms.whip import publish

    return await publish(request, _hub(request), principal, _room(room), participant)


@router.delete("/{room}/whip/{session_id}", summary="End a WHIP session (the stream's last window is scored)")
async def whip_delete(room: str, session_id: str, request: Request,
                      principal: Annotated[Principal, require("rooms:stream")]) -> Response:
    from ..rooms.whip import terminate

    return await terminate(_hub(request), principal, _room(room), session_id)


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
