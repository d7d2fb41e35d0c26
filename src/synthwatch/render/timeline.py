"""Draw a report as a picture: per-segment scores over time, and sampled frames with face boxes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..types import DetectorStatus, Report

__all__ = ["ThumbnailCollector", "draw_timeline"]


class ThumbnailCollector:
    """A scan hook that keeps the ``frame`` artefacts (thumbnails with face boxes) for drawing."""

    def __init__(self, inner: Any = None) -> None:
        self.frames: list[dict[str, Any]] = []
        self._inner = inner

    def __call__(self, step: str, info: dict[str, Any]) -> None:
        if step == "frame":
            self.frames.append(info)
        if self._inner is not None:
            self._inner(step, info)


def draw_timeline(report: Report, out: Path, frames: list[dict[str, Any]] | None = None) -> Path:
    """Write a PNG: one score track per detector with its threshold, face tracks, and thumbnails."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    frames = frames or []
    timed = [d for d in report.detectors if d.status == DetectorStatus.OK and d.segments]
    duration = report.media.duration_s if report.media and report.media.duration_s else None
    n_thumbs = min(len(frames), 6)
    rows = 1 + (1 if n_thumbs else 0)
    fig = plt.figure(figsize=(12, 3.6 * rows), dpi=110)
    gs = fig.add_gridspec(rows, max(1, n_thumbs), height_ratios=[1.0] + ([1.1] if n_thumbs else []))
    ax = fig.add_subplot(gs[0, :])
    colours = plt.get_cmap("tab10")
    if timed and duration:
        for i, d in enumerate(timed):
            c = colours(i % 10)
            xs: list[float] = []
            ys: list[float] = []
            for s in sorted(d.segments, key=lambda s: s.start_s):
                end = s.end_s if s.end_s > s.start_s else s.start_s + 0.05
                xs += [s.start_s, end]
                ys += [s.score, s.score]
            ax.plot(xs, ys, color=c, lw=1.8, label=f"{d.name} ({d.modality}) = {d.score:.2f}")
            if d.threshold is not None:
                ax.axhline(d.threshold, color=c, ls="--", lw=0.8)
        for t in report.faces:
            for det_name, sc in t.scores.items():
                ax.plot([t.start_s, max(t.end_s, t.start_s + 0.05)], [sc, sc], lw=4, alpha=0.5,
                        label=f"face track {t.track_id}: {det_name} = {sc:.2f}")
        ax.set_xlim(0, duration)
        ax.set_xlabel("time (s)")
    else:
        ok = [d for d in report.detectors if d.status == DetectorStatus.OK and d.score is not None]
        names = [d.name for d in ok]
        ax.barh(names, [float(d.score or 0.0) for d in ok], color=[colours(i % 10) for i in range(len(ok))])
        for i, d in enumerate(ok):
            if d.threshold is not None:
                ax.plot([d.threshold, d.threshold], [i - 0.4, i + 0.4], color="k", ls="--", lw=1)
        ax.set_xlim(0, 1)
        ax.set_xlabel("score (dashed: threshold)")
    if timed and duration:
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("P(synthetic)")
        ax.legend(loc="upper right", fontsize=7, ncol=2)
    v = report.verdict
    score = "n/a" if v.score is None else f"{v.score:.2f}"
    ax.set_title(f"{Path(report.source).name}: {v.label} (fused score {score})", fontsize=11)
    ax.grid(alpha=0.3)
    if n_thumbs:
        idx = np.linspace(0, len(frames) - 1, n_thumbs).round().astype(int)
        for col, i in enumerate(idx):
            fr = frames[int(i)]
            tax = fig.add_subplot(gs[1, col])
            tax.imshow(fr["image"])
            scale = float(fr.get("scale", 1.0))
            for face in fr.get("faces", []):
                x0, y0, x1, y1 = (c * min(scale, 1.0) for c in face["box"])
                tax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime", lw=1.5))
                tax.text(x0, max(0, y0 - 3), f"#{face['track_id']}", color="lime", fontsize=7)
            tax.set_title(f"t={fr['t_s']:.1f}s", fontsize=8)
            tax.axis("off")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
