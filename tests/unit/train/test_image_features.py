"""sw-image features: views, hand-crafted statistics, token statistics, cached extraction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthwatch.detectors.image import sw_image as sw
from synthwatch.detectors.image._clip import CLIP_MEAN, CLIP_STD, clip_preprocess
from synthwatch.errors import DetectorError


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([128 + 70 * np.sin(xx / 11.0), 128 + 70 * np.cos(yy / 7.0), 128 + 50 * np.sin((xx - yy) / 19.0)], -1)
    return np.clip(base + rng.normal(0, 8, size=(h, w, 3)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------ views
def test_native_view_is_an_unresampled_centre_crop() -> None:
    img = _noise(600, 800)
    clip_in, region = sw.native_view(img)
    assert clip_in.shape == (3, 224, 224) and clip_in.dtype == np.float32
    top, left = (600 - 224) // 2, (800 - 224) // 2
    crop = img[top:top + 224, left:left + 224]
    back = np.rint((clip_in * CLIP_STD + CLIP_MEAN) * 255.0).transpose(1, 2, 0)
    np.testing.assert_array_equal(back.astype(np.uint8), crop)
    assert region.shape == (512, 512, 3)
    np.testing.assert_array_equal(region, img[44:556, 144:656])


def test_native_view_follows_the_centre_and_stays_inside() -> None:
    img = _noise(400, 400)
    clip_in, region = sw.native_view(img, (0.0, 399.0))
    assert clip_in.shape == (3, 224, 224) and region.shape == (400, 400, 3)
    back = np.rint((clip_in * CLIP_STD + CLIP_MEAN) * 255.0).transpose(1, 2, 0).astype(np.uint8)
    np.testing.assert_array_equal(back, img[0:224, 176:400])


def test_small_pictures_fall_back_to_the_whole_view() -> None:
    img = _noise(100, 300)
    clip_in, region = sw.native_view(img)
    np.testing.assert_array_equal(clip_in, clip_preprocess(img))
    assert region.shape == (100, 300, 3)


def test_views_reject_bad_input() -> None:
    with pytest.raises(DetectorError):
        sw.native_view(np.zeros((10, 10), np.uint8))
    with pytest.raises(DetectorError):
        sw.handcrafted_features(np.zeros((10, 10, 3), np.float32))


# ------------------------------------------------------------------------------ hand-crafted
@pytest.mark.parametrize("hw", [(512, 512), (300, 700), (224, 224), (31, 47), (5, 3), (20, 600)])
def test_handcrafted_shape_dtype_finite(hw: tuple[int, int]) -> None:
    f = sw.handcrafted_features(_photo(*hw))
    assert f.shape == (sw.HAND_DIM,) == (len(sw.HAND_NAMES),)
    assert f.dtype == np.float32 and np.all(np.isfinite(f))


def test_handcrafted_is_deterministic_and_content_dependent() -> None:
    a = sw.handcrafted_features(_photo(256, 256, 1))
    np.testing.assert_array_equal(a, sw.handcrafted_features(_photo(256, 256, 1)))
    assert not np.array_equal(a, sw.handcrafted_features(_photo(256, 256, 2)))


def _feat(img: np.ndarray, name: str) -> float:
    return float(sw.handcrafted_features(img)[sw.HAND_NAMES.index(name)])


def test_periodicity_and_npr_features_see_2x_upsampling() -> None:
    small = _photo(128, 128, 3)
    up = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)  # nearest-neighbour 2x upsampling
    ref = _photo(256, 256, 3)
    assert _feat(up, "period2_x") > _feat(ref, "period2_x") + 1.0
    assert _feat(up, "period2_y") > _feat(ref, "period2_y") + 1.0
    assert _feat(up, "npr_phase") > _feat(ref, "npr_phase") + 1.0
    assert _feat(up, "spec_grid2") > _feat(ref, "spec_grid2")


def test_residual_features_see_noise_and_channel_correlation() -> None:
    flat = np.full((128, 128, 3), 120, np.uint8)
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 6, size=(128, 128, 1))
    corr = np.clip(120 + np.repeat(shared, 3, axis=2), 0, 255).astype(np.uint8)
    indep = np.clip(120 + rng.normal(0, 6, size=(128, 128, 3)), 0, 255).astype(np.uint8)
    assert _feat(corr, "res_logstd") > _feat(flat, "res_logstd") + 1.0
    assert _feat(corr, "res_corr_rg") > 0.9
    assert abs(_feat(indep, "res_corr_rg")) < 0.2
    assert _feat(flat, "blk_flat_frac") == 1.0 and _feat(indep, "blk_flat_frac") == 0.0


# ------------------------------------------------------------------------------ token statistics
def test_token_blocks_shapes_and_standardisation() -> None:
    t = np.random.default_rng(0).normal(3.0, 5.0, size=(197, 768)).astype(np.float32)
    b = sw.token_blocks(t)
    assert set(b) == {"cls", "pmean", "pstd"}
    assert all(v.shape == (768,) and v.dtype == np.float32 for v in b.values())
    assert abs(float(b["cls"].mean())) < 1e-4 and abs(float(b["cls"].std()) - 1.0) < 1e-3
    with pytest.raises(DetectorError):
        sw.token_blocks(t[:10])


def test_block_dims_add_up() -> None:
    from synthwatch.train.image.features import ENC_DIM

    assert ENC_DIM == 512 + 3 * 768
    assert sum(sw.BLOCK_DIMS.values()) == 2 * ENC_DIM + 3 * sw.HAND_DIM
    assert sw.PACKED_DIM == 2 * 3 * 224 * 224 + 3 * sw.HAND_DIM


@pytest.mark.parametrize("hw", [(900, 1600), (256, 256), (100, 700), (31, 47)])
def test_multipatch_features_are_mean_and_std_over_a_grid(hw: tuple[int, int]) -> None:
    img = _photo(*hw, seed=4)
    f = sw.multipatch_features(img)
    assert f.shape == (2 * sw.HAND_DIM,) and f.dtype == np.float32 and np.all(np.isfinite(f))
    h, w = hw
    p = min(sw.MULTI_PATCH, h, w)
    ys = np.linspace(0, h - p, sw.MULTI_GRID).round().astype(int)
    xs = np.linspace(0, w - p, sw.MULTI_GRID).round().astype(int)
    per = np.stack([sw.handcrafted_features(img[y:y + p, x:x + p]) for y in ys for x in xs])
    np.testing.assert_allclose(f[:sw.HAND_DIM], per.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(f[sw.HAND_DIM:], per.std(axis=0), rtol=1e-5, atol=1e-5)


def test_multipatch_std_sees_uneven_noise() -> None:
    rng = np.random.default_rng(0)
    even = np.clip(120 + rng.normal(0, 5, size=(768, 768, 3)), 0, 255).astype(np.uint8)
    uneven = even.copy()
    uneven[:, :384] = 120  # half the picture without any noise (a smooth, "generated-looking" region)
    i = sw.HAND_DIM + sw.HAND_NAMES.index("res_logstd")
    assert sw.multipatch_features(uneven)[i] > sw.multipatch_features(even)[i] + 0.5


# ------------------------------------------------------------------------------ extraction (needs the encoder)
@pytest.fixture(scope="module")
def encoder(model_store):  # type: ignore[no-untyped-def]
    from synthwatch.detectors.image._clip import ClipEncoder

    if not model_store.is_installed(sw.ENCODER_MODEL):
        pytest.skip(f"{sw.ENCODER_MODEL} could not be installed here: {model_store.install_hint(sw.ENCODER_MODEL)}")
    return ClipEncoder.from_store(model_store, sw.ENCODER_MODEL)


def test_extract_source_shapes_modes_and_determinism(encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from synthwatch.train.image import features as F
    from synthwatch.train.image import hardneg

    img = _photo(300, 400, 5)
    sha = "c" * 64
    tr = F.extract_source(encoder, img, sha, "train")
    n_versions = 1 + len(hardneg.RECIPES)
    n_rows = F.TRAIN_CROPS_ORIG + (n_versions - 1) * F.TRAIN_CROPS_DERIVED
    assert tr.whole.shape == (n_versions, F.ENC_DIM) and tr.mhand.shape == (n_versions, 2 * sw.HAND_DIM)
    assert tr.native.shape == (n_rows, F.ENC_DIM) and tr.hand.shape == (n_rows, sw.HAND_DIM)
    assert tr.row_version.tolist()[:2] == [0, 0]
    assert all(np.isfinite(a).all() for a in (tr.whole, tr.native, tr.hand))
    ev = F.extract_source(encoder, img, sha, "orig")
    assert ev.whole.shape == (1, F.ENC_DIM) and ev.native.shape == (1, F.ENC_DIM)
    again = F.extract_source(encoder, img, sha, "orig")
    np.testing.assert_array_equal(ev.whole, again.whole)
    np.testing.assert_array_equal(ev.hand, again.hand)
    # the eval-mode row of the original is exactly what the detector computes at inference
    blocks = sw.feature_blocks(encoder, img)
    row = ev.blocks()[0]
    for name in sw.BLOCK_DIMS:
        np.testing.assert_allclose(row[name], blocks[name], rtol=0, atol=1e-6)
