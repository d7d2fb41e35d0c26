"""sw-patch: the shipped ONNX and card, integrity checks, and the patch preprocessing (grid, resize
policy shared with the training data build, padding)."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from synthwatch.detectors.image import sw_patch as sp
from synthwatch.detectors.image.sw_patch import (
    GRID,
    N_PATCHES,
    ONNX_FILE,
    PATCH,
    SwPatch,
    patch_grid,
    patch_input,
)
from synthwatch.detectors.registry import create
from synthwatch.errors import DetectorError, ModelIntegrityError, ModelNotInstalled
from synthwatch.models import packaged
from synthwatch.models.card import packaged_card
from synthwatch.models.store import ModelStore
from synthwatch.train.data import images as train_images

WEIGHTS = resources.files("synthwatch.models") / "weights" / "sw-patch"


def _weights_dir() -> Path:
    p = Path(str(WEIGHTS))
    assert p.is_dir(), f"shipped weights folder missing: {p}"
    return p


def test_card_is_packaged_pins_every_file_and_says_what_it_has_seen() -> None:
    card = packaged_card(sp.MODEL)
    assert card.resolver("package") is not None and card.file == ONNX_FILE and card.sha256
    assert set(card.pinned) == set(card.files) and packaged.verify_packaged(card) == {}
    assert 0.0 < card.threshold < 1.0 and "validation" in card.threshold_source
    fam = card.extra["families"]
    assert fam["seen_in_training"] and fam["held_out_never_seen"]
    assert not set(fam["seen_in_training"]) & set(fam["held_out_never_seen"])
    assert "float32" in card.extra["numerics"] and "no quantised" in card.extra["numerics"]
    assert card.default == create("sw-patch").info.default
    assert {p.name for p in _weights_dir().iterdir() if p.is_file()} == set(card.files)


def test_the_graph_has_no_integer_kernels() -> None:
    import onnx

    model = onnx.load_from_string(packaged.read_packaged(packaged_card(sp.MODEL), ONNX_FILE))
    assert not {n.op_type for n in model.graph.node if "Integer" in n.op_type or "Quant" in n.op_type}


def test_a_tampered_onnx_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "sw-patch"
    shutil.copytree(_weights_dir(), copy)
    data = bytearray((copy / ONNX_FILE).read_bytes())
    data[len(data) // 3] ^= 0x04
    (copy / ONNX_FILE).write_bytes(bytes(data))
    monkeypatch.setattr(packaged, "packaged_dir", lambda card: copy)
    with pytest.raises(ModelIntegrityError):
        SwPatch().load(ModelStore(tmp_path / "home"))
    (copy / ONNX_FILE).unlink()
    with pytest.raises(ModelNotInstalled):
        SwPatch().load(ModelStore(tmp_path / "home"))


def test_resize_policy_is_the_training_sets() -> None:
    rng = np.random.default_rng(0)
    for h, w in ((900, 1600), (1600, 900), (513, 700), (512, 2000), (300, 200), (1001, 1001)):
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        a, b = sp.limit_size(img), train_images.normalise(img)
        assert a.shape == b.shape and min(a.shape[:2]) == min(min(h, w), sp.MAX_SHORT_SIDE)
        np.testing.assert_array_equal(a, b)
    assert sp.MAX_SHORT_SIDE == train_images.MAX_SHORT_SIDE


def test_patch_grid_covers_corners_and_centre_at_native_resolution() -> None:
    img = np.arange(400 * 600 * 3, dtype=np.uint32).reshape(400, 600, 3).astype(np.uint8)
    patches = patch_grid(img)
    assert patches.shape == (N_PATCHES, PATCH, PATCH, 3)
    np.testing.assert_array_equal(patches[0], img[:PATCH, :PATCH])
    np.testing.assert_array_equal(patches[-1], img[-PATCH:, -PATCH:])
    cy, cx = (400 - PATCH) // 2, (600 - PATCH) // 2
    np.testing.assert_array_equal(patches[GRID * GRID // 2], img[cy:cy + PATCH, cx:cx + PATCH])
    small = patch_grid(np.full((50, 70, 3), 9, np.uint8))  # padded, never resampled
    assert small.shape == (N_PATCHES, PATCH, PATCH, 3) and (small == 9).all()
    x = patch_input(np.full((10, 10, 3), 255, np.uint8))
    assert x.shape == (N_PATCHES, 3, PATCH, PATCH) and x.dtype == np.float32 and float(x.min()) == 1.0
    with pytest.raises(DetectorError):
        patch_input(np.zeros((10, 10), np.uint8))


def test_loads_from_the_package_and_scores_in_unit_range(tmp_path: Path) -> None:
    det = SwPatch()
    det.load(ModelStore(tmp_path / "home"))
    items = det.examples()
    scores = det.score(items)
    assert scores.shape == (len(items),) and scores.dtype == np.float32
    assert np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_array_equal(det.score(items, batch_size=1), scores)
    with pytest.raises(DetectorError):
        det.detect(np.zeros((1, 3, PATCH, PATCH), np.float32))


def test_a_scan_scores_pictures_but_not_video_frames(tmp_path: Path) -> None:
    from synthwatch import Scanner, get_settings
    from synthwatch.testing.samples import make_image, make_video
    from synthwatch.types import DetectorStatus

    scanner = Scanner(get_settings(home=tmp_path), store=ModelStore(tmp_path / "home"), detectors=["sw-patch"])
    pic = scanner.scan(make_image(tmp_path / "p.jpg", size=(320, 240), seed=2))
    [d] = pic.detectors
    assert d.status == DetectorStatus.OK and d.score is not None and d.decides_verdict
    vid = scanner.scan(make_video(tmp_path / "v.mp4", seconds=2.0, size=(320, 240), fps=10, audio=False))
    [d] = vid.detectors
    assert d.status == DetectorStatus.NOT_APPLICABLE and d.score is None
    assert d.reason == SwPatch.info.frames and "video frames" in d.reason
