"""Face alignment and cropping.

With landmarks, :func:`align_face` estimates the similarity transform (rotation, uniform scale,
translation; ``cv2.estimateAffinePartial2D``) that maps the five detected points onto a canonical
template and warps the face into a square crop. Without landmarks it falls back to a square crop
around the box. The output is always uint8 RGB ``[size, size, 3]``; parts outside the frame are
filled by replicating the border (no black bars that a forgery detector could latch on to).

:data:`FACE_TEMPLATE` is the framing of the MesoNet training crops: the mean landmark positions
CenterFace finds on the four published MesoNet sample crops (``../shared/data/faces/mesonet-samples``;
eyes at about 35% of the height, mouth at 66%, inter-ocular distance 30% of the width), made
left-right symmetric. The box fallback reproduces the same framing from a CenterFace box (the
sample crops are about 1.3 times the box height, centred on the box).
"""

from __future__ import annotations

import cv2
import numpy as np

from .detection import FaceDetection

__all__ = ["FACE_TEMPLATE", "BOX_CROP_SCALE", "template_points", "align_face", "crop_box"]

#: canonical landmark positions as fractions of the crop side, margin 0 (x, y):
#: left eye, right eye, nose tip, left mouth corner, right mouth corner (image left/right)
FACE_TEMPLATE = np.array([
    [0.350, 0.350],
    [0.650, 0.350],
    [0.500, 0.520],
    [0.375, 0.665],
    [0.625, 0.665],
], dtype=np.float32)

#: side of the fallback square crop relative to the longer side of the box, margin 0
BOX_CROP_SCALE = 1.3


def template_points(size: int, margin: float = 0.0, template: np.ndarray | None = None) -> np.ndarray:
    """Template landmarks in pixels of a ``size`` crop; ``margin`` adds that fraction of the
    face framing on every side (0.1 shows 20% more context in each direction)."""
    if margin <= -0.5:
        raise ValueError(f"margin must be > -0.5, got {margin}")
    t = FACE_TEMPLATE if template is None else np.asarray(template, dtype=np.float32)
    if t.shape != (5, 2):
        raise ValueError(f"a face template is 5 (x, y) points in [0, 1], got shape {t.shape}")
    return ((t - 0.5) / (1.0 + 2.0 * margin) + 0.5) * float(size)


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    m, _inliers = cv2.estimateAffinePartial2D(src.reshape(-1, 1, 2), dst.reshape(-1, 1, 2),
                                              method=cv2.LMEDS)
    if m is None or not np.all(np.isfinite(m)):
        return None
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    if scale < 1e-6:
        return None
    return m.astype(np.float64)


def _landmarks_plausible(pts: np.ndarray) -> bool:
    """Eyes apart and above the mouth; guards against degenerate landmark sets."""
    eye_dist = float(np.hypot(*(pts[1] - pts[0])))
    mouth_y = (pts[3, 1] + pts[4, 1]) / 2.0
    eyes_y = (pts[0, 1] + pts[1, 1]) / 2.0
    return eye_dist >= 2.0 and bool(np.isfinite(pts).all()) and abs(mouth_y - eyes_y) >= 1.0


def _warp(img: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """``cv2.warpAffine`` into ``size`` x ``size``, border replicated. When the transform shrinks
    the face, the source region is first reduced with area averaging (``warpAffine`` itself only
    interpolates, which aliases on large faces)."""
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    if scale < 0.7:
        h, w = img.shape[:2]
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64)
        src = corners @ inv.T
        pad = 2.0 / scale
        x0 = int(np.clip(np.floor(src[:, 0].min() - pad), 0, w - 1))
        y0 = int(np.clip(np.floor(src[:, 1].min() - pad), 0, h - 1))
        x1 = int(np.clip(np.ceil(src[:, 0].max() + pad), x0 + 1, w))
        y1 = int(np.clip(np.ceil(src[:, 1].max() + pad), y0 + 1, h))
        roi = img[y0:y1, x0:x1]
        rw, rh = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
        small = cv2.resize(roi, (rw, rh), interpolation=cv2.INTER_AREA)
        sx, sy = rw / (x1 - x0), rh / (y1 - y0)
        # small = P(img) with P(x, y) = (sx (x - x0), sy (y - y0)); remaining warp = m o P^-1
        pinv = np.array([[1.0 / sx, 0.0, x0], [0.0, 1.0 / sy, y0], [0.0, 0.0, 1.0]])
        m = m @ pinv
        img = small
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_box(frame: np.ndarray, box: tuple[float, float, float, float], size: int = 256,
             margin: float = 0.0) -> np.ndarray:
    """Square crop centred on ``box``, side ``BOX_CROP_SCALE * (1 + 2 margin)`` times its longer
    side, resized to ``size``; uint8 RGB [size, size, 3]."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0, 1.0) * BOX_CROP_SCALE * (1.0 + 2.0 * margin)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    k = size / side
    m = np.array([[k, 0.0, size / 2.0 - k * cx], [0.0, k, size / 2.0 - k * cy]], dtype=np.float64)
    return _warp(np.asarray(frame), m, size)


def align_face(frame: np.ndarray, det: FaceDetection, size: int = 256, margin: float = 0.0,
               template: np.ndarray | None = None) -> np.ndarray:
    """An aligned face crop, uint8 RGB ``[size, size, 3]``.

    Uses the five landmarks when ``det`` has plausible ones, otherwise :func:`crop_box`.
    ``frame`` is the frame the detection's coordinates refer to (uint8 RGB [H, W, 3]).
    """
    if size < 8:
        raise ValueError(f"crop size must be >= 8, got {size}")
    img = np.asarray(frame)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"align_face needs a uint8 RGB frame [H, W, 3], got {img.dtype} {img.shape}")
    pts = det.landmarks_array()
    if pts is not None and _landmarks_plausible(pts):
        dst = template_points(size, margin, template)
        m = _similarity(pts.astype(np.float32), dst.astype(np.float32))
        if m is not None:
            return _warp(img, m, size)
    return crop_box(img, det.box, size, margin)
