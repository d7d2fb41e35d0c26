"""The reviewers' console: server-rendered pages (Jinja2, autoescaping on, no script except the live-rooms
page's own same-origin file, see ``service/rooms/console.py``), plain forms
with CSRF tokens, a session cookie exchanged for an API key.

Pages: ``/console/queue`` (filters, SLA state), ``/console/cases/{id}`` (media player, timeline
picture, per-detector and per-face evidence, provenance and label findings, reports, decisions,
appeals, history; assign / decide / appeal / close / legal-hold forms by role), ``/console/audit``
(chain status, checkpoints, entries), ``/console/dashboard`` (volumes, verdict mix, review latency
p50/p95, overdue). Every string from a user's file or a report is rendered escaped (and with control
and bidi characters made visible); media is served only from the service's own store with the
content type recorded for it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from ...render.text import printable
from ..deps import CoreDep
from ..events import record
from ..problems import Problem
from ..ratelimit import RateLimiter
from ..review import cases as rc
from ..review.policy import ACTIONS, PRIORITY_ORDER, TRIGGERS, active_policy
from ..review.records import ACTIVE_STATES, STATES, case_resource, sla_state
from ..storage.interfaces import Event
from .session import COOKIE, LOGIN_CSRF_COOKIE, ConsoleUser, LoginFailed, csrf_ok, login, logout, lookup

__all__ = ["router", "templates"]

router = APIRouter(prefix="/console", include_in_schema=False)

#: what the console's pages may load: only this origin, no script at all, no framing (the live-rooms page
#: sends its own CSP that allows its one same-origin script)
CSP = ("default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}

#: login attempts per client address: 20 a minute, 10 at once (one bucket per app, kept on app.state)
LOGIN_PER_MINUTE, LOGIN_BURST = 20, 10


# ------------------------------------------------------------------------------------------ rendering
def _iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    s = abs(float(seconds))
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s:.0f} s"
    if s < 3600:
        return f"{sign}{s / 60:.0f} min"
    if s < 86400:
        return f"{sign}{int(s // 3600)} h {int(s % 3600 // 60)} min"
    return f"{sign}{int(s // 86400)} d {int(s % 86400 // 3600)} h"


def _score(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, int | float) else "n/a"


@lru_cache(maxsize=1)
def templates() -> Environment:
    env = Environment(loader=PackageLoader("synthwatch.service.console", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True), auto_reload=False)
    env.filters.update(inert=lambda v: printable("" if v is None else v, multiline=False),
                       inert_text=lambda v: printable("" if v is None else v, multiline=True),
                       when=_iso, duration=_duration, score=_score, short=lambda h: (h or "")[:12],
                       tojson_pretty=lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True))
    env.globals.update(ACTIONS=ACTIONS, PRIORITIES=PRIORITY_ORDER, TRIGGERS=TRIGGERS, STATES=STATES)
    return env


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    html = templates().get_template(name).render(request_path=request.url.path, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _secure(request: Request, core: Any) -> bool:
    setting = core.opts.console_secure_cookie
    return bool(setting) if setting is not None else request.url.scheme == "https"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


class _LoginRequired(Exception):
    pass


def current_user(request: Request, core: CoreDep) -> ConsoleUser:
    user = lookup(core, request.cookies.get(COOKIE), _client(request))
    if user is None:
        raise _LoginRequired()
    return user


User = Annotated[ConsoleUser, Depends(current_user)]


def install(app: Any) -> None:
    """Register the console's exception handler (login redirects) and its static files."""
    from importlib import resources

    from fastapi.staticfiles import StaticFiles

    @app.exception_handler(_LoginRequired)
    async def _to_login(request: Request, exc: _LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _redirect("/console/login?" + urlencode({"next": target}))

    app.state.console_login_limiter = RateLimiter(LOGIN_PER_MINUTE, LOGIN_BURST)
    static = resources.files("synthwatch.service.console") / "static"
    app.mount("/console/static", StaticFiles(directory=str(static)), name="console-static")


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "")


async def _form(request: Request, user: ConsoleUser | None = None) -> dict[str, str]:
    if not _same_origin(request):
        raise Problem(403, "forbidden", "cross-site form submission refused")
    form = await request.form(max_files=0, max_fields=20, max_part_size=64 * 1024)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if user is not None and not csrf_ok(user.csrf, fields.get("csrf_token")):
        raise Problem(403, "forbidden", "the form's CSRF token is missing or wrong: reload the page")
    return fields


def _forbidden(request: Request, user: ConsoleUser, what: str) -> HTMLResponse:
    return page(request, "error.html", {"user": user, "title": "Not allowed",
                                        "message": f"The {user.principal.role.value} role may not {what}."}, 403)


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/queue"


# ------------------------------------------------------------------------------------------ login
@router.get("")
@router.get("/")
def console_root(request: Request, core: CoreDep) -> Response:
    user = lookup(core, request.cookies.get(COOKIE), _client(request))
    return _redirect("/console/queue" if user else "/console/login")


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    import secrets

    token = secrets.token_urlsafe(24)
    resp = page(request, "login.html", {"user": None, "csrf": token, "next": _safe_next(next), "error": None})
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/console/login", max_age=3600)
    return resp


@router.post("/login")
async def login_submit(request: Request, core: CoreDep) -> Response:
    fields = await _form(request)
    client = _client(request) or "unknown"
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    nxt = _safe_next(fields.get("next"))
    if not expected or not csrf_ok(expected, fields.get("csrf_token")):
        return page(request, "login.html", {"user": None, "csrf": expected, "next": nxt,
                                            "error": "The login form expired: reload the page and try again."}, 403)
    ok, retry, _, _ = request.app.state.console_login_limiter.take(f"login:{client}")
    if not ok:
        return page(request, "login.html", {"user": None, "csrf": expected, "next": nxt,
                                            "error": f"Too many attempts: wait {retry:.0f} s."}, 429)
    try:
        user, token = await run_in_threadpool(login, core, fields.get("api_key", ""), client)
    except LoginFailed as exc:
        failure = exc

        def audit_failure() -> None:
            with core.db.write() as conn:
                record(core.stores.events, conn, Event("console.login_failed", "console_session",
                                                       failure.key_id or "-", failure.tenant_id,
                                                       failure.key_id or "anonymous", None, client,
                                                       {"why": str(failure)}))
        await run_in_threadpool(audit_failure)
        return page(request, "login.html", {"user": None, "csrf": expected, "next": nxt, "error": str(exc)}, 401)

    def audit_login() -> None:
        p = user.principal
        with core.db.write() as conn:
            record(core.stores.events, conn, Event("console.login", "console_session", user.session_id, p.tenant_id,
                                                   p.key_id, p.role.value, client, {}))
    await run_in_threadpool(audit_login)
    resp = _redirect(nxt)
    resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/console", secure=_secure(request, core),
                    max_age=int(core.opts.console_session_max_s))
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return resp


@router.post("/logout")
async def logout_submit(request: Request, core: CoreDep, user: User) -> Response:
    await _form(request, user)

    def end() -> None:
        logout(core, user)
        p = user.principal
        with core.db.write() as conn:
            record(core.stores.events, conn, Event("console.logout", "console_session", user.session_id, p.tenant_id,
                                                   p.key_id, p.role.value, p.source_ip, {}))
    await run_in_threadpool(end)
    resp = _redirect("/console/login")
    resp.delete_cookie(COOKIE, path="/console")
    return resp


# ------------------------------------------------------------------------------------------ queue
@router.get("/queue")
def queue(request: Request, core: CoreDep, user: User, state: str = "active", priority: str = "",
          trigger: str = "", assignee: str = "", overdue: str = "", sort: str = "due",
          cursor: str | None = None) -> Response:
    from ..routes.cases import case_filter, decode_cursor, encode_cursor

    if not user.can("cases:read"):  # the regulator's console is its inbox (issue 16)
        return _redirect("/console/inbox") if user.can("inbox:read") else _forbidden(request, user, "see the queue")
    if sort not in ("due", "newest"):
        sort = "due"
    at = time.time()
    try:
        flt = case_filter(state if state != "all" else None, priority or None, None, trigger or None,
                          assignee or None, True if overdue == "1" else None, None, None, None, None, None,
                          user.principal.key_id)
        after = decode_cursor(cursor, sort)
    except Problem as exc:
        return page(request, "error.html", {"user": user, "title": "Invalid filter", "message": exc.detail}, 422)
    with core.db.read() as conn:
        rows = rc.list_cases(conn, user.principal.tenant_id, flt, sort=sort, limit=51, after=after, at=at)
    more = len(rows) > 50
    rows = rows[:50]
    params = {"state": state, "priority": priority, "trigger": trigger, "assignee": assignee, "overdue": overdue,
              "sort": sort}
    next_url = ("/console/queue?" + urlencode({**params, "cursor": encode_cursor(rows[-1], sort)})) if more else None
    items = [{"rec": r, "sla": sla_state(r, at), "left": r.due_at - at} for r in rows]
    return page(request, "queue.html", {"user": user, "items": items, "filters": params, "next_url": next_url,
                                        "now": at})


# ------------------------------------------------------------------------------------------ one case
def _report_of(scan: Any) -> dict[str, Any] | None:
    if scan is None or not scan.report:
        return None
    try:
        return json.loads(scan.report)  # type: ignore[no-any-return]
    except ValueError:
        return None


def _case_context(core: Any, user: ConsoleUser, case_id: str) -> dict[str, Any] | None:
    at = time.time()
    with core.db.read() as conn:
        rec = rc.get_case(conn, user.principal.tenant_id, case_id)
        if rec is None:
            return None
        d = rc.case_detail(core, conn, rec)
        policy = active_policy(conn, rec.tenant_id)
    scan = d["scans"].get(rec.scan_id) if rec.scan_id else next(iter(d["scans"].values()), None)
    report = _report_of(scan)
    primary = next((e for e in d["evidence"] if e.kind in ("scan", "media", "audio_segment") and e.sha256), None)
    media_ok = bool(primary and primary.sha256 and (m := d["media"].get(primary.sha256)) is not None
                    and m.purged_at is None)
    ctype = (primary.content_type or "") if primary else ""
    player = ("image" if ctype.startswith("image/") else "video" if ctype.startswith("video/")
              else "audio" if ctype.startswith("audio/") else None)
    labels = [lab for r in rec.reasons if r.get("trigger") == "label_violation" for lab in r.get("labels", [])]
    faces = [r for r in rec.reasons if r.get("trigger") == "face_forgery"]
    return {"user": user, "case": rec, "res": case_resource(rec, at), "sla": sla_state(rec, at),
            "left": rec.due_at - at, "evidence": d["evidence"], "decisions": d["decisions"], "appeals": d["appeals"],
            "reports": d["reports"], "scans": list(d["scans"].values()), "scan": scan, "report": report,
            "history": d["history"], "primary": primary if media_ok else None, "player": player if media_ok else None,
            "media_purged": bool(primary) and not media_ok, "label_findings": labels, "face_reasons": faces,
            "policy": policy.policy, "policy_version": policy.version,
            "can_decide": user.can("cases:decide"), "can_hold": user.can("cases:hold"),
            "can_export": user.can("audit:export"), "active": rec.active}


_DONE = {"assigned": "The case is assigned.", "decided": "The decision is recorded.",
         "appealed": "The appeal is recorded: the case is open again.", "closed": "The case is closed.",
         "held": "The legal hold is set.", "released": "The legal hold is released."}


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: str, core: CoreDep, user: User, done: str | None = None) -> HTMLResponse:
    if not user.can("cases:read"):
        return _forbidden(request, user, "see review cases")
    ctx = _case_context(core, user, case_id)
    if ctx is None:
        return page(request, "error.html", {"user": user, "title": "Not found", "message": "No such case."}, 404)
    p = user.principal
    with core.db.write() as conn:  # who looked at which case is part of the record
        record(core.stores.events, conn, Event("case.viewed", "case", case_id, p.tenant_id, p.key_id, p.role.value,
                                               p.source_ip, {"via": "console"}))
    return page(request, "case.html", {**ctx, "done": _DONE.get(done or ""), "error": None})


async def _case_action(request: Request, core: Any, user: ConsoleUser, case_id: str, permission: str,
                       what: str, run: Any, done: str) -> Response:
    fields = await _form(request, user)
    if not user.can(permission):
        return _forbidden(request, user, what)
    try:
        version = int(fields["version"]) if fields.get("version") else None
    except ValueError:
        version = None
    try:
        await run_in_threadpool(run, fields, version)
    except rc.ReviewError as exc:
        ctx = await run_in_threadpool(_case_context, core, user, case_id)
        if ctx is None:
            return page(request, "error.html", {"user": user, "title": "Not found", "message": "No such case."}, 404)
        return page(request, "case.html", {**ctx, "done": None, "error": str(exc)}, exc.status)
    return _redirect(f"/console/cases/{case_id}?done={done}")


def _actor(user: ConsoleUser) -> rc.Actor:
    p = user.principal
    return rc.Actor(p.key_id, p.role.value, p.source_ip)


@router.post("/cases/{case_id}/assign")
async def case_assign(request: Request, case_id: str, core: CoreDep, user: User) -> Response:
    def run(f: dict[str, str], v: int | None) -> Any:
        return rc.assign(core, user.principal.tenant_id, case_id, _actor(user), f.get("assignee") or None, v)
    return await _case_action(request, core, user, case_id, "cases:decide", "assign cases", run, "assigned")


@router.post("/cases/{case_id}/decision")
async def case_decide(request: Request, case_id: str, core: CoreDep, user: User) -> Response:
    def run(f: dict[str, str], v: int | None) -> Any:
        return rc.decide(core, user.principal.tenant_id, case_id, _actor(user), action=f.get("action", ""),
                         reason_code=f.get("reason_code", ""), note=f.get("note", "")[:5000], expected_version=v)
    return await _case_action(request, core, user, case_id, "cases:decide", "decide cases", run, "decided")


@router.post("/cases/{case_id}/appeal")
async def case_appeal(request: Request, case_id: str, core: CoreDep, user: User) -> Response:
    def run(f: dict[str, str], v: int | None) -> Any:
        text = f.get("text", "").strip()
        if not text:
            raise rc.ReviewError("an appeal needs the appellant's statement", code="validation_error", status=422)
        return rc.appeal(core, user.principal.tenant_id, case_id, _actor(user), text=text[:5000],
                         appellant=(f.get("appellant") or None), expected_version=v)
    return await _case_action(request, core, user, case_id, "cases:decide", "record appeals", run, "appealed")


@router.post("/cases/{case_id}/close")
async def case_close(request: Request, case_id: str, core: CoreDep, user: User) -> Response:
    def run(f: dict[str, str], v: int | None) -> Any:
        return rc.close(core, user.principal.tenant_id, case_id, _actor(user), why="closed in the console",
                        expected_version=v)
    return await _case_action(request, core, user, case_id, "cases:decide", "close cases", run, "closed")


@router.post("/cases/{case_id}/hold")
async def case_hold(request: Request, case_id: str, core: CoreDep, user: User) -> Response:
    fields_holder: dict[str, str] = {}

    def run(f: dict[str, str], v: int | None) -> Any:
        fields_holder.update(f)
        hold = f.get("hold") == "1"
        reason = (f.get("reason") or "").strip()
        if hold and not reason:
            raise rc.ReviewError("a legal hold needs a reason", code="validation_error", status=422)
        return rc.set_legal_hold(core, user.principal.tenant_id, case_id, _actor(user), hold, reason or None)
    resp = await _case_action(request, core, user, case_id, "cases:hold", "set legal holds", run, "held")
    if fields_holder.get("hold") != "1" and resp.status_code == 303:
        return _redirect(f"/console/cases/{case_id}?done=released")
    return resp


@router.get("/cases/{case_id}/evidence/{evidence_id}")
def case_evidence(case_id: str, evidence_id: str, core: CoreDep, user: User) -> Response:
    from ..routes.cases import evidence_response

    return evidence_response(core, user.principal.tenant_id, case_id, evidence_id)


@router.get("/cases/{case_id}/timeline.png")
def case_timeline(case_id: str, core: CoreDep, user: User) -> Response:
    from fastapi.responses import FileResponse

    from ..routes.cases import timeline_png

    path = timeline_png(core, user.principal.tenant_id, case_id)
    if path is None:
        raise Problem(404, "not_found", "no timeline")
    return FileResponse(path, media_type="image/png", headers={"X-Content-Type-Options": "nosniff",
                                                                "Cache-Control": "private, max-age=300"})


@router.get("/cases/{case_id}/export")
def case_export(request: Request, case_id: str, core: CoreDep, user: User, media: str = "") -> Response:
    if not user.can("audit:export"):
        return _forbidden(request, user, "export cases")
    from ..routes.cases import export

    return export(case_id, core, user.principal, media == "1")


# ------------------------------------------------------------------------------------------ audit
@router.get("/audit")
def audit_page(request: Request, core: CoreDep, user: User, action: str = "", object_id: str = "",
               cursor: int | None = None) -> HTMLResponse:
    if not user.can("audit:read"):
        return _forbidden(request, user, "read the audit log")
    from ..audit import audit_of

    log = audit_of(core)
    tid = user.principal.tenant_id
    status = log.verify([tid]).chains[0]
    with core.db.read() as conn:
        entries = log.entries(conn, tid, object_ids=[object_id] if object_id else None, action=action or None,
                              before_seq=cursor, limit=101)
        cks = log.checkpoints(conn, tid, limit=5)
    more = len(entries) > 100
    entries = entries[:100]
    next_url = ("/console/audit?" + urlencode({"action": action, "object_id": object_id, "cursor": entries[-1].seq})
                if more else None)
    return page(request, "audit.html", {"user": user, "status": status, "entries": entries, "checkpoints": cks,
                                        "key_id": log.signer.key_id(), "filters": {"action": action,
                                                                                    "object_id": object_id},
                                        "next_url": next_url, "can_checkpoint": user.can("audit:checkpoint"),
                                        "done": request.query_params.get("done") == "checkpoint"})


@router.post("/audit/checkpoint")
async def audit_checkpoint(request: Request, core: CoreDep, user: User) -> Response:
    await _form(request, user)
    if not user.can("audit:checkpoint"):
        return _forbidden(request, user, "sign checkpoints")
    from ..audit import audit_of

    def run() -> None:
        made = audit_of(core).checkpoint([user.principal.tenant_id], force=True)
        p = user.principal
        with core.db.write() as conn:
            record(core.stores.events, conn, Event("audit.checkpoint_requested", "audit_chain", p.tenant_id,
                                                   p.tenant_id, p.key_id, p.role.value, p.source_ip,
                                                   {"checkpoints": [c.id for c in made]}))
    await run_in_threadpool(run)
    return _redirect("/console/audit?done=checkpoint")


# ------------------------------------------------------------------------------------------ dashboard
def _bars(data: dict[str, int | float], width: int = 420, bar: int = 18) -> dict[str, Any]:
    """Horizontal bars as numbers for an inline SVG (labels are ours or escaped by the template)."""
    peak = max([float(v) for v in data.values()] or [1.0]) or 1.0
    rows = [{"label": k, "value": v, "y": i * (bar + 6), "w": max(1.0, (width - 215) * float(v) / peak)}
            for i, (k, v) in enumerate(data.items())]
    return {"rows": rows, "height": max(bar, len(rows) * (bar + 6)), "width": width, "bar": bar}


@router.get("/dashboard")
def dashboard(request: Request, core: CoreDep, user: User, days: float = 30.0) -> HTMLResponse:
    if not user.can("cases:read"):
        return _forbidden(request, user, "see the review dashboard")
    days = min(max(days, 1.0), 366.0)
    with core.db.read() as conn:
        s = rc.stats(conn, user.principal.tenant_id, days=days)
    charts = {"per_day": _bars(s["cases"]["opened_per_day"]), "verdicts": _bars(s["cases"]["verdicts"]),
              "scan_verdicts": _bars(s["scans"]["verdicts"]), "triggers": _bars(s["cases"]["by_trigger"]),
              "states": _bars({k: s["cases"]["by_state"].get(k, 0) for k in STATES}),
              "actions": _bars(s["decisions"]["by_action"])}
    waiting = sum(s["cases"]["by_state"].get(k, 0) for k in ACTIVE_STATES)
    return page(request, "dashboard.html", {"user": user, "s": s, "charts": charts, "days": days, "waiting": waiting})
