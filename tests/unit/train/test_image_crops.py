"""The sw-image crop study: its views are unresampled native crops, and its scoring is the mean logit."""

from __future__ import annotations

import numpy as np
import pytest

from synthwatch.detectors.image._clip import CLIP_MEAN, CLIP_STD, clip_preprocess
from synthwatch.train.image import crops


def _back(x: np.ndarray) -> np.ndarray:
    return np.rint((x * CLIP_STD + CLIP_MEAN) * 255.0).transpose(1, 2, 0).astype(np.uint8)


def test_views_are_the_whole_view_the_native_grid_and_the_halved_centre() -> None:
    img = np.random.default_rng(0).integers(0, 256, size=(700, 1000, 3), dtype=np.uint8)
    v = crops.views(img)
    assert v.shape == (crops.N_VIEWS, 3, 224, 224) and v.dtype == np.float32
    np.testing.assert_array_equal(v[0], clip_preprocess(img))
    ys, xs = [0, 238, 476], [0, 388, 776]
    for i, (y, x) in enumerate((y, x) for y in ys for x in xs):
        np.testing.assert_array_equal(_back(v[1 + i]), img[y:y + 224, x:x + 224])
    assert not np.array_equal(_back(v[10]), img[238:462, 388:612])  # halved, so resampled


def test_views_refuse_a_picture_too_small_for_the_grid() -> None:
    with pytest.raises(ValueError, match="too small"):
        crops.views(np.zeros((300, 900, 3), dtype=np.uint8))


def test_rows_and_score_use_the_named_grid_crops() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, crops.N_VIEWS, 4)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 0, 1])
    rx, ry = crops._rows(x, y, np.array([1, 2]), (0, 8))
    np.testing.assert_array_equal(rx, np.stack([x[1, 1], x[1, 9], x[2, 1], x[2, 9]]))
    np.testing.assert_array_equal(ry, [1, 1, 0, 0])

    class Linear:
        def decision_function(self, a: np.ndarray) -> np.ndarray:
            return np.asarray(a[:, 0], dtype=np.float64)

    s = crops._score(Linear(), x, (0, 8))
    np.testing.assert_allclose(s, (x[:, 1, 0] + x[:, 9, 0]) / 2, rtol=1e-6)
