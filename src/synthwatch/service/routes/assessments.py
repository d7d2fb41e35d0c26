"""``/v1/assessments``: security self-assessments of the caller's tenant (issue 16), role admin;
``/v1/filings``: the platform's filings to a regulator; ``/v1/inbox``: the regulator's inbox, role
regulator (reports filed to its tenant by every platform, and nothing else of theirs).

A draft is created from the declared facts and its evidence collected from this service's store;
findings get remediation records; finalising is refused (409 ``open_findings``) while any finding
is not resolved. Reports are served as files: ``report.json`` (byte-exact), ``report.html`` (with a
Content Security Policy that allows no script), ``report.pdf`` and the ``.sig`` files of a
finalised report. Another tenant's assessment answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ...errors import SynthwatchError
from ..assessments import inbox
from ..assessments import workflow as wf
from ..auth import Principal
from ..deps import CoreDep, require
from ..problems import Problem

router = APIRouter(prefix="/v1", tags=["assessments"])

REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"
_TYPES = {"report.json": "application/json", "report.html": "text/html; charset=utf-8", "report.pdf": "application/pdf",
          "report.json.sig": "application/json", "report.html.sig": "application/json",
          "report.pdf.sig": "application/json"}


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: dict[str, Any] = Field(description="the declared facts (synthwatch.assessment/1, see docs/assess.md)")


class Remediation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    what: str = Field(min_length=1, max_length=4000, description="what was done")
    by: str = Field(min_length=1, max_length=200, description="who did it")
    evidence_after: str = Field(min_length=1, max_length=4000, description="the evidence after the fix")


class Finalise(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=200, description="the responsible person finalising the report")


def _actor(p: Principal) -> wf.Actor:
    return wf.Actor(p.key_id, p.role.value, p.source_ip)


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except wf.AssessmentError as exc:
        raise Problem(exc.status, exc.code, str(exc), **exc.details) from None
    except SynthwatchError as exc:
        raise Problem(422, exc.code, str(exc)) from None


def _resource(rec: wf.AssessmentRecord) -> dict[str, Any]:
    d = rec.to_dict()
    d["report"] = {name: f"/v1/assessments/{rec.id}/{name}" for name in
                   (("report.json", "report.html", "report.pdf", "report.json.sig", "report.html.sig",
                     "report.pdf.sig") if rec.state == "finalised" else ("report.json", "report.html"))}
    return d


@router.post("/assessments", status_code=201, summary="Start a self-assessment: collect the evidence and evaluate")
def create_assessment(body: AssessmentCreate, core: CoreDep,
                      principal: Annotated[Principal, require("assessments:manage")]) -> JSONResponse:
    rec = _run(wf.create, core, principal.tenant_id, body.spec, _actor(principal))
    return JSONResponse(_resource(rec), status_code=201, headers={"Location": f"/v1/assessments/{rec.id}"})


@router.get("/assessments", summary="The tenant's self-assessments, newest first")
def list_assessments(core: CoreDep, principal: Annotated[Principal, require("assessments:read")],
                     limit: Annotated[int, Query(ge=1, le=200)] = 50,
                     cursor: Annotated[str | None, Query(max_length=40)] = None) -> dict[str, Any]:
    recs = wf.list_assessments(core, principal.tenant_id, limit=limit + 1, before=cursor)
    more = len(recs) > limit
    recs = recs[:limit]
    return {"object": "list", "data": [r.summary() for r in recs], "next_cursor": recs[-1].id if more else None}


@router.get("/assessments/{assessment_id}", summary="An assessment: facts, evidence, outcomes and findings")
def get_assessment(assessment_id: str, core: CoreDep,
                   principal: Annotated[Principal, require("assessments:read")]) -> dict[str, Any]:
    return _resource(_run(wf.get, core, principal.tenant_id, assessment_id))


@router.put("/assessments/{assessment_id}/facts", summary="Replace a draft's declared facts")
def put_facts(assessment_id: str, body: AssessmentCreate, core: CoreDep,
              principal: Annotated[Principal, require("assessments:manage")]) -> dict[str, Any]:
    return _resource(_run(wf.update_spec, core, principal.tenant_id, assessment_id, body.spec, _actor(principal)))


@router.post("/assessments/{assessment_id}/collect", summary="Collect the evidence again and re-evaluate")
def collect(assessment_id: str, core: CoreDep,
            principal: Annotated[Principal, require("assessments:manage")]) -> dict[str, Any]:
    return _resource(_run(wf.collect, core, principal.tenant_id, assessment_id, _actor(principal)))


@router.post("/assessments/{assessment_id}/findings/{finding_id}/remediation",
             summary="Record what was done about a finding, by whom, and the evidence after the fix")
def remediate(assessment_id: str, finding_id: str, body: Remediation, core: CoreDep,
              principal: Annotated[Principal, require("assessments:manage")]) -> dict[str, Any]:
    return _resource(_run(wf.remediate, core, principal.tenant_id, assessment_id, finding_id, _actor(principal),
                          what=body.what, by=body.by, evidence_after=body.evidence_after))


@router.post("/assessments/{assessment_id}/finalise",
             summary="Finalise, sign and audit the report (409 open_findings while a finding is not resolved)")
def finalise(assessment_id: str, body: Finalise, core: CoreDep,
             principal: Annotated[Principal, require("assessments:manage")]) -> dict[str, Any]:
    return _resource(_run(wf.finalise, core, principal.tenant_id, assessment_id, _actor(principal), by=body.by))


@router.get("/assessments/{assessment_id}/{name}", summary="The report as a file (json, html, pdf) or its signature")
def report_file(assessment_id: str, name: str, core: CoreDep,
                principal: Annotated[Principal, require("assessments:read")]) -> Response:
    if name not in _TYPES:
        raise Problem(404, "not_found", f"no such report file (one of {', '.join(_TYPES)})")
    rec = _run(wf.get, core, principal.tenant_id, assessment_id)
    files = _run(wf.report_files, core, rec, pdf=name.startswith("report.pdf"))
    if name not in files:
        raise Problem(404, "not_found", f"{name} exists only for a finalised report")
    return _file_response(files[name], name, rec.id)


def _file_response(data: bytes, name: str, aid: str) -> Response:
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
               "Content-Disposition": f'{"inline" if name == "report.html" else "attachment"}; '
                                      f'filename="{aid}-{name}"'}
    if name == "report.html":
        headers["Content-Security-Policy"] = REPORT_CSP
    return Response(data, media_type=_TYPES[name], headers=headers)


# ------------------------------------------------------------------------------------------ filing (platform)
class FilingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    regulator: str = Field(min_length=1, max_length=200, description="the regulator's tenant name")


class Resubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assessment_id: str = Field(min_length=1, max_length=40, description="a new, finalised assessment")


class RegulatorNote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=4000)


class Rectification(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=4000, description="what must be rectified")
    deadline: datetime = Field(description="ISO 8601 date-time with a time zone")


@router.post("/assessments/{assessment_id}/filing", status_code=201,
             summary="File a finalised report to a regulator's inbox")
def file_assessment(assessment_id: str, body: FilingCreate, core: CoreDep,
                    principal: Annotated[Principal, require("assessments:manage")]) -> JSONResponse:
    f = _run(inbox.file_report, core, principal.tenant_id, assessment_id, body.regulator, _actor(principal))
    return JSONResponse(f.to_dict(), status_code=201, headers={"Location": f"/v1/filings/{f.id}"})


@router.get("/filings", summary="The platform's filings and their state")
def list_filings(core: CoreDep, principal: Annotated[Principal, require("assessments:read")]) -> dict[str, Any]:
    return {"object": "list", "data": [f.to_dict() for f in inbox.platform_filings(core, principal.tenant_id)]}


@router.get("/filings/{filing_id}", summary="A filing: state, deadline and history")
def get_filing(filing_id: str, core: CoreDep,
               principal: Annotated[Principal, require("assessments:read")]) -> dict[str, Any]:
    return dict(_run(inbox.filing_for_platform, core, principal.tenant_id, filing_id).to_dict())


@router.post("/filings/{filing_id}/resubmit", summary="Resubmit a new finalised report after a rectification request")
def resubmit(filing_id: str, body: Resubmission, core: CoreDep,
             principal: Annotated[Principal, require("assessments:manage")]) -> dict[str, Any]:
    return dict(_run(inbox.resubmit, core, principal.tenant_id, filing_id, body.assessment_id,
                     _actor(principal)).to_dict())


# ------------------------------------------------------------------------------------------ the regulator's inbox
@router.get("/inbox", summary="Reports filed to this regulator by every platform, newest first")
def list_inbox(core: CoreDep, principal: Annotated[Principal, require("inbox:read")],
               state: Annotated[str | None, Query(pattern="^(" + "|".join(inbox.STATES) + ")$")] = None
               ) -> dict[str, Any]:
    return {"object": "list", "data": [f.to_dict() for f in inbox.inbox(core, principal.tenant_id, state=state)]}


@router.get("/inbox/{filing_id}", summary="A filed report: its platform, state, deadline and history")
def get_inbox_filing(filing_id: str, core: CoreDep,
                     principal: Annotated[Principal, require("inbox:read")]) -> dict[str, Any]:
    f = _run(inbox.filing_for_regulator, core, principal.tenant_id, filing_id)
    return {**f.to_dict(), "files": {n: f"/v1/inbox/{f.id}/{n}" for n in _TYPES}}


@router.get("/inbox/{filing_id}/{name}", summary="The filed report's files exactly as signed")
def inbox_file(filing_id: str, name: str, core: CoreDep,
               principal: Annotated[Principal, require("inbox:read")]) -> Response:
    if name not in _TYPES:
        raise Problem(404, "not_found", f"no such report file (one of {', '.join(_TYPES)})")
    f = _run(inbox.filing_for_regulator, core, principal.tenant_id, filing_id)
    files = _run(inbox.regulator_files, core, f)
    if name not in files:
        raise Problem(404, "not_found", f"{name} was not filed")
    return _file_response(files[name], name, f.assessment_id)


def _act(core: Any, principal: Principal, filing_id: str, action: str, **kwargs: Any) -> dict[str, Any]:
    return dict(_run(inbox.regulator_action, core, principal.tenant_id, filing_id, action, _actor(principal),
                     **kwargs).to_dict())


@router.post("/inbox/{filing_id}/acknowledge", summary="Acknowledge receipt of a filed report")
def acknowledge(filing_id: str, body: RegulatorNote, core: CoreDep,
                principal: Annotated[Principal, require("inbox:act")]) -> dict[str, Any]:
    return _act(core, principal, filing_id, "acknowledge", note=body.note)


@router.post("/inbox/{filing_id}/rectification", summary="Request rectification by a deadline")
def request_rectification(filing_id: str, body: Rectification, core: CoreDep,
                          principal: Annotated[Principal, require("inbox:act")]) -> dict[str, Any]:
    if body.deadline.tzinfo is None:
        raise Problem(422, "validation_error", "the deadline needs a time zone (e.g. 2027-01-31T18:00:00+08:00)")
    return _act(core, principal, filing_id, "request_rectification", note=body.note,
                deadline_at=body.deadline.timestamp())


@router.post("/inbox/{filing_id}/accept", summary="Accept a filed report")
def accept(filing_id: str, body: RegulatorNote, core: CoreDep,
           principal: Annotated[Principal, require("inbox:act")]) -> dict[str, Any]:
    return _act(core, principal, filing_id, "accept", note=body.note)
