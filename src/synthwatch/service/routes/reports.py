"""User reports: the public complaint channel (item A6). The platform forwards a user's complaint
about an item; it is stored and opens or joins the case about the same content."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..auth import Principal
from ..deps import CoreDep, require
from ..problems import Problem
from ..review import cases as rc
from ..review.records import UserReport
from ..storage import review_tables as rt
from .cases import actor_of, review_call
from .scans import _check_url, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1", tags=["reports"])


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=60, description="a report reason code of the tenant's policy")
    text: str = Field("", max_length=5000, description="the user's own words (shown escaped to reviewers)")
    reporter: str | None = Field(None, max_length=200, description="your id of the reporting user")
    scan_id: str | None = Field(None, max_length=40)
    sha256: str | None = Field(None, pattern="^[0-9a-f]{64}$")
    external_id: str | None = Field(None, max_length=200)
    url: str | None = Field(None, max_length=2000)


def _can_see_cases(p: Principal) -> bool:
    return p.can("cases:read")


@router.post("/reports", status_code=201, summary="Report an item (user complaint): opens or joins its case")
def create_report(body: ReportCreate, core: CoreDep,
                  principal: Annotated[Principal, require("reports:create")]) -> JSONResponse:
    if body.url:
        _check_url(core, body.url, "url")
    rep, _case = review_call(rc.submit_report, core, principal.tenant_id, actor_of(principal), reason=body.reason,
                             text=body.text, reporter=body.reporter, scan_id=body.scan_id, sha256=body.sha256,
                             external_id=body.external_id, url=body.url)
    return JSONResponse(rep.to_dict(with_case=_can_see_cases(principal)), status_code=201,
                        headers={"Location": f"/v1/reports/{rep.id}"})


@router.get("/reports/{report_id}", summary="A report and how it was handled (the complainant's feedback)")
def get_report(report_id: str, core: CoreDep,
               principal: Annotated[Principal, require("reports:status")]) -> JSONResponse:
    with core.db.read() as conn:
        row = conn.execute(sa.select(rt.user_reports).where(rt.user_reports.c.id == report_id,
                                                            rt.user_reports.c.tenant_id == principal.tenant_id)
                           ).mappings().first()
    if row is None:
        raise Problem(404, "not_found", "no such report")
    return JSONResponse(UserReport.from_row(row).to_dict(with_case=_can_see_cases(principal)))


@router.get("/reports", summary="User reports, newest first")
def list_reports(core: CoreDep, principal: Annotated[Principal, require("cases:read")],
                 status: Annotated[str | None, Query(pattern="^(received|in_review|handled)$")] = None,
                 case_id: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                 cursor: str | None = None) -> dict[str, Any]:
    u = rt.user_reports.c
    q = sa.select(rt.user_reports).where(u.tenant_id == principal.tenant_id)
    if status:
        q = q.where(u.status == status)
    if case_id:
        q = q.where(u.case_id == case_id)
    before = decode_cursor(cursor)
    if before:
        q = q.where(u.id < before)
    with core.db.read() as conn:
        rows = [UserReport.from_row(r) for r in conn.execute(q.order_by(u.id.desc()).limit(limit + 1)).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return {"object": "list", "data": [r.to_dict() for r in rows],
            "next_cursor": encode_cursor(rows[-1].id) if more else None}
