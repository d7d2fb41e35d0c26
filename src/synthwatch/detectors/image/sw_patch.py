"""``sw-patch``: synthwatch's own AI-generated-image detector on native-resolution patches.

A compact residual CNN (the architecture of ``sw-face``) trained by this project
(:mod:`synthwatch.train.patch`) on photographs and on pictures of many text-to-image and GAN
generators, with whole generator families held out, every picture of both classes normalised alike
(:mod:`synthwatch.train.data.images`) and JPEG / resize augmentation on both classes. It is fast
on a CPU (no CLIP encoder): a picture is :data:`N_PATCHES` patches of :data:`PATCH` x :data:`PATCH`
pixels through a network of about 70 M multiply-adds each.

Input (what :func:`patch_input` computes; training uses the same function for the same steps):

1. the uint8 RGB picture (or video frame); if its shorter side is above
   :data:`~synthwatch.train.data.images.MAX_SHORT_SIDE` (512) it is reduced with area averaging so
   that it is 512 (the training pictures' resize policy; smaller pictures are never enlarged);
2. a picture with a side under :data:`PATCH` is padded to it by reflection;
3. a 3 x 3 grid of :data:`PATCH` x :data:`PATCH` patches spread evenly over the picture (corners
   and centre included), at native resolution (no resampling);
4. scaled to [-1, 1], CHW float32: ``[N_PATCHES, 3, PATCH, PATCH]``.

Score: the sigmoid of the mean of the patch logits, higher = more likely AI-generated. The network is
a float32 ONNX graph with no integer kernels, shipped inside the package with its sha256 pinned in the
packaged card ``sw-patch.yaml``.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ...errors import DetectorError, ModelLoadError
from ...models.packaged import read_packaged
from ...models.runtime import create_session
from ...models.store import ModelStore
from ..base import Detector, DetectorInfo

__all__ = ["MODEL", "ONNX_FILE", "PATCH", "GRID", "N_PATCHES", "MAX_SHORT_SIDE", "limit_size", "patch_grid",
           "to_input", "patch_input", "SwPatch"]

MODEL = "sw-patch"
ONNX_FILE = "sw_patch.onnx"
PATCH = 128
GRID = 3
N_PATCHES = GRID * GRID
MAX_SHORT_SIDE = 512  # the same policy as synthwatch.train.data.images (a unit test checks they agree)


def limit_size(rgb: np.ndarray, max_short: int = MAX_SHORT_SIDE) -> np.ndarray:
    """Area-reduce so the shorter side is at most ``max_short`` (never enlarges)."""
    h, w = rgb.shape[:2]
    short = min(h, w)
    if short <= max_short:
        return rgb
    k = max_short / short
    size = (max(1, round(w * k)), max(1, round(h * k)))
    if min(size) != max_short:
        size = (max_short, size[1]) if w <= h else (size[0], max_short)
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


def _pad(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if h >= size and w >= size:
        return rgb
    py, px = max(0, size - h), max(0, size - w)
    mode = cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE
    return np.asarray(cv2.copyMakeBorder(rgb, py // 2, py - py // 2, px // 2, px - px // 2, mode))


def patch_grid(rgb: np.ndarray, grid: int = GRID, size: int = PATCH) -> np.ndarray:
    """``uint8 [grid * grid, size, size, 3]``: patches spread evenly over the (padded) picture."""
    img = _pad(rgb, size)
    h, w = img.shape[:2]
    ys = np.linspace(0, h - size, grid).round().astype(int)
    xs = np.linspace(0, w - size, grid).round().astype(int)
    return np.stack([img[y:y + size, x:x + size] for y in ys for x in xs])


def to_input(patches: np.ndarray) -> np.ndarray:
    """uint8 ``[..., size, size, 3]`` -> float32 ``[..., 3, size, size]`` in [-1, 1]."""
    x = patches.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


def patch_input(item: np.ndarray) -> np.ndarray:
    """The network input ``float32 [N_PATCHES, 3, PATCH, PATCH]`` of one picture (module doc)."""
    img = np.asarray(item)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
        raise DetectorError(f"sw-patch needs a uint8 RGB picture [H, W, 3], got {img.dtype} {img.shape}")
    return to_input(patch_grid(limit_size(img)))


class SwPatch(Detector):
    info = DetectorInfo(
        name="sw-patch",
        version="1.0.0",
        modality="image",
        model=MODEL,
        input_spec={
            "item": "uint8 RGB still picture [H, W, 3], any size (not video frames: see frames)",
            "resize": f"shorter side reduced to {MAX_SHORT_SIDE} px when above (area); never enlarged",
            "patches": f"{GRID} x {GRID} grid of {PATCH} x {PATCH} native-resolution patches (reflect-padded when "
                       f"smaller)",
            "layout": f"float32 [{N_PATCHES}, 3, {PATCH}, {PATCH}] per item, RGB in [-1, 1]",
            "score": "sigmoid(mean patch logit), higher = more likely AI-generated",
        },
        default=True,
        frames="sw-patch scores still pictures only: it was neither trained nor calibrated on video frames, and "
               "on genuine videos it never saw it flagged 14 of 25 (docs/models/sw-patch.md)",
        description="synthwatch's own AI-image detector: a compact CNN on native-resolution patches, trained "
                    "with generator families held out; fast on a CPU; ships inside the package.",
    )

    def __init__(self, *, threads: int = 1) -> None:
        super().__init__()
        self._threads = int(threads)
        self._session: Any = None
        self._name = "patches"

    def _load(self, store: ModelStore) -> None:
        card = self.card
        assert card is not None
        session = create_session(read_packaged(card, card.file), threads=self._threads)
        ins = session.get_inputs()
        if len(ins) != 1 or list(ins[0].shape)[1:] != [3, PATCH, PATCH]:
            raise ModelLoadError(f"{card.file} takes {[(i.name, i.shape) for i in ins]}, expected one input "
                                 f"[N, 3, {PATCH}, {PATCH}]")
        self._name = ins[0].name
        self._session = session

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        return patch_input(item)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Mean patch logit per item of a batch ``[N, N_PATCHES, 3, PATCH, PATCH]``."""
        if self._session is None:
            raise DetectorError("sw-patch: call load(store) before detect()")
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if x.ndim != 5 or x.shape[1:] != (N_PATCHES, 3, PATCH, PATCH):
            raise DetectorError(f"sw-patch: expected a batch [N, {N_PATCHES}, 3, {PATCH}, {PATCH}], got {x.shape}")
        if x.shape[0] == 0:
            return np.zeros((0,), dtype=np.float32)
        try:
            out = self._session.run(None, {self._name: x.reshape(-1, 3, PATCH, PATCH)})[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(f"sw-patch: ONNX Runtime failed: {exc}") from exc
        per_patch = np.asarray(out, dtype=np.float64).reshape(x.shape[0], N_PATCHES)
        return per_patch.mean(axis=1).astype(np.float32)

    def detect(self, batch: np.ndarray) -> np.ndarray:
        z = self.logits(batch).astype(np.float64)
        return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)

    def examples(self) -> list[np.ndarray]:
        rng = np.random.default_rng(0)
        return [rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8),
                np.full((64, 90, 3), 128, dtype=np.uint8),
                rng.integers(0, 256, size=(1200, 700, 3), dtype=np.uint8)]
