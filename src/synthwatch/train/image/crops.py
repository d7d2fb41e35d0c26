"""How much do more native-resolution crops help? A study for sw-image, not a model that ships.

``python -m synthwatch.train.image crops --data DIR`` encodes every source picture (originals only,
no processed versions) in eleven views with the frozen CLIP encoder: the whole picture as
``clip-probe`` sees it, a 3 x 3 grid of 224 x 224 crops at native resolution spread over the whole
picture, and the centre crop of the picture halved. It then fits a linear head (standardisation +
logistic regression, balanced classes) on the train split, one row per grid crop, and scores val
and the held-out category by the mean logit (one head for every set) over a fixed set of crops: 1 (centre), 2 (diagonal
corners), 4 (corners), 5 (corners + centre) and all 9. Each set costs as many encoder passes per
picture as it has crops.

The splits are the ones the shipped model uses (:func:`.data.load_sources`, same hold-out and
val fraction). The regularisation strength is chosen on the train split only, by
leave-one-category-out cross-validation; val and the held-out category are only measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...detectors.image._clip import CLIP_SIZE, ClipEncoder, clip_preprocess
from ...detectors.image.sw_image import normalise_crop
from ...evaluate import metrics as M
from ...models.store import ModelStore
from .data import Source, load_sources

#: crop sets scored (indices into the 3 x 3 grid, row-major: 0 top-left ... 8 bottom-right)
CROP_SETS: dict[str, tuple[int, ...]] = {
    "centre": (4,), "2 diagonal": (0, 8), "4 corners": (0, 2, 6, 8), "5 (corners + centre)": (0, 2, 4, 6, 8),
    "9 (grid)": tuple(range(9)),
}
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3)
FEATURES = ("embed", "cls")
N_VIEWS = 11  # whole, 9 grid crops, half-resolution centre


def views(image: np.ndarray) -> np.ndarray:
    """float32 [11, 3, 224, 224]: whole view, the 3 x 3 native grid (row-major), halved centre."""
    from PIL import Image

    h, w = image.shape[:2]
    if min(h, w) < 2 * CLIP_SIZE:
        raise ValueError(f"picture {w}x{h} is too small for the crop study (needs {2 * CLIP_SIZE} px a side)")
    out = [clip_preprocess(image)]
    for y in np.linspace(0, h - CLIP_SIZE, 3).astype(int):
        for x in np.linspace(0, w - CLIP_SIZE, 3).astype(int):
            out.append(normalise_crop(image[y:y + CLIP_SIZE, x:x + CLIP_SIZE]))
    half = np.asarray(Image.fromarray(image).reduce(2))
    hh, ww = half.shape[:2]
    top, left = (hh - CLIP_SIZE) // 2, (ww - CLIP_SIZE) // 2
    out.append(normalise_crop(half[top:top + CLIP_SIZE, left:left + CLIP_SIZE]))
    return np.stack(out)


def _standardise_tokens(t: np.ndarray) -> np.ndarray:
    t = t.astype(np.float32)
    return (t - t.mean(-1, keepdims=True)) / (t.std(-1, keepdims=True) + 1e-6)


def encode(src: Source, encoder: ClipEncoder, cache_dir: Path) -> dict[str, np.ndarray]:
    """embed [11, 512] (unit norm) and cls [11, 768] (standardised) of one source, cached by sha256."""
    from PIL import Image

    path = cache_dir / f"{src.sha256[:32]}.npz"
    if path.exists():
        with np.load(path) as z:
            return {"embed": z["embed"], "cls": z["cls"]}
    with Image.open(src.path) as im:
        image = np.asarray(im.convert("RGB"))
    feats = encoder.embed(views(image), tokens=True)
    if feats.tokens is None:
        raise ValueError("the encoder has no token output; the study needs the CLS token")
    e = feats.image_embeds / np.maximum(np.linalg.norm(feats.image_embeds, axis=-1, keepdims=True), 1e-12)
    out = {"embed": e.astype(np.float32), "cls": _standardise_tokens(feats.tokens[:, 0])}
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(path)
    return out


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, class_weight="balanced")).fit(x, y)


def _rows(x: np.ndarray, y: np.ndarray, idx: np.ndarray, crops: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One row per (source, crop); x is [N, 11, D] with the grid at views 1..9."""
    v = np.asarray(crops) + 1
    return x[idx][:, v].reshape(-1, x.shape[-1]), np.repeat(y[idx], len(v))


def _score(model: Any, x: np.ndarray, crops: tuple[int, ...]) -> np.ndarray:
    v = np.asarray(crops) + 1
    n = x.shape[0]
    logits: np.ndarray = model.decision_function(x[:, v].reshape(-1, x.shape[-1])).reshape(n, len(v)).mean(1)
    return logits


def _choose_c(x: np.ndarray, y: np.ndarray, cats: np.ndarray, train: np.ndarray) -> tuple[float, dict[str, float]]:
    """Leave-one-category-out AUC on the train split (all 9 grid crops as rows and in the score)."""
    grid9 = CROP_SETS["9 (grid)"]
    means: dict[str, float] = {}
    for c in C_GRID:
        aucs = []
        for cat in sorted(set(cats[train])):
            fit_idx = np.where(train & (cats != cat))[0]
            test_idx = np.where(train & (cats == cat))[0]
            if len(set(y[test_idx])) < 2:
                continue
            model = _fit(*_rows(x, y, fit_idx, grid9), c)
            aucs.append(M.roc_auc(y[test_idx], _score(model, x[test_idx], grid9)))
        means[f"{c:g}"] = float(np.mean(aucs)) if aucs else float("nan")
    best = max(C_GRID, key=lambda c: (means[f"{c:g}"], -c))
    return best, means


def _metric(y: np.ndarray, s: np.ndarray, n_boot: int) -> dict[str, Any]:
    ci = M.bootstrap_ci(y, s, n_boot=n_boot, seed=0)
    return {"auc": float(M.roc_auc(y, s)), "auc_ci95": [float(v) for v in ci["auc"]],
            "n_real": int(np.sum(y == 0)), "n_fake": int(np.sum(y == 1))}


def study(data: Path, *, store: ModelStore, cache_dir: Path, holdout: str = "people", val_fraction: float = 0.3,
          n_boot: int = 1000, say: Callable[[str], None] = print) -> dict[str, Any]:
    t0 = time.perf_counter()
    sset = load_sources(data, holdout=holdout, val_fraction=val_fraction)
    encoder = ClipEncoder.from_store(store)
    feats: dict[str, list[np.ndarray]] = {f: [] for f in FEATURES}
    for i, src in enumerate(sset.sources):
        one = encode(src, encoder, cache_dir)
        for f in FEATURES:
            feats[f].append(one[f])
        if (i + 1) % 25 == 0 or i + 1 == len(sset.sources):
            say(f"encoded {i + 1}/{len(sset.sources)} pictures x {N_VIEWS} views")
    y = np.array([s.label for s in sset.sources])
    cats = np.array([s.category for s in sset.sources])
    split = np.array([s.split for s in sset.sources])
    train, val, held = split == "train", split == "val", cats == holdout
    out: dict[str, Any] = {"schema": "synthwatch.sw-image-crops/1", "data": str(data), "holdout": holdout,
                           "splits": {k: int(v.sum()) for k, v in (("train", train), ("val", val),
                                                                    ("heldout", held))},
                           "features": {}}
    for f in FEATURES:
        x = np.stack(feats[f])  # [N, 11, D]
        c, cv = _choose_c(x, y, cats, train)
        rows: dict[str, Any] = {}
        model = _fit(*_rows(x, y, np.where(train)[0], CROP_SETS["9 (grid)"]), c)  # one head for every crop set
        for name, crops in CROP_SETS.items():
            s = _score(model, x, crops)
            rows[name] = {"passes": len(crops), "val": _metric(y[val], s[val], n_boot),
                          "heldout": _metric(y[held], s[held], n_boot)}
        for name, v in (("whole view", 0), ("halved centre", 10)):
            xi = x[:, v]
            single = _fit(xi[train], y[train], c)  # a head of its own, fitted on that view
            s = single.decision_function(xi)
            rows[name] = {"passes": 1, "val": _metric(y[val], s[val], n_boot),
                          "heldout": _metric(y[held], s[held], n_boot)}
        out["features"][f] = {"c": c, "cv_auc_by_c": cv, "crop_sets": rows}
        say(f"{f}: C {c:g} (train leave-one-category-out AUC {cv[f'{c:g}']:.3f})")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def table(result: dict[str, Any]) -> str:
    lines = [f"| features | crops | encoder passes | val AUC [95 % CI] | held-out {result['holdout']} AUC [95 % CI] |",
             "|---|---|---|---|---|"]
    for f, block in result["features"].items():
        for name, r in block["crop_sets"].items():
            v, h = r["val"], r["heldout"]
            lines.append(f"| {f} (C {block['c']:g}) | {name} | {r['passes']} | {v['auc']:.3f} "
                         f"[{v['auc_ci95'][0]:.3f}, {v['auc_ci95'][1]:.3f}] | {h['auc']:.3f} "
                         f"[{h['auc_ci95'][0]:.3f}, {h['auc_ci95'][1]:.3f}] |")
    return "\n".join(lines)
