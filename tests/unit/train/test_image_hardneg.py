"""The processed versions (hard negatives) of sw-image training change pictures as they claim to."""

from __future__ import annotations

import numpy as np
import pytest

from synthwatch.train.image import hardneg as H

SHA_A = "a" * 64
SHA_B = "b" * 64


def _photo(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    """Smooth structure plus sensor-like noise, so that blur / sharpen / JPEG have something to act on."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([128 + 80 * np.sin(xx / 17.0), 128 + 80 * np.cos(yy / 13.0), 128 + 60 * np.sin((xx + yy) / 23.0)], -1)
    return np.clip(base + rng.normal(0, 6, size=(h, w, 3)), 0, 255).astype(np.uint8)


def _highfreq(img: np.ndarray) -> float:
    g = img.astype(np.float32).mean(axis=2)
    return float(np.abs(np.diff(g, axis=1)).mean() + np.abs(np.diff(g, axis=0)).mean())


def test_jpeg_is_lossy_and_lower_quality_loses_more() -> None:
    img = _photo()
    q95, q50 = H.jpeg(img, 95), H.jpeg(img, 50)
    assert q95.shape == img.shape and q95.dtype == np.uint8
    err95 = np.abs(q95.astype(int) - img).mean()
    err50 = np.abs(q50.astype(int) - img).mean()
    assert 0 < err95 < err50


@pytest.mark.parametrize("method", ["bicubic", "bilinear", "lanczos", "area", "linear"])
def test_resize_changes_the_shape_by_the_factor(method: str) -> None:
    out = H.resize(_photo(200, 300), 0.5, method)
    assert out.shape == (100, 150, 3) and out.dtype == np.uint8


def test_crop_keeps_the_fraction_and_the_pixels() -> None:
    img = _photo(200, 300)
    out = H.crop(img, 0.5, 0.8, 1.0, 0.0)
    assert out.shape == (100, 240, 3)
    np.testing.assert_array_equal(out, img[100:200, 0:240])


def test_screenshot_rescales_without_antialiasing_and_caps_the_size() -> None:
    img = _photo(200, 300)
    up = H.screenshot(img, 1.5)
    assert up.shape == (300, 450, 3)
    big = np.zeros((2000, 1000, 3), np.uint8)
    assert max(H.screenshot(big, 2.0).shape[:2]) <= H.MAX_SIDE


def test_filters_do_what_they_say() -> None:
    img = _photo()
    assert _highfreq(H.blur(img, 1.2)) < _highfreq(img)
    assert _highfreq(H.sharpen(img, 1.0)) > _highfreq(img)
    noisy = H.noise(img, 5.0, np.random.default_rng(0))
    assert _highfreq(noisy) > _highfreq(img)
    darker = H.colour(img, 0.8, 1.0, 1.0)  # gamma < 1 darkens
    assert darker.mean() < img.mean()
    grey = H.colour(img, 1.0, 1.0, 0.0)  # no saturation: channels equal up to rounding
    assert np.abs(grey[..., 0].astype(int) - grey[..., 1]).max() <= 1


def test_social_caps_the_long_side_and_reencodes() -> None:
    img = _photo(900, 1600)
    out = H.social(img, 720, 80)
    assert max(out.shape[:2]) == 720 and out.shape[0] == 405
    small = _photo(100, 200)
    assert H.social(small, 720, 80).shape == small.shape  # never enlarged


@pytest.mark.parametrize("recipe", list(H.RECIPES))
def test_every_recipe_changes_the_picture_and_is_deterministic(recipe: str) -> None:
    img = _photo()
    v1 = H.derive(img, SHA_A, recipe)
    v2 = H.derive(img, SHA_A, recipe)
    assert v1.name == recipe and v1.ops
    assert v1.image.dtype == np.uint8 and v1.image.ndim == 3 and v1.image.shape[2] == 3
    changed = v1.image.shape != img.shape or not np.array_equal(v1.image, img)
    assert changed, f"{recipe} left the picture unchanged"
    assert v1.ops == v2.ops and np.array_equal(v1.image, v2.image)


def test_parameters_depend_on_the_source_hash() -> None:
    img = _photo()
    ops_a = [H.derive(img, SHA_A, r).ops for r in H.RECIPES]
    ops_b = [H.derive(img, SHA_B, r).ops for r in H.RECIPES]
    assert ops_a != ops_b


def test_versions_start_with_the_original_and_are_distinct() -> None:
    img = _photo()
    vs = H.versions(img, SHA_A)
    assert vs[0].name == "orig" and np.array_equal(vs[0].image, img)
    assert [v.name for v in vs[1:]] == list(H.RECIPES)
    keys = {(v.image.shape, v.image.tobytes()) for v in vs}
    assert len(keys) == len(vs)
    assert [v.name for v in H.versions(img, SHA_A, ())] == ["orig"]


def test_unknown_recipe_is_refused() -> None:
    with pytest.raises(ValueError):
        H.derive(_photo(), SHA_A, "nope")
