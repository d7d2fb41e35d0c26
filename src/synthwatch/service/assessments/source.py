"""The evidence source over the service's database: what the collectors of
:mod:`synthwatch.assess.collect` may read about one tenant.

Every method runs one SQLAlchemy Core statement scoped to the tenant and returns
:class:`~synthwatch.assess.sources.Rows` with the statement as it ran (SQL with its parameters
inlined, so an official can run it again on a copy of the database) and the tables it read.

Live audio rooms are read from the rooms' tables (``room_streams``, ``room_alerts``: ended speaker
streams and their alerts); detector quality from the ``synthwatch eval`` runs imported with
``synthwatch assess import-eval`` (``assessment_eval_runs``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...assess.sources import EvalRunRecord, ExportDrill, Rows
from ..storage import assessment_tables, room_tables
from ..storage import review_tables as rt
from ..storage import schema as st

__all__ = ["SqlEvidenceSource"]


def _sql(conn: Connection, stmt: Any) -> str:
    try:
        text = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    except Exception:  # noqa: BLE001  (a type without a literal renderer: show the parametrised form)
        text = str(stmt.compile(dialect=conn.dialect))
    return " ".join(text.split())


class SqlEvidenceSource:
    """:class:`~synthwatch.assess.sources.EvidenceSource` over ``core``'s database for one tenant."""

    def __init__(self, core: Any, tenant_id: str) -> None:
        self.core = core
        self.tenant_id = tenant_id

    def _rows(self, stmt: Any, tables: tuple[str, ...], fix: Any = None) -> Rows:
        with self.core.db.read() as conn:
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
            query = _sql(conn, stmt)
        if fix is not None:
            rows = [fix(r) for r in rows]
        return Rows(rows, query, tables)

    # ------------------------------------------------------------------ tenant
    def tenant(self) -> dict[str, Any]:
        with self.core.db.read() as conn:
            t = self.core.stores.tenants.get(conn, self.tenant_id)
        if t is None:
            raise LookupError(self.tenant_id)
        return {"id": t.id, "name": t.name, "created_at": t.created_at, "settings": dict(t.settings)}

    # ------------------------------------------------------------------ cases and decisions
    def cases(self, since: float, until: float) -> Rows:
        c = rt.cases.c
        stmt = (sa.select(c.id, c.source, c.state, c.opened_at, c.first_decided_at, c.decided_at, c.due_at,
                          c.decision, c.reasons)
                .where(c.tenant_id == self.tenant_id, c.opened_at >= since, c.opened_at < until).order_by(c.id))

        def fix(r: dict[str, Any]) -> dict[str, Any]:
            reasons = json.loads(r.pop("reasons") or "[]")
            r["triggers"] = [str(x.get("trigger")) for x in reasons if isinstance(x, dict)]
            return r

        return self._rows(stmt, ("cases",), fix)

    def overdue_cases(self, at: float) -> Rows:
        c = rt.cases.c
        stmt = (sa.select(c.id, c.due_at).where(c.tenant_id == self.tenant_id, c.due_at < at,
                                                c.state.in_(("open", "assigned", "escalated", "awaiting_second",
                                                             "appealed")))
                .order_by(c.id))
        return self._rows(stmt, ("cases",))

    def decisions(self, since: float, until: float) -> Rows:
        d, c = rt.case_decisions.c, rt.cases.c
        stmt = (sa.select(d.case_id, d.actor, d.actor_role, d.at, d.action, d.status, d.label_state, d.label_result)
                .select_from(rt.case_decisions.join(rt.cases, d.case_id == c.id))
                .where(c.tenant_id == self.tenant_id, d.at >= since, d.at < until).order_by(d.id))

        def fix(r: dict[str, Any]) -> dict[str, Any]:
            raw = r.get("label_result")
            try:
                r["label_result"] = json.loads(raw) if raw else None
            except ValueError:
                r["label_result"] = None
            return r

        return self._rows(stmt, ("case_decisions", "cases"), fix)

    def reviewer_keys(self) -> Rows:
        k = st.api_keys.c
        stmt = (sa.select(k.id, k.role, k.created_at, k.revoked_at)
                .where(k.tenant_id == self.tenant_id, k.role.in_(("reviewer", "admin"))).order_by(k.id))
        return self._rows(stmt, ("api_keys",))

    # ------------------------------------------------------------------ scans and reports
    def scans(self, since: float, until: float) -> Rows:
        s = st.scans.c
        stmt = (sa.select(s.created_at, s.status, s.verdict, s.kind)
                .where(s.tenant_id == self.tenant_id, s.created_at >= since, s.created_at < until).order_by(s.id))
        return self._rows(stmt, ("scans",))

    def scan_detectors(self, since: float, until: float) -> Rows:
        s = st.scans.c
        stmt = (sa.select(s.detectors).distinct()
                .where(s.tenant_id == self.tenant_id, s.created_at >= since, s.created_at < until))

        def fix(r: dict[str, Any]) -> dict[str, Any]:
            try:
                names = json.loads(r["detectors"] or "[]")
            except ValueError:
                names = []
            return {"detectors": [str(n) for n in names] if isinstance(names, list) else []}

        return self._rows(stmt, ("scans",), fix)

    def user_reports(self, since: float, until: float) -> Rows:
        u = rt.user_reports.c
        stmt = (sa.select(u.created_at, u.handled_at, u.status, u.reason)
                .where(u.tenant_id == self.tenant_id, u.created_at >= since, u.created_at < until).order_by(u.id))
        return self._rows(stmt, ("user_reports",))

    # ------------------------------------------------------------------ the audit log
    def audit_fields(self, since: float, until: float) -> Rows:
        a = rt.audit_log.c
        stmt = (sa.select(a.actor, a.action, a.object_id, a.body)
                .where(a.chain == self.tenant_id, a.at_us >= int(since * 1e6), a.at_us < int(until * 1e6)))
        with self.core.db.read() as conn:
            counts = {"entries": 0, "actor": 0, "time": 0, "action": 0, "object": 0, "key_operations": 0,
                      "key_operations_with_ip": 0}
            for r in conn.execute(stmt):
                counts["entries"] += 1
                try:
                    body = json.loads(r.body)
                except ValueError:
                    body = {}
                counts["actor"] += bool(r.actor)
                counts["time"] += bool(body.get("at"))
                counts["action"] += bool(r.action)
                counts["object"] += bool(r.object_id)
                if str(r.actor).startswith("key_"):  # an operation made with an API key (API or console)
                    counts["key_operations"] += 1
                    counts["key_operations_with_ip"] += bool(body.get("source_ip"))
            query = _sql(conn, stmt)
        return Rows([counts], query + "  -- counted per entry: actor, body.at, action, object_id, body.source_ip",
                    ("audit_log",))

    def audit_retention(self) -> Rows:
        a, h = rt.audit_log.c, rt.audit_heads.c
        stmt = sa.select(sa.func.min(a.at_us).label("oldest_us"), sa.func.count().label("entries")).where(
            a.chain == self.tenant_id)
        head = sa.select(h.first_seq).where(h.chain == self.tenant_id)
        with self.core.db.read() as conn:
            row = conn.execute(stmt).first()
            first = conn.execute(head).scalar()
            query = _sql(conn, stmt) + "; " + _sql(conn, head)
        oldest = None if row is None or row.oldest_us is None else float(row.oldest_us) / 1e6
        return Rows([{"oldest_at": oldest, "first_seq": int(first or 1), "entries": int(row.entries if row else 0)}],
                    query, ("audit_log", "audit_heads"))

    def audit_verify(self) -> dict[str, Any]:
        from ..audit import audit_of

        result = audit_of(self.core).verify([self.tenant_id])
        return result.chains[0].to_dict() if result.chains else {"ok": True, "entries": 0, "checkpoints": 0}

    def label_violations(self, since: float, until: float) -> Rows:
        c = rt.cases.c
        stmt = (sa.select(c.id, c.state, c.decision, c.reasons)
                .where(c.tenant_id == self.tenant_id, c.opened_at >= since, c.opened_at < until,
                       c.reasons.like('%"label_violation"%')).order_by(c.id))

        def fix(r: dict[str, Any]) -> dict[str, Any]:
            r.pop("reasons", None)
            return r

        return self._rows(stmt, ("cases",), fix)

    def blob_path(self, sha256: str) -> Path | None:
        path: Path = self.core.blobs.path(sha256)
        return path if path.is_file() else None

    # ------------------------------------------------------------------ live rooms (issue 15)
    def room_streams(self, since: float, until: float) -> Rows:
        """Ended speaker streams (a stream still open has no final counts yet)."""
        r = room_tables.room_streams.c
        stmt = (sa.select(r.room, r.started_at, r.ended_at, r.audio_s, r.speech_s, r.skipped_audio_s,
                          r.skipped_windows, r.detector)
                .where(r.tenant_id == self.tenant_id, r.ended_at.is_not(None), r.ended_at >= since,
                       r.ended_at < until).order_by(r.id))
        return self._rows(stmt, ("room_streams",))

    def room_alerts(self, since: float, until: float) -> Rows:
        a, c = room_tables.room_alerts.c, rt.cases.c
        stmt = (sa.select(a.at, a.processing_s, a.case_id, c.first_decided_at.label("case_decided_at"),
                          c.opened_at.label("case_opened_at"))
                .select_from(room_tables.room_alerts.outerjoin(rt.cases, a.case_id == c.id))
                .where(a.tenant_id == self.tenant_id, a.at >= since, a.at < until).order_by(a.id))
        return self._rows(stmt, ("room_alerts", "cases"))

    def eval_runs(self) -> list[EvalRunRecord]:
        """Imported ``synthwatch eval`` runs, newest first (``synthwatch assess import-eval``)."""
        r = assessment_tables.assessment_eval_runs.c
        stmt = sa.select(assessment_tables.assessment_eval_runs).where(r.tenant_id == self.tenant_id).order_by(
            r.imported_at.desc(), r.id.desc())
        out: list[EvalRunRecord] = []
        with self.core.db.read() as conn:
            for row in conn.execute(stmt):
                try:
                    results = json.loads(row.results)
                except ValueError:
                    continue
                out.append(EvalRunRecord(row.id, row.name, row.imported_at, bool(row.own_sample), results,
                                         row.results_sha256, int(row.results_size), row.scores, row.scores_sha256,
                                         None if row.scores_size is None else int(row.scores_size)))
        return out

    # ------------------------------------------------------------------ drills, policy, settings
    def export_drill(self) -> ExportDrill | None:
        from ..audit.export import _sha, export_case, verify_export
        from ..review.cases import Actor

        c = rt.cases.c
        stmt = (sa.select(c.id).where(c.tenant_id == self.tenant_id, c.decided_at.is_not(None))
                .order_by(c.decided_at.desc(), c.id.desc()).limit(1))
        with self.core.db.read() as conn:
            case_id = conn.execute(stmt).scalar()
            query = _sql(conn, stmt)
        if case_id is None:
            return None
        with tempfile.TemporaryDirectory(prefix="sw-drill-") as tmp:
            out = Path(tmp) / f"{case_id}.zip"
            t0 = time.perf_counter()
            manifest = export_case(self.core, self.tenant_id, str(case_id), out,
                                   actor=Actor("assessment-drill", None))
            res = verify_export(out)
            seconds = time.perf_counter() - t0
            data = out.read_bytes()
        return ExportDrill(case_id=str(case_id), seconds=seconds, size=len(data), sha256=_sha(data),
                           verifies=bool(res.get("ok")), audit_entries=len(manifest["audit"]["case_entries"]),
                           problems=[str(p) for p in res.get("problems") or []],
                           query=f"{query}; then synthwatch audit export --case {case_id} and audit verify --export")

    def review_policy(self) -> dict[str, Any]:
        from ..review.policy import active_policy

        with self.core.db.read() as conn:
            p = active_policy(conn, self.tenant_id)
        return {"version": p.version, "revision": p.revision, "adopted_at": p.created_at, "custom": p.revision > 0,
                "reason_codes": len(p.policy.reason_codes),
                "four_eyes_remove": p.policy.four_eyes("remove"), "digest": p.digest}

    def service_controls(self) -> dict[str, Any]:
        t = self.tenant()
        o = self.core.opts
        return {"rate_limit_per_minute": t["settings"].get("rate_limit_per_minute") or o.rate_limit_per_minute,
                "rate_limit_burst": o.rate_limit_burst, "webhook_signing": True,
                "media_retention_days": t["settings"].get("retention_days") or o.retention_days,
                "audit_retention_floor_days": o.audit_retention_floor_days,
                "case_retention_days": o.case_retention_days, "max_live_streams": None}
