"""Imported ``synthwatch eval`` runs: the detection-quality evidence of self-assessments.

A platform measures its detectors with ``synthwatch eval`` (on its own labelled sample, ideally)
and imports the run's ``results.json`` and ``scores.csv``; the assessment's ``detection.quality``
evidence then reads each detector's newest run (the platform's own sample first): ROC AUC and EER
with their 95% intervals, TPR at 1% FPR, the ROC curve, and the files' sha256. The files are kept
in the database exactly as imported.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ...errors import ConfigError
from ..events import record
from ..ids import new_id
from ..storage.assessment_tables import assessment_eval_runs as er
from ..storage.interfaces import Event
from .workflow import Actor

__all__ = ["import_run", "list_runs", "MAX_RESULTS_BYTES", "MAX_SCORES_BYTES"]

MAX_RESULTS_BYTES = 32 * 1024 * 1024
MAX_SCORES_BYTES = 256 * 1024 * 1024


def _read(path: Path, limit: int, what: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise ConfigError(f"{what} {path} is larger than {limit} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc


def import_run(core: Any, tenant_id: str, folder: Path, actor: Actor, *, own_sample: bool = False,
               name: str | None = None) -> dict[str, Any]:
    """Import the run in ``folder`` (``results.json``, and ``scores.csv`` when present)."""
    from ...evaluate.runner import RESULTS_SCHEMA

    folder = Path(folder)
    raw = _read(folder / "results.json", MAX_RESULTS_BYTES, "the eval results")
    try:
        results = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{folder / 'results.json'} is not JSON: {exc}") from exc
    if not isinstance(results, dict) or results.get("schema") != RESULTS_SCHEMA:
        raise ConfigError(f"{folder / 'results.json'} is not a {RESULTS_SCHEMA} results file")
    if not isinstance(results.get("detectors"), list):
        raise ConfigError(f"{folder / 'results.json'} lists no detectors")
    scores: bytes | None = None
    if (folder / "scores.csv").is_file():
        scores = _read(folder / "scores.csv", MAX_SCORES_BYTES, "the eval scores")
        try:
            scores.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{folder / 'scores.csv'} is not UTF-8 text") from exc
    rid = new_id("evr")
    label = (name or folder.resolve().name or rid)[:200]
    row = {"id": rid, "tenant_id": tenant_id, "name": label, "own_sample": own_sample, "results": raw.decode("utf-8"),
           "results_sha256": hashlib.sha256(raw).hexdigest(), "results_size": len(raw),
           "scores": scores.decode("utf-8") if scores is not None else None,
           "scores_sha256": hashlib.sha256(scores).hexdigest() if scores is not None else None,
           "scores_size": len(scores) if scores is not None else None, "imported_at": time.time(),
           "imported_by": actor.id[:80]}
    with core.db.write() as conn:
        conn.execute(er.insert().values(**row))
        record(core.stores.events, conn, Event("assessment.eval_imported", "eval_run", rid, tenant_id, actor.id,
                                               actor.role, actor.source_ip,
                                               {"name": label, "own_sample": own_sample,
                                                "results_sha256": row["results_sha256"],
                                                "scores_sha256": row["scores_sha256"],
                                                "detectors": [str(d.get("name")) for d in results["detectors"]
                                                              if isinstance(d, dict)][:50]}))
    return {k: v for k, v in row.items() if k not in ("results", "scores")} | {
        "detectors": [d.get("name") for d in results["detectors"] if isinstance(d, dict)]}


def list_runs(core: Any, tenant_id: str) -> list[dict[str, Any]]:
    cols = [c for c in er.c if c.name not in ("results", "scores")]
    with core.db.read() as conn:
        rows = conn.execute(sa.select(*cols).where(er.c.tenant_id == tenant_id).order_by(er.c.id.desc())).mappings()
        return [dict(r) for r in rows]
