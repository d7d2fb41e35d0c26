"""Self-blended images (after Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022), on synthwatch's aligned face crops.

A face swap pastes a generated face into a real frame: the result has a blending boundary, a
colour and sharpness mismatch between the inner face and its surroundings, and a slight geometric
misfit. A self-blended image reproduces exactly those traces from ONE real picture: a transformed
copy of the face (colour, sharpness, resolution, a little scale and shift) is blended back into the
original through a soft face-shaped mask. The identity and content are unchanged, so a model can
only tell the two apart by the blending traces, which is what generalises to swaps it never saw.

The mask comes from the five-point face template of :mod:`synthwatch.faces.align` (every crop is
aligned to it): a face-shaped polygon (temples, forehead, jaw, chin) around the template points,
jittered, elastically deformed, optionally eroded or dilated, blurred to a soft edge, and scaled by
a blend ratio. Everything is drawn from the ``rng`` passed in, so a seed fixes the image.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...faces.align import FACE_TEMPLATE

__all__ = ["face_hull", "blend_mask", "source_transform", "self_blend", "BLEND_RATIOS"]

#: blend ratios drawn uniformly (full replacement is the most common, as in the paper)
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)

# polygon around the face as fractions of the crop side (x, y), built on FACE_TEMPLATE's framing:
# temples and forehead above the eyes, cheeks, jaw and chin below the mouth
_HULL = np.array([
    [0.20, 0.33], [0.26, 0.20], [0.38, 0.14], [0.50, 0.13], [0.62, 0.14], [0.74, 0.20], [0.80, 0.33],
    [0.79, 0.50], [0.74, 0.68], [0.64, 0.80], [0.50, 0.85], [0.36, 0.80], [0.26, 0.68], [0.21, 0.50],
], dtype=np.float32)


def face_hull(size: int, rng: np.random.Generator, jitter: float = 0.03) -> np.ndarray:
    """A jittered face polygon in pixels of a ``size`` crop, scaled about the template's centre."""
    centre = FACE_TEMPLATE.mean(axis=0)
    scale = rng.uniform(0.8, 1.08, size=2).astype(np.float32)
    pts = (_HULL - centre) * scale + centre + rng.uniform(-jitter, jitter, size=_HULL.shape).astype(np.float32)
    return np.asarray(pts * size, dtype=np.float32)


def _elastic(mask: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    h, w = mask.shape
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def blend_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """Soft mask float32 ``[size, size]`` in [0, 1], already multiplied by a blend ratio."""
    mask = np.zeros((size, size), dtype=np.float32)
    cv2.fillConvexPoly(mask, np.round(face_hull(size, rng)).astype(np.int32), 1.0)
    if rng.random() < 0.7:
        mask = np.asarray(_elastic(mask, rng, alpha=rng.uniform(0.02, 0.06) * size, sigma=rng.uniform(0.04, 0.08) * size), dtype=np.float32)
    k = int(rng.integers(0, 3))
    if k:
        r = max(1, int(rng.uniform(0.01, 0.04) * size))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        mask = np.asarray(cv2.erode(mask, kernel) if k == 1 else cv2.dilate(mask, kernel), dtype=np.float32)
    sigma = rng.uniform(0.01, 0.05) * size
    mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), sigma), dtype=np.float32)
    peak = float(mask.max())
    if peak > 0:
        mask = mask / peak
    ratio = float(rng.choice(BLEND_RATIOS))
    out: np.ndarray = np.clip(mask * ratio, 0.0, 1.0).astype(np.float32)
    return out


def _colour(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = img.astype(np.float32)
    x += rng.uniform(-18, 18, size=3).astype(np.float32)  # per-channel shift
    hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] *= rng.uniform(0.8, 1.2)
    hsv[..., 2] *= rng.uniform(0.85, 1.15)
    x = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    c = rng.uniform(0.85, 1.15)
    x = (x - x.mean()) * c + x.mean()
    return np.clip(x, 0, 255).astype(np.uint8)


def _sharpness(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    size = img.shape[0]
    r = rng.random()
    if r < 0.35:  # the generated face at a lower resolution (a swap model's output size)
        s = int(rng.uniform(0.3, 0.8) * size)
        small = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR))
    if r < 0.55:
        return np.asarray(cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5)))
    if r < 0.75:
        blur = cv2.GaussianBlur(img, (0, 0), 1.0)
        amt = rng.uniform(0.3, 1.0)
        return np.clip(img.astype(np.float32) * (1 + amt) - blur.astype(np.float32) * amt, 0, 255).astype(np.uint8)
    return img


def source_transform(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The transformed copy that is blended in: colour, sharpness, then a small similarity warp."""
    size = img.shape[0]
    x = _colour(img, rng) if rng.random() < 0.85 else img.copy()
    x = _sharpness(x, rng)
    if rng.random() < 0.5:
        q = int(rng.integers(40, 90))
        ok, enc = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            x = np.asarray(cv2.imdecode(enc, cv2.IMREAD_UNCHANGED))
    scale = rng.uniform(0.95, 1.05)
    tx, ty = rng.uniform(-0.03, 0.03, size=2) * size
    m = cv2.getRotationMatrix2D((size / 2.0, size / 2.0), 0.0, scale)
    m[:, 2] += (tx, ty)
    return np.asarray(cv2.warpAffine(x, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))


def self_blend(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(fake, mask)``: the self-blended version of one aligned real crop (uint8 RGB, square)."""
    if img.ndim != 3 or img.shape[0] != img.shape[1] or img.dtype != np.uint8:
        raise ValueError(f"self_blend needs a square uint8 RGB crop, got {img.dtype} {img.shape}")
    size = img.shape[0]
    src = source_transform(img, rng)
    mask = blend_mask(size, rng)
    m3 = mask[..., None]
    fake = np.clip(src.astype(np.float32) * m3 + img.astype(np.float32) * (1.0 - m3) + 0.5, 0, 255).astype(np.uint8)
    return fake, mask
