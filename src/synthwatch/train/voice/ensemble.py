"""Fusion weights for the voice ensemble (sw-voice + the optional AASIST-family detectors).

Logistic-regression stacking on VALIDATION scores only: each member's item score is mapped to its
logit, and ``P(fake) = sigmoid(bias + sum_i w_i * logit(s_i))`` is fitted (L2, class-balanced) on
the validation demo sets (never on espnet-tts-sample, the test split or the held-out family). One
weight set per subset of members that can run together (the AASIST models are optional: a scan
without them uses sw-voice alone), each with its own EER threshold on the same validation items.
The result is ``sw_voice_ensemble.json`` (schema ``synthwatch.sw-voice.ensemble/1``), shipped beside
the sw-voice weights and applied by :func:`synthwatch.pipeline.fusion.apply_ensemble`.
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from ...evaluate.metrics import eer, fit_threshold, roc_auc

__all__ = ["ENSEMBLE_JSON", "SCHEMA", "read_scores", "fit_ensemble"]

ENSEMBLE_JSON = "sw_voice_ensemble.json"
SCHEMA = "synthwatch.sw-voice.ensemble/1"
MEMBERS = ("sw-voice", "aasist", "aasist-l")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def read_scores(paths: list[Path], exclude: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Clean-condition item scores from ``synthwatch eval`` ``scores.csv`` files:
    ``{resolved path: {"label": 0/1, "set": name, detector: score, ...}}``."""
    out: dict[str, dict[str, Any]] = {}
    for p in paths:
        p = Path(p)
        set_name = p.parent.name
        with p.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["condition"] != "clean" or row["status"] != "ok":
                    continue
                key = str(Path(row["path"]).resolve())  # paths as given to eval, relative to its cwd
                if exclude and key in exclude:
                    continue
                d = out.setdefault(key, {"label": int(row["label"]), "set": set_name})
                d[row["detector"]] = float(row["score"])
    return out


def fit_ensemble(items: dict[str, dict[str, Any]], c: float = 1.0) -> dict[str, Any]:
    """Fit one logistic regression per member subset that includes sw-voice."""
    from sklearn.linear_model import LogisticRegression

    combos: dict[str, Any] = {}
    for k in range(1, len(MEMBERS)):
        for extra in itertools.combinations(MEMBERS[1:], k):
            members = ("sw-voice", *extra)
            rows = [d for d in items.values() if all(m in d for m in members)]
            if len(rows) < 20:
                continue
            x = np.stack([_logit(np.array([d[m] for d in rows])) for m in members], axis=1)
            y = np.array([d["label"] for d in rows])
            lr = LogisticRegression(C=c, class_weight="balanced", max_iter=1000).fit(x, y)
            z = lr.decision_function(x)
            p = 1.0 / (1.0 + np.exp(-z))
            thr = fit_threshold(y, p, "eer")
            single = {m: {"eer": round(float(eer(y, x[:, i])[0]), 4), "auc": round(float(roc_auc(y, x[:, i])), 4)}
                      for i, m in enumerate(members)}
            combos["+".join(members)] = {
                "members": list(members),
                "weights": [round(float(w), 6) for w in lr.coef_[0]],
                "bias": round(float(lr.intercept_[0]), 6),
                "threshold": round(float(thr.threshold), 6),
                "n_real": int((y == 0).sum()), "n_fake": int((y == 1).sum()),
                "sets": sorted({d["set"] for d in rows}),
                "fit_eer": round(float(eer(y, p)[0]), 4), "fit_auc": round(float(roc_auc(y, p)), 4),
                "members_alone": single,
                "note": "in-sample figures on the validation items the weights were fitted on (optimistic)",
            }
    return {"schema": SCHEMA, "input": "each member's item score s -> logit(clip(s, 1e-6, 1 - 1e-6))",
            "score": "sigmoid(bias + sum(weights * logits))", "fitted_on": "validation data only",
            "combinations": combos}


def write(path: Path, ens: dict[str, Any]) -> bytes:
    data = (json.dumps(ens, indent=1, sort_keys=True) + "\n").encode()
    Path(path).write_bytes(data)
    return data
