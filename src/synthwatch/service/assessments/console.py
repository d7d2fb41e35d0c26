"""The console's self-assessment pages (issue 16): both sides of a filing.

For a platform's ``admin`` (``assessments:read`` / ``assessments:manage``):

* ``/console/assessments``: the tenant's assessments (state, items by outcome, open findings) and
  its filings to regulators with their state and deadline; a form that starts a new assessment
  from the declared facts;
* ``/console/assessments/{id}``: one assessment: every checklist item and criterion, each marked
  *measured* (with its evidence set and window) or *declared* (who attested it and when), the
  findings with their state and remediation records, the declared-facts form (a draft only), the
  forms to collect again, record a remediation, finalise and file, the report files (the signed
  HTML/PDF and their ``.sig`` of a finalised report; a rendered draft otherwise) and its filings.

For the ``regulator`` role (``inbox:read`` / ``inbox:act``):

* ``/console/inbox``: the reports filed to this regulator by every platform (filter by state);
* ``/console/inbox/{filing}``: one filing: the platform, state, deadline, the whole history, the
  report files exactly as signed, and the acknowledge / request rectification (note and
  deadline) / accept forms for the states that allow them.

Every form posts the session's CSRF token and is checked for same origin; every action calls the
same workflow function as the API (``workflow`` and ``inbox``), so its validation, state rules,
audit entries and webhooks are those of the API. The declared-facts form builds the same
``synthwatch.assessment/1`` document the API and the CLI take (basic facts as fields, the
declarations as YAML) and a bad field is named back on the page. Every stored or declared string is
rendered escaped (autoescaping, control and bidi characters made visible).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from ...assess.rules import Rules, default_rules
from ...errors import SynthwatchError
from ..console.session import ConsoleUser, csrf_ok
from ..console.views import User, _redirect, _same_origin, page
from ..deps import CoreDep
from ..problems import Problem
from . import inbox
from . import workflow as wf

__all__ = ["router", "spec_from_form", "form_from_spec"]

router = APIRouter(prefix="/console", include_in_schema=False)

#: the report files a page links to
REPORT_FILES = ("report.html", "report.pdf", "report.json", "report.html.sig", "report.pdf.sig", "report.json.sig")
#: largest form accepted (the declarations' YAML is the big field)
MAX_FORM_PART = 256 * 1024
MAX_FORM_FIELDS = 80

_DONE = {"created": "The assessment is created and its evidence collected.",
         "facts": "The declared facts are saved and the checklist evaluated again.",
         "collected": "The evidence is collected again and the checklist evaluated.",
         "remediated": "The remediation is recorded.", "finalised": "The report is finalised and signed.",
         "filed": "The report is filed.", "resubmitted": "The new report is resubmitted.",
         "acknowledged": "The filing is acknowledged.", "rectification_requested": "Rectification is requested.",
         "accepted": "The report is accepted."}


def _actor(user: ConsoleUser) -> wf.Actor:
    p = user.principal
    return wf.Actor(p.key_id, p.role.value, p.source_ip)


async def _form(request: Request, user: ConsoleUser) -> dict[str, Any]:
    """The posted fields (a list for a repeated name), after the same-origin and CSRF checks."""
    if not _same_origin(request):
        raise Problem(403, "forbidden", "cross-site form submission refused")
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_PART)
    fields: dict[str, Any] = {}
    for k, v in form.multi_items():
        if not isinstance(v, str):
            continue
        if k in fields:
            fields[k] = [*(fields[k] if isinstance(fields[k], list) else [fields[k]]), v]
        else:
            fields[k] = v
    token = fields.get("csrf_token")
    if not csrf_ok(user.csrf, token if isinstance(token, str) else None):
        raise Problem(403, "forbidden", "the form's CSRF token is missing or wrong: reload the page")
    return fields


def _one(fields: dict[str, Any], name: str) -> str:
    v = fields.get(name, "")
    return (v[-1] if isinstance(v, list) else v) or ""


def _many(fields: dict[str, Any], name: str) -> list[str]:
    v = fields.get(name)
    return [] if v is None else v if isinstance(v, list) else [v]


def _forbidden(request: Request, user: ConsoleUser, what: str) -> HTMLResponse:
    return page(request, "error.html", {"user": user, "title": "Not allowed",
                                        "message": f"The {user.principal.role.value} role may not {what}."}, 403)


def _not_found(request: Request, user: ConsoleUser, what: str) -> HTMLResponse:
    return page(request, "error.html", {"user": user, "title": "Not found", "message": f"No such {what}."}, 404)


def _ts(value: float | None) -> str:
    return "" if value is None else datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")


# ------------------------------------------------------------------------------------------ the facts form
def form_from_spec(rules: Rules, spec: dict[str, Any] | None) -> dict[str, Any]:
    """The form's field values for a facts document (empty fields for a new one)."""
    s = spec or {}
    fn = s.get("function") or {}
    facts = s.get("facts") or {}
    values: dict[str, Any] = {
        "function_zh": (fn.get("name") or {}).get("zh", ""), "function_en": (fn.get("name") or {}).get("en", ""),
        "function_kind": fn.get("kind", "live_audio_room"), "launch_date": fn.get("launch_date") or "",
        "triggers": list(s.get("triggers") or []),
        "trigger_note_zh": (s.get("trigger_note") or {}).get("zh", ""),
        "trigger_note_en": (s.get("trigger_note") or {}).get("en", ""),
        "window_days": "" if s.get("window_days") is None else f"{s['window_days']:g}",
        "attested_by": facts.get("attested_by", ""), "attested_at": facts.get("attested_at", ""),
        "declarations": (yaml.safe_dump(s["declarations"], allow_unicode=True, sort_keys=True, width=100)
                         if s.get("declarations") else "")}
    for f in rules.facts:
        v = facts.get(f.id) or {}
        values[f"fact_{f.id}_zh"] = v.get("zh", "")
        values[f"fact_{f.id}_en"] = v.get("en", "")
    return values


class FormError(SynthwatchError):
    """A field of the console's facts form that cannot become a facts document."""

    code = "validation_error"


def spec_from_form(rules: Rules, fields: dict[str, Any]) -> dict[str, Any]:
    """The ``synthwatch.assessment/1`` document the form describes; its validation is the API's
    (``parse_spec``, called by the workflow): this only assembles the document."""
    def text(prefix: str) -> dict[str, str]:
        return {"zh": _one(fields, f"{prefix}_zh").strip(), "en": _one(fields, f"{prefix}_en").strip()}

    doc: dict[str, Any] = {"format": "synthwatch.assessment/1",
                           "function": {"name": text("function"), "kind": _one(fields, "function_kind")},
                           "triggers": _many(fields, "triggers"),
                           "facts": {**{f.id: text(f"fact_{f.id}") for f in rules.facts},
                                     "attested_by": _one(fields, "attested_by").strip(),
                                     "attested_at": _one(fields, "attested_at").strip()}}
    if _one(fields, "launch_date").strip():
        doc["function"]["launch_date"] = _one(fields, "launch_date").strip()
    note = text("trigger_note")
    if note["zh"] or note["en"]:
        doc["trigger_note"] = note
    window = _one(fields, "window_days").strip()
    if window:
        try:
            doc["window_days"] = float(window)
        except ValueError:
            raise FormError("window_days: a number of days") from None
    decl = _one(fields, "declarations")
    if decl.strip():
        try:
            parsed = yaml.safe_load(decl)
        except yaml.YAMLError as exc:
            raise FormError(f"declarations: not valid YAML ({str(exc).splitlines()[0]})") from None
        doc["declarations"] = parsed
    return doc


def _rules_for(rec: wf.AssessmentRecord | None) -> Rules:
    return rec.rules if rec is not None else default_rules()


# ------------------------------------------------------------------------------------------ platform pages
def _assessment_rows(recs: list[wf.AssessmentRecord]) -> list[dict[str, Any]]:
    return [{"rec": r, "s": r.summary()} for r in recs]


def _list_context(core: Any, user: ConsoleUser, *, form: dict[str, Any] | None = None,
                  error: str | None = None) -> dict[str, Any]:
    tid = user.principal.tenant_id
    recs = wf.list_assessments(core, tid, limit=100)
    filings = inbox.platform_filings(core, tid)
    rules = default_rules()
    return {"user": user, "rows": _assessment_rows(recs), "filings": filings, "rules": rules,
            "form": form if form is not None else form_from_spec(rules, None), "error": error,
            "can_manage": user.can("assessments:manage"), "ts": _ts}


@router.get("/assessments")
def assessments_page(request: Request, core: CoreDep, user: User, done: str | None = None) -> HTMLResponse:
    if not user.can("assessments:read"):
        return _forbidden(request, user, "see self-assessments")
    return page(request, "assessments.html", {**_list_context(core, user), "done": _DONE.get(done or "")})


@router.post("/assessments")
async def assessment_create(request: Request, core: CoreDep, user: User) -> Response:
    fields = await _form(request, user)
    if not user.can("assessments:manage"):
        return _forbidden(request, user, "start self-assessments")
    rules = default_rules()
    try:
        doc = spec_from_form(rules, fields)
        rec = await run_in_threadpool(wf.create, core, user.principal.tenant_id, doc, _actor(user))
    except SynthwatchError as exc:
        ctx = await run_in_threadpool(_list_context, core, user, form=_echo(rules, fields), error=str(exc))
        return page(request, "assessments.html", {**ctx, "done": None}, 422)
    return _redirect(f"/console/assessments/{rec.id}?done=created")


def _echo(rules: Rules, fields: dict[str, Any]) -> dict[str, Any]:
    """The form's values as posted (shown again with the error)."""
    values = form_from_spec(rules, None)
    for k in values:
        if k == "triggers":
            values[k] = _many(fields, k)
        elif k in fields:
            values[k] = _one(fields, k)
    return values


def _detail_context(core: Any, user: ConsoleUser, rec: wf.AssessmentRecord) -> dict[str, Any]:
    from ...assess.report import criterion_view, strings

    items = {i.id: i for i in rec.rules.items}
    criteria = {c.id: c for i in rec.rules.items for c in i.criteria}
    rows = []
    for r in rec.results:
        item = items.get(r.id)
        crits = []
        for c in r.criteria:
            ev = rec.evidence.get(c.evidence or "") if c.evidence else None
            rule = criteria.get(c.id)
            view = criterion_view(rule, c) if rule is not None else None
            crits.append({"res": c, "rule": rule, "ev": ev, "view": view})
        rows.append({"res": r, "item": item, "criteria": crits})
    filings = [f for f in inbox.platform_filings(core, rec.tenant_id)
               if f.assessment_id == rec.id or any(h.get("replaces") == rec.id or h.get("assessment_id") == rec.id
                                                   for h in f.history)]
    open_rect = [f for f in inbox.platform_filings(core, rec.tenant_id) if f.state == "rectification_requested"]
    files = REPORT_FILES if rec.state == "finalised" else ("report.html", "report.json")
    has_pdf = rec.state == "finalised" and bool(rec.signature and "report.pdf" in rec.signature)
    return {"user": user, "rec": rec, "s": rec.summary(), "rows": rows, "findings": rec.findings,
            "filings": filings, "resubmittable": open_rect if rec.state == "finalised" else [],
            "files": [f for f in files if has_pdf or not f.startswith("report.pdf")], "ts": _ts,
            "form": form_from_spec(rec.rules, rec.spec_doc), "rules": rec.rules,
            "can_manage": user.can("assessments:manage"), "error": None, "done": None,
            "outcome": {k[3:]: v["en"] for k, v in strings().items() if k.startswith("st_")}}


@router.get("/assessments/{assessment_id}")
def assessment_page(request: Request, assessment_id: str, core: CoreDep, user: User,
                    done: str | None = None) -> HTMLResponse:
    if not user.can("assessments:read"):
        return _forbidden(request, user, "see self-assessments")
    try:
        rec = wf.get(core, user.principal.tenant_id, assessment_id)
    except wf.AssessmentError:
        return _not_found(request, user, "assessment")
    return page(request, "assessment.html", {**_detail_context(core, user, rec), "done": _DONE.get(done or "")})


async def _assessment_action(request: Request, core: Any, user: ConsoleUser, assessment_id: str, action: Any,
                             done: str) -> Response:
    """Check the form, run ``action(fields, record)`` (a workflow call) in a thread; a refusal is
    shown on the assessment's page with the workflow's reason."""
    fields = await _form(request, user)
    if not user.can("assessments:manage"):
        return _forbidden(request, user, "change self-assessments")
    tid = user.principal.tenant_id
    try:
        rec = await run_in_threadpool(wf.get, core, tid, assessment_id)
    except wf.AssessmentError:
        return _not_found(request, user, "assessment")
    try:
        result = await run_in_threadpool(action, fields, rec)
    except SynthwatchError as exc:
        status = exc.status if isinstance(exc, wf.AssessmentError) else 422
        rec = await run_in_threadpool(wf.get, core, tid, assessment_id)
        ctx = await run_in_threadpool(_detail_context, core, user, rec)
        if done == "facts":
            ctx["form"] = _echo(rec.rules, fields)
        return page(request, "assessment.html", {**ctx, "error": str(exc)}, status)
    target = result if isinstance(result, str) else f"/console/assessments/{assessment_id}"
    return _redirect(f"{target}?done={done}")


@router.post("/assessments/{assessment_id}/facts")
async def assessment_facts(request: Request, assessment_id: str, core: CoreDep, user: User) -> Response:
    def run(fields: dict[str, Any], rec: wf.AssessmentRecord) -> Any:
        return wf.update_spec(core, rec.tenant_id, rec.id, spec_from_form(rec.rules, fields), _actor(user))
    return await _assessment_action(request, core, user, assessment_id, run, "facts")


@router.post("/assessments/{assessment_id}/collect")
async def assessment_collect(request: Request, assessment_id: str, core: CoreDep, user: User) -> Response:
    def run(fields: dict[str, Any], rec: wf.AssessmentRecord) -> Any:
        return wf.collect(core, rec.tenant_id, rec.id, _actor(user))
    return await _assessment_action(request, core, user, assessment_id, run, "collected")


@router.post("/assessments/{assessment_id}/findings/{finding_id}/remediation")
async def assessment_remediate(request: Request, assessment_id: str, finding_id: str, core: CoreDep,
                               user: User) -> Response:
    def run(fields: dict[str, Any], rec: wf.AssessmentRecord) -> Any:
        return wf.remediate(core, rec.tenant_id, rec.id, finding_id, _actor(user), what=_one(fields, "what"),
                            by=_one(fields, "by"), evidence_after=_one(fields, "evidence_after"))
    return await _assessment_action(request, core, user, assessment_id, run, "remediated")


@router.post("/assessments/{assessment_id}/finalise")
async def assessment_finalise(request: Request, assessment_id: str, core: CoreDep, user: User) -> Response:
    def run(fields: dict[str, Any], rec: wf.AssessmentRecord) -> Any:
        return wf.finalise(core, rec.tenant_id, rec.id, _actor(user), by=_one(fields, "by"))
    return await _assessment_action(request, core, user, assessment_id, run, "finalised")


@router.post("/assessments/{assessment_id}/filing")
async def assessment_file(request: Request, assessment_id: str, core: CoreDep, user: User) -> Response:
    def run(fields: dict[str, Any], rec: wf.AssessmentRecord) -> Any:
        return inbox.file_report(core, rec.tenant_id, rec.id, _one(fields, "regulator").strip(), _actor(user))
    return await _assessment_action(request, core, user, assessment_id, run, "filed")


@router.post("/assessments/{assessment_id}/resubmit")
async def assessment_resubmit(request: Request, assessment_id: str, core: CoreDep, user: User) -> Response:
    def run(fields: dict[str, Any], rec: wf.AssessmentRecord) -> Any:
        return inbox.resubmit(core, rec.tenant_id, _one(fields, "filing"), rec.id, _actor(user))
    return await _assessment_action(request, core, user, assessment_id, run, "resubmitted")


def _file(data: bytes, name: str, aid: str) -> Response:
    """A report file as the API serves it; the HTML also sandboxed (an opaque origin: a platform's
    report opened from the regulator's console can reach nothing of the console)."""
    from ..routes.assessments import REPORT_CSP, _file_response

    resp = _file_response(data, name, aid)
    if name == "report.html":
        resp.headers["Content-Security-Policy"] = REPORT_CSP + "; sandbox"
    return resp


@router.get("/assessments/{assessment_id}/{name}")
def assessment_file_download(request: Request, assessment_id: str, name: str, core: CoreDep,
                             user: User) -> Response:
    if not user.can("assessments:read"):
        return _forbidden(request, user, "see self-assessments")
    if name not in REPORT_FILES:
        return _not_found(request, user, "report file")
    try:
        rec = wf.get(core, user.principal.tenant_id, assessment_id)
        files = wf.report_files(core, rec, pdf=name.startswith("report.pdf") and rec.state == "finalised")
    except wf.AssessmentError:
        return _not_found(request, user, "report file")
    if name not in files:
        return _not_found(request, user, "report file")
    return _file(files[name], name, rec.id)


# ------------------------------------------------------------------------------------------ regulator pages
@router.get("/inbox")
def inbox_page(request: Request, core: CoreDep, user: User, state: str = "") -> HTMLResponse:
    if not user.can("inbox:read"):
        return _forbidden(request, user, "see a regulator's inbox")
    if state and state not in inbox.STATES:
        return page(request, "error.html", {"user": user, "title": "Invalid filter",
                                            "message": f"state: one of {', '.join(inbox.STATES)}"}, 422)
    filings = inbox.inbox(core, user.principal.tenant_id, state=state or None)
    counts: dict[str, int] = {s: 0 for s in inbox.STATES}
    for f in inbox.inbox(core, user.principal.tenant_id) if state else filings:
        counts[f.state] = counts.get(f.state, 0) + 1
    return page(request, "inbox.html", {"user": user, "filings": filings, "state": state, "counts": counts,
                                        "states": inbox.STATES, "ts": _ts, "now": time.time()})


def _filing_context(core: Any, user: ConsoleUser, f: inbox.Filing) -> dict[str, Any]:
    files = inbox.regulator_files(core, f)
    actions = [a for a, (sources, _) in inbox.REGULATOR_ACTIONS.items() if f.state in sources]
    return {"user": user, "f": f, "files": [n for n in REPORT_FILES if n in files], "ts": _ts,
            "actions": actions if user.can("inbox:act") else [], "error": None, "done": None,
            "now": time.time()}


@router.get("/inbox/{filing_id}")
def filing_page(request: Request, filing_id: str, core: CoreDep, user: User, done: str | None = None) -> HTMLResponse:
    if not user.can("inbox:read"):
        return _forbidden(request, user, "see a regulator's inbox")
    try:
        f = inbox.filing_for_regulator(core, user.principal.tenant_id, filing_id)
    except wf.AssessmentError:
        return _not_found(request, user, "filing")
    return page(request, "filing.html", {**_filing_context(core, user, f), "done": _DONE.get(done or "")})


@router.get("/inbox/{filing_id}/{name}")
def filing_file(request: Request, filing_id: str, name: str, core: CoreDep, user: User) -> Response:
    if not user.can("inbox:read"):
        return _forbidden(request, user, "see a regulator's inbox")
    if name not in REPORT_FILES:
        return _not_found(request, user, "report file")
    try:
        f = inbox.filing_for_regulator(core, user.principal.tenant_id, filing_id)
        files = inbox.regulator_files(core, f)
    except wf.AssessmentError:
        return _not_found(request, user, "report file")
    if name not in files:
        return _not_found(request, user, "report file")
    return _file(files[name], name, f.assessment_id)


def _deadline(value: str) -> float:
    """A deadline from the form: ISO 8601 with a zone, or a date-time-local value read as UTC+8
    (the form says so) when it has none."""
    v = value.strip()
    if not v:
        raise wf.AssessmentError("a rectification request needs a deadline", code="validation_error", status=422)
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise wf.AssessmentError("the deadline is not a date and time (e.g. 2027-01-31T18:00)",
                                 code="validation_error", status=422) from None
    if dt.tzinfo is None:
        from datetime import timedelta, timezone

        dt = dt.replace(tzinfo=timezone(timedelta(hours=8)))
    return dt.timestamp()


async def _filing_action(request: Request, core: Any, user: ConsoleUser, filing_id: str, action: str) -> Response:
    fields = await _form(request, user)
    if not user.can("inbox:act"):
        return _forbidden(request, user, "act on filings")
    rid = user.principal.tenant_id
    try:
        f = await run_in_threadpool(inbox.filing_for_regulator, core, rid, filing_id)
    except wf.AssessmentError:
        return _not_found(request, user, "filing")
    note = _one(fields, "note").strip() or None

    def run() -> inbox.Filing:
        deadline = _deadline(_one(fields, "deadline")) if action == "request_rectification" else None
        return inbox.regulator_action(core, rid, f.id, action, _actor(user), note=note, deadline_at=deadline)
    try:
        moved = await run_in_threadpool(run)
    except wf.AssessmentError as exc:
        f = await run_in_threadpool(inbox.filing_for_regulator, core, rid, filing_id)
        ctx = await run_in_threadpool(_filing_context, core, user, f)
        return page(request, "filing.html", {**ctx, "error": str(exc)}, exc.status)
    return _redirect(f"/console/inbox/{moved.id}?" + urlencode({"done": moved.state}))


@router.post("/inbox/{filing_id}/acknowledge")
async def filing_acknowledge(request: Request, filing_id: str, core: CoreDep, user: User) -> Response:
    return await _filing_action(request, core, user, filing_id, "acknowledge")


@router.post("/inbox/{filing_id}/rectification")
async def filing_rectification(request: Request, filing_id: str, core: CoreDep, user: User) -> Response:
    return await _filing_action(request, core, user, filing_id, "request_rectification")


@router.post("/inbox/{filing_id}/accept")
async def filing_accept(request: Request, filing_id: str, core: CoreDep, user: User) -> Response:
    return await _filing_action(request, core, user, filing_id, "accept")
