"""Periodic review and audit work, run by every worker's sweep (cheap when nothing is due):

* a signed audit checkpoint of every chain that moved, every ``audit_checkpoint_interval_s``;
* ``case.overdue`` (audited, signed webhook) once per case and round when its SLA passes;
* decided cases whose appeal window ended are closed (``case.closed``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa

from ..storage import review_tables as rt
from .cases import SYSTEM, _event, _update
from .policy import active_policy
from .records import ACTIVE_STATES, CaseRecord

__all__ = ["tick"]

log = logging.getLogger("synthwatch.service.review")


def tick(core: Any, *, at: float | None = None, batch: int = 200) -> dict[str, int]:
    """Do what is due; returns counts (``checkpoints``, ``overdue``, ``closed``)."""
    from ..audit import audit_of

    at = time.time() if at is None else at
    out = {"checkpoints": 0, "overdue": 0, "closed": 0}
    audit = audit_of(core)
    if audit.checkpoint_due(float(core.opts.audit_checkpoint_interval_s)):
        out["checkpoints"] = len(audit.checkpoint())
    c = rt.cases.c
    with core.db.read() as conn:
        overdue_ids = [r[0] for r in conn.execute(sa.select(c.id).where(
            c.state.in_(ACTIVE_STATES), c.due_at < at, c.overdue_notified.is_(False)).limit(batch))]
        decided = conn.execute(sa.select(c.id, c.tenant_id, c.decided_at).where(
            c.state == "decided").order_by(c.decided_at).limit(batch * 5)).all()
    for case_id in overdue_ids:
        with core.db.write() as conn:
            row = conn.execute(sa.select(rt.cases).where(c.id == case_id)).mappings().first()
            if row is None:
                continue
            rec = CaseRecord.from_row(row)
            if rec.overdue_notified or rec.state not in ACTIVE_STATES or rec.due_at >= at:
                continue
            new = _update(conn, rec, overdue_notified=True)
            _event(core, conn, "case.overdue", rec, new, SYSTEM, overdue_s=round(at - rec.due_at, 1))
            out["overdue"] += 1
    windows: dict[str, float] = {}
    for case_id, tenant_id, decided_at in decided:
        if tenant_id not in windows:
            with core.db.read() as conn:
                windows[tenant_id] = active_policy(conn, tenant_id).policy.appeals.window_days * 86400.0
        if decided_at is None or at - decided_at <= windows[tenant_id]:
            continue
        with core.db.write() as conn:
            row = conn.execute(sa.select(rt.cases).where(c.id == case_id)).mappings().first()
            if row is None or row["state"] != "decided":
                continue
            rec = CaseRecord.from_row(row)
            new = _update(conn, rec, state="closed", closed_at=at)
            _event(core, conn, "case.closed", rec, new, SYSTEM, why="appeal window ended")
            out["closed"] += 1
    return out
