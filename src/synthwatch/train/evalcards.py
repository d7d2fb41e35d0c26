"""Figures for model cards from ``synthwatch eval`` runs (``results.json``), shared by the trainers.

Every figure a card reports is copied from a file a command wrote, with that command; nothing is
typed in by hand. :func:`eval_metrics` reads a run and returns, per detector and condition, the
item-level AUC and EER with their bootstrap intervals, the error rates at the card threshold, and
for runs with reals only (a false-positive check) the share of reals flagged at the card threshold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

__all__ = ["eval_metrics", "flag_rates", "write_card_yaml", "rnd"]


def rnd(v: Any, nd: int = 4) -> Any:
    return round(float(v), nd) if isinstance(v, int | float) and not isinstance(v, bool) else v


def _ci(m: dict[str, Any]) -> list[Any] | None:
    ci = [rnd(v) for v in m.get("ci95") or [] if v is not None]
    return ci or None


def eval_metrics(results: Path, label: str, detectors: tuple[str, ...], *, families: bool = False,
                 group_level: bool = False) -> list[dict[str, Any]]:
    """Card ``metrics`` entries from one ``results.json`` (see the module doc)."""
    d = json.loads(Path(results).read_text(encoding="utf-8"))
    out: list[dict[str, Any]] = []
    for det in d["detectors"]:
        if det["name"] not in detectors or det.get("status") != "ok":
            continue
        for cond in det["conditions"]:
            level = "group_level" if group_level and cond.get("group_level") else "item_level"
            il = cond.get(level) or {}
            base = {"dataset": label, "detector": det["name"], "condition": cond["condition"],
                    "harness": "synthwatch eval", "command": d.get("command")}
            if level == "group_level":
                base["level"] = f"groups ({il.get('aggregation')})"
            if not il:
                continue
            for name, key in (("roc_auc", "auc"), ("eer", "eer")):
                m = il.get(key) or {}
                if m.get("value") is None:
                    continue
                row = {"name": name, "value": rnd(m["value"]), "ci95": _ci(m), "n_real": il.get("n_real"),
                       "n_fake": il.get("n_fake"), **base}
                out.append({k: v for k, v in row.items() if v is not None})
            at = (il.get("at_threshold") or {}).get("card")
            if at:
                out.append({"name": "error_rates_at_card_threshold", **base, "n_real": il.get("n_real"),
                            "n_fake": il.get("n_fake"),
                            **{k: rnd(v) for k, v in at.items() if isinstance(v, int | float)}})
            if families:
                for b in (cond.get("breakdown") or {}).get("family") or []:
                    bm = b.get("metrics") or {}
                    m = bm.get("auc") or {}
                    if m.get("value") is None:
                        continue
                    at_b = (bm.get("at_threshold") or {}).get("card") or {}
                    out.append({"name": "roc_auc", "value": rnd(m["value"]), "ci95": _ci(m),
                                **{**base, "dataset": f"{label}; family {b['value']} vs all reals"},
                                "n_real": bm.get("n_real"), "n_fake": bm.get("n_fake"),
                                **({"recall_at_card_threshold": rnd(at_b["recall"])} if "recall" in at_b else {})})
    return out


def flag_rates(run: Path, label: str, detector: str, threshold: float, *, by: str = "source",
               n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Share of the REAL items of a run that the detector flags at ``threshold`` (its card's), per
    condition and per ``by`` value (``source`` or ``family``), with a 95% bootstrap interval, read
    from the run's ``scores.csv``. This is the false-positive rate on genuine content."""
    import csv
    from collections import defaultdict

    import numpy as np

    d = json.loads((Path(run) / "results.json").read_text(encoding="utf-8"))
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    with open(Path(run) / "scores.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["detector"] != detector or r["label"] not in ("0", "real") or r["status"] != "ok":
                continue
            groups[(r["condition"], r.get(by) or "")].append(float(r["score"]))
    rng = np.random.default_rng(seed)
    out = []
    for (cond, value), scores in sorted(groups.items()):
        s = np.asarray(scores)
        flagged = s >= threshold
        boots = [float(np.mean(rng.choice(flagged, size=len(flagged)))) for _ in range(n_boot)]
        out.append({"name": "genuine_flagged_at_card_threshold", "value": rnd(float(np.mean(flagged))),
                    "ci95": [rnd(float(np.quantile(boots, 0.025))), rnd(float(np.quantile(boots, 0.975)))],
                    "dataset": f"{label}; {by} {value}" if value else label, "detector": detector,
                    "condition": cond, "threshold": rnd(threshold, 6), "n_real": int(len(s)),
                    "flagged": int(flagged.sum()), "harness": "synthwatch eval (scores.csv)",
                    "command": d.get("command")})
    return out


def write_card_yaml(path: Path, card: dict[str, Any]) -> None:
    """Validate (every packaged file pinned) and write a card."""
    from ..models.card import ModelCard

    ModelCard.from_dict(card)
    Path(path).write_text(yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
