"""Case, decision, appeal, evidence and user-report records, and their API resources."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.engine import RowMapping

from ..core import iso

__all__ = ["ACTIVE_STATES", "STATES", "CaseRecord", "Decision", "Appeal", "EvidenceRecord", "UserReport",
           "sla_state", "case_resource", "case_state"]

STATES = ("open", "assigned", "escalated", "awaiting_second", "decided", "appealed", "closed")
#: states in which a case waits for a reviewer (its SLA runs)
ACTIVE_STATES = ("open", "assigned", "escalated", "awaiting_second", "appealed")


@dataclass(frozen=True, slots=True)
class CaseRecord:
    id: str
    tenant_id: str
    state: str
    priority: str
    source: str
    reasons: list[dict[str, Any]]
    policy_version: str
    policy_digest: str
    join_key: str | None
    scan_id: str | None
    sha256: str | None
    kind: str | None
    external_id: str | None
    title: str
    verdict: str | None
    score: float | None
    assignee: str | None
    round: int
    decision: str | None
    reason_code: str | None
    pending: dict[str, Any] | None
    report_count: int
    legal_hold: bool
    hold_reason: str | None
    opened_at: float
    due_at: float
    assigned_at: float | None
    first_decided_at: float | None
    decided_at: float | None
    appealed_at: float | None
    closed_at: float | None
    overdue_notified: bool
    updated_at: float
    version: int

    @classmethod
    def from_row(cls, row: RowMapping | dict[str, Any]) -> CaseRecord:
        d = dict(row)
        d["reasons"] = json.loads(d["reasons"] or "[]")
        d["pending"] = json.loads(d["pending"]) if d.get("pending") else None
        d["legal_hold"] = bool(d["legal_hold"])
        d["overdue_notified"] = bool(d["overdue_notified"])
        return cls(**d)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def triggers(self) -> list[str]:
        return [str(r.get("trigger")) for r in self.reasons]


def case_state(rec: CaseRecord) -> dict[str, Any]:
    """The state whose digests the audit log records before and after each change."""
    return {"id": rec.id, "tenant": rec.tenant_id, "state": rec.state, "priority": rec.priority,
            "assignee": rec.assignee, "round": rec.round, "decision": rec.decision, "reason_code": rec.reason_code,
            "pending": rec.pending, "legal_hold": rec.legal_hold, "due_at": rec.due_at, "closed_at": rec.closed_at,
            "reasons": rec.reasons, "policy_version": rec.policy_version, "version": rec.version}


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    case_id: str
    round: int
    action: str
    reason_code: str
    note: str
    status: str
    actor: str
    actor_role: str | None
    second_actor: str | None
    at: float
    confirmed_at: float | None
    policy_version: str
    label_state: str | None
    label_result: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: RowMapping | dict[str, Any]) -> Decision:
        d = dict(row)
        d["label_result"] = json.loads(d["label_result"]) if d.get("label_result") else None
        return cls(**d)

    def record(self) -> dict[str, Any]:
        """The decision as decided (what ``case.decided``'s ``decision_sha256`` digests)."""
        return {"id": self.id, "case_id": self.case_id, "round": self.round, "action": self.action,
                "reason_code": self.reason_code, "note": self.note, "actor": self.actor, "at": self.at,
                "policy_version": self.policy_version}

    def to_dict(self) -> dict[str, Any]:
        return {"object": "decision", "id": self.id, "round": self.round, "action": self.action,
                "reason_code": self.reason_code, "note": self.note, "status": self.status, "actor": self.actor,
                "actor_role": self.actor_role, "second_actor": self.second_actor, "at": iso(self.at),
                "confirmed_at": iso(self.confirmed_at), "policy_version": self.policy_version,
                "label": ({"state": self.label_state, **(self.label_result or {})} if self.label_state else None)}


@dataclass(frozen=True, slots=True)
class Appeal:
    id: str
    case_id: str
    text: str
    appellant: str | None
    actor: str
    at: float

    @classmethod
    def from_row(cls, row: RowMapping | dict[str, Any]) -> Appeal:
        return cls(**dict(row))

    def to_dict(self) -> dict[str, Any]:
        return {"object": "appeal", "id": self.id, "text": self.text, "appellant": self.appellant,
                "actor": self.actor, "at": iso(self.at)}


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    id: str
    case_id: str
    kind: str
    scan_id: str | None
    sha256: str | None
    content_type: str | None
    filename: str
    size: int | None
    meta: dict[str, Any]
    added_at: float

    @classmethod
    def from_row(cls, row: RowMapping | dict[str, Any]) -> EvidenceRecord:
        d = dict(row)
        d["meta"] = json.loads(d["meta"] or "{}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["object"] = "evidence"
        out["added_at"] = iso(self.added_at)
        out.pop("case_id")
        return out


@dataclass(frozen=True, slots=True)
class UserReport:
    id: str
    tenant_id: str
    case_id: str | None
    reason: str
    text: str
    reporter: str | None
    scan_id: str | None
    sha256: str | None
    external_id: str | None
    url: str | None
    status: str
    outcome: str | None
    actor: str
    created_at: float
    handled_at: float | None

    @classmethod
    def from_row(cls, row: RowMapping | dict[str, Any]) -> UserReport:
        return cls(**dict(row))

    def to_dict(self, *, with_case: bool = True) -> dict[str, Any]:
        out = {"object": "report", "id": self.id, "reason": self.reason, "text": self.text,
               "reporter": self.reporter, "target": {"scan_id": self.scan_id, "sha256": self.sha256,
                                                     "external_id": self.external_id, "url": self.url},
               "status": self.status, "outcome": self.outcome, "created_at": iso(self.created_at),
               "handled_at": iso(self.handled_at)}
        if with_case:
            out["case_id"] = self.case_id
        return out


def sla_state(rec: CaseRecord, at: float) -> str:
    """``overdue`` (waiting past its due time), ``due_soon`` (within a quarter of its SLA or an
    hour), ``on_track``; for a decided or closed case, ``met`` or ``breached``."""
    if rec.active:
        if at > rec.due_at:
            return "overdue"
        window = max(0.0, rec.due_at - (rec.appealed_at if rec.state == "appealed" and rec.appealed_at else rec.opened_at))
        if rec.due_at - at <= min(3600.0, window / 4):
            return "due_soon"
        return "on_track"
    decided = rec.decided_at or rec.closed_at or at
    return "met" if decided <= rec.due_at else "breached"


def case_resource(rec: CaseRecord, at: float) -> dict[str, Any]:
    return {"object": "case", "id": rec.id, "state": rec.state, "priority": rec.priority, "source": rec.source,
            "reasons": rec.reasons, "triggers": rec.triggers, "policy_version": rec.policy_version,
            "scan_id": rec.scan_id, "media": ({"sha256": rec.sha256, "kind": rec.kind} if rec.sha256 else None),
            "external_id": rec.external_id, "title": rec.title or None,
            "verdict": ({"label": rec.verdict, "score": rec.score} if rec.verdict else None),
            "assignee": rec.assignee, "round": rec.round, "decision": rec.decision, "reason_code": rec.reason_code,
            "pending_second_review": rec.pending, "report_count": rec.report_count,
            "legal_hold": rec.legal_hold, "hold_reason": rec.hold_reason,
            "opened_at": iso(rec.opened_at), "due_at": iso(rec.due_at), "assigned_at": iso(rec.assigned_at),
            "decided_at": iso(rec.decided_at), "appealed_at": iso(rec.appealed_at), "closed_at": iso(rec.closed_at),
            "sla": {"state": sla_state(rec, at), "due_at": iso(rec.due_at),
                    "seconds_left": round(rec.due_at - at, 1) if rec.active else None},
            "version": rec.version}
