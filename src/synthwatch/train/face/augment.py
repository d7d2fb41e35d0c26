"""Degradations applied alike to real and fake face crops during training.

What a face crop goes through between a camera and a scan: the face is small in the frame (the
aligned 256 x 256 crop is an enlargement), the video is re-encoded (H.264 at CRF 23-35 on
platforms), frames are resized. :func:`degrade` draws a chain of those on one crop: a lower
resolution (area-averaged down to 0.4-0.9, linearly up), block-transform compression (JPEG 50-95
here: the same 8 x 8 DCT quantisation family as H.264's intra blocks, cheap enough to draw per
sample), mild blur or noise, a horizontal flip. (A first run with stronger degradation, down to 0.25
and JPEG 30, left the self-blended images at a validation AUC of 0.75: the blending traces the
model must learn were gone.) Real and fake crops get the same distribution of chains, so
degradation says nothing about the class.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["degrade", "downup", "jpeg"]


def downup(img: np.ndarray, factor: float) -> np.ndarray:
    size = img.shape[0]
    s = max(8, int(round(size * factor)))
    small = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR))


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, enc = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    dec = cv2.imdecode(enc, cv2.IMREAD_COLOR) if ok else None
    if dec is None:
        return img
    return np.ascontiguousarray(np.asarray(dec)[..., ::-1])


def degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random degradation chain of a square uint8 RGB crop (same shape out)."""
    x = img
    if rng.random() < 0.5:
        x = x[:, ::-1]
    if rng.random() < 0.3:
        x = downup(x, rng.uniform(0.4, 0.9))
    if rng.random() < 0.1:
        x = np.asarray(cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.0)))
    if rng.random() < 0.1:
        noise = rng.normal(0.0, rng.uniform(1.0, 4.0), size=x.shape)
        x = np.clip(x.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        x = jpeg(x, int(rng.integers(50, 96)))
    return np.ascontiguousarray(x)
