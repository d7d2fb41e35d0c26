"""Processed versions of every source image, so that the head learns *generation*, not processing.

A real photo that was re-encoded, resized, cropped, screenshotted or filtered is still real: these
versions of real photos are the hard negatives. The very same recipes are applied to the fakes too
(labelled fake), so that "was processed" can never stand in for either label.

Each source gets the original plus one version per recipe in :data:`RECIPES`, with parameters
drawn from a generator seeded by the source's sha256 and the recipe name (the same file always
gets the same versions). Every operation works on uint8 RGB arrays and returns a new array.

=============  ===============================================================================
recipe         what it does
=============  ===============================================================================
``jpeg``       JPEG re-encode, quality 50-95, 4:2:0 or 4:4:4 chroma
``resize``     downscale by 0.4-0.9 (bicubic / bilinear / Lanczos, antialiased, or area), then
               JPEG 70-95
``crop``       a random crop keeping 50-90 % of each side, then JPEG 75-95
``screenshot`` rescale by a display factor (0.5-2.0, plain bilinear without antialiasing, as
               screen scaling does) and keep it lossless (PNG)
``filter``     one of: Gaussian blur, unsharp-mask sharpening, a colour edit (gamma, contrast,
               saturation), Gaussian noise; then JPEG 80-95
``social``     long side to 720 / 1080 / 1280 px, then JPEG 70-85 (what upload pipelines do)
=============  ===============================================================================
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "RECIPES",
    "MAX_SIDE",
    "Version",
    "jpeg",
    "resize",
    "crop",
    "screenshot",
    "blur",
    "sharpen",
    "colour",
    "noise",
    "social",
    "recipe_rng",
    "derive",
    "versions",
]

#: upscaling recipes never produce a side above this (keeps feature extraction cheap)
MAX_SIDE = 2400
RECIPE_VERSION = 1


@dataclass(frozen=True)
class Version:
    """A derived picture and how it was made."""

    name: str  # "orig" or a recipe name
    ops: tuple[str, ...]  # the operations with their parameters, e.g. ("resize:0.61:bicubic", "jpeg:83")
    image: np.ndarray


def _pil(img: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8), "RGB")


def jpeg(img: np.ndarray, quality: int, subsampling: int = 2) -> np.ndarray:
    """JPEG encode at ``quality`` (``subsampling`` 2 = 4:2:0, 0 = 4:4:4) and decode."""
    from PIL import Image

    buf = io.BytesIO()
    _pil(img).save(buf, format="JPEG", quality=int(quality), subsampling=int(subsampling))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


_PIL_METHODS = ("bicubic", "bilinear", "lanczos")


def resize(img: np.ndarray, factor: float, method: str = "bicubic") -> np.ndarray:
    """Resize by ``factor``: Pillow ``bicubic`` / ``bilinear`` / ``lanczos`` (antialiased when
    shrinking), OpenCV ``area``, or OpenCV ``linear`` (plain bilinear, no antialiasing)."""
    import cv2
    from PIL import Image

    h, w = img.shape[:2]
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
    if method in _PIL_METHODS:
        resample = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
                    "lanczos": Image.Resampling.LANCZOS}[method]
        return np.asarray(_pil(img).resize(size, resample), dtype=np.uint8)
    interp = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}.get(method)
    if interp is None:
        raise ValueError(f"unknown resize method {method!r}")
    return np.ascontiguousarray(cv2.resize(np.ascontiguousarray(img), size, interpolation=interp), dtype=np.uint8)


def crop(img: np.ndarray, fy: float, fx: float, top: float, left: float) -> np.ndarray:
    """Keep ``fy`` of the height and ``fx`` of the width; ``top`` / ``left`` in [0, 1] place the
    window within the free margin."""
    h, w = img.shape[:2]
    ch, cw = max(1, int(round(h * fy))), max(1, int(round(w * fx)))
    y0, x0 = int(round((h - ch) * top)), int(round((w - cw) * left))
    return np.ascontiguousarray(img[y0:y0 + ch, x0:x0 + cw])


def screenshot(img: np.ndarray, scale: float) -> np.ndarray:
    """A screen capture of the picture shown at ``scale``: plain bilinear resampling without
    antialiasing (long side capped at :data:`MAX_SIDE`), lossless (a PNG holds exactly these
    pixels)."""
    h, w = img.shape[:2]
    scale = min(scale, MAX_SIDE / max(h, w))
    return resize(img, scale, "linear")


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return np.ascontiguousarray(cv2.GaussianBlur(np.ascontiguousarray(img), (0, 0), sigma), dtype=np.uint8)


def sharpen(img: np.ndarray, amount: float, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask: ``img + amount * (img - blur(img))``."""
    import cv2

    x = img.astype(np.float32)
    soft = cv2.GaussianBlur(x, (0, 0), sigma)
    return np.clip(np.rint(x + amount * (x - soft)), 0, 255).astype(np.uint8)


def colour(img: np.ndarray, gamma: float, contrast: float, saturation: float) -> np.ndarray:
    """Gamma, then contrast around mid-grey, then saturation around each pixel's luma."""
    x = (img.astype(np.float32) / 255.0) ** (1.0 / gamma)
    x = 0.5 + contrast * (x - 0.5)
    luma = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    x = luma[..., None] + saturation * (x - luma[..., None])
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    x = img.astype(np.float32) + rng.normal(0.0, sigma, size=img.shape).astype(np.float32)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def social(img: np.ndarray, max_side: int, quality: int) -> np.ndarray:
    """Long side to at most ``max_side`` (antialiased bicubic, never enlarged), then JPEG."""
    h, w = img.shape[:2]
    out = resize(img, max_side / max(h, w)) if max(h, w) > max_side else img
    return jpeg(out, quality)


def recipe_rng(sha256: str, recipe: str) -> np.random.Generator:
    """The generator for one recipe of one source (seeded by its sha256, recipe and version)."""
    seed = hashlib.sha256(f"sw-image/{RECIPE_VERSION}/{sha256}/{recipe}".encode()).digest()
    return np.random.default_rng(int.from_bytes(seed[:8], "little"))


def _jpeg_step(img: np.ndarray, rng: np.random.Generator, lo: int, hi: int, ops: list[str]) -> np.ndarray:
    q = int(rng.integers(lo, hi + 1))
    ops.append(f"jpeg:{q}")
    return jpeg(img, q)


def _r_jpeg(img: np.ndarray, rng: np.random.Generator, ops: list[str]) -> np.ndarray:
    q = int(rng.integers(50, 96))
    sub = int(rng.choice([2, 0]))
    ops.append(f"jpeg:{q}:{'420' if sub == 2 else '444'}")
    return jpeg(img, q, sub)


def _r_resize(img: np.ndarray, rng: np.random.Generator, ops: list[str]) -> np.ndarray:
    f = float(rng.uniform(0.4, 0.9))
    method = str(rng.choice(["bicubic", "bilinear", "lanczos", "area"]))
    ops.append(f"resize:{f:.3f}:{method}")
    return _jpeg_step(resize(img, f, method), rng, 70, 95, ops)


def _r_crop(img: np.ndarray, rng: np.random.Generator, ops: list[str]) -> np.ndarray:
    fy, fx = (float(v) for v in rng.uniform(0.5, 0.9, size=2))
    top, left = (float(v) for v in rng.uniform(0.0, 1.0, size=2))
    ops.append(f"crop:{fy:.3f}x{fx:.3f}@{top:.2f},{left:.2f}")
    return _jpeg_step(crop(img, fy, fx, top, left), rng, 75, 95, ops)


def _r_screenshot(img: np.ndarray, rng: np.random.Generator, ops: list[str]) -> np.ndarray:
    s = float(rng.choice([0.5, 0.667, 0.75, 1.25, 1.5, 2.0]))
    ops.append(f"screenshot:{s}")
    return screenshot(img, s)


def _r_filter(img: np.ndarray, rng: np.random.Generator, ops: list[str]) -> np.ndarray:
    kind = str(rng.choice(["blur", "sharpen", "colour", "noise"]))
    if kind == "blur":
        sigma = float(rng.uniform(0.6, 1.5))
        ops.append(f"blur:{sigma:.2f}")
        out = blur(img, sigma)
    elif kind == "sharpen":
        amount = float(rng.uniform(0.5, 1.5))
        ops.append(f"sharpen:{amount:.2f}")
        out = sharpen(img, amount)
    elif kind == "colour":
        g, c, s = float(rng.uniform(0.8, 1.25)), float(rng.uniform(0.85, 1.2)), float(rng.uniform(0.7, 1.3))
        ops.append(f"colour:{g:.2f}:{c:.2f}:{s:.2f}")
        out = colour(img, g, c, s)
    else:
        sigma = float(rng.uniform(2.0, 6.0))
        ops.append(f"noise:{sigma:.2f}")
        out = noise(img, sigma, rng)
    return _jpeg_step(out, rng, 80, 95, ops)


def _r_social(img: np.ndarray, rng: np.random.Generator, ops: list[str]) -> np.ndarray:
    side = int(rng.choice([720, 1080, 1280]))
    q = int(rng.integers(70, 86))
    ops.append(f"social:{side}:{q}")
    return social(img, side, q)


#: recipe name -> function(image, rng, ops) -> image (appends what it did to ops)
RECIPES: dict[str, Callable[[np.ndarray, np.random.Generator, list[str]], np.ndarray]] = {
    "jpeg": _r_jpeg,
    "resize": _r_resize,
    "crop": _r_crop,
    "screenshot": _r_screenshot,
    "filter": _r_filter,
    "social": _r_social,
}


def derive(img: np.ndarray, sha256: str, recipe: str) -> Version:
    """One derived version of a source image (deterministic for a given sha256 and recipe)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    ops: list[str] = []
    out = RECIPES[recipe](np.ascontiguousarray(img, dtype=np.uint8), recipe_rng(sha256, recipe), ops)
    return Version(recipe, tuple(ops), out)


def versions(img: np.ndarray, sha256: str, recipes: tuple[str, ...] | None = None) -> list[Version]:
    """The original plus every recipe's version, de-duplicated by pixel hash (a recipe whose
    output equals an earlier version's is left out)."""
    out = [Version("orig", (), np.ascontiguousarray(img, dtype=np.uint8))]
    seen = {hashlib.sha256(out[0].image.tobytes() + str(out[0].image.shape).encode()).hexdigest()}
    for r in recipes if recipes is not None else tuple(RECIPES):
        v = derive(img, sha256, r)
        h = hashlib.sha256(v.image.tobytes() + str(v.image.shape).encode()).hexdigest()
        if h not in seen:
            seen.add(h)
            out.append(v)
    return out
