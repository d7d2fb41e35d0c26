"""Keyless detection of the Stable Diffusion invisible watermarks (``invisible-watermark`` dwtDct).

The reference decoder (``imwatermark.maxDct.EmbedMaxDct``, scales ``[0, 36, 36]``, 4x4 blocks)
looks only at the U channel of OpenCV's YUV: one Haar DWT level, then in every 4x4 block of the
approximation band the largest-magnitude non-DC coefficient carries one bit as ``|v| mod 36 > 18``;
bit ``k`` is the vote of every ``k``-th block. This is a vectorised re-implementation (numpy +
OpenCV) of that decoder, so the PyTorch-dependent package is not needed.

Payloads (data, :data:`PAYLOADS`): Stable Diffusion v1 scripts embed the bytes ``StableDiffusionV1``
(136 bits); SDXL embeds a fixed 48-bit pattern on images of at least 256 px. A payload counts as
found when the share of matching bits reaches its threshold (random images match about half);
absence proves nothing (resizing, cropping or re-encoding destroy the mark).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PAYLOADS", "MIN_SIDE", "MAX_PIXELS", "WatermarkHit", "decode_bits", "detect_array", "detect_image"]

SCALE = 36
BLOCK = 4
MIN_SIDE = 256
MAX_PIXELS = 64_000_000


def _bits_of(data: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(data, dtype=np.uint8)))


#: name -> (bits, share of matching bits that counts as found)
PAYLOADS: dict[str, tuple[tuple[int, ...], float]] = {
    "stable-diffusion-v1": (_bits_of(b"StableDiffusionV1"), 0.85),
    "sdxl": (tuple(int(c) for c in "101100111110110010010000011110111011000110011110"), 0.9),
}


@dataclass(frozen=True)
class WatermarkHit:
    name: str
    bit_accuracy: float
    threshold: float
    found: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bit_accuracy": round(self.bit_accuracy, 4), "threshold": self.threshold,
                "found": self.found}


def decode_bits(bgr: np.ndarray, wm_len: int) -> np.ndarray:
    """The ``wm_len`` bits the dwtDct decoder reads from an 8-bit BGR image (as ``imwatermark`` does)."""
    import cv2

    row, col = bgr.shape[:2]
    yuv = cv2.cvtColor(np.ascontiguousarray(bgr, dtype=np.uint8), cv2.COLOR_BGR2YUV)
    u = yuv[: row // 4 * 4, : col // 4 * 4, 1].astype(np.float64)
    # Haar DWT approximation band (pywt.dwt2(..., "haar")[0])
    ca = (u[0::2, 0::2] + u[0::2, 1::2] + u[1::2, 0::2] + u[1::2, 1::2]) / 2.0
    r, c = ca.shape[0] // BLOCK, ca.shape[1] // BLOCK
    blocks = ca[: r * BLOCK, : c * BLOCK].reshape(r, BLOCK, c, BLOCK).transpose(0, 2, 1, 3).reshape(r * c, BLOCK * BLOCK)
    if len(blocks) < wm_len:
        raise ValueError("image too small for this payload")
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    val = np.abs(blocks[np.arange(len(blocks)), pos])
    scores = ((val % SCALE) > 0.5 * SCALE).astype(np.float64)
    index = np.arange(len(blocks)) % wm_len
    sums = np.bincount(index, weights=scores, minlength=wm_len)
    counts = np.bincount(index, minlength=wm_len)
    return np.asarray((sums / counts) * 255 > 127)


def detect_array(bgr: np.ndarray) -> list[WatermarkHit]:
    """Check every known payload on a decoded BGR image."""
    hits = []
    for name, (bits, threshold) in PAYLOADS.items():
        got = decode_bits(bgr, len(bits))
        acc = float(np.mean(got == np.array(bits, dtype=bool)))
        hits.append(WatermarkHit(name, acc, threshold, acc >= threshold))
    return hits


def detect_image(path: str | os.PathLike[str], *, deadline: float | None = None) -> dict[str, Any]:
    """Decode an image file with Pillow and check the payloads; a JSON-able summary.

    Decoding and the check run in the isolated provenance worker
    (:mod:`synthwatch.provenance.isolation`, under ``decode_timeout_s`` / ``decode_memory_mb``): an
    image that cannot be decoded is :class:`~synthwatch.provenance.errors.CorruptContainer`; one that
    hangs, crashes or exhausts the decoder is :class:`~synthwatch.errors.DecodeTimeout` /
    :class:`~synthwatch.errors.DecodeResourceError`, never a failure of the calling process."""
    from .isolation import checked, run

    what = "checking the image for invisible watermarks"
    result = checked(run("sd_watermark", {"path": os.fspath(path)}, what=what, transcode=False, deadline=deadline),
                     {"checked": list, "found": bool}, what)
    return result


def _detect_task(path: str) -> dict[str, Any]:
    """:func:`detect_image`'s work, in the isolated worker."""
    from PIL import Image

    from synthwatch.media.sniff import FORMATS, pillow_format_for, sniff
    from synthwatch.media.source import open_input
    from synthwatch.types import MediaKind

    from .errors import CorruptContainer, UnsupportedCarrier

    fmt = sniff(path).format
    if FORMATS[fmt][0] is not MediaKind.IMAGE:
        raise UnsupportedCarrier(f"invisible image watermarks are read from images, not {fmt}")
    try:
        with open_input(path) as f, Image.open(f, formats=[pillow_format_for(fmt)]) as im:
            w, h = im.size
            if min(w, h) < MIN_SIDE:
                return {"checked": [], "found": False, "reason": f"image smaller than {MIN_SIDE} px"}
            if w * h > MAX_PIXELS:
                return {"checked": [], "found": False, "reason": f"image over {MAX_PIXELS} pixels"}
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise CorruptContainer(f"the image could not be decoded: {exc}") from exc
    hits = detect_array(rgb[:, :, ::-1])
    return {"checked": [x.to_dict() for x in hits], "found": any(x.found for x in hits),
            "names": [x.name for x in hits if x.found]}
