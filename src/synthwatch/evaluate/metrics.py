"""Detection metrics, with NumPy only (no scikit-learn at run time; the tests check against it).

Conventions, everywhere in :mod:`synthwatch.evaluate`:

* ``labels``: 1 = fake / spoof / synthetic (the *positive* class), 0 = real / bona fide.
* ``scores``: higher = more likely fake (a detector's score).
* An item is called fake at threshold ``t`` when ``score >= t``. FPR = share of reals called fake;
  TPR (recall) = share of fakes called fake; FNR = 1 - TPR.
* Operating points are taken at every distinct score (ties move together), plus "nothing is called
  fake" (threshold +inf), exactly as ``sklearn.metrics.roc_curve(drop_intermediate=False)``.

Definitions:

* **ROC AUC**: trapezoidal area under the ROC points (= the Mann-Whitney statistic, ties count
  half), the same number as ``sklearn.metrics.roc_auc_score``.
* **Average precision**: ``sum_k (R_k - R_{k-1}) P_k`` over descending thresholds, no
  interpolation (the same as ``sklearn.metrics.average_precision_score``).
* **EER**: the ASVspoof definition (``compute_eer`` of the ASVspoof 2019 / ASVspoof 5 evaluation
  packages): at the operating point where ``|FNR - FPR|`` is smallest, ``(FNR + FPR) / 2``. The
  threshold is reported as the midpoint between that point's score and the next lower distinct
  score, so that it sits in the gap and reproduces the operating point on these data.
* **TPR at FPR x**: the highest TPR among operating points with ``FPR <= x`` (no interpolation).
  With ``n_real`` reals, FPRs below ``1 / n_real`` cannot be told apart from 0: the result carries
  ``resolvable = n_real * x >= 1``.
* **Expected calibration error**: the score read as P(fake), 15 equal-width bins on [0, 1],
  ``sum_b n_b / N * |mean(label)_b - mean(score)_b|`` (the binary reliability form of Guo et al.,
  ICML 2017).
* **min t-DCF**: the ASVspoof 2019 formulation (Kinnunen et al., "t-DCF: a detection cost function
  for the tandem assessment of spoofing countermeasures and automatic speaker verification",
  Odyssey 2018; ASVspoof 2019 evaluation plan and its ``evaluate_tDCF_asvspoof19.py``) with the
  ASVspoof 2019 cost model (``P_spoof = 0.05``, ``P_tar = 0.95 * 0.99``, ``P_non = 0.95 * 0.01``,
  ``C_miss = 1``, ``C_fa = 10`` for both ASV and CM), the ASV operated at its own EER threshold. It
  needs ASV scores (target / nontarget / spoof); without them it is not computed.
* **min DCF** (stand-alone countermeasure): the ASVspoof 5 Track 1 cost, as in
  ``asvspoof-challenge/asvspoof5``'s ``evaluation-package/calculate_metrics.py``
  (``P_spoof = 0.05``, ``C_miss = 1``, ``C_fa = 10``): ``min_t (C_miss (1 - P_spoof) P_miss_cm(t) +
  C_fa P_spoof P_fa_cm(t)) / min(C_miss (1 - P_spoof), C_fa P_spoof)``, where ``P_miss_cm`` is the
  share of bona fide rejected (our FPR) and ``P_fa_cm`` the share of spoofs accepted (our FNR). It
  needs no ASV system; it is *not* a t-DCF and is reported under its own name.
* **Bootstrap confidence intervals**: stratified (reals and fakes resampled separately, each to its
  own count), seeded, percentile intervals (95% by default).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = [
    "FPR_TARGETS",
    "ECE_BINS",
    "ASVSPOOF2019_COST_MODEL",
    "ASVSPOOF5_DCF_COST_MODEL",
    "Curve",
    "Operating",
    "FittedThreshold",
    "as_arrays",
    "roc_curve",
    "roc_auc",
    "average_precision",
    "eer",
    "tpr_at_fpr",
    "at_threshold",
    "expected_calibration_error",
    "reliability",
    "asv_error_rates",
    "min_tdcf",
    "min_dcf",
    "parse_method",
    "fit_threshold",
    "AGGREGATIONS",
    "aggregate",
    "bootstrap_ci",
    "aggregate_groups",
    "summary",
]

#: the FPR targets reported by default (1% and 0.1%)
FPR_TARGETS: tuple[float, ...] = (0.01, 0.001)
ECE_BINS = 15

#: ASVspoof 2019 t-DCF cost model (evaluation plan; ``evaluate_tDCF_asvspoof19.py``)
ASVSPOOF2019_COST_MODEL: dict[str, float] = {
    "p_spoof": 0.05,
    "p_tar": (1 - 0.05) * 0.99,
    "p_non": (1 - 0.05) * 0.01,
    "c_miss_asv": 1.0,
    "c_fa_asv": 10.0,
    "c_miss_cm": 1.0,
    "c_fa_cm": 10.0,
}

#: ASVspoof 5 Track 1 (stand-alone CM) DCF cost model (``calculate_metrics.py``)
ASVSPOOF5_DCF_COST_MODEL: dict[str, float] = {"p_spoof": 0.05, "c_miss": 1.0, "c_fa": 10.0}


# ---------------------------------------------------------------------------------------- inputs
def as_arrays(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert: labels to int8 {0, 1}, scores to finite float64, same length."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise ConfigError(f"labels {y.shape} and scores {s.shape} must be 1-D and of the same length")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ConfigError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(s).all():
        raise ConfigError("scores must be finite")
    return y.astype(np.int8), s


def _both_classes(y: np.ndarray) -> bool:
    return bool(y.size) and 0 < int(y.sum()) < y.size


# ---------------------------------------------------------------------------------------- curve
@dataclass(frozen=True)
class Curve:
    """All operating points of one (weighted) score set, thresholds descending.

    ``tp[k]`` / ``fp[k]``: (weighted) fakes / reals with ``score >= thresholds[k]``; index 0 is
    "nothing called fake" (threshold +inf). ``lower[k]`` is the next lower distinct score (-inf
    after the last).
    """

    thresholds: np.ndarray
    lower: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    n_pos: float
    n_neg: float

    @property
    def tpr(self) -> np.ndarray:
        return self.tp / self.n_pos if self.n_pos > 0 else np.full_like(self.tp, np.nan)

    @property
    def fpr(self) -> np.ndarray:
        return self.fp / self.n_neg if self.n_neg > 0 else np.full_like(self.fp, np.nan)

    def threshold_at(self, k: int) -> float:
        """A threshold that reproduces operating point ``k``: the midpoint of the gap below it."""
        t, lo = float(self.thresholds[k]), float(self.lower[k])
        if math.isinf(t):  # nothing called fake: just above the highest score
            return float(np.nextafter(lo, np.inf)) if math.isfinite(lo) else 1.0
        if math.isinf(lo):
            return t
        return (t + lo) / 2.0


def _curve_sorted(s_desc: np.ndarray, y_desc: np.ndarray, w: np.ndarray | None = None) -> Curve:
    """Curve from scores sorted descending (``s_desc``), their labels and optional weights."""
    n = s_desc.size
    if n == 0:
        empty = np.zeros(1)
        return Curve(np.array([np.inf]), np.array([-np.inf]), empty, empty, 0.0, 0.0)
    ww = np.ones(n) if w is None else w
    pos = np.cumsum(ww * y_desc)
    tot = np.cumsum(ww)
    last = np.r_[np.nonzero(np.diff(s_desc))[0], n - 1]  # last index of each distinct score
    tp = np.r_[0.0, pos[last]]
    fp = np.r_[0.0, tot[last] - pos[last]]
    thr = np.r_[np.inf, s_desc[last]]
    lower = np.r_[s_desc[last], -np.inf]
    return Curve(thr, lower, tp, fp, float(pos[-1]), float(tot[-1] - pos[-1]))


def _curve(y: np.ndarray, s: np.ndarray) -> Curve:
    order = np.argsort(-s, kind="mergesort")
    return _curve_sorted(s[order], y[order])


def roc_curve(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` at every distinct score plus +inf (first), descending thresholds."""
    y, s = as_arrays(labels, scores)
    c = _curve(y, s)
    return c.fpr, c.tpr, c.thresholds


# ---------------------------------------------------------------------------------------- metrics
def _auc(c: Curve) -> float:
    if c.n_pos <= 0 or c.n_neg <= 0:
        return math.nan
    tpr, fpr = c.tpr, c.fpr
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def _ap(c: Curve) -> float:
    if c.n_pos <= 0:
        return math.nan
    called = c.tp + c.fp
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(called > 0, c.tp / np.where(called > 0, called, 1), 1.0)
    recall = c.tpr
    return float(np.sum(np.diff(recall) * precision[1:]))


def _eer(c: Curve) -> tuple[float, float, int]:
    if c.n_pos <= 0 or c.n_neg <= 0:
        return math.nan, math.nan, -1
    fnr, fpr = 1.0 - c.tpr, c.fpr
    k = int(np.argmin(np.abs(fnr - fpr)))
    return float((fnr[k] + fpr[k]) / 2.0), c.threshold_at(k), k


def _tpr_at(c: Curve, target: float) -> tuple[float, float, int]:
    if c.n_pos <= 0 or c.n_neg <= 0:
        return math.nan, math.nan, -1
    ok = np.nonzero(c.fpr <= target + 1e-12)[0]  # never empty: index 0 has FPR 0
    tpr = c.tpr
    k = int(ok[np.argmax(tpr[ok])])
    return float(tpr[k]), c.threshold_at(k), k


def roc_auc(labels: Any, scores: Any) -> float:
    """ROC AUC; NaN unless both classes are present."""
    y, s = as_arrays(labels, scores)
    return _auc(_curve(y, s))


def average_precision(labels: Any, scores: Any) -> float:
    """Average precision (fakes = positives); NaN without fakes."""
    y, s = as_arrays(labels, scores)
    return _ap(_curve(y, s))


def eer(labels: Any, scores: Any) -> tuple[float, float]:
    """``(EER, threshold)`` (ASVspoof definition, see the module docstring); NaNs unless both classes."""
    y, s = as_arrays(labels, scores)
    e, t, _ = _eer(_curve(y, s))
    return e, t


def tpr_at_fpr(labels: Any, scores: Any, target: float) -> tuple[float, float]:
    """``(TPR, threshold)``: the best TPR with FPR <= ``target``."""
    if not 0.0 <= target <= 1.0:
        raise ConfigError(f"target FPR {target} is not in [0, 1]")
    y, s = as_arrays(labels, scores)
    v, t, _ = _tpr_at(_curve(y, s), target)
    return v, t


@dataclass(frozen=True)
class Operating:
    """Counts and rates at one threshold (fake when ``score >= threshold``)."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @staticmethod
    def _ratio(a: float, b: float) -> float:
        return a / b if b > 0 else math.nan

    @property
    def accuracy(self) -> float:
        return self._ratio(self.tp + self.tn, self.n)

    @property
    def precision(self) -> float:
        return self._ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return self._ratio(self.tp, self.tp + self.fn)

    @property
    def fpr(self) -> float:
        return self._ratio(self.fp, self.fp + self.tn)

    @property
    def fnr(self) -> float:
        return self._ratio(self.fn, self.tp + self.fn)

    @property
    def balanced_accuracy(self) -> float:
        r, f = self.recall, self.fpr
        if math.isnan(r) or math.isnan(f):
            return math.nan
        return (r + 1.0 - f) / 2.0

    @property
    def f1(self) -> float:
        return self._ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy,
                "precision": self.precision, "recall": self.recall, "fpr": self.fpr, "fnr": self.fnr, "f1": self.f1,
                "tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn}


def at_threshold(labels: Any, scores: Any, threshold: float) -> Operating:
    """Confusion counts at ``threshold`` (fake when ``score >= threshold``)."""
    y, s = as_arrays(labels, scores)
    pred = s >= float(threshold)
    pos = y == 1
    return Operating(float(threshold), tp=int(np.sum(pred & pos)), fp=int(np.sum(pred & ~pos)),
                     tn=int(np.sum(~pred & ~pos)), fn=int(np.sum(~pred & pos)))


def _bins(s: np.ndarray, n_bins: int) -> np.ndarray:
    out: np.ndarray = np.minimum((np.clip(s, 0.0, 1.0) * n_bins).astype(np.int64), n_bins - 1)
    return out


def _ece(y: np.ndarray, s: np.ndarray, n_bins: int, w: np.ndarray | None = None) -> float:
    if y.size == 0:
        return math.nan
    ww = np.ones(y.size) if w is None else w
    b = _bins(s, n_bins)
    n_b = np.bincount(b, weights=ww, minlength=n_bins)
    y_b = np.bincount(b, weights=ww * y, minlength=n_bins)
    s_b = np.bincount(b, weights=ww * np.clip(s, 0.0, 1.0), minlength=n_bins)
    total = float(n_b.sum())
    return float(np.sum(np.abs(y_b - s_b)) / total) if total > 0 else math.nan


def expected_calibration_error(labels: Any, scores: Any, n_bins: int = ECE_BINS) -> float:
    """ECE of the scores read as P(fake) (equal-width bins on [0, 1]; scores are clipped to it)."""
    if n_bins < 1:
        raise ConfigError("n_bins must be at least 1")
    y, s = as_arrays(labels, scores)
    return _ece(y, s, n_bins)


def reliability(labels: Any, scores: Any, n_bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per-bin ``lo, hi, n, mean_score, frac_fake`` (bins with no item are left out)."""
    y, s = as_arrays(labels, scores)
    b = _bins(s, n_bins)
    out = []
    for k in range(n_bins):
        m = b == k
        if m.any():
            out.append({"lo": k / n_bins, "hi": (k + 1) / n_bins, "n": int(m.sum()),
                        "mean_score": float(np.clip(s[m], 0, 1).mean()), "frac_fake": float(y[m].mean())})
    return out


# ---------------------------------------------------------------------------------------- DCF
def asv_error_rates(target: Any, nontarget: Any, spoof: Any) -> tuple[float, float, float]:
    """``(Pfa_asv, Pmiss_asv, Pmiss_spoof_asv)`` of an ASV system at its own EER threshold
    (ASV scores: higher = more likely the target speaker), as ``obtain_asv_error_rates`` of the
    ASVspoof 2019 tools: accept when ``score >= threshold``."""
    tar = np.asarray(target, dtype=np.float64)
    non = np.asarray(nontarget, dtype=np.float64)
    spf = np.asarray(spoof, dtype=np.float64)
    if tar.size == 0 or non.size == 0 or spf.size == 0:
        raise ConfigError("ASV error rates need target, nontarget and spoof ASV scores")
    y = np.r_[np.ones(tar.size, np.int8), np.zeros(non.size, np.int8)]
    c = _curve(*as_arrays(y, np.r_[tar, non]))
    _, thr, _ = _eer(c)
    return (float(np.mean(non >= thr)), float(np.mean(tar < thr)), float(np.mean(spf < thr)))


def min_tdcf(labels: Any, scores: Any, pfa_asv: float, pmiss_asv: float, pmiss_spoof_asv: float,
             cost_model: dict[str, float] | None = None) -> tuple[float, float]:
    """``(min normalised t-DCF, CM threshold)``, ASVspoof 2019 formulation (module docstring).

    ``C1 = P_tar (C_miss_cm - C_miss_asv Pmiss_asv) - P_non C_fa_asv Pfa_asv``,
    ``C2 = C_fa_cm P_spoof (1 - Pmiss_spoof_asv)``,
    ``t-DCF_norm(t) = (C1 Pmiss_cm(t) + C2 Pfa_cm(t)) / min(C1, C2)``.
    """
    cm = {**ASVSPOOF2019_COST_MODEL, **(cost_model or {})}
    c1 = cm["p_tar"] * (cm["c_miss_cm"] - cm["c_miss_asv"] * pmiss_asv) - cm["p_non"] * cm["c_fa_asv"] * pfa_asv
    c2 = cm["c_fa_cm"] * cm["p_spoof"] * (1.0 - pmiss_spoof_asv)
    if c1 < 0 or c2 < 0:
        raise ConfigError(f"t-DCF weights are negative (C1={c1:.4g}, C2={c2:.4g}): check the ASV error rates")
    y, s = as_arrays(labels, scores)
    c = _curve(y, s)
    if c.n_pos <= 0 or c.n_neg <= 0 or min(c1, c2) <= 0:
        return math.nan, math.nan
    pmiss_cm, pfa_cm = c.fpr, 1.0 - c.tpr
    curve = (c1 * pmiss_cm + c2 * pfa_cm) / min(c1, c2)
    k = int(np.argmin(curve))
    return float(curve[k]), c.threshold_at(k)


def _min_dcf(c: Curve, p_spoof: float, c_miss: float, c_fa: float) -> tuple[float, float]:
    if c.n_pos <= 0 or c.n_neg <= 0:
        return math.nan, math.nan
    p_bona = 1.0 - p_spoof
    det = c_miss * p_bona * c.fpr + c_fa * p_spoof * (1.0 - c.tpr)
    norm = det / min(c_miss * p_bona, c_fa * p_spoof)
    k = int(np.argmin(norm))
    return float(norm[k]), c.threshold_at(k)


def min_dcf(labels: Any, scores: Any, p_spoof: float = 0.05, c_miss: float = 1.0,
            c_fa: float = 10.0) -> tuple[float, float]:
    """``(min normalised DCF, threshold)`` of a stand-alone countermeasure (ASVspoof 5 Track 1 cost)."""
    if not 0 < p_spoof < 1 or c_miss <= 0 or c_fa <= 0:
        raise ConfigError("min DCF needs 0 < p_spoof < 1 and positive costs")
    y, s = as_arrays(labels, scores)
    return _min_dcf(_curve(y, s), p_spoof, c_miss, c_fa)


# ---------------------------------------------------------------------------------------- thresholds
@dataclass(frozen=True)
class FittedThreshold:
    """A threshold fitted on a calibration set, and what it achieved there."""

    threshold: float
    method: str  # "eer" | "fpr"
    target_fpr: float | None
    fpr: float
    tpr: float
    n_real: int
    n_fake: int

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "method": self.method, "target_fpr": self.target_fpr,
                "fpr_on_fit": self.fpr, "tpr_on_fit": self.tpr, "n_real": self.n_real, "n_fake": self.n_fake,
                "resolvable": self.resolvable}

    @property
    def resolvable(self) -> bool:
        """False when the calibration split has too few reals to measure the target FPR."""
        return self.target_fpr is None or self.n_real * self.target_fpr >= 1.0


def parse_method(method: str) -> tuple[str, float | None]:
    """``"eer"`` or ``"fpr:0.01"`` (also ``"fpr:1%"``) -> ``(kind, target)``."""
    m = method.strip().lower()
    if m == "eer":
        return "eer", None
    if m.startswith("fpr:"):
        raw = m[4:].strip()
        try:
            target = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
        except ValueError as exc:
            raise ConfigError(f"bad calibration target {method!r}: use eer or fpr:0.01") from exc
        if not 0.0 < target < 1.0:
            raise ConfigError(f"calibration target FPR {target} must be in (0, 1)")
        return "fpr", target
    raise ConfigError(f"unknown calibration method {method!r}: use eer or fpr:TARGET (e.g. fpr:0.01)")


def fit_threshold(labels: Any, scores: Any, method: str = "eer") -> FittedThreshold:
    """Fit a threshold on a calibration split: at its EER point (``"eer"``) or at the highest TPR
    with FPR <= target (``"fpr:0.01"``). Needs both classes. The threshold is the midpoint of the
    score gap below the chosen operating point (see :class:`Curve`)."""
    kind, target = parse_method(method)
    y, s = as_arrays(labels, scores)
    if not _both_classes(y):
        raise ConfigError("fitting a threshold needs both real and fake items in the calibration split")
    c = _curve(y, s)
    if kind == "eer":
        _, thr, k = _eer(c)
    else:
        assert target is not None
        _, thr, k = _tpr_at(c, target)
    return FittedThreshold(thr, kind, target, float(c.fpr[k]), float(c.tpr[k]),
                           n_real=int(np.sum(y == 0)), n_fake=int(np.sum(y == 1)))


# ---------------------------------------------------------------------------------------- bootstrap
def _point_stats(c: Curve, y: np.ndarray, s: np.ndarray, w: np.ndarray | None,
                 targets: Sequence[float], ece_bins: int, dcf: dict[str, float] | None) -> dict[str, float]:
    out = {"auc": _auc(c), "ap": _ap(c), "eer": _eer(c)[0], "ece": _ece(y, s, ece_bins, w)}
    for t in targets:
        out[f"tpr@{t:g}"] = _tpr_at(c, t)[0]
    if dcf is not None:
        out["min_dcf"] = _min_dcf(c, dcf["p_spoof"], dcf["c_miss"], dcf["c_fa"])[0]
    return out


def bootstrap_ci(labels: Any, scores: Any, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                 targets: Sequence[float] = FPR_TARGETS, ece_bins: int = ECE_BINS,
                 dcf: dict[str, float] | None = None) -> dict[str, tuple[float, float]]:
    """Stratified percentile bootstrap intervals for ``auc``, ``ap``, ``eer``, ``ece``,
    ``tpr@<target>`` (and ``min_dcf`` with a ``dcf`` cost model).

    Each replicate draws ``n_real`` reals and ``n_fake`` fakes with replacement (as integer
    weights on the once-sorted scores, so a replicate costs O(n), not a sort). Deterministic for a
    given ``seed``. Returns NaN bounds when a class is missing or ``n_boot`` is 0.
    """
    y, s = as_arrays(labels, scores)
    names = ["auc", "ap", "eer", "ece", *(f"tpr@{t:g}" for t in targets)] + (["min_dcf"] if dcf else [])
    if n_boot <= 0 or not _both_classes(y):
        return {k: (math.nan, math.nan) for k in names}
    if not 0.0 < level < 1.0:
        raise ConfigError("confidence level must be in (0, 1)")
    order = np.argsort(-s, kind="mergesort")
    s_desc, y_desc = s[order], y[order]
    pos = np.nonzero(y_desc == 1)[0]
    neg = np.nonzero(y_desc == 0)[0]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in names}
    n = y.size
    for _ in range(n_boot):
        w = np.zeros(n)
        w[pos] = np.bincount(rng.integers(0, pos.size, pos.size), minlength=pos.size)
        w[neg] = np.bincount(rng.integers(0, neg.size, neg.size), minlength=neg.size)
        keep = w > 0
        c = _curve_sorted(s_desc[keep], y_desc[keep], w[keep])
        stats = _point_stats(c, y_desc[keep], s_desc[keep], w[keep], targets, ece_bins, dcf)
        for k in names:
            draws[k].append(stats[k])
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out = {}
    for k in names:
        arr = np.asarray(draws[k], dtype=np.float64)
        arr = arr[np.isfinite(arr)]
        out[k] = (float(np.percentile(arr, lo_q)), float(np.percentile(arr, hi_q))) if arr.size else (math.nan, math.nan)
    return out


# ---------------------------------------------------------------------------------------- groups
_AGG: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda a: float(np.mean(a)),
    "max": lambda a: float(np.max(a)),
    "median": lambda a: float(np.median(a)),
    # the scan pipeline's rule (synthwatch.pipeline.fusion.top_quarter_mean)
    "topq": lambda a: float(np.sort(a)[-max(1, math.ceil(a.size / 4)):].mean()),
}
AGGREGATIONS = tuple(_AGG)


def aggregate(values: Sequence[float] | np.ndarray, how: str = "mean") -> float:
    """One score from several (``mean``, ``max``, ``median`` or ``topq`` = mean of the top quarter)."""
    if how not in _AGG:
        raise ConfigError(f"unknown aggregation {how!r}; use one of {', '.join(AGGREGATIONS)}")
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        raise ConfigError("nothing to aggregate")
    return _AGG[how](a)


def aggregate_groups(groups: Sequence[str], labels: Any, scores: Any,
                     how: str = "mean") -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate item scores into one score per explicit group id (e.g. the frames or clips of one
    video). Returns ``(group_ids, labels, scores, sizes)`` in first-seen order. A group whose items
    disagree on the label raises :class:`ConfigError`."""
    y, s = as_arrays(labels, scores)
    if len(groups) != y.size:
        raise ConfigError("one group id per item is needed")
    index: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        index.setdefault(str(g), []).append(i)
    ids = list(index)
    gl = np.empty(len(ids), np.int8)
    gs = np.empty(len(ids), np.float64)
    sizes = np.empty(len(ids), np.int64)
    for j, g in enumerate(ids):
        idx = np.asarray(index[g])
        lab = np.unique(y[idx])
        if lab.size != 1:
            raise ConfigError(f"group {g!r} mixes real and fake items")
        gl[j] = lab[0]
        gs[j] = aggregate(s[idx], how)
        sizes[j] = idx.size
    return ids, gl, gs, sizes


# ---------------------------------------------------------------------------------------- summary
def summary(labels: Any, scores: Any, *, thresholds: dict[str, float] | None = None,
            targets: Sequence[float] = FPR_TARGETS, n_boot: int = 1000, seed: int = 0,
            ece_bins: int = ECE_BINS, dcf: dict[str, float] | None = None,
            tdcf_asv: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """Every metric of one score set, JSON-ready (NaN where undefined, converted by the writer).

    ``thresholds``: name -> threshold for the ``at_threshold`` block (e.g. ``card``, ``fitted``).
    ``dcf``: a stand-alone CM cost model (:data:`ASVSPOOF5_DCF_COST_MODEL`) to add ``min_dcf``.
    ``tdcf_asv``: ``(Pfa_asv, Pmiss_asv, Pmiss_spoof_asv)`` to add ``min_tdcf`` (ASVspoof 2019).
    """
    y, s = as_arrays(labels, scores)
    n_real, n_fake = int(np.sum(y == 0)), int(np.sum(y == 1))
    c = _curve(y, s)
    ci = bootstrap_ci(y, s, n_boot=n_boot, seed=seed, targets=targets, ece_bins=ece_bins, dcf=dcf)
    e, e_thr, _ = _eer(c)
    out: dict[str, Any] = {
        "n_real": n_real,
        "n_fake": n_fake,
        "auc": {"value": _auc(c), "ci95": list(ci["auc"])},
        "eer": {"value": e, "threshold": e_thr, "ci95": list(ci["eer"])},
        "ap": {"value": _ap(c), "ci95": list(ci["ap"])},
        "tpr_at_fpr": {},
        "ece": {"value": _ece(y, s, ece_bins), "bins": ece_bins, "ci95": list(ci["ece"])},
        "at_threshold": {},
        "score_mean": {"real": float(s[y == 0].mean()) if n_real else math.nan,
                       "fake": float(s[y == 1].mean()) if n_fake else math.nan},
    }
    for t in targets:
        v, thr, _ = _tpr_at(c, t)
        out["tpr_at_fpr"][f"{t:g}"] = {"value": v, "threshold": thr, "ci95": list(ci[f"tpr@{t:g}"]),
                                       "resolvable": bool(n_real * t >= 1.0)}
    for name, thr in (thresholds or {}).items():
        out["at_threshold"][name] = at_threshold(y, s, thr).to_dict()
    if dcf is not None:
        v, thr = _min_dcf(c, dcf["p_spoof"], dcf["c_miss"], dcf["c_fa"])
        out["min_dcf"] = {"value": v, "threshold": thr, "ci95": list(ci["min_dcf"]),
                          "cost_model": dict(dcf), "definition": "ASVspoof 5 stand-alone CM DCF"}
    if tdcf_asv is not None:
        v, thr = min_tdcf(y, s, *tdcf_asv)
        out["min_tdcf"] = {"value": v, "threshold": thr, "cost_model": dict(ASVSPOOF2019_COST_MODEL),
                           "asv": {"pfa": tdcf_asv[0], "pmiss": tdcf_asv[1], "pmiss_spoof": tdcf_asv[2]},
                           "definition": "ASVspoof 2019 t-DCF"}
    return out
