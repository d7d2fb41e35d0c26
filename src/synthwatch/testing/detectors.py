"""Model-free debug detectors: instant, deterministic scores from simple signal statistics.

They exist so that the pipeline, the service, live rooms and batch runs can be tested end to end in
milliseconds, with media whose "verdict" the test controls. They are registered like every
detector (entry points ``debug-image``, ``debug-face``, ``debug-voice``) but hidden: never a
default, never part of ``all``, selected only by name. Their scores mean nothing about synthesis.

* ``debug-image``: the mean brightness of the picture, in [0, 1] (a white frame scores 1).
* ``debug-face``: the mean brightness of the aligned face crop, in [0, 1].
* ``debug-voice``: the share of the window's energy above 3 kHz, in [0, 1] (speech scores low; speech
  with a loud 5 kHz tone mixed in scores high).

Each has the default threshold 0.5 (no model, no card).
"""

from __future__ import annotations

import numpy as np

from ..detectors.base import Detector, DetectorInfo
from ..errors import DetectorError
from ..models.store import ModelStore

__all__ = ["DebugImage", "DebugFace", "DebugVoice", "HIGH_BAND_HZ"]

#: debug-voice: energy above this frequency counts as "synthetic"
HIGH_BAND_HZ = 3000.0
_SIDE = 32  # pictures are reduced to this many pixels a side before averaging


def _picture(item: np.ndarray) -> np.ndarray:
    if not isinstance(item, np.ndarray) or item.dtype != np.uint8 or item.ndim != 3 or item.shape[2] != 3:
        raise DetectorError(f"expected a uint8 RGB array [H, W, 3], got {getattr(item, 'shape', type(item))}")
    h, w = item.shape[:2]
    ys = np.linspace(0, h - 1, _SIDE).astype(int)
    xs = np.linspace(0, w - 1, _SIDE).astype(int)
    grey = item[ys][:, xs].astype(np.float32).mean(axis=2) / 255.0
    return grey.astype(np.float32)


class _Brightness(Detector):
    def _load(self, store: ModelStore) -> None:
        return None

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        return _picture(item)

    def detect(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float32)
        return np.clip(x.reshape(x.shape[0], -1).mean(axis=1), 0.0, 1.0).astype(np.float32)

    def examples(self) -> list[np.ndarray]:
        return [np.zeros((40, 60, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8),
                np.random.default_rng(0).integers(0, 256, (48, 32, 3), dtype=np.uint8)]


class DebugImage(_Brightness):
    info = DetectorInfo(name="debug-image", version="1", modality="image", model=None, hidden=True,
                        input_spec={"item": "uint8 RGB [H, W, 3], any size", "score": "mean brightness"},
                        description="debug: mean brightness of the picture (no model; tests only)")


class DebugFace(_Brightness):
    info = DetectorInfo(name="debug-face", version="1", modality="face", model=None, hidden=True,
                        input_spec={"item": "aligned face crop, uint8 RGB", "score": "mean brightness"},
                        description="debug: mean brightness of the face crop (no model; tests only)")


class DebugVoice(Detector):
    info = DetectorInfo(name="debug-voice", version="1", modality="audio", model=None, hidden=True,
                        input_spec={"sample_rate": 16000, "item": "float32 mono waveform, any length",
                                    "score": f"share of energy above {HIGH_BAND_HZ:g} Hz"},
                        description="debug: share of the window's energy above 3 kHz (no model; tests only)")

    def _load(self, store: ModelStore) -> None:
        return None

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        x = np.asarray(item, dtype=np.float32).reshape(-1)
        if x.size == 0 or not np.all(np.isfinite(x)):
            raise DetectorError("debug-voice needs finite samples")
        spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(x.size, d=1.0 / 16000.0)
        total = float(spec.sum())
        share = float(spec[freqs >= HIGH_BAND_HZ].sum() / total) if total > 0 else 0.0
        return np.array([share], dtype=np.float32)

    def detect(self, batch: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(batch, dtype=np.float32).reshape(len(batch), -1)[:, 0], 0.0, 1.0)

    def examples(self) -> list[np.ndarray]:
        t = np.arange(16000, dtype=np.float32) / 16000.0
        return [0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32),
                0.3 * np.sin(2 * np.pi * 5000 * t).astype(np.float32), np.zeros(800, np.float32) + 0.01]
