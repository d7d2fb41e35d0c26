"""MesoNet face-forgery detectors (Afchar et al., WIFS 2018): Meso4 and MesoInception4, each with the
authors' Deepfake (DF) and Face2Face (F2F) weights.

Input: an aligned face crop (:func:`synthwatch.faces.align_face`, uint8 RGB, any size), resized to
256x256 and scaled to [0, 1], NHWC (the converted graph transposes internally). The network's
sigmoid is P(real) (upstream class 1 = ``real``; on the four published sample crops the DF models
give about 0.99-1.0 to the real faces and 0.001-0.05 to the deepfakes), so the score reported here
is ``1 - sigmoid`` = P(synthetic). These are small 2018 networks trained on the authors' own
face-crop sets; they are a dated baseline, not a general deepfake detector.
"""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np

from ...errors import DetectorError
from ...models.runtime import session_from_store
from ...models.store import ModelStore
from ..base import Detector, DetectorInfo

__all__ = ["MesoNetDetector", "Meso4DF", "Meso4F2F", "MesoInceptionDF", "MesoInceptionF2F", "INPUT_SIZE"]

INPUT_SIZE = 256
_INPUT_SPEC: dict[str, Any] = {
    "item": "aligned face crop, uint8 RGB [H, W, 3], any size (synthwatch.faces.align_face)",
    "size": [INPUT_SIZE, INPUT_SIZE],
    "layout": "NHWC",
    "dtype": "float32",
    "range": [0.0, 1.0],
    "channels": "RGB",
}


class MesoNetDetector(Detector):
    """Shared implementation; subclasses only set ``info``."""

    info: ClassVar[DetectorInfo]

    def __init__(self) -> None:
        super().__init__()
        self._sess: Any = None
        self._input = "input"
        self._output = "p_real"

    def _load(self, store: ModelStore) -> None:
        assert self.info.model is not None
        self._sess = session_from_store(store, self.info.model)
        self._input = self._sess.get_inputs()[0].name
        names = [o.name for o in self._sess.get_outputs()]
        self._output = "p_real" if "p_real" in names else names[0]

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        img = np.asarray(item)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
            raise ValueError(f"{self.info.name} needs a uint8 RGB face crop [H, W, 3], got {img.dtype} {img.shape}")
        h, w = img.shape[:2]
        if (h, w) != (INPUT_SIZE, INPUT_SIZE):
            interp = cv2.INTER_AREA if h > INPUT_SIZE or w > INPUT_SIZE else cv2.INTER_LINEAR
            img = cv2.resize(img, (INPUT_SIZE, INPUT_SIZE), interpolation=interp)
        return img.astype(np.float32) * np.float32(1.0 / 255.0)

    def detect(self, batch: np.ndarray) -> np.ndarray:
        if self._sess is None:
            raise DetectorError(f"{self.info.name}: load() was not called")
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"{self.info.name} expects a batch [N, 256, 256, 3], got {x.shape}")
        if x.shape[0] == 0:
            return np.zeros((0,), dtype=np.float32)
        try:
            p_real = self._sess.run([self._output], {self._input: x})[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(f"{self.info.name} failed on a batch of {x.shape[0]}: {exc}") from exc
        scores: np.ndarray = np.clip(1.0 - np.asarray(p_real, dtype=np.float32).reshape(-1), 0.0, 1.0)
        return scores

    def examples(self) -> list[np.ndarray]:
        from ._examples import face_examples

        return face_examples([(256, 256, (224, 172, 140)), (300, 240, (141, 85, 36)), (180, 200, (255, 219, 172))])


def _info(name: str, arch: str, data: str, default: bool = False) -> DetectorInfo:
    return DetectorInfo(
        name=name, version="1.0", modality="face", model=name, input_spec=dict(_INPUT_SPEC), default=default,
        description=(f"MesoNet {arch} (Afchar et al. 2018) trained on {data} face crops; "
                     "score = P(synthetic) = 1 - the network's P(real)"))


class Meso4DF(MesoNetDetector):
    # the cheapest face-swap detector whose direction checks out: in the default scan when installed
    info = _info("meso4-df", "Meso4", "the authors' Deepfake", default=True)


class Meso4F2F(MesoNetDetector):
    info = _info("meso4-f2f", "Meso4", "Face2Face (FaceForensics)")


class MesoInceptionDF(MesoNetDetector):
    info = _info("mesoinception-df", "MesoInception4", "the authors' Deepfake")


class MesoInceptionF2F(MesoNetDetector):
    info = _info("mesoinception-f2f", "MesoInception4", "Face2Face (FaceForensics)")
