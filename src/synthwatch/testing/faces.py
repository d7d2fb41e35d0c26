"""A drawn, deterministic human face that real face detectors (CenterFace, YuNet) find.

Used to generate test images and videos without shipping photographs: :func:`draw_face` paints a
frontal face (hair, ears, neck and shoulders, shaded skin, eyes with iris, pupil and catch-light,
brows, nose shading and nostrils, lips) onto an RGB image in place. Everything is drawn with
OpenCV primitives plus Gaussian blurs for soft shading, so the result is the same on every machine
with the same OpenCV version. The proportions were tuned against CenterFace: a full fringe, a
wide face oval and eyes set far apart all lower its confidence; sensor-like noise does too.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["draw_face", "face_landmarks"]

_SKIN = (224, 172, 140)
_HAIR = (58, 40, 30)
_IRIS = (92, 64, 40)
_LIP = (176, 84, 84)
_CLOTHES = (60, 78, 110)
_EYE_X = 0.32  # eye centres at +-0.32 half face heights from the middle


def face_landmarks(cx: float, cy: float, size: float) -> np.ndarray:
    """Where :func:`draw_face` puts the five landmarks (x, y): left eye, right eye, nose tip,
    left mouth corner, right mouth corner."""
    s = size / 2.0
    return np.array([
        [cx - _EYE_X * s, cy - 0.12 * s],
        [cx + _EYE_X * s, cy - 0.12 * s],
        [cx, cy + 0.20 * s],
        [cx - 0.26 * s, cy + 0.46 * s],
        [cx + 0.26 * s, cy + 0.46 * s],
    ], dtype=np.float32)


class _Canvas:
    """A float32 working copy of part of an image, painted one soft-edged ellipse at a time; every
    layer is rasterised only over its own bounding box."""

    def __init__(self, region: np.ndarray, ox: float, oy: float, s: float) -> None:
        self.c = region.astype(np.float32)
        self.h, self.w = region.shape[:2]
        self.ox, self.oy, self.s = ox, oy, s

    def _roi(self, cx: float, cy: float, r: float) -> tuple[int, int, int, int] | None:
        x0, x1 = max(0, int(np.floor(cx - r))), min(self.w, int(np.ceil(cx + r)) + 1)
        y0, y1 = max(0, int(np.floor(cy - r))), min(self.h, int(np.ceil(cy + r)) + 1)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None

    def mask(self, dx: float, dy: float, ax: float, ay: float, angle: float = 0.0, blur: float = 0.0,
             cut: tuple[float, float, float, float] | None = None,
             fill_below: bool = False) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """An ellipse in face units (centre offset ``dx, dy`` and half-axes ``ax, ay`` times the
        half face height) minus the optional ellipse ``cut``; ``fill_below`` extends it straight
        down to the bottom of the canvas."""
        s = self.s
        cx, cy = self.ox + dx * s, self.oy + dy * s
        r = max(ax, ay) * s + 3.0 * blur + 2.0
        roi = self._roi(cx, cy, r)
        if roi is None:
            return None
        x0, y0, x1, y1 = roi
        if fill_below:
            y1 = self.h
        # wide blurs are computed on a coarser grid (same look, a fraction of the cost)
        f = min(1.0, 3.0 / blur) if blur > 3.0 else 1.0
        mh, mw = max(1, round((y1 - y0) * f)), max(1, round((x1 - x0) * f))
        m: np.ndarray = np.zeros((mh, mw), dtype=np.float32)

        def ellipse(target: np.ndarray, ex: float, ey: float, eax: float, eay: float) -> None:
            cv2.ellipse(target, (round((ex - x0) * f * 16), round((ey - y0) * f * 16)),
                        (max(1, round(eax * s * f * 16)), max(1, round(eay * s * f * 16))), angle, 0, 360,
                        1.0, -1, cv2.LINE_AA, 4)

        ellipse(m, cx, cy, ax, ay)
        if fill_below:
            top = max(0, round((cy - y0) * f))
            xa, xb = max(0, round((cx - ax * s - x0) * f)), min(mw, round((cx + ax * s - x0) * f))
            m[top:, xa:xb] = 1.0
        if cut is not None:
            k = np.zeros_like(m)
            ellipse(k, self.ox + cut[0] * s, self.oy + cut[1] * s, cut[2], cut[3])
            m *= 1.0 - k
        if blur > 0.3:
            m = cv2.GaussianBlur(m, (0, 0), blur * f)
        if f < 1.0:
            m = cv2.resize(m, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        return m, (x0, y0, x1, y1)

    def paint(self, layer: tuple[np.ndarray, tuple[int, int, int, int]] | None,
              color: tuple[float, float, float] | np.ndarray, alpha: float = 1.0) -> None:
        if layer is None or alpha <= 0:
            return
        m, (x0, y0, x1, y1) = layer
        part = self.c[y0:y1, x0:x1]
        delta = np.asarray(color, dtype=np.float32) - part
        delta *= (m * alpha)[..., None]
        part += delta

    def ellipse(self, color: tuple[float, float, float] | np.ndarray, dx: float, dy: float, ax: float,
                ay: float, alpha: float = 1.0, **kw: object) -> None:
        self.paint(self.mask(dx, dy, ax, ay, **kw), color, alpha)  # type: ignore[arg-type]


def draw_face(img: np.ndarray, cx: float, cy: float, size: float, *, skin: tuple[int, int, int] = _SKIN,
              hair: tuple[int, int, int] = _HAIR, iris: tuple[int, int, int] = _IRIS,
              mouth_open: float = 0.0) -> np.ndarray:
    """Draw a frontal face centred at (``cx``, ``cy``) whose face oval is ``size`` pixels high,
    onto ``img`` (uint8 RGB [H, W, 3]) in place; returns ``img``.

    CenterFace reports a box about ``0.9 size`` high and ``0.75 size`` wide around the centre with a
    confidence of 0.8-0.95 (YuNet: 0.9-0.94), for faces from 50 pixels high (after the detector's
    downscaling) up, on plain backgrounds, several skin and hair colours; :func:`face_landmarks`
    gives the drawn landmark positions (the detectors' landmarks land within about 0.05 ``size``).
    ``mouth_open`` in [0, 1] opens the mouth (for talking-head animations). Parts outside the
    image are clipped; the shoulders extend to the bottom of the image. About 5 ms for a 180 px
    face, 45 ms for a 450 px face on one core.
    """
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"draw_face needs a uint8 RGB image [H, W, 3], got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    s = size / 2.0  # half height of the face oval
    if s <= 0:
        raise ValueError(f"face size must be positive, got {size}")
    # work on the part of the image the face, hair and shoulders can reach
    x0 = int(max(0, np.floor(cx - 2.2 * s)))
    x1 = int(min(w, np.ceil(cx + 2.2 * s)))
    y0 = int(max(0, np.floor(cy - 1.6 * s)))
    y1 = h
    if x1 <= x0 or y1 <= y0:
        return img
    cv_ = _Canvas(img[y0:y1, x0:x1], cx - x0, cy - y0, s)
    E = cv_.ellipse
    skin_f = np.asarray(skin, dtype=np.float32)
    dark = skin_f * 0.62
    light = np.minimum(skin_f * 1.08 + 14.0, 255.0)
    blur = max(0.6, s * 0.04)

    # shoulders / clothes, then the neck
    E(_CLOTHES, 0.0, 2.35, 1.9, 1.0, blur=blur, fill_below=True)
    E(dark * 1.15, 0.0, 1.05, 0.42, 0.75, blur=blur)
    # hair volume behind the head
    E(hair, 0.0, -0.25, 0.90, 0.95, blur=blur)
    # ears
    for side in (-1, 1):
        E(skin_f * 0.9, side * 0.80, 0.02, 0.13, 0.24, blur=blur)
        E(dark, side * 0.82, 0.02, 0.06, 0.14, alpha=0.5, blur=blur * 2)
    # face oval: darker rim, lit centre, brighter forehead
    E(dark, 0.0, 0.0, 0.72, 1.0, blur=blur)
    E(skin_f, 0.0, -0.05, 0.56, 0.90, blur=s * 0.18)
    E(light, 0.0, -0.25, 0.38, 0.45, alpha=0.6, blur=s * 0.2)
    # eye sockets (shadow), eyes with iris, pupil and catch-light, upper lids, brows
    for side in (-1, 1):
        ex = side * _EYE_X
        E(dark * 0.8, ex, -0.13, 0.24, 0.14, alpha=0.7, blur=s * 0.06)
        E((245, 242, 238), ex, -0.12, 0.16, 0.065, blur=blur * 0.5)
        E(iris, ex, -0.12, 0.065, 0.065, blur=blur * 0.5)
        E((12, 10, 10), ex, -0.12, 0.032, 0.032, blur=blur * 0.3)
        E((255, 255, 255), ex + 0.02, -0.14, 0.014, 0.014, alpha=0.9, blur=blur * 0.2)
        E((40, 28, 24), ex, -0.13, 0.17, 0.075, alpha=0.9, blur=blur * 0.5, cut=(ex, -0.11, 0.17, 0.075))
        E(hair, ex, -0.31, 0.20, 0.06, angle=side * -8.0, blur=blur * 0.6)
    # nose: side shadows, nostrils, lit tip, shadow below
    for side in (-1, 1):
        E(dark, side * 0.09, 0.05, 0.04, 0.20, alpha=0.35, blur=s * 0.04)
        E((70, 40, 38), side * 0.07, 0.21, 0.045, 0.025, alpha=0.85, blur=blur * 0.5)
    E(np.minimum(skin_f * 1.12 + 18.0, 255.0), 0.0, 0.16, 0.08, 0.06, alpha=0.6, blur=s * 0.04)
    E(dark, 0.0, 0.27, 0.14, 0.05, alpha=0.35, blur=s * 0.05)
    # mouth: lips and the line between them, or an open mouth
    mo = float(np.clip(mouth_open, 0.0, 1.0))
    E(_LIP, 0.0, 0.46 + 0.02 * mo, 0.27, 0.07 + 0.06 * mo, blur=blur * 0.7)
    if mo > 0.05:
        E((60, 20, 24), 0.0, 0.465 + 0.02 * mo, 0.21, 0.02 + 0.05 * mo, blur=blur * 0.5)
    else:
        E((96, 40, 44), 0.0, 0.46, 0.26, 0.012, alpha=0.9, blur=blur * 0.4)
    E(dark, 0.0, 0.60, 0.16, 0.05, alpha=0.3, blur=s * 0.05)  # chin shadow
    c = cv_.c
    img[y0:y1, x0:x1] = np.clip(c + 0.5, 0, 255).astype(np.uint8)
    return img
