"""YuNet (OpenCV Zoo, MIT) through ``cv2.FaceDetectorYN``.

The store holds ``face_detection_yunet.onnx`` (imported from a local copy). OpenCV does the pre- and
post-processing (BGR input of any size, anchor-free decoding, NMS) and returns per face
``x, y, w, h``, five landmarks (image-left eye first, as CenterFace) and a score. One
``FaceDetectorYN`` object is not safe to share between threads (its input size is state), so calls
are serialised with a lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import DetectorError, ModelLoadError
from ..models.store import ModelStore
from .detection import FaceDetection, FaceDetector

__all__ = ["YuNet"]


class YuNet(FaceDetector):
    name = "yunet"
    model = "yunet"
    #: the opencv_zoo demo's default (and the yunet card's threshold)
    default_threshold = 0.9

    def __init__(self, path: Path, *, top_k: int = 5000, **options: Any) -> None:
        options.pop("threads", None)  # OpenCV manages its own threads
        super().__init__(**options)
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), self.threshold,
                                                  self.nms_iou, int(top_k))
        except cv2.error as exc:
            raise ModelLoadError(f"OpenCV cannot load YuNet from {path}: {exc}") from exc
        finally:
            cv2.utils.logging.setLogLevel(level)
        self._lock = threading.Lock()
        self._size: tuple[int, int] | None = None

    @classmethod
    def from_store(cls, store: ModelStore, **options: Any) -> YuNet:
        return cls(store.verified_path(cls.model), **cls._options_from_card(store, options))

    def _detect(self, frame: np.ndarray) -> list[FaceDetection]:
        h, w = frame.shape[:2]
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        try:
            with self._lock:
                if self._size != (w, h):
                    self._net.setInputSize((w, h))
                    self._size = (w, h)
                _, faces = self._net.detect(bgr)
        except cv2.error as exc:
            raise DetectorError(f"YuNet failed on a {w}x{h} frame: {exc}") from exc
        if faces is None:
            return []
        out: list[FaceDetection] = []
        for row in np.asarray(faces, dtype=np.float64):
            x, y, bw, bh = row[:4]
            box = (max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh))
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            pts = tuple((float(row[4 + 2 * j]), float(row[5 + 2 * j])) for j in range(5))
            out.append(FaceDetection(box=tuple(float(v) for v in box),  # type: ignore[arg-type]
                                     score=float(row[14]), landmarks=pts))  # type: ignore[arg-type]
        return out
