"""The narrow read interface the collectors measure through.

The service implements :class:`EvidenceSource` over its database (``synthwatch.service.assessments.
source.SqlEvidenceSource``); nothing here imports a database driver. Every method returns
:class:`Rows`: the rows, the exact statement that produced them (SQL with its parameters inlined,
so an official can run it again) and the tables it read. Times are UNIX seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Rows", "EvalRunRecord", "ExportDrill", "EvidenceSource"]


@dataclass(frozen=True)
class Rows:
    rows: list[dict[str, Any]]
    query: str
    tables: tuple[str, ...]
    #: why this store cannot answer at all (the evidence is *not available*, which is not zero)
    unavailable: str | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        return [r[name] for r in self.rows]


@dataclass(frozen=True)
class EvalRunRecord:
    """A ``synthwatch eval`` run imported into the store: its ``results.json`` (parsed) and its
    ``scores.csv`` text (for ROC curves), with the sha256 and size of both files."""

    id: str
    name: str
    imported_at: float
    own_sample: bool
    results: dict[str, Any]
    results_sha256: str
    results_size: int
    scores_text: str | None
    scores_sha256: str | None
    scores_size: int | None


@dataclass(frozen=True)
class ExportDrill:
    """A case exported as an authority would receive it, timed, and verified offline."""

    case_id: str
    seconds: float
    size: int
    sha256: str
    verifies: bool
    audit_entries: int
    problems: list[str] = field(default_factory=list)
    query: str = ""


class EvidenceSource(Protocol):
    """What the collectors may read about one tenant (every method is scoped to it)."""

    def tenant(self) -> dict[str, Any]:
        """``id``, ``name``, ``created_at``."""

    def cases(self, since: float, until: float) -> Rows:
        """Cases opened in [since, until): ``id, source, state, opened_at, first_decided_at,
        decided_at, due_at, decision, triggers`` (list)."""

    def overdue_cases(self, at: float) -> Rows:
        """Active cases past their due time at ``at``: ``id, due_at``."""

    def decisions(self, since: float, until: float) -> Rows:
        """Decisions made in [since, until): ``case_id, actor, actor_role, at, action, status,
        label_state, label_result`` (dict or None)."""

    def reviewer_keys(self) -> Rows:
        """Reviewer and admin keys: ``id, role, created_at, revoked_at``."""

    def scans(self, since: float, until: float) -> Rows:
        """Scans created in [since, until): ``created_at, status, verdict, kind``."""

    def scan_detectors(self, since: float, until: float) -> Rows:
        """Distinct detector lists of scans in the window: ``detectors`` (list)."""

    def user_reports(self, since: float, until: float) -> Rows:
        """User reports received in [since, until): ``created_at, handled_at, status, reason``."""

    def audit_fields(self, since: float, until: float) -> Rows:
        """One row of counts over the tenant's audit entries in the window: ``entries, actor,
        action, object, key_operations, key_operations_with_ip``."""

    def audit_retention(self) -> Rows:
        """One row: ``oldest_at`` (the oldest kept entry), ``first_seq`` (1 when none was ever
        removed), ``entries``."""

    def audit_verify(self) -> dict[str, Any]:
        """``synthwatch audit verify`` of the tenant's chain (``ChainStatus.to_dict()``)."""

    def label_violations(self, since: float, until: float) -> Rows:
        """Cases opened for a removed, forged or altered label: ``id, state, decision``."""

    def blob_path(self, sha256: str) -> Path | None:
        """A stored file (e.g. a labelled copy), or None when it was purged."""

    def room_streams(self, since: float, until: float) -> Rows:
        """Ended speaker streams of live rooms: ``room, started_at, ended_at, audio_s, speech_s,
        skipped_audio_s, skipped_windows, detector``."""

    def room_alerts(self, since: float, until: float) -> Rows:
        """Live-room alerts: ``at, processing_s, case_id, case_decided_at, case_opened_at``."""

    def eval_runs(self) -> list[EvalRunRecord]:
        """Imported eval runs, newest first."""

    def export_drill(self) -> ExportDrill | None:
        """Export the most recently decided case (as for an authority), time it and verify the
        export; None when the tenant has no decided case."""

    def review_policy(self) -> dict[str, Any]:
        """The review policy in force: ``version, revision, adopted_at, custom, reason_codes,
        four_eyes_remove``."""

    def service_controls(self) -> dict[str, Any]:
        """``rate_limit_per_minute, rate_limit_burst, webhook_signing, media_retention_days,
        audit_retention_floor_days, case_retention_days, max_live_streams``."""
