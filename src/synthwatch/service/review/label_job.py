"""The ``label`` action, run by a worker (job kind ``case_label``, ref = the decision id).

It writes the platform's propagator label (and, when the policy says so, the explicit notice) into a
copy of the case's media through the library call behind ``synthwatch label apply``
(:func:`synthwatch.provenance.workflow.label_copy`), inside a provenance scope built from the
service's settings (isolated-worker limits, C2PA trust anchors, Art. 6 rule table), stores the copy
in the media store, reads its label back from the stored bytes and records what was written on the
decision: ``label_state`` ``written`` (with the labelled copy's sha256 and the reading) or
``failed`` (with the typed error). Both outcomes are audited and sent as signed webhooks
(``case.label_written`` / ``case.label_failed``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import sqlalchemy as sa

from ...errors import SynthwatchError
from ..events import record
from ..storage import review_tables as rt
from ..storage.interfaces import Event, Job
from ..webhooks import enqueue as enqueue_webhook
from .records import CaseRecord, Decision, case_resource

__all__ = ["KIND", "run_label_job", "write_label"]

log = logging.getLogger("synthwatch.service.review")

KIND = "case_label"


def _scope(core: Any) -> Any:
    from ...provenance.decision import load_rules
    from ...provenance.scope import ProvenanceScope

    s = core.core
    rules = load_rules(s.provenance_rules) if s.provenance_rules is not None else None
    return ProvenanceScope(limits=s.limits, trust_anchors=s.c2pa_trust_anchors_pem(),
                           shipped_trust=s.c2pa_shipped_trust, rules=rules)


def _auto_label(core: Any, conn: Any, case: CaseRecord) -> str:
    if case.scan_id:
        scan = core.stores.scans.get(conn, case.tenant_id, case.scan_id)
        if scan is not None and scan.report:
            try:
                decided = ((json.loads(scan.report).get("provenance") or {}).get("decision") or {}).get("label")
            except ValueError:
                decided = None
            if decided in ("1", "2", "3"):
                return str(decided)
    return "3"


def write_label(core: Any, case: CaseRecord, params: dict[str, Any], label: str) -> dict[str, Any]:
    """Write the labelled copy of the case's media and read it back; what was written (raises the
    library's typed errors)."""
    from ...media.sniff import sniff, suffix_for
    from ...provenance.aigc_label import read_labels
    from ...provenance.scope import use
    from ...provenance.workflow import describe_explicit, label_copy

    if not case.sha256:
        raise SynthwatchError("the case has no stored media to label")
    src = core.blobs.path(case.sha256)
    if not src.is_file():
        raise SynthwatchError("the case's media was deleted by retention; it cannot be labelled")
    fmt = sniff(src).format
    tmp = core.blobs.tmp_dir / f"label-{case.id}-{time.time_ns()}{suffix_for(fmt)}"
    try:
        with use(_scope(core)):
            done = label_copy(src, tmp, propagator=params["propagator"], label=label, visible=bool(params["visible"]))
        with core.blobs.writing(int(core.opts.max_upload_bytes)) as w:
            with open(tmp, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    w.write(chunk)
            size = w.size
            sha = core.blobs.commit(w)
    finally:
        tmp.unlink(missing_ok=True)
    stored = core.blobs.path(sha)
    readings = read_labels(stored)  # read back from the stored bytes, not from the temporary copy
    if len(readings) != 1:
        raise SynthwatchError(f"read-back found {len(readings)} labels in the labelled copy (one expected)")
    fields = readings[0].label.fields()
    if fields.get("ContentPropagator") != params["propagator"] or readings[0].label.label != label:
        raise SynthwatchError("read-back: the labelled copy does not carry this platform's label")
    return {"sha256": sha, "size": size, "format": fmt, "mime": sniff(stored).mime, "label": label,
            "propagator": params["propagator"], "carrier": readings[0].carrier, "fields": fields,
            "valid": readings[0].valid, "visible": done.visible,
            "visible_description": describe_explicit(done.visible) if done.visible else None}


def run_label_job(core: Any, job: Job, owner: str) -> bool:
    """Run one leased ``case_label`` job; returns whether its outcome was committed."""
    with core.db.read() as conn:
        drow = conn.execute(sa.select(rt.case_decisions).where(rt.case_decisions.c.id == job.ref)).mappings().first()
        dec = Decision.from_row(drow) if drow else None
        crow = (conn.execute(sa.select(rt.cases).where(rt.cases.c.id == dec.case_id)).mappings().first()
                if dec else None)
        case = CaseRecord.from_row(crow) if crow else None
        label = _auto_label(core, conn, case) if case else "3"
    if dec is None or case is None or dec.label_state != "queued":
        with core.db.write() as conn:
            return bool(core.stores.jobs.complete(conn, job.id, owner))
    params = dict(dec.label_result or {})
    if params.get("label") in ("1", "2", "3"):
        label = str(params["label"])
    try:
        result: dict[str, Any] = {**params, **write_label(core, case, params, label)}
        state, action = "written", "case.label_written"
    except SynthwatchError as exc:
        log.warning("label for case %s failed: %s", case.id, exc)
        result = {**params, "error": {"code": exc.code, "message": str(exc)[:2000]}}
        state, action = "failed", "case.label_failed"
    with core.db.write() as conn:
        if not core.stores.jobs.complete(conn, job.id, owner):
            return False
        conn.execute(rt.case_decisions.update().where(rt.case_decisions.c.id == dec.id).values(
            label_state=state, label_result=json.dumps(result, sort_keys=True, ensure_ascii=False)))
        if state == "written":
            from ...media.sniff import suffix_for
            from .cases import _add_evidence

            core.stores.media.upsert(conn, case.tenant_id, result["sha256"], result["size"],
                                     f"labelled-{case.sha256}", float(core.opts.case_retention_days) * 86400.0)
            _add_evidence(conn, case.id, "labelled_copy", sha256=result["sha256"], content_type=result["mime"],
                          filename=f"labelled{suffix_for(result['format'])}", size=result["size"],
                          meta={"decision_id": dec.id, "label": result["label"], "propagator": result["propagator"],
                                "carrier": result["carrier"]})
        details = {"decision_id": dec.id, "state": state,
                   **({"sha256": result["sha256"], "label": result["label"], "carrier": result["carrier"],
                       "propagator": result["propagator"], "visible": bool(result.get("visible"))}
                      if state == "written" else {"error": result["error"]})}
        record(core.stores.events, conn, Event(action, "case", case.id, case.tenant_id, f"worker:{owner}",
                                               details={**details, "after": result}))
        tenant = core.stores.tenants.get(conn, case.tenant_id)
        url = tenant.settings.get("callback_url") if tenant else None
        if tenant is not None and url:
            enqueue_webhook(core.stores.webhooks, conn, tenant_id=tenant.id, tenant_name=tenant.name, event=action,
                            object_id=case.id, url=url, data={**case_resource(case, time.time()), **details},
                            max_attempts=core.opts.webhook_max_attempts)
    return True
