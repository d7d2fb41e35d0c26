"""Face-like crops for the face detectors' ``examples()`` (the detector contract test).

Drawn here with numpy so that the detectors need nothing from :mod:`synthwatch.testing` (which sits
above them): a shaded skin oval under hair, with ears, eyes, brows, a nose shadow and a mouth, over a
plain background. They only have to be items of the right kind and shape; what a face detector finds
in generated media is tested with :mod:`synthwatch.testing.faces`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["face_examples"]

_HAIR = (58, 40, 30)
_EYE = (40, 30, 28)
_LIP = (176, 84, 84)


def _soft_ellipse(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    """Coverage in [0, 1] of an axis-aligned ellipse with an edge about a tenth of its radius wide."""
    d = ((xx - cx) / max(ax, 1e-3)) ** 2 + ((yy - cy) / max(ay, 1e-3)) ** 2
    out: np.ndarray = np.clip((1.0 - d) * 5.0, 0.0, 1.0)
    return out


def _paint(img: np.ndarray, cover: np.ndarray, colour: tuple[float, float, float] | np.ndarray) -> None:
    img += cover[..., None] * (np.asarray(colour, np.float32) - img)


def face_examples(shapes: list[tuple[int, int, tuple[int, int, int]]], seed: int = 7) -> list[np.ndarray]:
    """One uint8 RGB [h, w, 3] face-like crop per ``(w, h, skin)``: the face centred at (w/2, 0.46 h),
    0.62 h tall; the mouth opens a little more in each following crop. Deterministic."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (w, h, skin) in enumerate(shapes):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.empty((h, w, 3), np.float32)
        img[:] = (110 + 30 * i, 120, 130 - 20 * i)
        cx, cy, s = w / 2.0, 0.46 * h, 0.31 * h  # s: half the face height
        _paint(img, _soft_ellipse(xx, yy, cx, cy - 0.18 * s, 0.86 * s, 1.0 * s), _HAIR)
        for side in (-1, 1):
            _paint(img, _soft_ellipse(xx, yy, cx + side * 0.76 * s, cy, 0.12 * s, 0.2 * s), skin)
        face = _soft_ellipse(xx, yy, cx, cy + 0.08 * s, 0.74 * s, 0.95 * s)
        shade = 1.0 - 0.18 * np.clip(((xx - cx) / (0.74 * s)) ** 2 + ((yy - cy) / s) ** 2, 0.0, 1.0)
        _paint(img, face, np.asarray(skin, np.float32) * shade[..., None])
        for side in (-1, 1):
            ex = cx + side * 0.32 * s
            _paint(img, _soft_ellipse(xx, yy, ex, cy - 0.3 * s, 0.2 * s, 0.04 * s), _HAIR)  # brow
            _paint(img, _soft_ellipse(xx, yy, ex, cy - 0.12 * s, 0.14 * s, 0.07 * s), (235, 235, 230))
            _paint(img, _soft_ellipse(xx, yy, ex, cy - 0.12 * s, 0.06 * s, 0.06 * s), _EYE)
        darker = np.asarray(skin, np.float32) * 0.8
        _paint(img, 0.6 * _soft_ellipse(xx, yy, cx, cy + 0.12 * s, 0.07 * s, 0.14 * s), darker)  # nose
        _paint(img, _soft_ellipse(xx, yy, cx, cy + 0.46 * s, 0.26 * s, (0.05 + 0.08 * i) * s), _LIP)
        img += rng.normal(0.0, 2.0, img.shape).astype(np.float32)
        out.append(np.clip(img + 0.5, 0, 255).astype(np.uint8))
    return out
