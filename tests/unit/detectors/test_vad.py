"""Silero VAD wrapper: span grouping (pure), and the real silero-vad 6.2.3 ONNX model on silence,
tones and real speech.

The model comes from the pinned silero-vad 6.2.3 wheel, installed into the session's model store
by ``synthwatch models setup`` logic (``model_store`` fixture); tests skip and say so without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthwatch.detectors.audio.vad import SileroVAD, spans_from_probs
from synthwatch.errors import DetectorError, ModelNotInstalled
from synthwatch.models.store import ModelStore

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
MEMBER = "silero_vad/data/silero_vad.onnx"
SR = 16_000


@pytest.fixture(scope="session")
def vad(model_store: ModelStore) -> SileroVAD:
    """The pinned silero-vad 6.2.3 model, installed by the real set-up path (tests/conftest.py)."""
    if not model_store.is_installed("silero-vad"):
        pytest.skip("silero-vad could not be installed here (it comes from the pinned silero-vad wheel on PyPI: "
                    "synthwatch models setup)")
    return SileroVAD(model_store).load()


def _tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _speech_files(n: int) -> list[Path]:
    folder = SHARED / "data" / "speech-real" / "librispeech-train-clean-100"
    if not folder.is_dir():
        pytest.skip(f"needs the shared development data: {SHARED} (../shared beside the repository) is absent")
    return sorted(folder.glob("*.flac"))[:n]


# --------------------------------------------------------------------------- no model needed
def test_spans_from_probs_hysteresis_min_speech_and_padding() -> None:
    chunk = 512 / SR
    p = np.zeros(100, dtype=np.float32)
    p[10:40] = 0.9  # 0.96 s of speech
    p[40:43] = 0.45  # between neg_threshold (0.35) and threshold: still speech
    p[43:45] = 0.1  # a 64 ms dip: shorter than min_silence, does not split
    p[45:60] = 0.8
    p[80:84] = 0.9  # 128 ms blip: shorter than min_speech, dropped
    spans = spans_from_probs(p, n_samples=100 * 512, pad_s=0.0)
    assert spans == [(pytest.approx(10 * chunk), pytest.approx(60 * chunk))]
    padded = spans_from_probs(p, n_samples=100 * 512, pad_s=0.03)
    assert padded[0][0] == pytest.approx(10 * chunk - 0.03) and padded[0][1] == pytest.approx(60 * chunk + 0.03)
    # speech running to the end of the signal ends at its last sample; padding never leaves [0, len]
    q = np.full(20, 0.9, dtype=np.float32)
    assert spans_from_probs(q, n_samples=20 * 512 - 100) == [(0.0, pytest.approx((20 * 512 - 100) / SR))]
    assert spans_from_probs(np.zeros(0), n_samples=0) == []
    with pytest.raises(DetectorError):
        spans_from_probs(q, n_samples=100, sample_rate=22_050)


def test_not_loaded_and_not_installed(tmp_path: Path) -> None:
    v = SileroVAD(ModelStore(tmp_path / "empty"))
    assert not v.loaded
    with pytest.raises(DetectorError):
        v.speech_prob(np.zeros(SR, dtype=np.float32))
    with pytest.raises(ModelNotInstalled) as ei:
        v.load()
    assert ei.value.hint


# --------------------------------------------------------------------------- the model
def test_chunking_and_input_checks(vad: SileroVAD) -> None:
    assert vad.speech_prob(np.zeros(0, dtype=np.float32)).shape == (0,)
    assert vad.speech_ratio(np.zeros(0, dtype=np.float32)) == 0.0
    for n, chunks in ((1, 1), (512, 1), (513, 2), (SR, 32)):
        p = vad.speech_prob(np.zeros(n, dtype=np.float32))
        assert p.shape == (chunks,) and p.dtype == np.float32
    assert vad.speech_prob(np.zeros(SR // 2, dtype=np.float32), sample_rate=8_000).shape == (32,)
    with pytest.raises(DetectorError):
        vad.speech_prob(np.zeros((2, SR), dtype=np.float32))
    with pytest.raises(DetectorError):
        vad.speech_prob(np.zeros(SR, dtype=np.float32), sample_rate=44_100)
    with pytest.raises(DetectorError):
        vad.speech_prob(np.full(SR, np.nan, dtype=np.float32))


def test_silence_and_tones_are_not_speech(vad: SileroVAD) -> None:
    rng = np.random.default_rng(0)
    assert vad.speech_ratio(np.zeros(3 * SR, dtype=np.float32)) == 0.0
    assert vad.speech_ratio((1e-3 * rng.standard_normal(3 * SR)).astype(np.float32)) < 0.05
    for hz in (220.0, 440.0, 1000.0):
        assert vad.speech_ratio(_tone(3.0, hz)) < 0.2
    assert vad.speech_spans(np.zeros(3 * SR, dtype=np.float32)) == []


@pytest.mark.shared_data
def test_real_speech(vad: SileroVAD) -> None:
    import soundfile as sf

    ratios = []
    for path in _speech_files(5):
        x, sr = sf.read(str(path), dtype="float32")
        assert sr == SR
        ratios.append(vad.speech_ratio(x))  # read audiobook sentences, with their pauses
        # the same speech after 1.5 s of silence: the first span starts after the silence
        padded = np.concatenate([np.zeros(int(1.5 * SR), dtype=np.float32), x])
        spans = vad.speech_spans(padded)
        assert spans and spans[0][0] >= 1.4 and spans[-1][1] <= len(padded) / SR
        assert all(a < b for a, b in spans) and all(b1 <= a2 for (_, b1), (a2, _) in zip(spans[:-1], spans[1:], strict=True))
        # int16 PCM is accepted and gives the same probabilities as its float version
        pcm = np.round(x[:SR] * 32767).astype(np.int16)
        np.testing.assert_allclose(vad.speech_prob(pcm), vad.speech_prob(pcm.astype(np.float32) / 32767), atol=1e-6)
    assert min(ratios) > 0.4 and float(np.mean(ratios)) > 0.65, ratios
