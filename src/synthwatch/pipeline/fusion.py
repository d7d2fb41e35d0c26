"""From per-segment / per-face evidence to per-detector scores and one verdict.

Rules (documented in the README, section "How the verdict is made"):

* A detector's item score is the mean of its top quarter of segment scores (at least one): a
  clip that is synthetic only in part is not averaged away, and one odd window does not decide.
  Face detectors: a track's score is the mean over its boxes; the detector's score is the highest
  track score.
* Each detector's score is put on a common scale where its own calibrated threshold sits at 0.5
  (piecewise-linear: [0, t] -> [0, 0.5], [t, 1] -> [0.5, 1]).
* The fused score is the highest normalised score over the detectors that ran: evidence from any
  one modality (a swapped face over a real voice) is enough to flag an item.
* Verdict: fused >= 0.5 -> likely_synthetic; fused < ``authentic_below`` (0.35) -> likely_authentic;
  in between -> inconclusive; no detector applicable -> not_applicable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..types import DetectorResult, DetectorStatus, Verdict, VerdictLabel

__all__ = ["top_quarter_mean", "normalise", "label_for", "fuse", "FUSED_THRESHOLD", "AUTHENTIC_BELOW"]

FUSED_THRESHOLD = 0.5
AUTHENTIC_BELOW = 0.35


def top_quarter_mean(scores: Sequence[float] | np.ndarray) -> float:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no scores to aggregate")
    k = max(1, math.ceil(arr.size / 4))
    return float(np.sort(arr)[-k:].mean())


def normalise(score: float, threshold: float) -> float:
    """Map ``score`` so that ``threshold`` lands on 0.5, keeping [0, 1] and monotonicity."""
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    s = min(max(score, 0.0), 1.0)
    if s < t:
        return 0.5 * s / t
    return 0.5 + 0.5 * (s - t) / (1 - t)


def label_for(norm_score: float) -> VerdictLabel:
    if norm_score >= FUSED_THRESHOLD:
        return VerdictLabel.LIKELY_SYNTHETIC
    if norm_score < AUTHENTIC_BELOW:
        return VerdictLabel.LIKELY_AUTHENTIC
    return VerdictLabel.INCONCLUSIVE


def fuse(results: Sequence[DetectorResult]) -> Verdict:
    ran = [r for r in results if r.status == DetectorStatus.OK and r.score is not None]
    if not ran:
        reasons = sorted({r.reason for r in results if r.reason})
        basis = "no detector applied" + (": " + "; ".join(reasons) if reasons else "")
        return Verdict(VerdictLabel.NOT_APPLICABLE, None, FUSED_THRESHOLD, basis)
    best = max(ran, key=lambda r: normalise(r.score or 0.0, r.threshold if r.threshold is not None else 0.5))
    fused = normalise(best.score or 0.0, best.threshold if best.threshold is not None else 0.5)
    others = ", ".join(f"{r.name}={r.score:.3f}" for r in ran if r is not best)
    basis = f"max over {len(ran)} detector(s); decided by {best.name} {best.version} " \
            f"(score {best.score:.3f}, threshold {best.threshold})" + (f"; others: {others}" if others else "")
    return Verdict(label_for(fused), fused, FUSED_THRESHOLD, basis)
