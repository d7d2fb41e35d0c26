"""synthwatch.train.genuine: verdict tallies over scan reports of genuine media, and the verdict
recomputed with a detector reported as a non-deciding signal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthwatch.pipeline import fusion
from synthwatch.train import genuine
from synthwatch.types import DetectorResult, DetectorStatus, Report, ReportError, Verdict, VerdictLabel


def _det(name: str, score: float, thr: float, modality: str = "image") -> DetectorResult:
    return DetectorResult(name=name, version="1", modality=modality, status=DetectorStatus.OK, score=score,
                          threshold=thr)


def _report(i: int, dets: list[DetectorResult]) -> Report:
    return Report(source=f"item{i}.jpg", media=None, verdict=fusion.fuse(dets), detectors=tuple(dets))


def test_tally_counts_verdicts_and_recomputes_without_a_detector(tmp_path: Path) -> None:
    reports = []
    for i in range(10):  # clip-probe flags 4 of 10, the face detector none
        dets = [_det("clip-probe", 0.95 if i < 4 else 0.2, 0.88), _det("sw-face", 0.1, 0.6, "face")]
        reports.append(_report(i, dets))
    reports.append(Report(source="broken.jpg", media=None, verdict=Verdict(VerdictLabel.NOT_APPLICABLE, None, None),
                          error=ReportError("corrupt_media", "truncated")))
    got = genuine.tally(reports, ("clip-probe",))
    assert got["n"] == 10 and got["errors"] == 1
    assert got["verdicts"]["likely_synthetic"] == 4 and got["likely_synthetic"] == pytest.approx(0.4)
    assert got["decided_by"] == {"clip-probe": 4}
    assert got["over_own_threshold_by_detector"] == {"clip-probe": 4}
    lo, hi = got["likely_synthetic_ci95"]
    assert 0.1 < lo < 0.4 < hi < 0.75
    assert got["if_not_deciding"]["likely_synthetic"] == 0.0
    assert "likely_synthetic" not in got["if_not_deciding"]["verdicts"]

    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in reports), encoding="utf-8")
    out = tmp_path / "o.json"
    assert genuine.main(["--reports", f"demo={path}", "--not-deciding", "clip-probe", "--out", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["sets"]["demo"]["verdicts"] == got["verdicts"]


def test_wilson_interval() -> None:
    assert genuine.wilson(0, 100)[0] == 0.0 and 0.03 < genuine.wilson(0, 100)[1] < 0.04
    lo, hi = genuine.wilson(50, 100)
    assert lo == pytest.approx(1 - hi) and 0.40 < lo < 0.41
