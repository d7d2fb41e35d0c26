"""MesoNet: the Keras HDF5 -> ONNX conversion, its parity with the Keras forward pass, the score
direction on the published sample crops, and the four detectors.

Needs ``../shared/models/mesonet`` (skipped when absent); conversion needs h5py and onnx (the
``[convert]`` extra).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from synthwatch.detectors import registry
from synthwatch.detectors.face.mesonet import (
    INPUT_SIZE,
    Meso4DF,
    Meso4F2F,
    MesoInceptionDF,
    MesoInceptionF2F,
    MesoNetDetector,
)
from synthwatch.errors import DetectorError, ModelConversionError, ModelNotInstalled
from synthwatch.models.card import packaged_card
from synthwatch.models.store import ModelStore, sha256_file

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
#: store name -> (upstream file stem, detector class, architecture)
MODELS: dict[str, tuple[str, type[MesoNetDetector], str]] = {
    "meso4-df": ("Meso4_DF", Meso4DF, "meso4"),
    "meso4-f2f": ("Meso4_F2F", Meso4F2F, "meso4"),
    "mesoinception-df": ("MesoInception_DF", MesoInceptionDF, "mesoinception4"),
    "mesoinception-f2f": ("MesoInception_F2F", MesoInceptionF2F, "mesoinception4"),
}
#: measured parity is <= 2e-7; this leaves room for other ONNX Runtime builds
PARITY_TOL = 1e-5


def _h5(name: str) -> Path:
    path = SHARED / "models" / "mesonet" / f"{MODELS[name][0]}.h5"
    if not path.is_file():
        pytest.skip(f"needs the MesoNet weights in ../shared/models/mesonet ({path} is absent)")
    return path


def _convert_deps() -> None:
    pytest.importorskip("h5py", reason="conversion needs the [convert] extra (h5py)")
    pytest.importorskip("onnx", reason="conversion needs the [convert] extra (onnx)")


def _samples() -> dict[str, list[tuple[str, np.ndarray]]]:
    from PIL import Image

    folder = SHARED / "data" / "faces" / "mesonet-samples"
    if not folder.is_dir():
        pytest.skip(f"needs ../shared/data/faces/mesonet-samples ({folder} is absent)")
    return {cls: [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in sorted((folder / cls).glob("*.jpg"))]
            for cls in ("deepfake", "real")}


@pytest.fixture(scope="session")
def meso_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """All four MesoNet models converted once and installed the way an import installs them."""
    _convert_deps()
    from synthwatch.models.convert.mesonet import convert

    root = tmp_path_factory.mktemp("mesonet")
    store = ModelStore(root / "store")
    for name in MODELS:
        src = _h5(name)
        card = packaged_card(name)
        resolver = card.resolver("import")
        assert resolver is not None and resolver.sha256 == sha256_file(src)  # the published file
        files = convert(src, root / name, card)
        store.install(name, files, resolver="import", origin=str(src), card=card,
                      extra={"source_sha256": resolver.sha256})
    return store


def _loaded(store: ModelStore, name: str) -> MesoNetDetector:
    det = MODELS[name][1]()
    det.load(store)
    return det


# ------------------------------------------------------------------------------ conversion
@pytest.mark.convert
@pytest.mark.parametrize("name", list(MODELS))
def test_parity_onnx_vs_keras_reference(name: str, meso_store: ModelStore) -> None:
    """The converted graph reproduces an independent channels-last NumPy implementation of the Keras
    forward pass (HWIO kernels and the Keras Flatten order used exactly as stored)."""
    import onnxruntime as ort

    from synthwatch.models.convert.mesonet import keras_reference, read_h5, verification_inputs

    weights = read_h5(_h5(name))
    assert weights.architecture == MODELS[name][2]
    rng = np.random.default_rng(7)
    x = np.concatenate([verification_inputs(4, seed=11),
                        rng.random((2, INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32)])
    sess = ort.InferenceSession(str(meso_store.verified_path(name)), providers=["CPUExecutionProvider"])
    p_real, logit = sess.run(["p_real", "logit"], {"input": x})
    ref = keras_reference(weights, x, logits=True)
    assert logit.shape == p_real.shape == (6, 1)
    assert np.abs(logit - ref).max() < PARITY_TOL * max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(p_real, keras_reference(weights, x), atol=PARITY_TOL)
    assert float(np.std(ref)) > 0.1  # the inputs move the logit: the comparison is informative


@pytest.mark.convert
def test_parity_check_would_catch_a_flatten_order_mistake(meso_store: ModelStore) -> None:
    """Reading the first dense layer channels-first (the classic Keras -> torch porting bug) gives
    clearly different outputs, so the parity test above is sensitive to it."""
    import onnxruntime as ort

    from synthwatch.models.convert.mesonet import keras_reference, read_h5

    w = read_h5(_h5("meso4-df"))
    k1, b1 = w.dense[0]
    wrong_k1 = k1.reshape(16, 8, 8, 16).transpose(1, 2, 0, 3).reshape(1024, 16)  # rows taken as (c, h, w)
    wrong = dataclasses.replace(w, dense=((wrong_k1, b1), w.dense[1]))
    from synthwatch.models.convert.mesonet import verification_inputs

    x = verification_inputs(4, seed=3)
    sess = ort.InferenceSession(str(meso_store.verified_path("meso4-df")), providers=["CPUExecutionProvider"])
    got = sess.run(["logit"], {"input": x})[0]
    assert np.abs(got - keras_reference(w, x, logits=True)).max() < PARITY_TOL * 10
    assert np.abs(got - keras_reference(wrong, x, logits=True)).max() > 0.1


@pytest.mark.convert
def test_converter_rejects_wrong_inputs(tmp_path: Path) -> None:
    _convert_deps()
    from synthwatch.models.convert import get_converter
    from synthwatch.models.convert.mesonet import convert

    assert get_converter("mesonet") is convert
    not_h5 = tmp_path / "x.h5"
    not_h5.write_bytes(b"not an hdf5 file")
    with pytest.raises(ModelConversionError):
        convert(not_h5, tmp_path / "out", packaged_card("meso4-df"))
    # a Meso4 file offered as MesoInception: the card's architecture must match the file
    with pytest.raises(ModelConversionError, match="mesoinception4"):
        convert(_h5("meso4-df"), tmp_path / "out", packaged_card("mesoinception-df"))


@pytest.mark.convert
def test_converter_rejects_foreign_keras_weights(tmp_path: Path) -> None:
    _convert_deps()
    import h5py

    from synthwatch.models.convert.mesonet import convert

    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"dense_1"]
        g = f.create_group("dense_1")
        g.attrs["weight_names"] = [b"dense_1/kernel:0", b"dense_1/bias:0"]
        g.create_dataset("dense_1/kernel:0", data=np.zeros((4, 2), np.float32))
        g.create_dataset("dense_1/bias:0", data=np.zeros((2,), np.float32))
    with pytest.raises(ModelConversionError, match="conv"):
        convert(path, tmp_path / "out", packaged_card("meso4-df"))


# ------------------------------------------------------------------------------ direction
@pytest.mark.shared_data
def test_score_direction_on_the_published_samples(meso_store: ModelStore) -> None:
    """The upstream sigmoid is P(real): the DF models must give the two published deepfake crops
    P(synthetic) > 0.5 and the two real crops < 0.5 (measured: 0.95 / 0.98 vs 0.010 / 0.003 for
    Meso4-DF, 0.98 / 0.999 vs 0.000 / 0.000 for MesoInception-DF). The F2F weights were trained on
    another manipulation and do not separate these face-swap samples; they only have to produce
    valid scores."""
    samples = _samples()
    fakes = [img for _, img in samples["deepfake"]]
    reals = [img for _, img in samples["real"]]
    assert len(fakes) == 2 and len(reals) == 2
    for name in MODELS:
        det = _loaded(meso_store, name)
        sf, sr = det.score(fakes), det.score(reals)
        assert np.all((sf >= 0) & (sf <= 1)) and np.all((sr >= 0) & (sr <= 1))
        if name.endswith("-df"):
            assert sf.min() > 0.9 and sr.max() < 0.05, (name, sf, sr)


@pytest.mark.shared_data
def test_detect_align_score_pipeline_keeps_the_direction(meso_store: ModelStore) -> None:
    """Sample crops pasted into a frame, found by YuNet (from ../shared; the CenterFace variant is in
    tests/unit/faces/test_face_pipeline.py), re-aligned by synthwatch.faces and scored: the DF models
    still put both deepfakes above 0.5 and both real faces below (measured: Meso4-DF 0.88 / 0.84 vs
    0.19 / 0.003; MesoInception-DF 0.93 / 0.98 vs 0.003 / 0.000). Re-alignment resamples the face,
    so the scores move from those of the original files."""
    from synthwatch.faces import align_face
    from synthwatch.faces.yunet import YuNet

    onnx_path = SHARED / "models" / "yunet" / "face_detection_yunet.onnx"
    if not onnx_path.is_file():
        pytest.skip(f"needs {onnx_path}")
    finder = YuNet(onnx_path)
    samples = _samples()
    crops: dict[str, list[np.ndarray]] = {}
    for cls, items in samples.items():
        for _, img in items:
            frame = np.full((720, 1280, 3), 90, np.uint8)
            h, w = img.shape[:2]
            frame[200:200 + h, 500:500 + w] = img
            dets = finder.detect(frame)
            assert len(dets) == 1
            crops.setdefault(cls, []).append(align_face(frame, dets[0]))
    for name in ("meso4-df", "mesoinception-df"):
        det = _loaded(meso_store, name)
        sf, sr = det.score(crops["deepfake"]), det.score(crops["real"])
        assert sf.min() > 0.5 > sr.max(), (name, sf, sr)


def test_preprocess_and_detect_contract(tmp_path: Path) -> None:
    det = Meso4DF()
    for shape in [(256, 256, 3), (100, 80, 3), (400, 300, 3)]:
        x = det.preprocess(np.full(shape, 255, np.uint8))
        assert x.shape == (INPUT_SIZE, INPUT_SIZE, 3) and x.dtype == np.float32
        assert x.max() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        det.preprocess(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        det.preprocess(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(DetectorError):
        det.detect(np.zeros((1, 256, 256, 3), np.float32))
    with pytest.raises(ModelNotInstalled) as ei:
        det.load(ModelStore(tmp_path / "empty"))
    assert "meso4-df" in ei.value.hint
    examples = det.examples()
    assert len(examples) >= 2 and all(e.dtype == np.uint8 and e.ndim == 3 for e in examples)


def test_registry_and_cards() -> None:
    for name, (stem, cls, arch) in MODELS.items():
        assert registry.detector_class(name) is cls
        info = cls.info
        assert info.name == name and info.model == name and info.modality == "face"
        assert info.default is (name == "meso4-df")  # the one face detector in the default scan
        card = packaged_card(name)
        assert card.name == name and card.file == f"{name}.onnx" and card.modality == "face"
        assert card.licence.startswith("Apache-2.0") and card.default is False
        assert card.extra["architecture"] == arch and card.shared_path == f"mesonet/{stem}.h5"
        imp, url = card.resolver("import"), card.resolver("url")
        assert imp is not None and url is not None and imp.convert == url.convert == "mesonet"
        assert imp.sha256 == url.sha256 and len(imp.sha256 or "") == 64
        assert url.url == ("https://raw.githubusercontent.com/DariusAf/MesoNet/"
                           f"2144d56a30e48cdcac1976ff13a1c5cdc86376c6/weights/{stem}.h5")
        assert 0 < card.threshold < 1 and "NOT calibrated" in card.threshold_source
        assert "1 - upstream sigmoid" in card.score_direction


def test_loaded_detectors_score_examples(meso_store: ModelStore) -> None:
    for name in MODELS:
        det = _loaded(meso_store, name)
        batch = np.stack([det.preprocess(x) for x in det.examples()])
        scores = det.detect(batch)
        assert scores.shape == (len(batch),) and scores.dtype == np.float32
        assert np.all((scores >= 0) & (scores <= 1))
        single = np.concatenate([det.detect(batch[i:i + 1]) for i in range(len(batch))])
        np.testing.assert_allclose(scores, single, atol=1e-5)
        assert det.detect(np.zeros((0, 256, 256, 3), np.float32)).shape == (0,)
