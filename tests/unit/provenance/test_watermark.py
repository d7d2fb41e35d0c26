"""Stable Diffusion dwtDct watermark detection (v1 payload, SDXL pattern), keyless."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthwatch.provenance import inspect
from synthwatch.provenance.watermark import PAYLOADS, SCALE, decode_bits, detect_array, detect_image


def _image(size: int = 320, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 3)


def embed(bgr: np.ndarray, bits: tuple[int, ...]) -> np.ndarray:
    """dwtDct embedding as invisible-watermark does it: U channel, Haar cA, 4x4 blocks, scale 36."""
    import cv2

    row, col = bgr.shape[:2]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    u = yuv[: row // 4 * 4, : col // 4 * 4, 1].astype(np.float64)
    a, b, c, d = u[0::2, 0::2], u[0::2, 1::2], u[1::2, 0::2], u[1::2, 1::2]
    ca, ch, cv, cd = (a + b + c + d) / 2, (a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2
    num = 0
    for i in range(ca.shape[0] // 4):
        for j in range(ca.shape[1] // 4):
            blk = ca[i * 4:i * 4 + 4, j * 4:j * 4 + 4]
            flat = blk.flatten()
            pos = int(np.argmax(np.abs(flat[1:]))) + 1
            val = flat[pos]
            bit = bits[num % len(bits)]
            mag = (abs(val) // SCALE + 0.25 + 0.5 * bit) * SCALE
            blk[pos // 4, pos % 4] = mag if val >= 0 else -mag
            num += 1
    out = np.empty_like(u)
    out[0::2, 0::2] = (ca + ch + cv + cd) / 2
    out[0::2, 1::2] = (ca + ch - cv - cd) / 2
    out[1::2, 0::2] = (ca - ch + cv - cd) / 2
    out[1::2, 1::2] = (ca - ch - cv + cd) / 2
    yuv[: row // 4 * 4, : col // 4 * 4, 1] = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return np.asarray(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR))


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_payloads_are_found_and_told_apart(name: str, tmp_path: Path) -> None:
    marked = embed(_image(), PAYLOADS[name][0])
    hits = {h.name: h for h in detect_array(marked)}
    assert hits[name].found and hits[name].bit_accuracy >= 0.95
    assert not any(h.found for n, h in hits.items() if n != name)
    path = tmp_path / "wm.png"
    Image.fromarray(marked[:, :, ::-1]).save(path)  # lossless: the mark survives
    section = inspect(path)
    assert section["watermarks"]["found"] and section["watermarks"]["names"] == [name]
    assert section["decision"]["rule"] == "art6.3-watermark"


def test_clean_images_are_not_flagged(tmp_path: Path) -> None:
    for seed in range(5):
        assert not any(h.found for h in detect_array(_image(seed=seed)))
    small = tmp_path / "small.png"
    Image.fromarray(_image(128)).save(small)
    assert "smaller than" in detect_image(small)["reason"]


def test_matches_the_reference_decoder_when_installed() -> None:
    maxdct = pytest.importorskip("imwatermark.maxDct", reason="invisible-watermark (needs PyTorch) is not installed")
    enc = pytest.importorskip("imwatermark").WatermarkEncoder()
    enc.set_watermark("bytes", b"StableDiffusionV1")
    marked = enc.encode(_image(), "dwtDct")
    ref = np.array(maxdct.EmbedMaxDct(wmLen=136).decode(marked))
    assert (decode_bits(marked, 136) == ref).all()
