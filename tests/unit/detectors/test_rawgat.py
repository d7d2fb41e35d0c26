"""RawGAT-ST: the PyTorch port, its ONNX conversion and the detector.

No upstream reference scores exist for this model, so the port is checked by what can be checked:
the checkpoint loads strictly (every parameter name and shape of the published model), the
parameter count is the published 0.44M, ONNX agrees with PyTorch on real speech, and scores
separate LibriSpeech recordings from ESPnet TTS outputs in the right direction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthwatch.detectors import registry
from synthwatch.detectors.audio._common import N_SAMPLES, p_spoof
from synthwatch.detectors.audio.rawgat import RawGATST
from synthwatch.errors import ModelConversionError
from synthwatch.models.card import packaged_card
from synthwatch.models.store import ModelStore

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
CHECKPOINT = "rawgat-st/RawGAT_ST_mul.pth"

# a fixed small sample: 4 LibriSpeech recordings, 5 ESPnet TTS outputs of different systems
REAL = [f"speech-real/librispeech-train-clean-100/{f}.flac"
        for f in ("103-1240-0000", "1034-121119-0000", "1040-133433-0000", "1088-129236-0000")]
FAKE = [f"speech-dev/espnet-tts-sample/{f}" for f in (
    "libritts/audio/tacotron2.v1-GL/121_121726_000004_000003.flac",
    "libritts/audio/transformer.v1-GL/121_121726_000004_000003.flac",
    "ljspeech/fastspeech.v1/wav_WNV_kan_bayashi/LJ050-0029.flac",
    "ljspeech/tacotron2.v2/wav_WNV_r9y9/LJ050-0029_gen.flac",
    "ljspeech/fastspeech.v2/wav_WNV_r9y9/LJ050-0029_gen.flac",
)]


def _shared() -> Path:
    if not (SHARED / "models" / CHECKPOINT).is_file():
        pytest.skip(f"needs the shared development data: {SHARED} (../shared beside the repository) is absent")
    return SHARED


def _read(rel: str) -> np.ndarray:
    import soundfile as sf

    x, sr = sf.read(str(_shared() / "data" / rel), dtype="float32")
    assert sr == 16_000 and x.ndim == 1
    return x


@pytest.fixture(scope="session")
def rawgat_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    pytest.importorskip("torch", reason="conversion needs the [convert] extra (PyTorch)")
    shared = _shared()
    from synthwatch.models.convert import get_converter

    card = packaged_card("rawgat-st")
    assert card.shared_path == CHECKPOINT
    root = tmp_path_factory.mktemp("rawgat")
    src = shared / "models" / CHECKPOINT
    files = get_converter("rawgat-st")(src, root / "work", card)
    store = ModelStore(root / "models")
    store.install("rawgat-st", files, resolver="import", origin=str(src), card=card)
    return store


def test_registered_with_its_card() -> None:
    assert registry.detector_class("rawgat-st") is RawGATST
    card = packaged_card("rawgat-st")
    assert card.version == RawGATST.info.version and card.file == "rawgat-st.onnx"
    assert card.sha256 is None and card.default is False and RawGATST.info.default is False
    assert {r.kind for r in card.resolvers} == {"import", "url"}
    assert all(r.convert == "rawgat-st" for r in card.resolvers)
    assert card.threshold == 0.5 and "not calibrated" in card.threshold_source.lower()


@pytest.mark.convert
def test_port_has_the_published_size() -> None:
    pytest.importorskip("torch")
    from synthwatch.models.convert.rawgat import RawGATSTConfig, build_model

    model = build_model(RawGATSTConfig.from_card(packaged_card("rawgat-st")))
    assert sum(p.numel() for p in model.parameters()) == 440_810  # the paper's "0.44M"
    assert (model.pool1.k, model.pool2.k, model.pool3.k) == (14, 23, 7)
    with pytest.raises(ModelConversionError):
        RawGATSTConfig.from_dict({"filts": [32, [32, 32]]})


@pytest.mark.convert
@pytest.mark.shared_data
def test_checkpoint_loads_strictly() -> None:
    pytest.importorskip("torch")
    from synthwatch.models.convert.rawgat import RawGATSTConfig, load_model

    shared = _shared()
    load_model(shared / "models" / CHECKPOINT, RawGATSTConfig.from_card(packaged_card("rawgat-st")))
    wrong = RawGATSTConfig(filts=(32, (32, 32), (32, 48), (48, 48)))
    with pytest.raises(ModelConversionError, match="does not match"):
        load_model(shared / "models" / CHECKPOINT, wrong)
    with pytest.raises(ModelConversionError):  # an AASIST checkpoint is not a RawGAT-ST one
        load_model(shared / "models" / "aasist" / "AASIST.pth", RawGATSTConfig())


@pytest.mark.convert
@pytest.mark.shared_data
def test_onnx_matches_pytorch_on_speech(rawgat_store: ModelStore) -> None:
    import torch

    from synthwatch.models.convert.rawgat import RawGATSTConfig, load_model

    model = load_model(_shared() / "models" / CHECKPOINT, RawGATSTConfig.from_card(packaged_card("rawgat-st")))
    det = RawGATST()
    det.load(rawgat_store)
    batch = det.preprocess(_read(REAL[0]))[None]  # one clip: PyTorch is slow on CPU
    with torch.no_grad():
        ref = model(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(det.logits(batch), ref, rtol=0, atol=1e-4)
    np.testing.assert_allclose(det.detect(batch), p_spoof(ref), rtol=0, atol=1e-5)


@pytest.mark.convert
@pytest.mark.shared_data
def test_score_direction_on_real_and_synthetic_speech(rawgat_store: ModelStore) -> None:
    det = registry.create("rawgat-st")
    det.load(rawgat_store)
    s_real = det.score([_read(f) for f in REAL])
    s_fake = det.score([_read(f) for f in FAKE])
    assert s_real.shape == (len(REAL),) and s_fake.shape == (len(FAKE),)
    assert float(np.mean(s_fake[:, None] > s_real[None, :])) >= 0.95, (s_real, s_fake)
    assert np.max(s_real) < 0.5 < np.min(s_fake)
    # short input is tiled like the upstream evaluation, never padded with zeros
    short = _read(REAL[0])[:8000]
    assert det.preprocess(short).shape == (N_SAMPLES,)
    assert 0.0 <= float(det.score([short])[0]) <= 1.0
