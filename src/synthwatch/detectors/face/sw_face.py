"""``sw-face``: synthwatch's own face-swap detector, on aligned face crops.

A compact residual CNN (about 0.9 M parameters, about 70 M multiply-adds a crop) trained by this
project (:mod:`synthwatch.train.face`) on real faces and on two kinds of fakes: self-blended images
made from those real faces (blending traces without any generator, :mod:`synthwatch.train.face.sbi`)
and DeepFaceLive live swaps of the identities in its training split, with the same compression and
resizing augmentation on both classes. The network is a float32 ONNX file shipped inside the package
(``synthwatch/models/weights/sw-face/``); the packaged card ``sw-face.yaml`` pins its sha256, which is
checked every time the detector loads. Nothing comes from the store or the network.

Input (what :func:`face_input` computes; training uses the same function): an aligned face crop
(:func:`synthwatch.faces.align_face`, uint8 RGB, any square size) resized with area averaging to
:data:`INPUT_SIZE` x :data:`INPUT_SIZE`, scaled to [-1, 1], CHW float32. Output: one logit; the score
is its sigmoid, higher = more likely a swapped face. The pipeline scores every face of a track and
the track by the mean of its boxes.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from ...errors import DetectorError, ModelLoadError
from ...models.packaged import read_packaged
from ...models.runtime import create_session
from ...models.store import ModelStore
from ..base import Detector, DetectorInfo

__all__ = ["MODEL", "ONNX_FILE", "INPUT_SIZE", "face_input", "SwFace"]

MODEL = "sw-face"
ONNX_FILE = "sw_face.onnx"
INPUT_SIZE = 128


def face_input(crop: np.ndarray) -> np.ndarray:
    """Network input ``float32 [3, INPUT_SIZE, INPUT_SIZE]`` in [-1, 1] of one aligned face crop."""
    img = np.asarray(crop)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 8:
        raise DetectorError(f"sw-face needs a uint8 RGB face crop [H, W, 3], got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    if (h, w) != (INPUT_SIZE, INPUT_SIZE):
        interp = cv2.INTER_AREA if min(h, w) >= INPUT_SIZE else cv2.INTER_LINEAR
        img = cv2.resize(img, (INPUT_SIZE, INPUT_SIZE), interpolation=interp)
    x = img.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


class SwFace(Detector):
    info = DetectorInfo(
        name="sw-face",
        version="1.0.0",
        modality="face",
        model=MODEL,
        input_spec={
            "item": "aligned face crop, uint8 RGB [H, W, 3] (synthwatch.faces.align_face)",
            "size": [INPUT_SIZE, INPUT_SIZE],
            "resize": "area averaging (linear when enlarging)",
            "layout": "NCHW",
            "dtype": "float32",
            "range": [-1.0, 1.0],
            "channels": "RGB",
            "score": "sigmoid(logit), higher = more likely a swapped face",
        },
        default=False,
        description="synthwatch's own face-swap detector: a compact CNN trained on self-blended images of real "
                    "faces and DeepFaceLive swaps with compression/resize augmentation; ships inside the package.",
    )

    def __init__(self, *, threads: int = 1) -> None:
        super().__init__()
        self._threads = int(threads)
        self._session: Any = None
        self._name = "input"
        self._run_lock = threading.Lock()

    def _load(self, store: ModelStore) -> None:
        card = self.card
        assert card is not None
        session = create_session(read_packaged(card, card.file), threads=self._threads)
        ins = session.get_inputs()
        if len(ins) != 1 or list(ins[0].shape)[1:] != [3, INPUT_SIZE, INPUT_SIZE]:
            raise ModelLoadError(f"{card.file} takes {[(i.name, i.shape) for i in ins]}, expected one input "
                                 f"[N, 3, {INPUT_SIZE}, {INPUT_SIZE}]")
        self._name = ins[0].name
        self._session = session

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        return face_input(item)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        if self._session is None:
            raise DetectorError("sw-face: call load(store) before detect()")
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (3, INPUT_SIZE, INPUT_SIZE):
            raise DetectorError(f"sw-face: expected a batch [N, 3, {INPUT_SIZE}, {INPUT_SIZE}], got {x.shape}")
        if x.shape[0] == 0:
            return np.zeros((0,), dtype=np.float32)
        try:
            out = self._session.run(None, {self._name: x})[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(f"sw-face: ONNX Runtime failed: {exc}") from exc
        return np.asarray(out, dtype=np.float32).reshape(x.shape[0])

    def detect(self, batch: np.ndarray) -> np.ndarray:
        z = self.logits(batch).astype(np.float64)
        return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)

    def examples(self) -> list[np.ndarray]:
        from ._examples import face_examples

        return face_examples([(256, 256, (224, 172, 140)), (300, 240, (141, 85, 36)), (96, 96, (255, 219, 172))])
