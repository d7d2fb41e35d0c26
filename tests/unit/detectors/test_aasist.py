"""AASIST / AASIST-L: the PyTorch port, its ONNX conversion, and the detectors.

The port is checked against what the upstream reference implementation outputs on 25 clips
(``../shared/models/aasist/reference_scores.tsv``), through ONNX Runtime from a model store the way
scans run. Tests that need ``../shared`` skip when it is absent; conversion tests need PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthwatch.detectors import registry
from synthwatch.detectors.audio._common import N_SAMPLES, fit_length, p_spoof
from synthwatch.detectors.audio.aasist import AASIST, AASISTL
from synthwatch.errors import DetectorError, ModelConversionError, ModelNotInstalled
from synthwatch.models.card import packaged_card
from synthwatch.models.store import ModelStore

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
MODELS = {"aasist": "AASIST", "aasist-l": "AASIST-L"}  # store name -> upstream file stem
DETECTORS = {"aasist": AASIST, "aasist-l": AASISTL}
#: the port reproduces the reference to ~6e-6 (measured); this leaves room for other ONNX Runtime builds
REFERENCE_TOL = 1e-4


def _shared() -> Path:
    if not (SHARED / "models" / "aasist" / "AASIST.pth").is_file():
        pytest.skip(f"needs the shared development data: {SHARED} (../shared beside the repository) is absent")
    return SHARED


def _read(path: Path) -> np.ndarray:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32")
    assert sr == 16_000 and x.ndim == 1
    return x


def _reference_rows() -> list[dict[str, str]]:
    lines = (_shared() / "models" / "aasist" / "reference_scores.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line.strip()]


@pytest.fixture(scope="session")
def aasist_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """A store with aasist and aasist-l converted from the published checkpoints (once per run)."""
    pytest.importorskip("torch", reason="conversion needs the [convert] extra (PyTorch)")
    shared = _shared()
    from synthwatch.models.convert import get_converter

    root = tmp_path_factory.mktemp("aasist")
    store = ModelStore(root / "models")
    for name, stem in MODELS.items():
        card = packaged_card(name)
        src = shared / "models" / card.shared_path  # type: ignore[operator]
        assert src.name == f"{stem}.pth"
        converter = get_converter(card.resolver("import").convert)  # type: ignore[union-attr,arg-type]
        files = converter(src, root / f"work-{name}", card)
        store.install(name, files, resolver="import", origin=str(src), card=card)
    return store


@pytest.fixture(scope="session")
def reference_logits(aasist_store: ModelStore) -> dict[str, np.ndarray]:
    """Store name -> ONNX Runtime logits [25, 2] for the reference clips, batch of one, through the
    detector (preprocess + logits), the way scans run."""
    rows = _reference_rows()
    waves = [_read(SHARED / "data" / r["file"]) for r in rows]
    assert [len(w) for w in waves] == [int(r["samples"]) for r in rows]
    out = {}
    for name in MODELS:
        det = DETECTORS[name]()
        det.load(aasist_store)
        out[name] = np.concatenate([det.logits(det.preprocess(w)[None]) for w in waves])
    return out


# --------------------------------------------------------------------------- no model needed
def test_fit_length_tiles_and_cuts() -> None:
    x = np.arange(10, dtype=np.float32)
    out = fit_length(x, 25)
    assert out.dtype == np.float32 and out.shape == (25,)
    np.testing.assert_array_equal(out, np.concatenate([x, x, x[:5]]))
    long = np.arange(N_SAMPLES + 100, dtype=np.float64)
    np.testing.assert_array_equal(fit_length(long), long[:N_SAMPLES].astype(np.float32))
    exact = np.ones(N_SAMPLES, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(exact), exact)
    with pytest.raises(DetectorError):
        fit_length(np.zeros(0, dtype=np.float32))
    with pytest.raises(DetectorError):
        fit_length(np.zeros((2, 100), dtype=np.float32))


def test_p_spoof_is_the_softmax_of_index_0() -> None:
    logits = np.array([[0.0, 0.0], [2.0, -1.0], [-3.0, 4.0], [800.0, -800.0], [-800.0, 800.0]])
    e = np.exp(logits[:3] - logits[:3].max(axis=1, keepdims=True))
    soft = e[:, 0] / e.sum(axis=1)
    p = p_spoof(logits)
    np.testing.assert_allclose(p[:3], soft, rtol=0, atol=1e-6)
    assert p[3] == 1.0 and p[4] == 0.0 and p.dtype == np.float32


def test_detectors_are_registered_with_their_cards() -> None:
    assert registry.detector_class("aasist") is AASIST
    assert registry.detector_class("aasist-l") is AASISTL
    for cls in (AASIST, AASISTL):
        card = packaged_card(cls.info.model)  # type: ignore[arg-type]
        assert card.version == cls.info.version
        assert card.modality == "audio" and card.format == "onnx" and card.sha256 is None
        assert card.threshold == 0.5 and "not calibrated" in card.threshold_source.lower()
        assert card.default is False  # weights cannot ship: never installed by `models setup`
        assert cls.info.default is False  # sw-voice is the default voice detector; these join on request
        assert {r.kind for r in card.resolvers} == {"import", "url"}
        assert all(r.convert == "aasist" for r in card.resolvers)
        assert card.inputs["waveform"]["shape"] == ["batch", N_SAMPLES]


def test_detect_before_load_and_bad_batches_raise() -> None:
    det = AASIST()
    with pytest.raises(DetectorError):
        det.detect(np.zeros((1, N_SAMPLES), dtype=np.float32))
    with pytest.raises(DetectorError):
        det.preprocess(np.array([0.0, np.nan], dtype=np.float32))
    examples = det.examples()
    assert len(examples) >= 3 and {x.size < N_SAMPLES for x in examples} == {True, False}
    assert all(det.preprocess(x).shape == (N_SAMPLES,) for x in examples)


def test_missing_model_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalled) as ei:
        AASISTL().load(ModelStore(tmp_path / "empty"))
    assert "aasist-l" in ei.value.hint


# --------------------------------------------------------------------------- the port (PyTorch)
@pytest.mark.convert
def test_port_has_the_published_parameter_counts() -> None:
    pytest.importorskip("torch")
    from synthwatch.models.convert.aasist import AASISTConfig, build_model

    counts = {name: sum(p.numel() for p in build_model(AASISTConfig.from_card(packaged_card(name))).parameters())
              for name in MODELS}
    # upstream: "297k" for AASIST; "Model has 85,306 parameters" for AASIST-L
    assert counts == {"aasist": 297_866, "aasist-l": 85_306}


@pytest.mark.convert
def test_sinc_filterbank_is_the_mel_spaced_bandpass_bank() -> None:
    pytest.importorskip("torch")
    from synthwatch.models.convert._torch_common import sinc_filterbank

    bank = sinc_filterbank(70, 128)
    assert bank.shape == (70, 129) and bank.dtype == np.float32
    np.testing.assert_array_equal(bank, bank[:, ::-1])  # symmetric (linear phase)
    # independent float64 construction: Hamming-windowed difference of two ideal low-passes
    mel = np.linspace(0.0, 2595 * np.log10(1 + 8000 / 700), 71)
    edges = 700 * (10 ** (mel / 2595) - 1)
    n = np.arange(-64, 65)
    ideal = np.stack([2 * hi / 16000 * np.sinc(2 * hi * n / 16000) - 2 * lo / 16000 * np.sinc(2 * lo * n / 16000)
                      for lo, hi in zip(edges[:-1], edges[1:], strict=True)])
    np.testing.assert_allclose(bank, ideal * np.hamming(129), rtol=0, atol=1e-6)
    # each filter is a band-pass centred on its band, with >= 95 % of its energy inside the band
    # widened by half the 129-tap frequency resolution (16000 / 129 / 2 ~ 62 Hz each side, x2 margin)
    spec = np.abs(np.fft.rfft(bank.astype(np.float64), 8192, axis=1)) ** 2
    freqs = np.fft.rfftfreq(8192, 1 / 16000)
    centre = (edges[:-1] + edges[1:]) / 2
    offset = np.abs(freqs[spec.argmax(axis=1)] - centre)
    assert np.all(offset <= 125) and np.median(offset) < 5
    inside = [spec[i][(freqs >= edges[i] - 125) & (freqs <= edges[i + 1] + 125)].sum() / spec[i].sum()
              for i in range(70)]
    assert min(inside) >= 0.95


@pytest.mark.convert
@pytest.mark.shared_data
def test_card_config_is_the_published_conf() -> None:
    shared = _shared()
    for name, stem in MODELS.items():
        conf = json.loads((shared / "models" / "aasist" / f"{stem}.conf").read_text(encoding="utf-8"))
        assert packaged_card(name).extra["model_config"] == conf["model_config"]


@pytest.mark.convert
@pytest.mark.shared_data
def test_checkpoint_loads_strictly_and_mismatches_are_refused(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from synthwatch.models.convert.aasist import AASISTConfig, convert, load_model

    shared = _shared()
    cfg = AASISTConfig.from_card(packaged_card("aasist"))
    load_model(shared / "models" / "aasist" / "AASIST.pth", cfg)  # strict: every key, every shape
    with pytest.raises(ModelConversionError, match="does not match"):
        load_model(shared / "models" / "aasist" / "AASIST-L.pth", cfg)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelConversionError, match="cannot load"):
        load_model(junk, cfg)
    from dataclasses import replace

    no_cfg = replace(packaged_card("aasist"), extra={})
    with pytest.raises(ModelConversionError, match="model_config"):
        convert(shared / "models" / "aasist" / "AASIST.pth", tmp_path, no_cfg)


# --------------------------------------------------------------------------- ONNX through the store
@pytest.mark.convert
@pytest.mark.shared_data
@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_reproduces_the_reference_logits(reference_logits: dict[str, np.ndarray], name: str) -> None:
    rows = _reference_rows()
    assert len(rows) == 25
    col = "aasist" if name == "aasist" else "aasist_l"
    ref = np.array([[float(r[f"{col}_spoof"]), float(r[f"{col}_bonafide"])] for r in rows])
    diff = float(np.abs(reference_logits[name] - ref).max())
    assert diff <= REFERENCE_TOL, f"{name}: max |logit - reference| = {diff:.3g}"


@pytest.mark.convert
@pytest.mark.shared_data
@pytest.mark.parametrize("name", list(MODELS))
def test_batching_and_scores(aasist_store: ModelStore, reference_logits: dict[str, np.ndarray], name: str) -> None:
    """A batch gives the same logits as one clip at a time; the score is P(spoof) of the logits."""
    rows = _reference_rows()[:4]
    det = DETECTORS[name]()
    det.load(aasist_store)
    batch = np.stack([det.preprocess(_read(SHARED / "data" / r["file"])) for r in rows])
    np.testing.assert_allclose(det.logits(batch), reference_logits[name][:4], rtol=0, atol=1e-4)
    scores = det.detect(batch)
    np.testing.assert_allclose(scores, p_spoof(reference_logits[name][:4]), rtol=0, atol=1e-5)
    assert scores.dtype == np.float32 and np.all((scores >= 0) & (scores <= 1))


@pytest.mark.convert
@pytest.mark.shared_data
@pytest.mark.parametrize("name", list(MODELS))
def test_score_direction_on_real_and_synthetic_speech(reference_logits: dict[str, np.ndarray], name: str) -> None:
    """LibriSpeech recordings score low, ESPnet TTS outputs high (among the reference clips)."""
    rows = _reference_rows()
    scores = p_spoof(reference_logits[name])
    real = np.array([s for r, s in zip(rows, scores, strict=True) if r["file"].startswith("speech-real/")])
    fake = np.array([s for r, s in zip(rows, scores, strict=True)
                     if r["file"].startswith("speech-dev/") and "ground_truth" not in r["file"]])
    assert len(real) == 5 and len(fake) == 18
    auc = float(np.mean(fake[:, None] > real[None, :]))
    assert auc >= 0.95, (real, fake)
    assert np.median(real) < 0.5 < np.median(fake)


@pytest.mark.convert
@pytest.mark.shared_data
def test_installed_card_and_onnx_metadata(aasist_store: ModelStore) -> None:
    import onnx

    inst = aasist_store.installed("aasist")
    assert inst.card.sha256 == inst.files["aasist.onnx"]
    model = onnx.load(str(inst.path))
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {17}
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["synthwatch.model_config"]) == inst.card.extra["model_config"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == N_SAMPLES
