"""ROC curves, DET curves and score histograms as PNG (Matplotlib's Agg canvas, no pyplot state).

A DET curve plots the miss rate (fakes called real, FNR) against the false-alarm rate (reals called
fake, FPR) on normal-deviate (probit) axes, as in Martin et al., "The DET curve in assessment of
detection task performance" (Eurospeech 1997); rates of 0 or 1 are drawn at half a trial from the
edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np

from . import metrics as M

__all__ = ["Series", "plot_roc", "plot_det", "plot_histogram"]

#: (label, labels, scores)
Series = tuple[str, np.ndarray, np.ndarray]

_DET_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95)
_ND = NormalDist()


def _figure(width: float = 5.5, height: float = 4.5):  # type: ignore[no-untyped-def]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def plot_roc(series: Sequence[Series], path: Path, title: str) -> Path:
    """ROC curves (one per series) with their AUC in the legend."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="0.75", linestyle=":", linewidth=1)
    for label, y, s in series:
        if not (np.any(y == 0) and np.any(y == 1)):
            continue
        fpr, tpr, _ = M.roc_curve(y, s)
        ax.plot(fpr, tpr, linewidth=1.5, label=f"{label} (AUC {M.roc_auc(y, s):.3f})", drawstyle="default")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-positive rate (reals called fake)")
    ax.set_ylabel("true-positive rate (fakes caught)")
    ax.set_title(title, fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def _probit(p: np.ndarray, n: int) -> np.ndarray:
    eps = 0.5 / max(n, 1)
    q = np.clip(p, eps, 1 - eps)
    return np.array([_ND.inv_cdf(float(v)) for v in q])


def plot_det(series: Sequence[Series], path: Path, title: str) -> Path:
    """DET curves (probit axes) with their EER in the legend."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    lo, hi = _ND.inv_cdf(_DET_TICKS[0]), _ND.inv_cdf(_DET_TICKS[-1])
    ax.plot([lo, hi], [lo, hi], color="0.75", linestyle=":", linewidth=1)
    for label, y, s in series:
        if not (np.any(y == 0) and np.any(y == 1)):
            continue
        fpr, tpr, _ = M.roc_curve(y, s)
        n_real, n_fake = int(np.sum(y == 0)), int(np.sum(y == 1))
        e, _ = M.eer(y, s)
        ax.plot(_probit(fpr, n_real), _probit(1 - tpr, n_fake), linewidth=1.5, label=f"{label} (EER {100 * e:.2f}%)")
    ticks = [_ND.inv_cdf(t) for t in _DET_TICKS]
    names = [f"{100 * t:g}" for t in _DET_TICKS]
    ax.set_xticks(ticks, names, fontsize=7)
    ax.set_yticks(ticks, names, fontsize=7)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("false-alarm rate, % (reals called fake)")
    ax.set_ylabel("miss rate, % (fakes called real)")
    ax.set_title(title, fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def plot_histogram(y: np.ndarray, s: np.ndarray, path: Path, title: str,
                   thresholds: dict[str, float] | None = None, bins: int = 30) -> Path:
    """Score histograms of reals and fakes (each normalised to its own count), with thresholds."""
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    s = np.asarray(s, dtype=np.float64)
    y = np.asarray(y)
    lo, hi = (0.0, 1.0) if s.size == 0 or (s.min() >= 0 and s.max() <= 1) else (float(s.min()), float(s.max()))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    for lab, name, color in ((0, "real", "tab:blue"), (1, "fake", "tab:red")):
        v = s[y == lab]
        if v.size:
            ax.hist(v, bins=edges, weights=np.full(v.size, 1.0 / v.size), alpha=0.55, color=color,
                    label=f"{name} (n={v.size})")
    styles = ("--", ":", "-.")
    for i, (name, t) in enumerate((thresholds or {}).items()):
        if t is not None and np.isfinite(t):
            ax.axvline(t, color="black", linestyle=styles[i % len(styles)], linewidth=1, label=f"{name} threshold {t:.3g}")
    ax.set_xlabel("score (higher = more likely fake)")
    ax.set_ylabel("share of class")
    ax.set_title(title, fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return _save(fig, path)
