"""The report's charts (matplotlib, SVG): review latency distribution, decisions by hour of day,
detector ROC curves, label conformance, and volumes over time.

Charts are drawn from the evidence's series (never from anything else), as deterministic SVG
(fixed hash salt, no date), so each chart's sha256 in the evidence appendix is reproducible. Text
in a chart is bilingual when a CJK font (WenQuanYi Micro Hei, Noto Sans CJK) is installed, English
otherwise; the chart's caption in the report is always bilingual. Names that come from data
(detectors) are shown as inert, truncated text.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from typing import Any

from ..render.text import printable

__all__ = ["cjk_font", "latency_chart", "hours_chart", "roc_chart", "conformance_chart", "volumes_chart"]

_CJK = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC")
BLUE, ORANGE, GREEN, RED, GREY = "#1f5f99", "#d9822b", "#3c8d40", "#b8322a", "#777777"


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed CJK font matplotlib can draw Chinese with, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    found = next((n for n in _CJK if n in names), None)
    if found is None:  # a font installed after matplotlib's font cache was built: add it by its file
        for path in font_manager.findSystemFonts():
            if any(k in path.lower() for k in ("wqy", "notosanscjk", "noto-cjk", "sourcehansans")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        names = {f.name for f in font_manager.fontManager.ttflist}
        found = next((n for n in _CJK if n in names), None)
    return found


def _t(zh: str, en: str) -> str:
    return f"{zh} {en}" if cjk_font() else en


def _figure(w: float = 6.4, h: float = 3.0) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100)


def _svg(fig: Any) -> bytes:
    import matplotlib

    buf = io.BytesIO()
    family = [cjk_font(), "DejaVu Sans"] if cjk_font() else ["DejaVu Sans"]
    with matplotlib.rc_context({"svg.hashsalt": "synthwatch-assess", "svg.fonttype": "path",
                                "font.family": "sans-serif", "font.sans-serif": family, "font.size": 9}):
        fig.tight_layout()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "synthwatch"})
    return buf.getvalue()


def _style(ax: Any, *, counts: bool = False) -> None:
    if counts:  # counts of cases or decisions: whole numbers on the axis
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _dur(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "∞"
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s / 60:.0f}m"
    if s < 86400:
        return f"{s / 3600:.0f}h"
    return f"{s / 86400:.0f}d"


def latency_chart(hist: dict[str, Any], p50: float | None, p95: float | None, *,
                  zh: str = "复核时延", en: str = "Review latency") -> bytes:
    edges = [e if e is not None else math.inf for e in hist["edges_s"]]
    counts = list(hist["counts"])
    labels = [f"{_dur(edges[i])}–{_dur(edges[i + 1])}" for i in range(len(counts))]
    fig = _figure()
    ax = fig.add_subplot()
    colors = []
    for i in range(len(counts)):
        hi = edges[i + 1]
        colors.append(RED if p95 is not None and edges[i] <= p95 < hi else
                      ORANGE if p50 is not None and edges[i] <= p50 < hi else BLUE)
    ax.bar(range(len(counts)), counts, color=colors)
    ax.set_xticks(range(len(counts)), labels, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel(_t("案件数", "cases"))
    ax.set_title(_t(zh, en) + f"   p50 {_dur(p50) if p50 is not None else 'n/a'} · "
                                f"p95 {_dur(p95) if p95 is not None else 'n/a'}", fontsize=9)
    _style(ax, counts=True)
    return _svg(fig)


def hours_chart(profile: list[int], tz_hours: float) -> bytes:
    fig = _figure(6.4, 2.4)
    ax = fig.add_subplot()
    ax.bar(range(24), profile, color=[BLUE if v else "#cccccc" for v in profile])
    ax.set_xticks(range(0, 24, 2))
    sign = "+" if tz_hours >= 0 else "-"
    ax.set_xlabel(_t("时（UTC", "hour (UTC") + f"{sign}{abs(tz_hours):g})")
    ax.set_ylabel(_t("处置数", "decisions"))
    _style(ax, counts=True)
    return _svg(fig)


def roc_chart(curves: dict[str, dict[str, Any]]) -> bytes:
    fig = _figure(4.8, 4.2)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle="--", linewidth=0.8)
    palette = [BLUE, ORANGE, GREEN, RED, "#6a3d9a", "#8c564b"]
    drawn = 0
    for i, (name, c) in enumerate(sorted(curves.items())):
        roc = c.get("roc") or {}
        if not roc.get("fpr"):
            continue
        auc = c.get("auc")
        label = printable(name, multiline=False)[:30] + (f"  AUC {auc:.3f}" if isinstance(auc, int | float) else "")
        ax.plot(roc["fpr"], roc["tpr"], color=palette[i % len(palette)], linewidth=1.4, label=label)
        drawn += 1
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(_t("误报率", "false-positive rate"))
    ax.set_ylabel(_t("检出率", "true-positive rate"))
    if drawn:
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    else:
        ax.text(0.5, 0.5, _t("无逐项得分", "no per-item scores"), ha="center", va="center", color=GREY)
    _style(ax)
    return _svg(fig)


def conformance_chart(by_outcome: dict[str, int]) -> bytes:
    rows = [(_t("符合", "conforming"), by_outcome.get("conforming", 0), GREEN),
            (_t("不符合", "not conforming"), by_outcome.get("not_conforming", 0), RED),
            (_t("写入失败", "write failed"), by_outcome.get("write_failed", 0), ORANGE)]
    fig = _figure(6.4, 1.9)
    ax = fig.add_subplot()
    ax.barh([r[0] for r in rows], [r[1] for r in rows], color=[r[2] for r in rows])
    for i, r in enumerate(rows):
        ax.text(r[1], i, f" {r[1]}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(_t("已标识副本", "labelled copies"))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def volumes_chart(per_day: dict[str, dict[str, float]]) -> bytes:
    days = list(per_day)
    fig = _figure(6.4, 2.8)
    ax = fig.add_subplot()
    x = list(range(len(days)))
    for key, color, zh, en in (("scans", BLUE, "检测", "scans"), ("cases", ORANGE, "开案", "cases"),
                               ("reports", GREEN, "举报", "reports")):
        ax.plot(x, [per_day[d].get(key, 0) for d in days], marker="o", markersize=3, color=color, linewidth=1.2,
                label=_t(zh, en))
    speech_h = [per_day[d].get("room_speech_s", 0) / 3600.0 for d in days]
    if any(speech_h):
        ax2 = ax.twinx()
        ax2.bar(x, speech_h, color="#999999", alpha=0.35, label=_t("直播间发言小时", "live-room speech hours"))
        ax2.set_ylabel(_t("小时", "hours"))
        ax2.spines["top"].set_visible(False)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, frameon=False, loc="upper left")
    else:
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    step = max(1, len(days) // 10)
    ax.set_xticks(x[::step], [d[5:] for d in days][::step], fontsize=7)
    ax.set_ylabel(_t("每日数量", "per day"))
    _style(ax)
    return _svg(fig)
