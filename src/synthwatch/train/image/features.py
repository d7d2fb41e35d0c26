"""Feature extraction for ``sw-image`` training, cached on disk per source image.

For every source image: decode it (:func:`synthwatch.media.load_image`, the decoder a scan uses),
make its versions (:mod:`.hardneg`; ``heldout`` sources: the original only), and per version
compute exactly the blocks the detector computes (:mod:`synthwatch.detectors.image.sw_image`):

* the whole view and the multi-patch statistics (once per version);
* native-resolution crops with their hand-crafted region: for ``train`` sources at random
  positions (two for the original, one for each derived version: more views of the same trace),
  for ``val`` / ``heldout`` sources the centre crop the detector uses at inference.

Each training row is (whole view of a version, one native crop of it). The cache file of a source
is keyed by its sha256, the crop mode and a tag over everything that changes the numbers (feature
code version, recipes, encoder sha256), so a changed recipe never reuses stale features.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...detectors.image import sw_image as sw
from ...detectors.image._clip import CLIP_SIZE, ClipEncoder, clip_preprocess
from . import hardneg
from .data import Source

__all__ = ["ENC_DIM", "FEATURE_VERSION", "SourceFeatures", "feature_tag", "extract_source", "extract_all"]

log = logging.getLogger(__name__)

FEATURE_VERSION = 2
ENC_KINDS = sw.KINDS  # embed, cls, pmean, pstd
ENC_DIM = sum(sw.BLOCK_DIMS[f"whole.{k}"] for k in ENC_KINDS)
TRAIN_CROPS_ORIG = 2
TRAIN_CROPS_DERIVED = 1


@dataclass
class SourceFeatures:
    """Cached features of one source image: per version the whole view, per row a native crop."""

    sha256: str
    mode: str  # "train" (random crops, all versions) | "eval" (centre crop, all versions) | "orig" (centre, original)
    version_names: list[str]
    version_ops: list[list[str]]
    whole: np.ndarray  # float32 [V, ENC_DIM]: embed | cls | pmean | pstd
    mhand: np.ndarray  # float32 [V, 2 * HAND_DIM]: multi-patch statistics of each version
    native: np.ndarray  # float32 [R, ENC_DIM]
    hand: np.ndarray  # float32 [R, HAND_DIM]
    row_version: np.ndarray  # int [R]: the version each native row belongs to

    def blocks(self) -> list[dict[str, np.ndarray]]:
        """One feature-block dict per row (keys as in ``sw_image.BLOCK_DIMS``)."""
        out = []
        for r in range(self.native.shape[0]):
            b = _split(self.whole[self.row_version[r]], "whole")
            b.update(_split(self.native[r], "native"))
            b["hand"] = self.hand[r]
            b["mhand"] = self.mhand[self.row_version[r]]
            out.append(b)
        return out


def _split(vec: np.ndarray, view: str) -> dict[str, np.ndarray]:
    out, i = {}, 0
    for k in ENC_KINDS:
        n = sw.BLOCK_DIMS[f"{view}.{k}"]
        out[f"{view}.{k}"] = vec[i:i + n]
        i += n
    return out


def _enc_vector(blocks: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([blocks[k] for k in ENC_KINDS]).astype(np.float32)


def feature_tag(encoder_sha256: str) -> str:
    """A short hash over everything that changes the cached numbers."""
    what = json.dumps({"feature": FEATURE_VERSION, "hand": list(sw.HAND_NAMES), "region": sw.HAND_REGION,
                       "multi": [sw.MULTI_PATCH, sw.MULTI_GRID],
                       "recipes": [hardneg.RECIPE_VERSION, list(hardneg.RECIPES)], "encoder": encoder_sha256,
                       "crops": [TRAIN_CROPS_ORIG, TRAIN_CROPS_DERIVED]}, sort_keys=True)
    return hashlib.sha256(what.encode()).hexdigest()[:12]


def _random_centres(img: np.ndarray, n: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    h, w = img.shape[:2]
    half = CLIP_SIZE / 2.0
    out = []
    for _ in range(n):
        cy = float(rng.uniform(half, max(half, h - half))) if h > 2 * half else h / 2.0
        cx = float(rng.uniform(half, max(half, w - half))) if w > 2 * half else w / 2.0
        out.append((cy, cx))
    return out


def extract_source(encoder: ClipEncoder, image: np.ndarray, sha256: str, mode: str) -> SourceFeatures:
    """Compute the features of one decoded source image (see the module docstring)."""
    if mode not in ("train", "eval", "orig"):
        raise ValueError(f"unknown mode {mode!r}")
    vers = hardneg.versions(image, sha256) if mode in ("train", "eval") else hardneg.versions(image, sha256, ())
    whole, mhand, native, hand, row_version = [], [], [], [], []
    for vi, v in enumerate(vers):
        whole.append(_enc_vector(sw.encoder_blocks(encoder, clip_preprocess(v.image))))
        mhand.append(sw.multipatch_features(v.image))
        if mode == "train":
            n = TRAIN_CROPS_ORIG if v.name == "orig" else TRAIN_CROPS_DERIVED
            centres: list[tuple[float, float] | None] = list(
                _random_centres(v.image, n, hardneg.recipe_rng(sha256, f"crop/{v.name}")))
        else:
            centres = [None]
        for c in centres:
            clip_in, region = sw.native_view(v.image, c)
            native.append(_enc_vector(sw.encoder_blocks(encoder, clip_in)))
            hand.append(sw.handcrafted_features(region))
            row_version.append(vi)
    return SourceFeatures(sha256=sha256, mode=mode, version_names=[v.name for v in vers],
                          version_ops=[list(v.ops) for v in vers], whole=np.stack(whole), mhand=np.stack(mhand),
                          native=np.stack(native),
                          hand=np.stack(hand), row_version=np.asarray(row_version, dtype=np.int64))


def _save(path: Path, f: SourceFeatures) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
    os.close(fd)
    meta = json.dumps({"sha256": f.sha256, "mode": f.mode, "names": f.version_names, "ops": f.version_ops})
    np.savez(tmp, whole=f.whole, mhand=f.mhand, native=f.native, hand=f.hand, row_version=f.row_version,
             meta=np.array(meta))
    os.replace(tmp, path)


def _load(path: Path) -> SourceFeatures:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        return SourceFeatures(sha256=meta["sha256"], mode=meta["mode"], version_names=meta["names"],
                              version_ops=meta["ops"], whole=z["whole"], mhand=z["mhand"], native=z["native"],
                              hand=z["hand"],
                              row_version=z["row_version"])


def mode_for(source: Source) -> str:
    return {"train": "train", "val": "eval"}.get(source.split, "orig")


def extract_all(sources: list[Source], encoder: ClipEncoder, cache_dir: Path, tag: str,
                progress: Callable[[int, int, Source, bool], None] | None = None) -> dict[str, SourceFeatures]:
    """Features of every source (sha256 -> features), computed once and cached in ``cache_dir``."""
    from ...media import load_image

    out: dict[str, SourceFeatures] = {}
    for i, s in enumerate(sources):
        mode = mode_for(s)
        path = Path(cache_dir) / f"{s.sha256[:32]}-{mode}-{tag}.npz"
        hit = path.is_file()
        if hit:
            try:
                feats = _load(path)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("cache file %s unreadable (%s); recomputing", path, exc)
                hit = False
        if not hit:
            feats = extract_source(encoder, load_image(s.path), s.sha256, mode)
            _save(path, feats)
        out[s.sha256] = feats
        if progress is not None:
            progress(i + 1, len(sources), s, hit)
    return out


def describe(feats: dict[str, SourceFeatures]) -> dict[str, Any]:
    rows = sum(f.native.shape[0] for f in feats.values())
    versions = sum(len(f.version_names) for f in feats.values())
    return {"sources": len(feats), "versions": versions, "rows": rows}
