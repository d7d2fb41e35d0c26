"""Assessments in the store: create, re-collect, record remediations, finalise (issue 16).

An assessment is created from the platform's declared facts (``synthwatch.assessment/1``) and the
rules in force; its evidence is collected from this database (never typed in) and evaluated. Every
criterion that fails becomes a *finding*. A finding is ``open`` while the latest evaluation fails
it; a remediation record (what was done, by whom, the evidence after the fix) makes it
``awaiting_check`` until the evidence is collected again; it is ``resolved`` once a re-collection no
longer fails it *and* a remediation is recorded (``awaiting_record`` when the evidence passes but
nobody recorded what was done). The report cannot be finalised while any finding is not resolved
(the 2018 Provisions: risks found are fixed before the report is written), nor on evidence older
than the rules' ``max_evidence_age_days``.

Finalising renders the report (JSON and HTML), signs both with the service's Ed25519 audit key
(detached signatures), stores them unchanged and writes their sha256 into the audit log.
Every change is an audited event (``assessment.*``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ...assess import collect as collect_mod
from ...assess.model import AssessmentSpec, Evidence, ItemResult, evaluate, parse_spec
from ...assess.model import declared_evidence as _declared
from ...assess.rules import Rules, parse_rules
from ...errors import ConfigError, SynthwatchError
from ..events import record
from ..ids import new_id
from ..storage.assessment_tables import assessments as at
from ..storage.interfaces import Event
from .source import SqlEvidenceSource

__all__ = ["AssessmentError", "AssessmentRecord", "Actor", "create", "collect", "update_spec", "remediate",
           "finalise", "get", "list_assessments", "report_document", "report_files", "FINDING_STATES"]

FINDING_STATES = ("open", "awaiting_check", "awaiting_record", "resolved")
MAX_TEXT = 4000


class AssessmentError(SynthwatchError):
    """An assessment operation its state does not allow (``status``: the HTTP status)."""

    code = "conflict"

    def __init__(self, message: str, *, code: str = "conflict", status: int = 409,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.details = details or {}


@dataclass(frozen=True)
class Actor:
    id: str = "cli"
    role: str | None = None
    source_ip: str | None = None


@dataclass
class AssessmentRecord:
    id: str
    tenant_id: str
    state: str
    spec: AssessmentSpec
    spec_doc: dict[str, Any]
    rules: Rules
    evidence: dict[str, Evidence]
    results: list[ItemResult]
    findings: list[dict[str, Any]]
    window: tuple[float, float] | None
    collected_at: float | None
    collections: int
    created_at: float
    created_by: str
    updated_at: float
    finalised_at: float | None
    finalised_by: str | None
    report_json: str | None
    report_html: str | None
    report_sha256: str | None
    html_sha256: str | None
    signature: dict[str, Any] | None
    version: int

    @property
    def open_findings(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["status"] != "resolved"]

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        return {"id": self.id, "object": "assessment", "state": self.state,
                "function": {"name": self.spec.function_name.to_dict(), "kind": self.spec.function_kind},
                "triggers": list(self.spec.triggers),
                "rules": {"name": self.rules.name, "version": self.rules.version, "sha256": self.rules.sha256},
                "window": {"since": self.window[0], "until": self.window[1]} if self.window else None,
                "collected_at": self.collected_at, "collections": self.collections,
                "items": {r.id: r.status for r in self.results}, "items_by_status": counts,
                "findings": {"total": len(self.findings), "open": len(self.open_findings)},
                "created_at": self.created_at, "created_by": self.created_by, "updated_at": self.updated_at,
                "finalised_at": self.finalised_at, "finalised_by": self.finalised_by,
                "report_sha256": self.report_sha256, "html_sha256": self.html_sha256}

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "spec": self.spec_doc, "results": [r.to_dict() for r in self.results],
                "finding_list": self.findings, "evidence": {k: v.to_dict() for k, v in self.evidence.items()},
                "signature": self.signature}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, allow_nan=False, default=str)


def _from_row(row: Any) -> AssessmentRecord:
    rules = parse_rules(row.rules_text, row.rules_name)
    spec_doc = json.loads(row.spec)
    spec = parse_spec(spec_doc, rules)
    evidence = {k: Evidence.from_dict(v) for k, v in json.loads(row.evidence or "{}").items()}
    results = [ItemResult.from_dict(r) for r in json.loads(row.results or "[]")]
    window = (float(row.window_since), float(row.window_until)) if row.window_since is not None else None
    return AssessmentRecord(row.id, row.tenant_id, row.state, spec, spec_doc, rules, evidence, results,
                            json.loads(row.findings or "[]"), window, row.collected_at, int(row.collections),
                            row.created_at, row.created_by, row.updated_at, row.finalised_at, row.finalised_by,
                            row.report_json, row.report_html, row.report_sha256, row.html_sha256,
                            json.loads(row.signature) if row.signature else None, int(row.version))


def get(core: Any, tenant_id: str, assessment_id: str) -> AssessmentRecord:
    with core.db.read() as conn:
        row = conn.execute(sa.select(at).where(at.c.id == assessment_id, at.c.tenant_id == tenant_id)).first()
    if row is None:
        raise AssessmentError("no such assessment", code="not_found", status=404)
    return _from_row(row)


def list_assessments(core: Any, tenant_id: str, *, limit: int = 50, before: str | None = None) -> list[AssessmentRecord]:
    q = sa.select(at).where(at.c.tenant_id == tenant_id)
    if before:
        q = q.where(at.c.id < before)
    with core.db.read() as conn:
        rows = conn.execute(q.order_by(at.c.id.desc()).limit(limit)).all()
    return [_from_row(r) for r in rows]


def _event(core: Any, conn: Any, action: str, rec_id: str, tenant_id: str, actor: Actor, **details: Any) -> None:
    record(core.stores.events, conn, Event(action, "assessment", rec_id, tenant_id, actor.id, actor.role,
                                           actor.source_ip, details))


# ------------------------------------------------------------------------------------------ findings
def _update_findings(findings: list[dict[str, Any]], results: list[ItemResult], at_ts: float) -> list[dict[str, Any]]:
    """Findings after an evaluation (see the module doc); a failing criterion without a live
    finding opens a new one."""
    out = [dict(f) for f in findings]
    live = {f["criterion"]: f for f in out if f["status"] != "resolved"}
    n = len(out)
    for item in results:
        for c in item.criteria:
            f = live.get(c.id)
            fails = c.status == "fail"
            if f is None:
                if fails:
                    n += 1
                    f = {"id": f"F{n}", "criterion": c.id, "item": item.id, "basis": c.basis, "found_at": at_ts,
                         "found_value": c.value, "found_reason": c.reason.to_dict() if c.reason else None,
                         "status": "open", "current_status": c.status, "current_value": c.value,
                         "remediations": [], "resolved_at": None}
                    out.append(f)
                    live[c.id] = f
                continue
            f["current_status"], f["current_value"] = c.status, c.value
            if fails:
                f["status"] = "open"
            elif f["remediations"]:
                f["status"], f["resolved_at"] = "resolved", at_ts
            else:
                f["status"] = "awaiting_record"
    return out


# ------------------------------------------------------------------------------------------ operations
def _load_rules(rules: Rules | str | None) -> Rules:
    from ...assess.rules import default_rules

    if rules is None:
        return default_rules()
    if isinstance(rules, str):
        return parse_rules(rules, "rules")
    return rules


def _collect(core: Any, tenant_id: str, rules: Rules, spec: AssessmentSpec, until: float | None,
             progress: Callable[[str, int, int], None] | None) -> tuple[dict[str, Evidence], list[ItemResult], float,
                                                                         float, float]:
    source = SqlEvidenceSource(core, tenant_id)
    t = time.time()
    until = t if until is None else until
    since = until - (spec.window_days or rules.window_days) * 86400.0
    measured = collect_mod.collect(source, rules, spec, until=until, since=since, progress=progress)
    evidence = {**measured, **_declared(spec)}
    return evidence, evaluate(rules, spec, evidence), since, until, t


def create(core: Any, tenant_id: str, spec_doc: Any, actor: Actor, *, rules: Rules | str | None = None,
           until: float | None = None, progress: Callable[[str, int, int], None] | None = None) -> AssessmentRecord:
    """A new draft assessment, with its evidence collected and evaluated."""
    r = _load_rules(rules)
    spec = parse_spec(spec_doc, r)
    doc = spec.to_dict()
    evidence, results, since, until_, t = _collect(core, tenant_id, r, spec, until, progress)
    findings = _update_findings([], results, t)
    aid = new_id("asm")
    with core.db.write() as conn:
        conn.execute(at.insert().values(
            id=aid, tenant_id=tenant_id, state="draft", function_kind=spec.function_kind,
            title=spec.function_name.en[:300], triggers=",".join(spec.triggers)[:200], spec=_dumps(doc),
            rules_name=r.name[:200], rules_version=r.version, rules_sha256=r.sha256, rules_text=r.text,
            evidence=_dumps({k: v.to_dict() for k, v in evidence.items()}),
            results=_dumps([x.to_dict() for x in results]), findings=_dumps(findings), window_since=since,
            window_until=until_, collected_at=t, collections=1, created_at=t, created_by=actor.id[:80],
            updated_at=t, version=1))
        _event(core, conn, "assessment.created", aid, tenant_id, actor, rules_version=r.version,
               rules_sha256=r.sha256, function_kind=spec.function_kind, triggers=list(spec.triggers),
               findings=len(findings))
    return get(core, tenant_id, aid)


def _save(core: Any, rec: AssessmentRecord, values: dict[str, Any], action: str, actor: Actor,
          **details: Any) -> AssessmentRecord:
    with core.db.write() as conn:
        done = conn.execute(at.update().where(at.c.id == rec.id, at.c.version == rec.version).values(
            **values, updated_at=time.time(), version=rec.version + 1)).rowcount
        if done != 1:
            raise AssessmentError("the assessment changed meanwhile; read it again", code="conflict")
        _event(core, conn, action, rec.id, rec.tenant_id, actor, **details)
    return get(core, rec.tenant_id, rec.id)


def _draft(core: Any, tenant_id: str, assessment_id: str) -> AssessmentRecord:
    rec = get(core, tenant_id, assessment_id)
    if rec.state != "draft":
        raise AssessmentError(f"the assessment is {rec.state}; start a new one to change it", code="finalised")
    return rec


def collect(core: Any, tenant_id: str, assessment_id: str, actor: Actor, *, until: float | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> AssessmentRecord:
    """Collect the evidence again (a new window ending now) and re-evaluate; findings move on."""
    rec = _draft(core, tenant_id, assessment_id)
    evidence, results, since, until_, t = _collect(core, tenant_id, rec.rules, rec.spec, until, progress)
    findings = _update_findings(rec.findings, results, t)
    return _save(core, rec, {"evidence": _dumps({k: v.to_dict() for k, v in evidence.items()}),
                             "results": _dumps([x.to_dict() for x in results]), "findings": _dumps(findings),
                             "window_since": since, "window_until": until_, "collected_at": t,
                             "collections": rec.collections + 1}, "assessment.collected", actor,
                 findings={s: sum(1 for f in findings if f["status"] == s) for s in FINDING_STATES})


def update_spec(core: Any, tenant_id: str, assessment_id: str, spec_doc: Any, actor: Actor) -> AssessmentRecord:
    """Replace the declared facts (a draft only); the evaluation is re-run on the evidence held
    (declared criteria change at once; collect again for new measurements)."""
    rec = _draft(core, tenant_id, assessment_id)
    spec = parse_spec(spec_doc, rec.rules)
    measured = {k: v for k, v in rec.evidence.items() if v.kind == "measured"}
    evidence = {**measured, **_declared(spec)}
    results = evaluate(rec.rules, spec, evidence)
    findings = _update_findings(rec.findings, results, time.time())
    return _save(core, rec, {"spec": _dumps(spec.to_dict()), "function_kind": spec.function_kind,
                             "title": spec.function_name.en[:300], "triggers": ",".join(spec.triggers)[:200],
                             "evidence": _dumps({k: v.to_dict() for k, v in evidence.items()}),
                             "results": _dumps([x.to_dict() for x in results]), "findings": _dumps(findings)},
                 "assessment.spec_updated", actor, spec_sha256=hashlib.sha256(_dumps(spec.to_dict()).encode()).hexdigest())


def _text(v: Any, name: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"remediation {name}: a non-empty text is required")
    if len(v) > limit:
        raise ConfigError(f"remediation {name}: at most {limit} characters")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"remediation {name}: not valid Unicode text (a lone surrogate)") from None
    if "\x00" in v:
        raise ConfigError(f"remediation {name}: a NUL character is not allowed")
    return v.strip()


def remediate(core: Any, tenant_id: str, assessment_id: str, finding_id: str, actor: Actor, *, what: str,
              by: str, evidence_after: str) -> AssessmentRecord:
    """Record what was done about a finding, by whom, and the evidence after the fix."""
    rec = _draft(core, tenant_id, assessment_id)
    findings = [dict(f) for f in rec.findings]
    f = next((x for x in findings if x["id"] == finding_id), None)
    if f is None:
        raise AssessmentError("no such finding", code="not_found", status=404)
    if f["status"] == "resolved":
        raise AssessmentError(f"finding {finding_id} is already resolved", code="resolved")
    entry = {"what": _text(what, "what"), "by": _text(by, "by", 200), "evidence_after": _text(evidence_after,
                                                                                              "evidence_after"),
             "at": time.time(), "recorded_by": actor.id}
    f["remediations"] = [*f["remediations"], entry]
    if f["current_status"] == "fail":
        f["status"] = "awaiting_check"
    else:
        f["status"], f["resolved_at"] = "resolved", entry["at"]
    return _save(core, rec, {"findings": _dumps(findings)}, "assessment.remediation_recorded", actor,
                 finding=finding_id, criterion=f["criterion"], status=f["status"])


def report_document(core: Any, rec: AssessmentRecord, *, final: dict[str, Any] | None = None) -> dict[str, Any]:
    from ...assess.report import build_report

    with core.db.read() as conn:
        tenant = core.stores.tenants.get(conn, rec.tenant_id)
    return build_report(rules=rec.rules, spec=rec.spec, evidence=rec.evidence, results=rec.results,
                        findings=rec.findings, meta={"id": rec.id, "tenant": {"id": rec.tenant_id,
                                                                             "name": tenant.name if tenant else ""},
                                                     "state": rec.state, "window": rec.window,
                                                     "collected_at": rec.collected_at, "created_at": rec.created_at,
                                                     "collections": rec.collections, **(final or {})})


def report_files(core: Any, rec: AssessmentRecord, *, pdf: bool = False) -> dict[str, bytes]:
    """The report as files: ``report.json``, ``report.html`` and (``pdf``) ``report.pdf``: the
    stored, signed bytes of a finalised assessment with their ``.sig`` files; a freshly rendered
    draft otherwise."""
    from ...assess.report import dump_json, render_html

    if rec.state == "finalised" and rec.report_json is not None and rec.report_html is not None:
        files = {"report.json": rec.report_json.encode("utf-8"), "report.html": rec.report_html.encode("utf-8")}
        with core.db.read() as conn:
            stored_pdf = conn.execute(sa.select(at.c.report_pdf).where(at.c.id == rec.id)).scalar()
        if stored_pdf is not None:
            files["report.pdf"] = bytes(stored_pdf)
        elif pdf:
            raise AssessmentError("this report was finalised without a PDF (WeasyPrint was not installed)",
                                  code="no_pdf", status=404)
        for name in list(files):
            if rec.signature and name in rec.signature:
                files[f"{name}.sig"] = (json.dumps(rec.signature[name], indent=2, sort_keys=True) + "\n").encode()
        return files
    doc = report_document(core, rec)
    html = render_html(doc)
    files = {"report.json": dump_json(doc), "report.html": html.encode("utf-8")}
    if pdf:
        from ...assess.pdf import render_pdf

        files["report.pdf"] = render_pdf(html)
    return files


def finalise(core: Any, tenant_id: str, assessment_id: str, actor: Actor, *, by: str,
             pdf: bool = True) -> AssessmentRecord:
    """Finalise: refused while a finding is not resolved or the evidence is stale; else render,
    sign, store and audit the report (and its PDF when ``pdf`` and WeasyPrint is installed)."""
    from ...assess.pdf import pdf_available, render_pdf
    from ...assess.report import dump_json, render_html
    from ..audit import audit_of

    rec = _draft(core, tenant_id, assessment_id)
    by = _text(by, "finalised_by", 200)
    if rec.open_findings:
        raise AssessmentError(
            f"{len(rec.open_findings)} finding(s) are not resolved: "
            + ", ".join(f"{f['id']} {f['criterion']} ({f['status']})" for f in rec.open_findings[:20])
            + "; risks must be fixed before the report is finalised", code="open_findings",
            details={"open_findings": [{k: f[k] for k in ("id", "criterion", "status")} for f in rec.open_findings]})
    age_days = (time.time() - (rec.collected_at or 0.0)) / 86400.0
    if age_days > rec.rules.max_evidence_age_days:
        raise AssessmentError(f"the evidence was collected {age_days:.1f} days ago (at most "
                              f"{rec.rules.max_evidence_age_days:g}); collect it again first", code="stale_evidence")
    t = time.time()
    log = audit_of(core)
    doc = report_document(core, rec, final={"state": "finalised", "finalised_at": t, "finalised_by": by,
                                            "signing_key": log.signer.key_id()})
    data = dump_json(doc)
    html_text = render_html(doc)
    html = html_text.encode("utf-8")
    blobs = [("report.json", data), ("report.html", html)]
    printed: bytes | None = None
    if pdf and pdf_available():
        printed = render_pdf(html_text)
        blobs.append(("report.pdf", printed))
    signature: dict[str, Any] = {}
    for name, blob in blobs:
        signature[name] = {"format": "synthwatch.assessment-signature/1", "assessment": rec.id, "file": name,
                           "sha256": hashlib.sha256(blob).hexdigest(), "key_id": log.signer.key_id(),
                           "algorithm": "Ed25519", "signature": log.signer.sign(blob),
                           "public_key_pem": log.signer.public_pem()}
    return _save(core, rec, {"state": "finalised", "finalised_at": t, "finalised_by": by[:80],
                             "report_json": data.decode("utf-8"), "report_html": html.decode("utf-8"),
                             "report_sha256": signature["report.json"]["sha256"],
                             "html_sha256": signature["report.html"]["sha256"], "signature": _dumps(signature),
                             "report_pdf": printed,
                             "key_id": log.signer.key_id()},
                 "assessment.finalised", actor, report_sha256=signature["report.json"]["sha256"],
                 html_sha256=signature["report.html"]["sha256"],
                 pdf_sha256=signature["report.pdf"]["sha256"] if printed is not None else None, key_id=log.signer.key_id(),
                 rules_version=rec.rules.version, finalised_by=by)


def verify_signature(blob: bytes, sig: dict[str, Any], *, public_key_pem: str | bytes | None = None) -> list[str]:
    """Problems with ``blob`` against its detached signature document (empty: it verifies)."""
    from ..audit.log import load_public_pem

    problems: list[str] = []
    if hashlib.sha256(blob).hexdigest() != sig.get("sha256"):
        problems.append("the file's sha256 differs from the signed one")
    try:
        kid, key = load_public_pem(public_key_pem if public_key_pem is not None else str(sig.get("public_key_pem")))
    except (ConfigError, ValueError) as exc:
        return [*problems, f"the public key cannot be read: {exc}"]
    if kid != sig.get("key_id"):
        problems.append("the signature names another key than the one given")
    try:
        key.verify(base64.b64decode(str(sig.get("signature")), validate=True), blob)
    except Exception:  # noqa: BLE001  (InvalidSignature, or a malformed signature)
        problems.append("the Ed25519 signature does not verify")
    return problems
