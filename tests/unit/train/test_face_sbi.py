"""Self-blended images and the shared degradations of sw-face training (numpy / OpenCV only)."""

from __future__ import annotations

import numpy as np
import pytest

from synthwatch.faces.align import FACE_TEMPLATE
from synthwatch.testing.faces import draw_face
from synthwatch.train.face.augment import degrade, downup, jpeg
from synthwatch.train.face.sbi import blend_mask, face_hull, self_blend


def _face(size: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(60, 200, size=(size, size, 3), dtype=np.uint8)
    return draw_face(img, size / 2.0, size * 0.48, size * 0.62, skin=(214, 170, 140))


def test_mask_covers_the_face_and_not_the_corners() -> None:
    size = 128
    centre = (FACE_TEMPLATE.mean(axis=0) * size).round().astype(int)
    for seed in range(30):
        m = blend_mask(size, np.random.default_rng(seed))
        assert m.shape == (size, size) and m.dtype == np.float32
        assert float(m.min()) >= 0.0 and float(m.max()) <= 1.0
        assert m[centre[1], centre[0]] >= 0.2  # the smallest blend ratio is 0.25
        for y, x in ((0, 0), (0, size - 1), (size - 1, 0), (size - 1, size - 1)):
            assert m[y, x] < 0.02
        hull = face_hull(size, np.random.default_rng(seed))
        assert hull.shape == (14, 2) and (hull > 0).all() and (hull < size).all()


def test_self_blend_changes_only_inside_the_mask_and_is_seeded() -> None:
    img = _face()
    fake, mask = self_blend(img, np.random.default_rng(3))
    assert fake.shape == img.shape and fake.dtype == np.uint8
    outside = mask < 1e-4
    assert outside.any() and (~outside).any()
    diff = np.abs(fake.astype(int) - img.astype(int)).max(axis=2)
    assert diff[outside].max() <= 1  # rounding only
    assert diff[mask > 0.5].mean() > 1.0  # the blended region differs
    again, _ = self_blend(img, np.random.default_rng(3))
    other, _ = self_blend(img, np.random.default_rng(4))
    assert np.array_equal(fake, again) and not np.array_equal(fake, other)


def test_self_blend_refuses_what_is_not_a_square_rgb_crop() -> None:
    with pytest.raises(ValueError):
        self_blend(np.zeros((64, 80, 3), np.uint8), np.random.default_rng(0))
    with pytest.raises(ValueError):
        self_blend(np.zeros((64, 64, 3), np.float32), np.random.default_rng(0))


def test_degradations_keep_shape_and_type_and_cost_detail() -> None:
    img = _face(seed=5)
    for seed in range(20):
        out = degrade(img, np.random.default_rng(seed))
        assert out.shape == img.shape and out.dtype == np.uint8 and out.flags["C_CONTIGUOUS"]
    # a lower resolution removes high-frequency energy; stronger JPEG moves further from the original
    def hf(x: np.ndarray) -> float:
        g = x.astype(np.float64).mean(axis=2)
        return float(np.abs(np.diff(g, axis=1)).mean())
    noisy = np.random.default_rng(1).integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
    assert hf(downup(noisy, 0.3)) < 0.5 * hf(noisy)
    face = _face(seed=6)

    def err(x: np.ndarray) -> float:
        return float(np.abs(x.astype(np.float64) - face.astype(np.float64)).mean())
    assert 0.0 < err(jpeg(face, 92)) < err(jpeg(face, 30))
