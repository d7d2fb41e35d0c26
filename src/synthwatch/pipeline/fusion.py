"""From per-segment / per-face evidence to per-detector scores and one verdict.

Rules (documented in the README, section "How the verdict is made"):

* A detector's item score is the mean of its top quarter of segment scores (at least one): a
  clip that is synthetic only in part is not averaged away, and one odd window does not decide.
  Face detectors: a track's score is the mean over its boxes; the detector's score is the highest
  track score.
* Each detector's score is put on a common scale where its own calibrated threshold sits at 0.5
  (piecewise-linear: [0, t] -> [0, 0.5], [t, 1] -> [0.5, 1]).
* Voice ensemble: when ``sw-voice`` ran together with one or both of the optional AASIST-family
  detectors (``aasist``, ``aasist-l``), their item scores are combined by the logistic-regression
  stacking weights shipped beside the sw-voice weights (``sw_voice_ensemble.json``, fitted on
  validation data only by ``python -m synthwatch.train.voice ensemble``), into one
  ``voice-ensemble`` score with its own validation threshold, which replaces those members in the
  max below (:func:`apply_ensemble`). Without the file (or without a fitted combination for the
  members that ran) the members take part individually.
* The fused score is the highest normalised score over the detectors that ran: evidence from any
  one modality (a swapped face over a real voice) is enough to flag an item. A detector whose card
  says ``decides_verdict: false`` (measured at chance on sources it never saw) is reported but
  takes no part: a platform cannot live with genuine uploads flagged by a coin toss.
* Verdict: fused >= 0.5 -> likely_synthetic; fused < ``authentic_below`` (0.35) -> likely_authentic;
  in between -> inconclusive; no detector applicable -> not_applicable; only non-deciding
  detectors scored -> inconclusive without a score (their scores are in the basis and the report).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..types import DetectorResult, DetectorStatus, Verdict, VerdictLabel

__all__ = ["top_quarter_mean", "item_score", "track_score", "face_detector_score", "normalise", "label_for", "fuse",
           "apply_ensemble", "load_ensemble", "ENSEMBLE_NAME", "FUSED_THRESHOLD", "AUTHENTIC_BELOW"]

FUSED_THRESHOLD = 0.5
AUTHENTIC_BELOW = 0.35


def top_quarter_mean(scores: Sequence[float] | np.ndarray) -> float:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no scores to aggregate")
    k = max(1, math.ceil(arr.size / 4))
    return float(np.sort(arr)[-k:].mean())


def item_score(segment_scores: Sequence[float] | np.ndarray) -> float:
    """A detector's score for an item from its window / frame scores: the top-quarter mean."""
    return top_quarter_mean(segment_scores)


def track_score(box_scores: Sequence[float] | np.ndarray) -> float:
    """A face track's score from its per-box scores: the mean."""
    arr = np.asarray(box_scores, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no scores to aggregate")
    return float(arr.mean())


def face_detector_score(track_scores: Sequence[float] | np.ndarray) -> float:
    """A face detector's score for an item from its track scores: the highest track."""
    arr = np.asarray(track_scores, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no scores to aggregate")
    return float(arr.max())


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


ENSEMBLE_NAME = "voice-ensemble"
_ENSEMBLE_LEADER = "sw-voice"
_ENSEMBLE_OPTIONAL = ("aasist", "aasist-l")
_ENSEMBLE_SCHEMA = "synthwatch.sw-voice.ensemble/1"
_ens_lock = threading.Lock()
_ens_cache: dict[str, Any] = {}


def load_ensemble() -> dict[str, Any] | None:
    """The shipped fusion weights (sha256-checked against the sw-voice card), or None when the
    package has none or they do not verify. Cached after the first call."""
    with _ens_lock:
        if "value" not in _ens_cache:
            value: dict[str, Any] | None = None
            try:
                from ..models.card import packaged_card
                from ..models.packaged import read_packaged

                card = packaged_card(_ENSEMBLE_LEADER)
                fname = "sw_voice_ensemble.json"
                if fname in card.extra_files:
                    d = json.loads(read_packaged(card, fname))
                    if isinstance(d, dict) and d.get("schema") == _ENSEMBLE_SCHEMA:
                        value = d
            except Exception as exc:  # no card / file / bad pin: members are fused individually
                logging.getLogger(__name__).warning("voice ensemble weights not used: %s", exc)
                value = None
            _ens_cache["value"] = value
        return _ens_cache["value"]  # type: ignore[no-any-return]


def _logit(p: float) -> float:
    q = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(q / (1 - q))


def apply_ensemble(results: Sequence[DetectorResult], ensemble: dict[str, Any] | None = None) -> list[DetectorResult]:
    """Replace sw-voice and the AASIST-family results that ran with one ``voice-ensemble`` result
    when fitted weights exist for exactly those members; otherwise return ``results`` unchanged."""
    ens = ensemble if ensemble is not None else load_ensemble()
    ok = {r.name: r for r in results if r.status == DetectorStatus.OK and r.score is not None}
    if not ens or _ENSEMBLE_LEADER not in ok:
        return list(results)
    members = [_ENSEMBLE_LEADER, *[m for m in _ENSEMBLE_OPTIONAL if m in ok]]
    if len(members) < 2:
        return list(results)
    combo = (ens.get("combinations") or {}).get("+".join(members))
    if not combo or list(combo.get("members", [])) != members:
        return list(results)
    z = float(combo["bias"]) + sum(float(w) * _logit(float(ok[m].score or 0.0))
                                   for w, m in zip(combo["weights"], members, strict=True))
    score = 0.5 * (1.0 + math.tanh(0.5 * z))
    thr = float(combo["threshold"])
    lead = ok[_ENSEMBLE_LEADER]
    fused = replace(lead, name=ENSEMBLE_NAME, score=score, threshold=thr,
                    label=label_for(normalise(score, thr)), segments=(),
                    reason=None)
    return [r for r in results if r.name not in members] + [fused]


def _scores(results: Iterable[DetectorResult]) -> str:
    return ", ".join(f"{r.name}={r.score:.3f}" for r in results)


def fuse(results: Sequence[DetectorResult]) -> Verdict:
    scored = [r for r in apply_ensemble(results) if r.status == DetectorStatus.OK and r.score is not None]
    ran = [r for r in scored if r.decides_verdict]
    signals = [r for r in scored if not r.decides_verdict]
    if not ran:
        reasons = sorted({r.reason for r in results if r.reason})
        why = ": " + "; ".join(reasons) if reasons else ""
        if signals:  # something scored the media, but nothing trusted to decide: no call either way
            return Verdict(VerdictLabel.INCONCLUSIVE, None, FUSED_THRESHOLD,
                           f"no deciding detector applied{why}; not deciding (signals only, at chance on "
                           f"sources they never saw): {_scores(signals)}")
        return Verdict(VerdictLabel.NOT_APPLICABLE, None, FUSED_THRESHOLD, f"no detector applied{why}")
    best = max(ran, key=lambda r: normalise(r.score or 0.0, r.threshold if r.threshold is not None else 0.5))
    fused = normalise(best.score or 0.0, best.threshold if best.threshold is not None else 0.5)
    others = _scores(r for r in ran if r is not best)
    basis = f"max over {len(ran)} detector(s); decided by {best.name} {best.version} " \
            f"(score {best.score:.3f}, threshold {best.threshold})" + (f"; others: {others}" if others else "")
    if signals:
        basis += "; not deciding (signals only): " + _scores(signals)
    return Verdict(label_for(fused), fused, FUSED_THRESHOLD, basis)
