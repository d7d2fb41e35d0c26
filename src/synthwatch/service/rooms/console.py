"""The console's live-rooms page: ``/console/rooms``.

Every live room of the tenant with its speakers (state, last window's score, evidence against the
threshold, alerts, lag, skipped audio), then the latest alerts with links to their cases. The page
is rendered on the server (it reads fine without script); a small same-origin script
(``/console/static/rooms.js``, the only script in the console, allowed by this page's own CSP)
fetches ``/console/rooms/state.json`` every 2 seconds and redraws the tables, so the page updates
without a reload. Names come from clients: the template escapes them and the script only ever sets
``textContent``. Who may see it: the ``rooms:read`` permission (reviewer, auditor, admin; uploader).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from ...render.text import printable
from ..console.views import SECURITY_HEADERS, User, page
from ..core import iso
from ..deps import CoreDep
from . import store
from .alerts import alert_resource

__all__ = ["router", "live_state", "POLL_MS", "CSP"]

router = APIRouter(prefix="/console/rooms", include_in_schema=False)

#: the redraw interval of the page's script
POLL_MS = 2000
#: the console's policy, plus this page's own script and its fetches (same origin only)
CSP = ("default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
#: live rooms shown (the busiest first), alerts listed
MAX_ROOMS, MAX_ALERTS = 100, 25


def _num(v: Any, digits: int = 3) -> float | None:
    return None if v is None else round(float(v), digits)


def live_state(core: Any, hub: Any, tenant_id: str) -> dict[str, Any]:
    """What the page shows (also its JSON): live rooms and their speakers, the latest alerts."""
    rooms = []
    for name, streams in hub.live_rooms(tenant_id).items():
        speakers = []
        for s in sorted(streams, key=lambda s: s.started_at):
            st = s.state()
            speakers.append({
                "participant": st.get("participant", s.participant), "transport": s.transport,
                "status": st.get("status"), "state": st.get("state", "starting"),
                "score": _num(st.get("score")), "evidence": _num(st.get("evidence")),
                "threshold": st.get("threshold"), "alerts": int(st.get("alerts") or 0),
                "last_alert": st.get("last_alert"), "audio_s": _num(st.get("audio_s"), 1),
                "speech_s": _num(st.get("speech_s"), 1), "lagging": bool(st.get("lagging")),
                "skipped_audio_s": _num(st.get("skipped_audio_s"), 1), "started_at": iso(s.started_at)})
        rooms.append({"room": name, "speakers": speakers,
                      "alerting": sum(1 for sp in speakers if sp["state"] == "alerting"),
                      "alerts": sum(sp["alerts"] for sp in speakers)})
    rooms.sort(key=lambda r: (-r["alerting"], -r["alerts"], -len(r["speakers"]), r["room"]))
    with core.db.read() as conn:
        recent = store.alerts_of_room(conn, tenant_id, None, MAX_ALERTS)
    alerts = [{k: v for k, v in alert_resource(a).items()
               if k in ("id", "room", "participant", "at", "t_start", "t_end", "score", "threshold", "case_id")}
              for a in recent]
    mon = hub.loaded_monitor
    return {"at": iso(time.time()), "detector": mon.detector_name if mon else None,
            "threshold": mon.threshold if mon else None, "live_rooms": len(rooms),
            "live_speakers": sum(len(r["speakers"]) for r in rooms),
            "alerting": sum(r["alerting"] for r in rooms), "rooms": rooms[:MAX_ROOMS],
            "rooms_not_shown": max(0, len(rooms) - MAX_ROOMS), "alerts": alerts, "poll_ms": POLL_MS}


def _forbidden(request: Request, user: Any) -> HTMLResponse:
    return page(request, "error.html", {"user": user, "title": "Not allowed",
                                        "message": f"The {user.principal.role.value} role may not see live rooms."},
                403)


@router.get("")
def rooms_page(request: Request, core: CoreDep, user: User) -> HTMLResponse:
    if not user.can("rooms:read"):
        return _forbidden(request, user)
    state = live_state(core, request.app.state.rooms, user.principal.tenant_id)
    resp = page(request, "rooms.html", {"user": user, "s": state})
    resp.headers["Content-Security-Policy"] = CSP
    return resp


@router.get("/state.json")
def rooms_state(request: Request, core: CoreDep, user: User) -> JSONResponse:
    if not user.can("rooms:read"):
        return JSONResponse({"error": "forbidden", "message": "this role may not see live rooms"}, status_code=403,
                            headers=SECURITY_HEADERS)
    state = live_state(core, request.app.state.rooms, user.principal.tenant_id)
    # names as the page shows them: control and bidi characters made visible (inert text)
    for r in state["rooms"]:
        r["room_shown"] = printable(r["room"], multiline=False)
        for sp in r["speakers"]:
            sp["participant_shown"] = printable(sp["participant"], multiline=False)
    for a in state["alerts"]:
        a["room_shown"] = printable(a["room"], multiline=False)
        a["participant_shown"] = printable(a["participant"], multiline=False)
    return JSONResponse(state, headers=SECURITY_HEADERS)
