"""Training sw-face on the face set built by ``python -m synthwatch.train.data build --task face``.

Data (``index.csv`` of the build; splits come from the committed manifest):

* reals: the ``train`` split's real face crops (still photographs and the real halves of the
  DeepFaceLive clips of the training identities);
* fakes: a fresh self-blended image of every real crop each epoch (:mod:`.sbi`). Each epoch takes
  at most ``frames_per_clip`` random frames of each clip (its frames are near-duplicates).
  The swapped halves of the training clips are NOT trained on by default (``video_fakes``): they
  show the faces of only a handful of swap identities, and a first run that used them learned
  those identities, not the swap: its validation AUC on the DeepFaceLive clips of other identities
  fell to 0.44 (crops) / 0.39 (tracks) by epoch 4 while it fitted the training swaps. The swapped
  halves of the validation identities still select the epoch and set nothing else.
* every crop of both classes goes through :func:`.augment.degrade` after the fake is made.

Validation (model selection and calibration, never trained on): the ``val`` split: its still
reals with one fixed self-blended copy each, and every crop of the validation identities' clips.
The ``test`` split is not read here.

Calibration: the threshold is the larger of the ``1 - target_fpr`` quantiles of the genuine
validation crops' scores, stills and video frames taken separately (so neither kind dominates),
i.e. about ``target_fpr`` of genuine validation faces are flagged. A track's score (the mean over
its boxes) varies less than a crop's, so the rate per track is at most that on the same data.
"""

from __future__ import annotations

import csv
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...detectors.face.sw_face import INPUT_SIZE, face_input
from ...evaluate.metrics import roc_auc
from .augment import degrade
from .sbi import self_blend

__all__ = ["FaceSet", "load_face_set", "TrainConfig", "fit", "score_onnx", "calibrate_threshold"]


@dataclass
class FaceSet:
    """Crops at network resolution (uint8 [N, S, S, 3]) with their metadata."""

    images: np.ndarray
    label: np.ndarray  # 1 = fake
    kind: list[str]  # still | video
    clip: list[str]
    part: list[str]
    source: list[str]
    split: list[str]
    family: list[str]

    def where(self, **conds: str) -> np.ndarray:
        ok = np.ones(len(self.label), dtype=bool)
        for k, v in conds.items():
            col = getattr(self, k)
            ok &= np.array([c == v for c in col])
        return np.flatnonzero(ok)


def _read_crop(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read {path}")
    rgb = np.ascontiguousarray(img[..., ::-1])
    return np.asarray(cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA))


def load_face_set(root: Path, splits: tuple[str, ...]) -> FaceSet:
    with open(root / "index.csv", newline="", encoding="utf-8") as f:
        recs = [r for r in csv.DictReader(f) if r["split"] in splits]
    images = np.stack([_read_crop(root / r["crop"]) for r in recs]) if recs else \
        np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    return FaceSet(
        images=images,
        label=np.array([1 if r["label"] == "fake" else 0 for r in recs], dtype=np.int64),
        kind=["video" if r["clip"] else "still" for r in recs],
        clip=[r["clip"] for r in recs],
        part=[r["part"] for r in recs],
        source=[r["source"] for r in recs],
        split=[r["split"] for r in recs],
        family=[r["family"] for r in recs],
    )


@dataclass
class TrainConfig:
    epochs: int = 20
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 5e-4
    frames_per_clip: int = 16
    #: train on the swapped halves of the training clips too (off: see the module doc)
    video_fakes: bool = False
    seed: int = 0
    threads: int = 2
    target_fpr: float = 0.02
    widths: tuple[int, ...] = (16, 32, 64, 128, 192)
    log: list[dict[str, Any]] = field(default_factory=list)


def _to_input(imgs: list[np.ndarray]) -> np.ndarray:
    return np.stack([face_input(x) for x in imgs])


def _epoch_items(tr: FaceSet, rng: np.random.Generator, frames_per_clip: int,
                 video_fakes: bool = False) -> list[tuple[int, str]]:
    """(index, how) pairs: how = real | sbi | fake. Stills once each; clips subsampled; the swapped
    halves of the clips only with ``video_fakes``."""
    by_clip: dict[tuple[str, str], list[int]] = defaultdict(list)
    items: list[tuple[int, str]] = []
    for i in range(len(tr.label)):
        if tr.kind[i] == "video":
            by_clip[(tr.clip[i], tr.part[i])].append(i)
        elif tr.label[i] == 0:
            items += [(i, "real"), (i, "sbi")]
    for (_clip, _part), idx in sorted(by_clip.items()):
        pick = rng.permutation(idx)[:frames_per_clip]
        for i in pick:
            if tr.label[i] == 0:
                items += [(int(i), "real"), (int(i), "sbi")]
            elif video_fakes:
                items.append((int(i), "fake"))
    order = rng.permutation(len(items))
    return [items[k] for k in order]


def _materialise(tr: FaceSet, items: list[tuple[int, str]], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    imgs: list[np.ndarray] = []
    ys: list[float] = []
    for i, how in items:
        img = tr.images[i]
        if how == "sbi":
            img, _ = self_blend(img, rng)
        imgs.append(degrade(img, rng))
        ys.append(0.0 if how == "real" else 1.0)
    return _to_input(imgs), np.asarray(ys, dtype=np.float32)


def validation_inputs(va: FaceSet, seed: int = 12345) -> dict[str, Any]:
    """The fixed validation inputs: every val crop as is, plus one self-blended copy of each still real."""
    rng = np.random.default_rng(seed)
    x = _to_input(list(va.images))
    still_real = [i for i in range(len(va.label)) if va.kind[i] == "still" and va.label[i] == 0]
    sbi = _to_input([self_blend(va.images[i], rng)[0] for i in still_real]) if still_real else \
        np.zeros((0, 3, INPUT_SIZE, INPUT_SIZE), np.float32)
    return {"x": x, "sbi": sbi, "still_real": np.asarray(still_real, dtype=np.int64)}


def _predict(model: Any, x: np.ndarray, batch: int = 256) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(x[i:i + batch])).numpy())
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def val_metrics(va: FaceSet, vin: dict[str, Any], logits: np.ndarray, sbi_logits: np.ndarray) -> dict[str, Any]:
    vid = va.where(kind="video")
    m: dict[str, Any] = {}
    if len(vid):
        m["dfl_crop_auc"] = roc_auc(va.label[vid], logits[vid])
        per: dict[tuple[str, str], list[float]] = defaultdict(list)
        lab: dict[tuple[str, str], int] = {}
        for i in vid:
            per[(va.clip[i], va.part[i])].append(float(logits[i]))
            lab[(va.clip[i], va.part[i])] = int(va.label[i])
        keys = sorted(per)
        m["dfl_track_auc"] = roc_auc(np.array([lab[k] for k in keys]), np.array([np.mean(per[k]) for k in keys]))
        m["n_tracks"] = len(keys)
    sr = vin["still_real"]
    if len(sr):
        y = np.r_[np.zeros(len(sr)), np.ones(len(sbi_logits))]
        m["sbi_still_auc"] = roc_auc(y, np.r_[logits[sr], sbi_logits])
    return m


def fit(data: Path, cfg: TrainConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train; returns the best model (by validation), its validation logits and the training log."""
    import torch

    from .model import SwFaceNet, count_params

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    tr = load_face_set(data, ("train",))
    va = load_face_set(data, ("val",))
    vin = validation_inputs(va)
    model = SwFaceNet(widths=cfg.widths)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    n_per_epoch = len(_epoch_items(tr, np.random.default_rng(0), cfg.frames_per_clip, cfg.video_fakes))
    steps = cfg.epochs * ((n_per_epoch + cfg.batch - 1) // cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    best: dict[str, Any] = {"score": -1.0}
    if progress:
        progress(f"train crops {len(tr.label)}, val crops {len(va.label)}, {n_per_epoch} items an epoch, "
                 f"{count_params(model)} parameters")
    for ep in range(cfg.epochs):
        t0 = time.time()
        model.train()
        items = _epoch_items(tr, rng, cfg.frames_per_clip, cfg.video_fakes)
        losses = []
        for b in range(0, len(items), cfg.batch):
            x, y = _materialise(tr, items[b:b + cfg.batch], rng)
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            logit = model(xt)
            pos = float(yt.sum())
            neg = float(len(yt) - pos)
            w = torch.where(yt > 0.5, 0.5 * len(yt) / max(pos, 1.0), 0.5 * len(yt) / max(neg, 1.0))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, yt, weight=w)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        lv = _predict(model, vin["x"])
        ls = _predict(model, vin["sbi"])
        m = val_metrics(va, vin, lv, ls)
        sel = float(np.nanmean([m.get("dfl_crop_auc", np.nan), m.get("sbi_still_auc", np.nan)]))
        rec = {"epoch": ep + 1, "loss": float(np.mean(losses)), "select": sel, **m, "seconds": round(time.time() - t0, 1)}
        cfg.log.append(rec)
        if progress:
            progress(json.dumps(rec))
        if sel > best["score"]:
            best = {"score": sel, "epoch": ep + 1, "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
                    "val": m}
    model.load_state_dict(best["state"])
    return {"model": model, "best_epoch": best["epoch"], "val": best["val"], "log": cfg.log, "val_set": va, "vin": vin}


def score_onnx(onnx_bytes: bytes, x: np.ndarray, threads: int = 2, batch: int = 128) -> np.ndarray:
    """Logits of the exported graph (ONNX Runtime, the path scans take)."""
    from ...models.runtime import create_session

    sess = create_session(onnx_bytes, threads=threads)
    name = sess.get_inputs()[0].name
    out = [np.asarray(sess.run(None, {name: x[i:i + batch]})[0]).reshape(-1) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def calibrate_threshold(va: FaceSet, logits: np.ndarray, target_fpr: float) -> dict[str, Any]:
    """Threshold (in sigmoid space) flagging about ``target_fpr`` of the genuine validation crops,
    stills and video frames taken separately (the larger of the two quantiles)."""
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    out: dict[str, Any] = {"target_fpr": target_fpr}
    qs = []
    for kind in ("still", "video"):
        idx = [i for i in range(len(va.label)) if va.label[i] == 0 and va.kind[i] == kind]
        if idx:
            q = float(np.quantile(p[idx], 1.0 - target_fpr, method="higher"))
            out[f"q_{kind}"] = q
            out[f"n_{kind}_real"] = len(idx)
            qs.append(q)
    thr = max(qs) if qs else 0.5
    out["threshold"] = thr
    for kind in ("still", "video"):
        for lab, name in ((0, "fpr"), (1, "tpr")):
            idx = [i for i in range(len(va.label)) if va.label[i] == lab and va.kind[i] == kind]
            if idx:
                out[f"{name}_{kind}"] = float(np.mean(p[idx] >= thr))
    return out
