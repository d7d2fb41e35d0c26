"""Case operations: open (by policy, by report, from other sources), join, assign, decide (with
four-eyes), appeal, close, legal hold; listing, reading and the dashboard figures.

Every operation runs in one write transaction: the case row, its decision/appeal/report rows, the
event (which appends the audit entry with the before/after digests of the case) and the signed
webhook to the tenant's ``callback_url`` commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...errors import ConfigError, SynthwatchError
from ..audit.log import digest
from ..events import record
from ..ids import new_id
from ..storage import review_tables as rt
from ..storage import schema as t
from ..storage.interfaces import Event, ScanRecord, Tenant
from ..webhooks import enqueue as enqueue_webhook
from .policy import ACTIONS, FINAL_ACTIONS, PRIORITY_ORDER, StoredPolicy, active_policy
from .records import (
    ACTIVE_STATES,
    Appeal,
    CaseRecord,
    Decision,
    EvidenceRecord,
    UserReport,
    case_resource,
    case_state,
)
from .triggers import findings, highest_priority

__all__ = ["ReviewError", "Actor", "Evidence", "CaseFilter", "open_case", "open_case_in", "scan_completed",
           "submit_report", "assign", "decide", "appeal", "close", "set_legal_hold", "get_case", "list_cases",
           "case_detail", "case_media_path", "stats", "percentile"]


class ReviewError(SynthwatchError):
    """A case operation the case's state, the policy or the caller does not allow."""

    code = "conflict"

    def __init__(self, message: str, *, code: str = "conflict", status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Actor:
    """Who acts: an API key id (or ``system``, ``worker:…``, ``cli``), its role and address."""

    id: str = "system"
    role: str | None = None
    source_ip: str | None = None


SYSTEM = Actor()


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence for :func:`open_case`: a file (``path`` or ``data``) copied into the
    service's content-addressed media store, or a reference to stored media (``sha256``)."""

    kind: str  # media | audio_segment | report | timeline | file
    path: Path | None = None
    data: bytes | None = None
    sha256: str | None = None
    content_type: str | None = None
    filename: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def text_sha256(text: str) -> str:
    """sha256 hex of a text's UTF-8 bytes (stored reports are compared byte-exact)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _retention_s(core: Any) -> float:
    return float(core.opts.case_retention_days) * 86400.0


# ------------------------------------------------------------------------------------------ reading
def get_case(conn: Connection, tenant_id: str, case_id: str, *, lock: bool = False) -> CaseRecord | None:
    q = sa.select(rt.cases).where(rt.cases.c.id == case_id, rt.cases.c.tenant_id == tenant_id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    return CaseRecord.from_row(row) if row else None


def _update(conn: Connection, rec: CaseRecord, **values: Any) -> CaseRecord:
    values["updated_at"] = time.time()
    values["version"] = rec.version + 1
    stored = {k: (_json(v) if k in ("reasons", "pending") and v is not None else v) for k, v in values.items()}
    res = conn.execute(rt.cases.update().where(rt.cases.c.id == rec.id, rt.cases.c.version == rec.version)
                       .values(**stored))
    if not res.rowcount:
        raise ReviewError("the case changed meanwhile; reload it and try again")
    return replace(rec, **values)


def _event(core: Any, conn: Connection, event_name: str, before: CaseRecord | None, after: CaseRecord, actor: Actor,
           tenant: Tenant | None = None, webhook: bool = True, **details: Any) -> None:
    record(core.stores.events, conn, Event(event_name, "case", after.id, after.tenant_id, actor.id, actor.role,
                                           actor.source_ip, {"before": case_state(before) if before else None,
                                                             "after": case_state(after), **details}))
    if not webhook:
        return
    tenant = tenant or core.stores.tenants.get(conn, after.tenant_id)
    url = tenant.settings.get("callback_url") if tenant else None
    if tenant is not None and url:
        enqueue_webhook(core.stores.webhooks, conn, tenant_id=tenant.id, tenant_name=tenant.name, event=event_name,
                        object_id=after.id, url=url, data={**case_resource(after, time.time()), **details},
                        max_attempts=core.opts.webhook_max_attempts)


def _add_evidence(conn: Connection, case_id: str, kind: str, *, scan_id: str | None = None, sha256: str | None = None,
                  content_type: str | None = None, filename: str = "", size: int | None = None,
                  meta: dict[str, Any] | None = None) -> str:
    if sha256 is not None or scan_id is not None:
        c = rt.case_evidence.c
        q = sa.select(c.id).where(c.case_id == case_id, c.kind == kind)
        q = q.where(c.sha256 == sha256) if sha256 is not None else q.where(c.sha256.is_(None))
        q = q.where(c.scan_id == scan_id) if scan_id is not None else q.where(c.scan_id.is_(None))
        found = conn.execute(q).first()
        if found is not None:
            return str(found[0])
    eid = new_id("evd")
    conn.execute(rt.case_evidence.insert().values(id=eid, case_id=case_id, kind=kind, scan_id=scan_id, sha256=sha256,
                                                  content_type=content_type, filename=filename[:300], size=size,
                                                  meta=_json(meta or {}), added_at=time.time()))
    return eid


def _keep_media(core: Any, conn: Connection, tenant_id: str, sha256: str, size: int, filename: str) -> None:
    """Stored media that a case refers to is kept at least the case retention period."""
    cur = core.stores.media.get(conn, tenant_id, sha256)
    if cur is not None and cur.purged_at is not None:
        return  # already deleted by retention: the case shows it as purged
    core.stores.media.upsert(conn, tenant_id, sha256, size, filename, _retention_s(core))


def _store_file(core: Any, ev: Evidence) -> tuple[str, int, str]:
    """Copy an evidence file into the media store: (sha256, size, content type)."""
    from ...media.sniff import sniff

    limit = int(core.opts.max_upload_bytes)
    with core.blobs.writing(limit) as w:
        if ev.data is not None:
            w.write(ev.data)
        else:
            assert ev.path is not None
            with open(ev.path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    w.write(chunk)
        size = w.size
        sha = core.blobs.commit(w)
    ctype = ev.content_type
    if ctype is None:
        try:
            ctype = sniff(core.blobs.path(sha)).mime
        except SynthwatchError:
            ctype = "application/octet-stream"
    return sha, size, ctype or "application/octet-stream"


# ------------------------------------------------------------------------------------------ opening
def _open_or_join(core: Any, conn: Connection, tenant: Tenant, policy: StoredPolicy, *, source: str,
                  reasons: list[dict[str, Any]], join_key: str | None, actor: Actor, scan: ScanRecord | None = None,
                  sha256: str | None = None, kind: str | None = None, title: str = "", external_id: str | None = None,
                  priority: str | None = None, verdict: str | None = None,
                  score: float | None = None) -> tuple[CaseRecord, bool]:
    at = time.time()
    prio = priority or highest_priority([r["priority"] for r in reasons])
    if prio not in PRIORITY_ORDER:
        raise ConfigError(f"unknown priority {prio!r}; priorities: {', '.join(PRIORITY_ORDER)}")
    if join_key:
        c = rt.cases.c
        q = sa.select(rt.cases).where(c.tenant_id == tenant.id, c.join_key == join_key,
                                      c.state.in_(ACTIVE_STATES + ("decided",))).order_by(c.id.desc()).limit(1)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).mappings().first()
        if row is not None:
            rec = CaseRecord.from_row(row)
            known = {_json(r) for r in rec.reasons}
            merged = rec.reasons + [r for r in reasons if _json(r) not in known]
            values: dict[str, Any] = {"reasons": merged}
            if PRIORITY_ORDER.index(prio) < PRIORITY_ORDER.index(rec.priority):
                values["priority"] = prio
                values["due_at"] = min(rec.due_at, at + policy.policy.sla_s(prio))
            new = _update(conn, rec, **values) if merged != rec.reasons or "priority" in values else rec
            _event(core, conn, "case.joined", rec, new, actor, tenant, webhook=False, source=source,
                   triggers=[r["trigger"] for r in reasons], scan_id=scan.id if scan else None,
                   media_sha256=(scan.sha256 if scan else None) or sha256,
                   report_sha256=text_sha256(scan.report) if scan is not None and scan.report else None)
            return new, False
    case_id = new_id("case")
    values = {"id": case_id, "tenant_id": tenant.id, "state": "open", "priority": prio, "source": source,
              "reasons": _json(reasons), "policy_version": policy.version, "policy_digest": policy.digest,
              "join_key": join_key, "scan_id": scan.id if scan else None, "sha256": sha256 or (scan.sha256 if scan else None),
              "kind": kind or (scan.kind if scan else None), "external_id": external_id or (scan.external_id if scan else None),
              "title": (title or (scan.filename if scan else ""))[:300], "verdict": verdict or (scan.verdict if scan else None),
              "score": score if score is not None else (scan.score if scan else None), "assignee": None, "round": 1,
              "decision": None, "reason_code": None, "pending": None, "report_count": 0, "legal_hold": False,
              "hold_reason": None, "opened_at": at, "due_at": at + policy.policy.sla_s(prio), "assigned_at": None,
              "first_decided_at": None, "decided_at": None, "appealed_at": None, "closed_at": None,
              "overdue_notified": False, "updated_at": at, "version": 1}
    conn.execute(rt.cases.insert(), values)
    rec = CaseRecord.from_row(values)
    _event(core, conn, "case.opened", None, rec, actor, tenant, source=source, triggers=[r["trigger"] for r in reasons],
           policy_version=policy.version, policy_digest=policy.digest, scan_id=rec.scan_id, media_sha256=rec.sha256,
           report_sha256=text_sha256(scan.report) if scan is not None and scan.report else None)
    return rec, True


def _scan_evidence(core: Any, conn: Connection, case: CaseRecord, scan: ScanRecord) -> None:
    mime = None
    if scan.report:
        try:
            mime = (json.loads(scan.report).get("media") or {}).get("mime")
        except ValueError:
            mime = None
    _add_evidence(conn, case.id, "scan", scan_id=scan.id, sha256=scan.sha256, content_type=mime,
                  filename=scan.filename, size=scan.size,
                  meta={"report_sha256": text_sha256(scan.report) if scan.report else None, "verdict": scan.verdict,
                        "score": scan.score})
    if scan.sha256:
        _keep_media(core, conn, case.tenant_id, scan.sha256, scan.size or 0, scan.filename)


def scan_completed(core: Any, conn: Connection, scan_id: str) -> CaseRecord | None:
    """Inside the transaction that finished a scan: open (or join) a case when the tenant's policy
    says so. Returns the case, or None when no trigger fired."""
    scan = core.stores.scans.get(conn, None, scan_id)
    if scan is None or scan.status != "done" or not scan.report:
        return None
    try:
        report = json.loads(scan.report)
    except ValueError:
        return None
    policy = active_policy(conn, scan.tenant_id)
    previous = prev_id = None
    if scan.external_id and scan.sha256:
        s = t.scans.c
        row = conn.execute(sa.select(s.id, s.report).where(
            s.tenant_id == scan.tenant_id, s.external_id == scan.external_id, s.status == "done",
            s.sha256 != scan.sha256, s.id < scan.id, s.report.is_not(None)).order_by(s.id.desc()).limit(1)).first()
        if row is not None:
            try:
                previous, prev_id = json.loads(row[1]), row[0]
            except ValueError:
                previous = None
    found = findings(report, policy.policy, previous, prev_id)
    if not found:
        return None
    tenant = core.stores.tenants.get(conn, scan.tenant_id)
    assert tenant is not None
    case, _ = _open_or_join(core, conn, tenant, policy, source="scan", reasons=found, actor=SYSTEM, scan=scan,
                            join_key=f"sha256:{scan.sha256}" if scan.sha256 else f"scan:{scan.id}")
    _scan_evidence(core, conn, case, scan)
    return case


def open_case_in(core: Any, conn: Connection, tenant: Tenant, *, source: str, evidence: Sequence[Evidence] = (),
                 reasons: Sequence[dict[str, Any]] | None = None, priority: str | None = None,
                 join_key: str | None = None, title: str = "", external_id: str | None = None,
                 scan_id: str | None = None, actor: Actor = SYSTEM,
                 stored: Sequence[tuple[Evidence, str, int, str]] = ()) -> tuple[CaseRecord, bool]:
    """:func:`open_case` inside the caller's write transaction; ``stored``: evidence already copied
    into the media store (``(evidence, sha256, size, content type)``)."""
    policy = active_policy(conn, tenant.id)
    trig = policy.policy.trigger(source) if source in ("live_room", "user_report") else None
    if source in ("live_room", "user_report") and trig is None and priority is None:
        raise ReviewError(f"the review policy does not open cases from {source}", code="policy_disabled", status=409)
    reasons = list(reasons or [{"trigger": source, "basis": f"opened from {source}"}])
    for r in reasons:
        r.setdefault("trigger", source)
        r.setdefault("priority", priority or (trig.priority if trig else "normal"))
    scan = core.stores.scans.get(conn, tenant.id, scan_id) if scan_id else None
    if scan_id and scan is None:
        raise ReviewError(f"no scan {scan_id} in this tenant", code="not_found", status=404)
    media = next((s for s in stored if s[0].kind in ("media", "audio_segment")), None)
    case, opened = _open_or_join(core, conn, tenant, policy, source=source, reasons=reasons, join_key=join_key,
                                 actor=actor, scan=scan, sha256=media[1] if media else None,
                                 kind=("audio" if media and media[3].startswith("audio/") else
                                       "video" if media and media[3].startswith("video/") else
                                       "image" if media and media[3].startswith("image/") else None),
                                 title=title, external_id=external_id, priority=priority)
    if scan is not None:
        _scan_evidence(core, conn, case, scan)
    for ev, sha, size, ctype in stored:
        _add_evidence(conn, case.id, ev.kind, sha256=sha, content_type=ctype, filename=ev.filename, size=size,
                      meta=ev.meta)
        _keep_media(core, conn, tenant.id, sha, size, ev.filename)
    for ev in evidence:
        if ev.path is None and ev.data is None and ev.sha256:
            media_rec = core.stores.media.get(conn, tenant.id, ev.sha256)
            if media_rec is None:
                raise ReviewError(f"no stored media {ev.sha256} in this tenant", code="not_found", status=404)
            _add_evidence(conn, case.id, ev.kind, sha256=ev.sha256, content_type=ev.content_type,
                          filename=ev.filename or media_rec.filename, size=media_rec.size, meta=ev.meta)
            _keep_media(core, conn, tenant.id, ev.sha256, media_rec.size, media_rec.filename)
    if not opened:
        return case, False
    return case, True


def open_case(core: Any, tenant: str | Tenant, *, source: str, evidence: Sequence[Evidence] = (),
              reasons: Sequence[dict[str, Any]] | None = None, priority: str | None = None,
              join_key: str | None = None, title: str = "", external_id: str | None = None,
              scan_id: str | None = None, actor: Actor = SYSTEM) -> tuple[CaseRecord, bool]:
    """Open a case from any source (the live-audio-room monitor, a platform tool, the CLI), or join
    the active case with the same ``join_key``. Returns ``(case, opened)``.

    ``tenant``: a :class:`Tenant` or its name. ``source``: ``live_room``, ``manual``, … (the policy's
    ``open_cases.live_room`` decides the default priority of live-room cases and whether they open at
    all). ``evidence``: files copied into the media store (kept for the case retention period; the
    first ``media``/``audio_segment`` one is the case's media), e.g.::

        open_case(core, "acme", source="live_room", join_key=f"room:{room_id}",
                  title=f"room {room_id} alert", reasons=[{"trigger": "live_room", "basis": alert_text,
                  "room": room_id, "start_s": 812.0, "end_s": 816.0, "score": 0.91}],
                  evidence=[Evidence("audio_segment", path=flac_path, filename="segment.flac"),
                            Evidence("report", data=report_json_bytes, content_type="application/json",
                                     filename="report.json"),
                            Evidence("timeline", path=png_path, content_type="image/png")])
    """
    if isinstance(tenant, str):
        tenant = core.tenant_by_name(tenant)
    assert isinstance(tenant, Tenant)
    stored = [(ev, *_store_file(core, ev)) for ev in evidence if ev.path is not None or ev.data is not None]
    with core.db.write() as conn:
        return open_case_in(core, conn, tenant, source=source, evidence=evidence, reasons=reasons, priority=priority,
                            join_key=join_key, title=title, external_id=external_id, scan_id=scan_id, actor=actor,
                            stored=stored)


# ------------------------------------------------------------------------------------------ reports
def submit_report(core: Any, tenant_id: str, actor: Actor, *, reason: str, text: str = "",
                  reporter: str | None = None, scan_id: str | None = None, sha256: str | None = None,
                  external_id: str | None = None, url: str | None = None) -> tuple[UserReport, CaseRecord | None]:
    """A user's complaint (the public report channel): stored, and it opens or joins a case about
    the same content when the policy's ``open_cases.user_report`` is on."""
    if not any((scan_id, sha256, external_id, url)):
        raise ReviewError("a report names what it is about: scan_id, sha256, external_id or url",
                          code="validation_error", status=422)
    at = time.time()
    with core.db.write() as conn:
        tenant = core.stores.tenants.get(conn, tenant_id)
        assert tenant is not None
        policy = active_policy(conn, tenant_id)
        rr = policy.policy.report_reason(reason)
        if rr is None:
            codes = ", ".join(r.code for r in policy.policy.report_reasons)
            raise ReviewError(f"unknown report reason {reason!r}; this tenant's reasons: {codes}",
                              code="validation_error", status=422)
        scan = None
        if scan_id:
            scan = core.stores.scans.get(conn, tenant_id, scan_id)
            if scan is None:
                raise ReviewError("no such scan", code="not_found", status=404)
        elif sha256 or external_id:
            s = t.scans.c
            q = sa.select(t.scans.c.id).where(s.tenant_id == tenant_id)
            q = q.where(s.sha256 == sha256) if sha256 else q.where(s.external_id == external_id)
            row = conn.execute(q.order_by(s.id.desc()).limit(1)).first()
            scan = core.stores.scans.get(conn, tenant_id, row[0]) if row else None
        rid = new_id("rpt")
        values: dict[str, Any] = {"id": rid, "tenant_id": tenant_id, "case_id": None, "reason": reason, "text": text,
                  "reporter": reporter, "scan_id": scan.id if scan else None,
                  "sha256": (scan.sha256 if scan else None) or sha256, "external_id": external_id or
                  (scan.external_id if scan else None), "url": url, "status": "received", "outcome": None,
                  "actor": actor.id, "created_at": at, "handled_at": None}
        conn.execute(rt.user_reports.insert(), values)
        case = None
        trig = policy.policy.trigger("user_report")
        if trig is not None:
            sha = values["sha256"]
            key = (f"sha256:{sha}" if sha else f"ext:{values['external_id']}" if values["external_id"]
                   else f"url:{digest(url)}")
            reasons = [{"trigger": "user_report", "priority": trig.priority, "report_id": rid, "reason": reason,
                        "basis": f"user report: {rr.title}"}]
            case, _ = _open_or_join(core, conn, tenant, policy, source="report", reasons=reasons, join_key=key,
                                    actor=actor, scan=scan, sha256=values["sha256"], external_id=values["external_id"],
                                    title=(scan.filename if scan else "") or values["external_id"] or url or "")
            if scan is not None:
                _scan_evidence(core, conn, case, scan)
            case = _update(conn, case, report_count=case.report_count + 1)
            if case.state == "decided":  # already decided: the report gets that outcome (an appeal reopens it)
                done = {"status": "handled", "outcome": "no_action" if case.decision == "dismiss" else case.decision,
                        "handled_at": at}
            else:
                done = {"status": "in_review"}
            conn.execute(rt.user_reports.update().where(rt.user_reports.c.id == rid).values(case_id=case.id, **done))
            values.update(case_id=case.id, **done)
        rep = UserReport.from_row(values)
        record(core.stores.events, conn, Event("report.received", "report", rid, tenant_id, actor.id, actor.role,
                                               actor.source_ip, {"reason": reason, "case_id": case.id if case else None,
                                                                 "text_sha256": digest(text),
                                                                 "after": {"id": rid, "reason": reason, "text": text,
                                                                           "reporter": reporter, "case": case.id if case
                                                                           else None}}))
    return rep, case


# ------------------------------------------------------------------------------------------ lifecycle
def _load(core: Any, conn: Connection, tenant_id: str, case_id: str, expected_version: int | None) -> CaseRecord:
    rec = get_case(conn, tenant_id, case_id, lock=True)
    if rec is None:
        raise ReviewError("no such case", code="not_found", status=404)
    if expected_version is not None and expected_version != rec.version:
        raise ReviewError(f"the case changed since you loaded it (version {expected_version}, now {rec.version}); "
                          "reload it", code="stale_case")
    return rec


def assign(core: Any, tenant_id: str, case_id: str, actor: Actor, assignee: str | None = None,
           expected_version: int | None = None) -> CaseRecord:
    """Assign the case to ``assignee`` (an API key id of a reviewer or admin of the tenant; default
    the caller). Allowed while the case waits for a decision."""
    with core.db.write() as conn:
        rec = _load(core, conn, tenant_id, case_id, expected_version)
        if rec.state not in ("open", "assigned", "escalated", "appealed", "awaiting_second"):
            raise ReviewError(f"a {rec.state} case cannot be assigned", code="invalid_state")
        who = assignee or actor.id
        key = core.stores.keys.get(conn, tenant_id, who)
        if key is None or key.revoked_at is not None or key.role not in ("reviewer", "admin"):
            raise ReviewError("the assignee must be an active reviewer or admin key of this tenant",
                              code="validation_error", status=422)
        state = rec.state if rec.state == "awaiting_second" else "assigned"
        new = _update(conn, rec, assignee=who, state=state, assigned_at=time.time())
        _event(core, conn, "case.assigned", rec, new, actor, assignee=who)
    return new


def decide(core: Any, tenant_id: str, case_id: str, actor: Actor, *, action: str, reason_code: str, note: str = "",
           expected_version: int | None = None) -> tuple[CaseRecord, Decision]:
    """Decide the case: ``label``, ``restrict``, ``remove``, ``dismiss`` or ``escalate``, with a reason
    code the policy allows for that action. Under four-eyes (``remove`` by default) the first decision
    is a proposal and a second, different reviewer confirms it (the same action) or overrides it."""
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}", code="validation_error",
                          status=422)
    at = time.time()
    with core.db.write() as conn:
        rec = _load(core, conn, tenant_id, case_id, expected_version)
        if rec.state not in ("open", "assigned", "escalated", "appealed", "awaiting_second"):
            raise ReviewError(f"a {rec.state} case cannot be decided" + (" (appeal it to reopen it)" if rec.state ==
                              "decided" else ""), code="invalid_state")
        policy = active_policy(conn, tenant_id)
        reason = policy.policy.reason(reason_code)
        if reason is None:
            raise ReviewError(f"unknown reason code {reason_code!r}; codes: "
                              f"{', '.join(r.code for r in policy.policy.reason_codes)}", code="validation_error",
                              status=422)
        if action not in reason.actions:
            raise ReviewError(f"reason code {reason_code!r} does not justify {action!r} (it allows "
                              f"{', '.join(reason.actions)})", code="validation_error", status=422)
        if action == "label" and not policy.policy.actions.label.propagator:
            raise ReviewError("the policy has no provider code for labels: set actions.label.propagator",
                              code="policy_incomplete", status=422)
        tenant = core.stores.tenants.get(conn, tenant_id)
        decision_id = new_id("dec")
        pending = rec.pending
        confirming = False
        if pending is not None:
            if pending["actor"] == actor.id:
                raise ReviewError(f"four-eyes: the {pending['action']} you proposed needs a second reviewer",
                                  code="four_eyes_required")
            if pending["action"] == action:
                confirming = True
            else:  # the second reviewer overrides the proposal
                conn.execute(rt.case_decisions.update().where(rt.case_decisions.c.id == pending["decision_id"])
                             .values(status="overridden", second_actor=actor.id, confirmed_at=at))
        if confirming:
            assert pending is not None
            decision_id = pending["decision_id"]
            conn.execute(rt.case_decisions.update().where(rt.case_decisions.c.id == decision_id)
                         .values(status="final", second_actor=actor.id, confirmed_at=at))
            drow = conn.execute(sa.select(rt.case_decisions).where(rt.case_decisions.c.id == decision_id)).mappings().one()
            dec = Decision.from_row(drow)
        else:
            status = ("escalated" if action == "escalate" else
                      "proposed" if policy.policy.four_eyes(action) else "final")
            label_state = label_result = None
            if action == "label" and status == "final":
                la = policy.policy.actions.label
                label_state, label_result = "queued", _json({"propagator": la.propagator, "label": la.label,
                                                             "visible": la.visible})
            values = {"id": decision_id, "case_id": rec.id, "round": rec.round, "action": action,
                      "reason_code": reason_code, "note": note, "status": status, "actor": actor.id,
                      "actor_role": actor.role, "second_actor": None, "at": at, "confirmed_at": None,
                      "policy_version": policy.version, "label_state": label_state, "label_result": label_result}
            conn.execute(rt.case_decisions.insert(), values)
            dec = Decision.from_row(values)
        details: dict[str, Any] = {"decision_id": dec.id, "action": action, "reason_code": reason_code, "round": rec.round,
                   "decision_sha256": digest(dec.record()), "policy_version": policy.version}
        if dec.status == "proposed":
            new = _update(conn, rec, state="awaiting_second", pending={"decision_id": dec.id, "action": action,
                                                                        "reason_code": reason_code, "actor": actor.id,
                                                                        "at": at})
            _event(core, conn, "case.decision_proposed", rec, new, actor, tenant, **details)
            return new, dec
        if dec.status == "escalated":
            idx = max(0, PRIORITY_ORDER.index(rec.priority) - 1)
            prio = PRIORITY_ORDER[idx]
            new = _update(conn, rec, state="escalated", priority=prio, assignee=None, pending=None,
                          due_at=min(rec.due_at, at + policy.policy.sla_s(prio)))
            _event(core, conn, "case.escalated", rec, new, actor, tenant, **details)
            return new, dec
        final_state = "closed" if rec.round > 1 else "decided"
        if action == "label" and dec.label_state is None:  # a confirmed label proposal
            la = policy.policy.actions.label
            conn.execute(rt.case_decisions.update().where(rt.case_decisions.c.id == dec.id).values(
                label_state="queued", label_result=_json({"propagator": la.propagator, "label": la.label,
                                                          "visible": la.visible})))
        new = _update(conn, rec, state=final_state, decision=dec.action, reason_code=dec.reason_code, pending=None,
                      decided_at=at, first_decided_at=rec.first_decided_at or at,
                      closed_at=at if final_state == "closed" else None)
        if action == "label":
            core.stores.jobs.enqueue(conn, "case_label", dec.id, tenant_id, max_attempts=core.opts.max_attempts)
        outcome = "no_action" if dec.action == "dismiss" else dec.action
        conn.execute(rt.user_reports.update().where(rt.user_reports.c.case_id == rec.id).values(
            status="handled", outcome=outcome, handled_at=at))
        _event(core, conn, "case.decided", rec, new, actor, tenant, **details,
               **({"second_actor": actor.id} if confirming else {}))  # type: ignore[arg-type]
        if final_state == "closed":
            _event(core, conn, "case.closed", new, new, actor, tenant, webhook=False, why="re-decided after appeal")
        drow = conn.execute(sa.select(rt.case_decisions).where(rt.case_decisions.c.id == dec.id)).mappings().one()
        return new, Decision.from_row(drow)


def appeal(core: Any, tenant_id: str, case_id: str, actor: Actor, *, text: str, appellant: str | None = None,
           expected_version: int | None = None) -> tuple[CaseRecord, Appeal]:
    """Record an appeal against the decision: the case reopens (round 2, the appeal SLA), within the
    policy's appeal window."""
    at = time.time()
    with core.db.write() as conn:
        rec = _load(core, conn, tenant_id, case_id, expected_version)
        if rec.state != "decided":
            raise ReviewError(f"only a decided case can be appealed (this one is {rec.state}"
                              + (", and was re-decided already" if rec.round > 1 and rec.state == "closed" else "")
                              + ")", code="invalid_state")
        policy = active_policy(conn, tenant_id)
        window = policy.policy.appeals.window_days * 86400.0
        if rec.decided_at is not None and at - rec.decided_at > window:
            raise ReviewError(f"the appeal window of {policy.policy.appeals.window_days:g} days has ended",
                              code="appeal_window_closed")
        aid = new_id("apl")
        values = {"id": aid, "case_id": rec.id, "text": text, "appellant": appellant, "actor": actor.id, "at": at}
        conn.execute(rt.case_appeals.insert(), values)
        new = _update(conn, rec, state="appealed", round=rec.round + 1, appealed_at=at, assignee=None,
                      due_at=at + policy.policy.appeals.sla_hours * 3600.0, overdue_notified=False)
        conn.execute(rt.user_reports.update().where(rt.user_reports.c.case_id == rec.id).values(status="in_review"))
        _event(core, conn, "case.appealed", rec, new, actor, appeal_id=aid, text_sha256=digest(text))
    return new, Appeal.from_row(values)


def close(core: Any, tenant_id: str, case_id: str, actor: Actor, *, why: str = "closed",
          expected_version: int | None = None) -> CaseRecord:
    with core.db.write() as conn:
        rec = _load(core, conn, tenant_id, case_id, expected_version)
        if rec.state != "decided":
            raise ReviewError(f"only a decided case can be closed (this one is {rec.state})", code="invalid_state")
        new = _update(conn, rec, state="closed", closed_at=time.time())
        _event(core, conn, "case.closed", rec, new, actor, why=why)
    return new


def set_legal_hold(core: Any, tenant_id: str, case_id: str, actor: Actor, hold: bool,
                   reason: str | None) -> CaseRecord:
    """A legal hold keeps the case, its audit entries and every media file it refers to from any
    purge until it is released."""
    with core.db.write() as conn:
        rec = _load(core, conn, tenant_id, case_id, None)
        new = _update(conn, rec, legal_hold=hold, hold_reason=reason if hold else None)
        shas = {r[0] for r in conn.execute(sa.select(rt.case_evidence.c.sha256).where(
            rt.case_evidence.c.case_id == rec.id, rt.case_evidence.c.sha256.is_not(None)))}
        for sha in sorted(shas):
            if hold:
                core.stores.media.set_hold(conn, tenant_id, sha, True, f"legal hold on case {rec.id}: {reason or ''}"[:2000])
            elif not _held_elsewhere(conn, tenant_id, sha, rec.id):
                core.stores.media.set_hold(conn, tenant_id, sha, False, None)
        _event(core, conn, "case.hold_set" if hold else "case.hold_released", rec, new, actor, webhook=False,
               media=sorted(shas), reason=reason)
    return new


def _held_elsewhere(conn: Connection, tenant_id: str, sha256: str, case_id: str) -> bool:
    e, c = rt.case_evidence.c, rt.cases.c
    return conn.execute(sa.select(e.id).select_from(rt.case_evidence.join(rt.cases, e.case_id == c.id)).where(
        e.sha256 == sha256, c.tenant_id == tenant_id, c.legal_hold.is_(True), c.id != case_id).limit(1)).first() is not None


# ------------------------------------------------------------------------------------------ listing
@dataclass(frozen=True)
class CaseFilter:
    states: tuple[str, ...] = ()
    priority: str | None = None
    source: str | None = None
    trigger: str | None = None
    assignee: str | None = None
    unassigned: bool = False
    overdue: bool | None = None
    verdict: str | None = None
    kind: str | None = None
    scan_id: str | None = None
    external_id: str | None = None
    sha256: str | None = None


def list_cases(conn: Connection, tenant_id: str, flt: CaseFilter, *, sort: str = "due", limit: int = 50,
               after: tuple[float, str] | str | None = None, at: float | None = None) -> list[CaseRecord]:
    """Cases, ``sort="due"`` (most urgent first: due time, then id) or ``"newest"``; keyset
    pagination (``after``: the last row's (due_at, id), or its id for ``newest``)."""
    at = time.time() if at is None else at
    c = rt.cases.c
    q = sa.select(rt.cases).where(c.tenant_id == tenant_id)
    if flt.states:
        q = q.where(c.state.in_(list(flt.states)))
    if flt.priority:
        q = q.where(c.priority == flt.priority)
    if flt.source:
        q = q.where(c.source == flt.source)
    if flt.trigger:
        q = q.where(c.reasons.like(f'%"trigger": "{flt.trigger}"%'))
    if flt.assignee:
        q = q.where(c.assignee == flt.assignee)
    if flt.unassigned:
        q = q.where(c.assignee.is_(None))
    if flt.overdue is True:
        q = q.where(c.state.in_(ACTIVE_STATES), c.due_at < at)
    elif flt.overdue is False:
        q = q.where(sa.or_(c.state.not_in(ACTIVE_STATES), c.due_at >= at))
    if flt.verdict:
        q = q.where(c.verdict == flt.verdict)
    if flt.kind:
        q = q.where(c.kind == flt.kind)
    if flt.scan_id:
        q = q.where(c.scan_id == flt.scan_id)
    if flt.external_id:
        q = q.where(c.external_id == flt.external_id)
    if flt.sha256:
        q = q.where(c.sha256 == flt.sha256)
    if sort == "newest":
        if after is not None:
            q = q.where(c.id < str(after))
        q = q.order_by(c.id.desc())
    else:
        if after is not None:
            assert isinstance(after, tuple)
            due, last = after
            q = q.where(sa.or_(c.due_at > due, sa.and_(c.due_at == due, c.id > last)))
        q = q.order_by(c.due_at, c.id)
    return [CaseRecord.from_row(r) for r in conn.execute(q.limit(limit)).mappings()]


def case_detail(core: Any, conn: Connection, rec: CaseRecord, *, history_limit: int = 500) -> dict[str, Any]:
    """Everything about a case: evidence, decisions, appeals, reports, the scans' reports and history."""
    from ..audit import audit_of

    at = time.time()
    ev = [EvidenceRecord.from_row(r) for r in conn.execute(
        sa.select(rt.case_evidence).where(rt.case_evidence.c.case_id == rec.id).order_by(rt.case_evidence.c.added_at,
                                                                                            rt.case_evidence.c.id)).mappings()]
    decs = [Decision.from_row(r) for r in conn.execute(
        sa.select(rt.case_decisions).where(rt.case_decisions.c.case_id == rec.id).order_by(rt.case_decisions.c.at)).mappings()]
    apls = [Appeal.from_row(r) for r in conn.execute(
        sa.select(rt.case_appeals).where(rt.case_appeals.c.case_id == rec.id).order_by(rt.case_appeals.c.at)).mappings()]
    reps = [UserReport.from_row(r) for r in conn.execute(
        sa.select(rt.user_reports).where(rt.user_reports.c.case_id == rec.id).order_by(rt.user_reports.c.id)).mappings()]
    scans = {}
    for e in ev:
        if e.scan_id and e.scan_id not in scans:
            s = core.stores.scans.get(conn, rec.tenant_id, e.scan_id)
            if s is not None:
                scans[s.id] = s
    media: dict[str, Any] = {}
    for e in ev:
        if e.sha256 and e.sha256 not in media:
            m = core.stores.media.get(conn, rec.tenant_id, e.sha256)
            media[e.sha256] = m
    related = [rec.id] + [d.id for d in decs] + [r.id for r in reps] + list(scans)
    history = audit_of(core).entries(conn, rec.tenant_id, object_ids=related, limit=history_limit, ascending=True)
    return {"case": rec, "resource": case_resource(rec, at), "evidence": ev, "decisions": decs, "appeals": apls,
            "reports": reps, "scans": scans, "media": media, "history": history}


def case_media_path(core: Any, conn: Connection, tenant_id: str, case_id: str, evidence_id: str) -> tuple[
        EvidenceRecord, Path | None]:
    """The evidence row and its stored file (None when the file was purged or never stored)."""
    e = rt.case_evidence.c
    row = conn.execute(sa.select(rt.case_evidence).select_from(
        rt.case_evidence.join(rt.cases, e.case_id == rt.cases.c.id)).where(
        e.id == evidence_id, e.case_id == case_id, rt.cases.c.tenant_id == tenant_id)).mappings().first()
    if row is None:
        raise ReviewError("no such evidence", code="not_found", status=404)
    ev = EvidenceRecord.from_row(row)
    if not ev.sha256:
        return ev, None
    m = core.stores.media.get(conn, tenant_id, ev.sha256)
    path = core.blobs.path(ev.sha256)
    if m is None or m.purged_at is not None or not path.is_file():
        return ev, None
    return ev, path


# ------------------------------------------------------------------------------------------ figures
def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear-interpolated percentile (``p`` in 0..100); None for no values."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def stats(conn: Connection, tenant_id: str, *, days: float = 30.0, at: float | None = None) -> dict[str, Any]:
    """The dashboard's figures: cases by state and priority, opened per day, verdict and trigger
    mix, decisions by action, review latency (open to first decision) p50/p95, overdue cases, SLA
    met rate, user reports and their handling time (median)."""
    at = time.time() if at is None else at
    since = at - days * 86400.0
    c = rt.cases.c
    by_state = {r[0]: int(r[1]) for r in conn.execute(sa.select(c.state, sa.func.count()).where(
        c.tenant_id == tenant_id).group_by(c.state))}
    by_priority = {r[0]: int(r[1]) for r in conn.execute(sa.select(c.priority, sa.func.count()).where(
        c.tenant_id == tenant_id, c.state.in_(ACTIVE_STATES)).group_by(c.priority))}
    overdue = int(conn.execute(sa.select(sa.func.count()).select_from(rt.cases).where(
        c.tenant_id == tenant_id, c.state.in_(ACTIVE_STATES), c.due_at < at)).scalar_one())
    verdicts = {str(r[0]): int(r[1]) for r in conn.execute(sa.select(c.verdict, sa.func.count()).where(
        c.tenant_id == tenant_id, c.opened_at >= since).group_by(c.verdict))}
    s = t.scans.c
    scan_verdicts = {str(r[0]): int(r[1]) for r in conn.execute(sa.select(s.verdict, sa.func.count()).where(
        s.tenant_id == tenant_id, s.created_at >= since, s.status == "done").group_by(s.verdict))}
    rows = conn.execute(sa.select(c.opened_at, c.first_decided_at, c.decided_at, c.due_at, c.source, c.reasons).where(
        c.tenant_id == tenant_id, c.opened_at >= since)).all()
    latency = [r.first_decided_at - r.opened_at for r in rows if r.first_decided_at is not None]
    met = sum(1 for r in rows if r.first_decided_at is not None and r.first_decided_at <= r.due_at)
    per_day: dict[str, int] = {}
    triggers: dict[str, int] = {}
    sources: dict[str, int] = {}
    for r in rows:
        day = time.strftime("%Y-%m-%d", time.gmtime(r.opened_at))
        per_day[day] = per_day.get(day, 0) + 1
        sources[r.source] = sources.get(r.source, 0) + 1
        for reason in json.loads(r.reasons or "[]"):
            name = str(reason.get("trigger"))
            triggers[name] = triggers.get(name, 0) + 1
    d = rt.case_decisions.c
    actions = {r[0]: int(r[1]) for r in conn.execute(sa.select(d.action, sa.func.count()).select_from(
        rt.case_decisions.join(rt.cases, d.case_id == c.id)).where(
        c.tenant_id == tenant_id, d.at >= since, d.status.in_(["final", "escalated"])).group_by(d.action))}
    u = rt.user_reports.c
    rep_rows = conn.execute(sa.select(u.created_at, u.handled_at).where(u.tenant_id == tenant_id,
                                                                       u.created_at >= since)).all()
    handling = [r.handled_at - r.created_at for r in rep_rows if r.handled_at is not None]
    return {"days": days, "cases": {"by_state": by_state, "active_by_priority": by_priority, "overdue": overdue,
                                    "opened": len(rows), "opened_per_day": dict(sorted(per_day.items())),
                                    "by_trigger": triggers, "by_source": sources, "verdicts": verdicts},
            "scans": {"verdicts": scan_verdicts},
            "decisions": {"by_action": actions},
            "review_latency_s": {"n": len(latency), "p50": percentile(latency, 50), "p95": percentile(latency, 95)},
            "sla": {"decided": len(latency), "met": met, "met_rate": (met / len(latency)) if latency else None},
            "reports": {"received": len(rep_rows), "handled": len(handling),
                        "median_handling_s": percentile(handling, 50)}}


def decided_outcomes(actions: Sequence[str]) -> list[str]:
    return [a for a in actions if a in FINAL_ACTIONS]
