"""Retention of the audit log and of closed cases (``synthwatch audit purge``).

* Nothing younger than the retention floor (``audit_retention_floor_days``, 183 days by default: the
  six months the rules ask for) can be purged; asking for less is refused.
* Audit entries are removed from the *start* of each chain only (the chain stays contiguous), up to
  the last entry older than the cut-off, and never past an entry that concerns a case under legal
  hold (the case, its decisions, reports and scans, its media). Before the rows go, the last removed
  entry is signed as a purge *anchor*; verification starts from it.
* Closed cases decided before the cut-off are deleted with their evidence links, decisions, appeals
  and reports, unless under legal hold; their media's retention ends now (the retention purge deletes
  the files, except media under a legal hold).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ...errors import ConfigError
from ..events import record
from ..storage import review_tables as rt
from ..storage import schema as t
from ..storage.interfaces import Event

__all__ = ["PurgeResult", "purge"]


@dataclass
class PurgeResult:
    cutoff: float
    dry_run: bool
    entries: dict[str, int] = field(default_factory=dict)  # chain -> entries removed
    stopped_by_hold: dict[str, int] = field(default_factory=dict)  # chain -> seq of the first held entry
    cases: int = 0
    held_cases: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff, "dry_run": self.dry_run, "entries": self.entries,
                "stopped_by_hold": self.stopped_by_hold, "cases": self.cases, "held_cases": self.held_cases}


def _held_objects(conn: Any) -> set[str]:
    """Ids of every object a legal hold protects: held cases, their decisions, appeals, reports,
    scans and media."""
    c, e = rt.cases.c, rt.case_evidence.c
    held = [r[0] for r in conn.execute(sa.select(c.id).where(c.legal_hold.is_(True)))]
    out = set(held)
    if not held:
        return out
    for sid, sha in conn.execute(sa.select(e.scan_id, e.sha256).where(e.case_id.in_(held))):
        out.update(x for x in (sid, sha) if x)
    for table in (rt.case_decisions, rt.case_appeals):
        out.update(r[0] for r in conn.execute(sa.select(table.c.id).where(table.c.case_id.in_(held))))
    out.update(r[0] for r in conn.execute(sa.select(rt.user_reports.c.id).where(rt.user_reports.c.case_id.in_(held))))
    m = t.media.c
    out.update(r[0] for r in conn.execute(sa.select(m.sha256).where(m.legal_hold.is_(True))))
    return out


def purge(core: Any, *, older_than_days: float, dry_run: bool = False, actor: str = "cli") -> PurgeResult:
    floor = float(core.opts.audit_retention_floor_days)
    if older_than_days < floor:
        raise ConfigError(f"entries younger than the retention floor of {floor:g} days cannot be purged "
                          f"(asked for {older_than_days:g} days)")
    from . import audit_of

    log = audit_of(core)
    at = time.time()
    cutoff = at - older_than_days * 86400.0
    cutoff_us = int(cutoff * 1e6)
    result = PurgeResult(cutoff, dry_run)
    with core.db.read() as conn:
        held = _held_objects(conn)
        chains = log.chains(conn)
    a = rt.audit_log.c
    for chain in chains:
        with core.db.write() as conn:
            head = log.head(conn, chain)
            if head is None:
                continue
            last_old = conn.execute(sa.select(sa.func.max(a.seq)).where(a.chain == chain, a.at_us < cutoff_us)).scalar()
            if last_old is None:
                continue
            upto = int(last_old)
            if held:
                first_held = conn.execute(sa.select(sa.func.min(a.seq)).where(
                    a.chain == chain, a.seq <= upto, a.object_id.in_(sorted(held)))).scalar()
                if first_held is not None:
                    result.stopped_by_hold[chain] = int(first_held)
                    upto = int(first_held) - 1
            if upto < int(head["first_seq"]):
                continue
            n = int(conn.execute(sa.select(sa.func.count()).where(a.chain == chain, a.seq <= upto)).scalar_one())
            result.entries[chain] = n
            if dry_run or n == 0:
                continue
            last = conn.execute(sa.select(a.hash).where(a.chain == chain, a.seq == upto)).scalar_one()
            anchor = log.sign_head(conn, chain, upto, last, kind="anchor")
            conn.execute(rt.audit_log.delete().where(a.chain == chain, a.seq <= upto))
            conn.execute(rt.audit_heads.update().where(rt.audit_heads.c.chain == chain).values(first_seq=upto + 1))
            record(core.stores.events, conn, Event("audit.purged", "audit_chain", chain,
                                                   None if chain == "system" else chain, actor,
                                                   details={"up_to_seq": upto, "entries": n, "anchor": anchor.id,
                                                            "cutoff": cutoff}))
    c = rt.cases.c
    with core.db.read() as conn:
        old = conn.execute(sa.select(c.id, c.tenant_id, c.legal_hold).where(
            c.state == "closed", c.closed_at < cutoff)).all()
    result.held_cases = sum(1 for r in old if r.legal_hold)
    for case_id, tenant_id, hold in old:
        if hold:
            continue
        result.cases += 1
        if dry_run:
            continue
        with core.db.write() as conn:
            shas = [r[0] for r in conn.execute(sa.select(rt.case_evidence.c.sha256).where(
                rt.case_evidence.c.case_id == case_id, rt.case_evidence.c.sha256.is_not(None)))]
            for table in (rt.case_evidence, rt.case_decisions, rt.case_appeals):
                conn.execute(table.delete().where(table.c.case_id == case_id))
            conn.execute(rt.user_reports.delete().where(rt.user_reports.c.case_id == case_id))
            conn.execute(rt.cases.delete().where(c.id == case_id, c.legal_hold.is_(False)))
            m = t.media.c
            for sha in shas:
                conn.execute(t.media.update().where(m.tenant_id == tenant_id, m.sha256 == sha,
                                                    m.legal_hold.is_(False), m.purged_at.is_(None))
                             .values(expires_at=sa.func.min(m.expires_at, at) if conn.dialect.name == "sqlite"
                                     else sa.func.least(m.expires_at, at)))
            record(core.stores.events, conn, Event("case.purged", "case", case_id, tenant_id, actor,
                                                   details={"cutoff": cutoff, "media": shas}))
    return result
