"""Training sw-patch on the picture set built by ``python -m synthwatch.train.data build --task image``.

* Train: the ``train`` split (held-out generator families and held-out sources are ``test`` in the
  committed manifest and never read here). Every epoch, from each picture one random region of at
  most :data:`REGION` px is taken at native resolution, degraded (the same random chain for both
  classes: a downscale by 0.5-1 with area averaging, JPEG at quality 60-95, slight blur, flip), and
  :data:`PATCHES_PER_IMAGE` random :data:`~synthwatch.detectors.image.sw_patch.PATCH` px patches are
  cut from it. Class weights balance real and fake.
* Validation (model selection, calibration): the ``val`` split, scored exactly as a scan scores a
  picture (:func:`synthwatch.detectors.image.sw_patch.patch_input`, mean patch logit).
* Calibration: the threshold flags ``target_fpr`` of the validation photographs.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...detectors.image.sw_patch import N_PATCHES, PATCH, limit_size, patch_input, to_input
from ...evaluate.metrics import roc_auc
from ..face.augment import jpeg

__all__ = ["REGION", "PATCHES_PER_IMAGE", "PictureSet", "load_pictures", "PatchConfig", "fit", "item_logits",
           "calibrate_threshold"]

REGION = 320
PATCHES_PER_IMAGE = 1


@dataclass
class PictureSet:
    paths: list[Path]
    label: np.ndarray
    family: list[str]
    source: list[str]


def load_pictures(root: Path, splits: tuple[str, ...]) -> PictureSet:
    with open(root / "index.csv", newline="", encoding="utf-8") as f:
        recs = [r for r in csv.DictReader(f) if r["split"] in splits]
    return PictureSet([root / r["path"] for r in recs], np.array([r["label"] == "fake" for r in recs], np.int64),
                      [r["family"] for r in recs], [r["source"] for r in recs])


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read {path}")
    return limit_size(np.ascontiguousarray(img[..., ::-1]))


def degrade_region(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random degradation chain (identical distribution for both classes)."""
    x = img
    if rng.random() < 0.5:
        x = x[:, ::-1]
    if rng.random() < 0.4:
        k = rng.uniform(0.5, 0.95)
        h, w = x.shape[:2]
        x = cv2.resize(x, (max(PATCH, round(w * k)), max(PATCH, round(h * k))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.1:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.6:
        x = jpeg(np.ascontiguousarray(x), int(rng.integers(60, 96)))
    return np.ascontiguousarray(x)


def _region(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    if h < PATCH or w < PATCH:
        py, px = max(0, PATCH - h), max(0, PATCH - w)
        img = cv2.copyMakeBorder(img, py // 2, py - py // 2, px // 2, px - px // 2, cv2.BORDER_REFLECT_101)
        h, w = img.shape[:2]
    rh, rw = min(h, REGION), min(w, REGION)
    y, x = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
    return np.asarray(img[y:y + rh, x:x + rw])


def _patches(region: np.ndarray, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    h, w = region.shape[:2]
    out = []
    for _ in range(n):
        y, x = int(rng.integers(0, h - PATCH + 1)), int(rng.integers(0, w - PATCH + 1))
        out.append(region[y:y + PATCH, x:x + PATCH])
    return out


@dataclass
class PatchConfig:
    epochs: int = 16
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 5e-4
    seed: int = 0
    threads: int = 2
    target_fpr: float = 0.02
    widths: tuple[int, ...] = (16, 32, 64, 128, 192)
    log: list[dict[str, Any]] = field(default_factory=list)


def item_inputs(ps: PictureSet) -> np.ndarray:
    return np.stack([patch_input(_read(p)) for p in ps.paths])


def item_logits(model: Any, x: np.ndarray, batch: int = 16) -> np.ndarray:
    """Mean patch logit per item (PyTorch; the ONNX path is the detector's)."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            chunk = torch.from_numpy(x[i:i + batch].reshape(-1, 3, PATCH, PATCH))
            out.append(model(chunk).numpy().reshape(-1, N_PATCHES).mean(axis=1))
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def fit(data: Path, cfg: PatchConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    import torch

    from ..face.model import SwFaceNet, count_params

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    tr = load_pictures(data, ("train",))
    va = load_pictures(data, ("val",))
    xva = item_inputs(va)
    model = SwFaceNet(widths=cfg.widths)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = (len(tr.paths) * PATCHES_PER_IMAGE + cfg.batch - 1) // cfg.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * per_epoch,
                                                pct_start=0.15)
    rng = np.random.default_rng(cfg.seed)
    if progress:
        progress(f"train pictures {len(tr.paths)} ({int(tr.label.sum())} fake), val {len(va.paths)}, "
                 f"{count_params(model)} parameters")
    best: dict[str, Any] = {"auc": -1.0}
    per_img = cfg.batch // PATCHES_PER_IMAGE
    for ep in range(cfg.epochs):
        t0 = time.time()
        model.train()
        order = rng.permutation(len(tr.paths))
        losses = []
        for b in range(0, len(order), per_img):
            xs, ys = [], []
            for i in order[b:b + per_img]:
                region = degrade_region(_region(_read(tr.paths[i]), rng), rng)
                for p in _patches(region, rng, PATCHES_PER_IMAGE):
                    xs.append(p)
                    ys.append(float(tr.label[i]))
            xt = torch.from_numpy(to_input(np.stack(xs)))
            yt = torch.tensor(ys, dtype=torch.float32)
            pos = float(yt.sum())
            neg = float(len(yt) - pos)
            w = torch.where(yt > 0.5, 0.5 * len(yt) / max(pos, 1.0), 0.5 * len(yt) / max(neg, 1.0))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xt), yt, weight=w)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        lv = item_logits(model, xva)
        auc = roc_auc(va.label, lv)
        fam = {f: roc_auc(np.r_[np.zeros(int((va.label == 0).sum())), np.ones(len(idx))],
                          np.r_[lv[va.label == 0], lv[idx]])
               for f in sorted({va.family[i] for i in range(len(va.paths)) if va.label[i] == 1})
               for idx in [np.array([i for i in range(len(va.paths)) if va.family[i] == f])]}
        rec = {"epoch": ep + 1, "loss": float(np.mean(losses)), "val_auc": auc, "val_auc_by_family": fam,
               "seconds": round(time.time() - t0, 1)}
        cfg.log.append(rec)
        if progress:
            progress(json.dumps(rec))
        if auc > best["auc"]:
            best = {"auc": auc, "epoch": ep + 1, "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    model.load_state_dict(best["state"])
    return {"model": model, "best_epoch": best["epoch"], "val_auc": best["auc"], "log": cfg.log, "val": va,
            "xva": xva}


def calibrate_threshold(va: PictureSet, logits: np.ndarray, target_fpr: float) -> dict[str, Any]:
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    real = p[va.label == 0]
    thr = float(np.quantile(real, 1.0 - target_fpr, method="higher"))
    return {"target_fpr": target_fpr, "threshold": thr, "n_real": int(len(real)), "n_fake": int((va.label == 1).sum()),
            "fpr_on_val": float(np.mean(real >= thr)), "tpr_on_val": float(np.mean(p[va.label == 1] >= thr)),
            "val_auc": roc_auc(va.label, logits)}
