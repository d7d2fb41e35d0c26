"""The regulator's inbox: finalised self-assessment reports filed by platform tenants (issue 16).

A *regulator* is a tenant that holds at least one active key with the role ``regulator``; its
users see the reports filed to it by every platform tenant, and nothing else of theirs (the
filing, the platform's name and the report files exactly as signed). A platform's admin files a
finalised assessment to a regulator by name.

States: ``filed`` → ``acknowledged`` → ``rectification_requested`` (with a reason and a deadline)
→ ``resubmitted`` (a new finalised assessment of the same platform replaces the report) → … →
``accepted`` (final). The regulator acknowledges, requests rectification and accepts; the platform
files and resubmits. Every transition is kept in the filing's history, audited on both tenants'
chains, and notified to the platform by its signed webhook (``assessment.filing.<state>``) when it
has a ``callback_url``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..events import record
from ..ids import new_id
from ..storage import schema as st
from ..storage.assessment_tables import assessment_filings as af
from ..storage.interfaces import Event
from ..webhooks import enqueue as enqueue_webhook
from .workflow import Actor, AssessmentError, get, report_files

__all__ = ["Filing", "file_report", "resubmit", "regulator_action", "inbox", "platform_filings", "filing_for_regulator",
           "filing_for_platform", "regulator_files", "is_regulator", "STATES", "REGULATOR_ACTIONS"]

STATES = ("filed", "acknowledged", "rectification_requested", "resubmitted", "accepted")
#: regulator action -> (states it may be taken from, the state it leads to)
REGULATOR_ACTIONS = {
    "acknowledge": (("filed", "resubmitted"), "acknowledged"),
    "request_rectification": (("filed", "acknowledged", "resubmitted"), "rectification_requested"),
    "accept": (("filed", "acknowledged", "resubmitted"), "accepted"),
}
MAX_NOTE = 4000


@dataclass
class Filing:
    id: str
    tenant_id: str
    tenant_name: str
    regulator_id: str
    regulator_name: str
    assessment_id: str
    report_sha256: str
    state: str
    deadline_at: float | None
    history: list[dict[str, Any]]
    filed_at: float
    updated_at: float
    version: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "object": "filing", "platform": self.tenant_name, "regulator": self.regulator_name,
                "assessment_id": self.assessment_id, "report_sha256": self.report_sha256, "state": self.state,
                "deadline_at": self.deadline_at, "history": self.history, "filed_at": self.filed_at,
                "updated_at": self.updated_at}


def _names(conn: Any, ids: set[str]) -> dict[str, str]:
    rows = conn.execute(sa.select(st.tenants.c.id, st.tenants.c.name).where(st.tenants.c.id.in_(ids))).all()
    return {r.id: r.name for r in rows}


def _filings(conn: Any, where: Any, limit: int = 200) -> list[Filing]:
    rows = conn.execute(sa.select(af).where(where).order_by(af.c.id.desc()).limit(limit)).all()
    names = _names(conn, {r.tenant_id for r in rows} | {r.regulator_id for r in rows}) if rows else {}
    return [Filing(r.id, r.tenant_id, names.get(r.tenant_id, ""), r.regulator_id, names.get(r.regulator_id, ""),
                   r.assessment_id, r.report_sha256, r.state, r.deadline_at, json.loads(r.history or "[]"),
                   r.filed_at, r.updated_at, int(r.version)) for r in rows]


def is_regulator(conn: Any, tenant_id: str) -> bool:
    k = st.api_keys.c
    return conn.execute(sa.select(sa.func.count()).where(k.tenant_id == tenant_id, k.role == "regulator",
                                                         k.revoked_at.is_(None))).scalar() > 0


def inbox(core: Any, regulator_id: str, *, state: str | None = None) -> list[Filing]:
    with core.db.read() as conn:
        where = af.c.regulator_id == regulator_id
        return _filings(conn, where if state is None else sa.and_(where, af.c.state == state))


def platform_filings(core: Any, tenant_id: str) -> list[Filing]:
    with core.db.read() as conn:
        return _filings(conn, af.c.tenant_id == tenant_id)


def filing_for_regulator(core: Any, regulator_id: str, filing_id: str) -> Filing:
    with core.db.read() as conn:
        found = _filings(conn, sa.and_(af.c.id == filing_id, af.c.regulator_id == regulator_id), 1)
    if not found:
        raise AssessmentError("no such filing", code="not_found", status=404)
    return found[0]


def filing_for_platform(core: Any, tenant_id: str, filing_id: str) -> Filing:
    with core.db.read() as conn:
        found = _filings(conn, sa.and_(af.c.id == filing_id, af.c.tenant_id == tenant_id), 1)
    if not found:
        raise AssessmentError("no such filing", code="not_found", status=404)
    return found[0]


def regulator_files(core: Any, f: Filing) -> dict[str, bytes]:
    """The filed report's files exactly as signed (what the regulator may read of the platform)."""
    rec = get(core, f.tenant_id, f.assessment_id)
    return report_files(core, rec)


def _notify(core: Any, conn: Any, f: Filing, state: str, actor: Actor, entry: dict[str, Any]) -> None:
    details = {"filing": f.id, "assessment": f.assessment_id, "state": state, "report_sha256": f.report_sha256,
               "platform": f.tenant_name, "regulator": f.regulator_name, **{k: v for k, v in entry.items()
                                                                              if k in ("note", "deadline_at")}}
    for chain in {f.tenant_id, f.regulator_id}:  # both sides' audit chains
        record(core.stores.events, conn, Event(f"assessment.filing.{state}", "filing", f.id, chain, actor.id,
                                               actor.role, actor.source_ip, details))
    tenant = core.stores.tenants.get(conn, f.tenant_id)
    url = tenant.settings.get("callback_url") if tenant else None
    if tenant is not None and url:
        enqueue_webhook(core.stores.webhooks, conn, tenant_id=tenant.id, tenant_name=tenant.name,
                        event=f"assessment.filing.{state}", object_id=f.id, url=url,
                        data={**f.to_dict(), "state": state}, max_attempts=core.opts.webhook_max_attempts)


def _entry(state: str, actor: Actor, note: str | None = None, **extra: Any) -> dict[str, Any]:
    if note is not None and len(note) > MAX_NOTE:
        raise AssessmentError(f"the note is longer than {MAX_NOTE} characters", code="validation_error",
                              status=422)
    return {"state": state, "at": time.time(), "actor": actor.id, "role": actor.role,
            **({"note": note} if note else {}), **extra}


def file_report(core: Any, tenant_id: str, assessment_id: str, regulator: str, actor: Actor) -> Filing:
    """File a finalised assessment's report to the regulator tenant named ``regulator``."""
    rec = get(core, tenant_id, assessment_id)
    if rec.state != "finalised" or rec.report_sha256 is None:
        raise AssessmentError("only a finalised report can be filed", code="not_finalised")
    with core.db.write() as conn:
        reg = core.stores.tenants.by_name(conn, regulator)
        if reg is None or reg.id == tenant_id or not is_regulator(conn, reg.id):
            raise AssessmentError(f"no regulator named {regulator!r}", code="unknown_regulator", status=422)
        taken = conn.execute(sa.select(af.c.id).where(af.c.tenant_id == tenant_id,
                                                      af.c.assessment_id == assessment_id)).scalar()
        if taken:
            raise AssessmentError(f"this report is already filed ({taken})", code="already_filed")
        fid = new_id("fil")
        entry = _entry("filed", actor, assessment_id=assessment_id, report_sha256=rec.report_sha256)
        now = entry["at"]
        conn.execute(af.insert().values(id=fid, tenant_id=tenant_id, regulator_id=reg.id, assessment_id=assessment_id,
                                        report_sha256=rec.report_sha256, state="filed", history=json.dumps([entry]),
                                        filed_at=now, updated_at=now, version=1))
        f = _filings(conn, af.c.id == fid, 1)[0]
        _notify(core, conn, f, "filed", actor, entry)
    return f


def _move(core: Any, f: Filing, state: str, entry: dict[str, Any], actor: Actor, **values: Any) -> Filing:
    with core.db.write() as conn:
        done = conn.execute(af.update().where(af.c.id == f.id, af.c.version == f.version).values(
            state=state, history=json.dumps([*f.history, entry]), updated_at=entry["at"], version=f.version + 1,
            **values)).rowcount
        if done != 1:
            raise AssessmentError("the filing changed meanwhile; read it again", code="conflict")
        moved = _filings(conn, af.c.id == f.id, 1)[0]
        _notify(core, conn, moved, state, actor, entry)
    return moved


def regulator_action(core: Any, regulator_id: str, filing_id: str, action: str, actor: Actor, *,
                     note: str | None = None, deadline_at: float | None = None) -> Filing:
    """``acknowledge``, ``request_rectification`` (a note and a future deadline required) or ``accept``."""
    if action not in REGULATOR_ACTIONS:
        raise AssessmentError(f"unknown action {action!r}", code="validation_error", status=422)
    f = filing_for_regulator(core, regulator_id, filing_id)
    sources, target = REGULATOR_ACTIONS[action]
    if f.state not in sources:
        raise AssessmentError(f"a {f.state} filing cannot be {target.replace('_', ' ')}", code="invalid_state")
    extra: dict[str, Any] = {}
    if action == "request_rectification":
        if not note or not note.strip():
            raise AssessmentError("a rectification request says what to rectify (note)", code="validation_error",
                                  status=422)
        if deadline_at is None or deadline_at <= time.time():
            raise AssessmentError("a rectification request needs a deadline in the future", code="validation_error",
                                  status=422)
        extra["deadline_at"] = deadline_at
    entry = _entry(target, actor, note, **extra)
    return _move(core, f, target, entry, actor, deadline_at=extra.get("deadline_at", f.deadline_at))


def resubmit(core: Any, tenant_id: str, filing_id: str, assessment_id: str, actor: Actor) -> Filing:
    """After a rectification request: file a new finalised assessment in place of the old report."""
    f = filing_for_platform(core, tenant_id, filing_id)
    if f.state != "rectification_requested":
        raise AssessmentError(f"a {f.state} filing cannot be resubmitted", code="invalid_state")
    rec = get(core, tenant_id, assessment_id)
    if rec.state != "finalised" or rec.report_sha256 is None:
        raise AssessmentError("only a finalised report can be resubmitted", code="not_finalised")
    if assessment_id == f.assessment_id:
        raise AssessmentError("resubmit a new assessment, finalised after the rectification", code="invalid_state")
    entry = _entry("resubmitted", actor, assessment_id=assessment_id, report_sha256=rec.report_sha256,
                   replaces=f.assessment_id)
    return _move(core, f, "resubmitted", entry, actor, assessment_id=assessment_id, report_sha256=rec.report_sha256)
