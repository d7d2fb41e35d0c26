"""Shared parts of the raw-waveform voice anti-spoofing detectors (AASIST, AASIST-L, RawGAT-ST).

Each model takes a fixed number of 16 kHz samples (64,600, about 4.04 s) as float32 and returns two
logits ``[spoof, bona fide]``; the detector score is ``P(spoof) = softmax(logits)[0]``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...errors import DetectorError, ModelLoadError
from ...models.runtime import session_from_store
from ...models.store import ModelStore
from ..base import Detector

__all__ = ["SAMPLE_RATE", "N_SAMPLES", "fit_length", "p_spoof", "audio_examples", "RawWaveformAntiSpoof"]

SAMPLE_RATE = 16_000
#: model input length of AASIST / RawGAT-ST (upstream ``nb_samp``)
N_SAMPLES = 64_600


def fit_length(waveform: np.ndarray, n: int = N_SAMPLES) -> np.ndarray:
    """The upstream evaluation rule: the first ``n`` samples; a shorter clip is tiled (repeated end
    to end) and cut to ``n``. Returns a new contiguous float32 array."""
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim != 1:
        raise DetectorError(f"expected a mono waveform (1-D), got shape {x.shape}")
    if x.size == 0:
        raise DetectorError("cannot score an empty waveform")
    if x.size >= n:
        return np.ascontiguousarray(x[:n])
    reps = -(-n // x.size)  # ceil
    return np.ascontiguousarray(np.tile(x, reps)[:n])


def p_spoof(logits: np.ndarray, spoof_index: int = 0) -> np.ndarray:
    """Two-class logits ``[N, 2]`` -> softmax probability of class ``spoof_index`` as float32 [N]
    (computed as a logistic of the logit difference, which cannot overflow)."""
    lo = np.asarray(logits, dtype=np.float64)
    other = 1 - spoof_index
    z = lo[:, spoof_index] - lo[:, other]
    p = 0.5 * (1.0 + np.tanh(0.5 * z))
    return np.clip(p, 0.0, 1.0).astype(np.float32)


def _voiced(seconds: float, sr: int, seed: int) -> np.ndarray:
    """A speech-like float32 signal: a harmonic source with a gliding pitch, two formant-like
    resonances, syllable envelopes with pauses and a little breath noise (peak 0.5)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 125.0 + 25.0 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    f1, f2 = rng.uniform(500.0, 800.0), rng.uniform(1200.0, 2200.0)
    y = np.zeros_like(t)
    for k in range(1, 41):
        fk = k * f0
        gain = (1.0 + 3.0 * np.exp(-(((fk - f1) / 150.0) ** 2)) + 2.0 * np.exp(-(((fk - f2) / 200.0) ** 2))) / k
        y += gain * (fk < 0.45 * sr) * np.sin(k * phase)
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi)), 0.0, None) ** 0.7
    pauses = np.sin(2 * np.pi * 0.45 * t + rng.uniform(0, 2 * np.pi)) > -0.6
    y = y * syllables * pauses + 0.02 * rng.standard_normal(t.size)
    return (0.5 * y / (np.abs(y).max() + 1e-9)).astype(np.float32)


def audio_examples(sample_rate: int = SAMPLE_RATE) -> list[np.ndarray]:
    """Deterministic raw audio items of several kinds and lengths (shorter and longer than a model
    window): white noise, a harmonic tone, speech-like signals, a near-silent clip."""
    sr = int(sample_rate)
    rng = np.random.default_rng(1234)
    noise = (0.05 * rng.standard_normal(sr)).astype(np.float32)  # 1.0 s
    t = np.arange(int(2.5 * sr)) / sr
    tone = sum(0.2 / k * np.sin(2 * np.pi * 220.0 * k * t) for k in range(1, 6))  # 2.5 s, 220 Hz + harmonics
    speech_long = _voiced(5.0, sr, seed=3)  # longer than a window: first N_SAMPLES used
    speech_short = _voiced(0.6, sr, seed=5)  # much shorter: tiled
    quiet = (1e-4 * rng.standard_normal(int(0.3 * sr))).astype(np.float32)
    return [noise, np.asarray(tone, dtype=np.float32), speech_long, speech_short, quiet]


#: most windows per ONNX Runtime call (memory bound; see ``logits``)
MAX_RUN_BATCH = 4


class RawWaveformAntiSpoof(Detector):
    """A detector over an ONNX model ``waveform [N, n_samples] -> logits [N, 2]`` (+ optional other
    outputs). Subclasses set ``info`` (``info.model`` names the store model)."""

    n_samples: ClassVar[int] = N_SAMPLES
    spoof_index: ClassVar[int] = 0
    input_name: ClassVar[str] = "waveform"
    logits_name: ClassVar[str] = "logits"

    def __init__(self, *, threads: int = 0) -> None:
        super().__init__()
        self._threads = int(threads)
        self._session: Any = None

    def _load(self, store: ModelStore) -> None:
        name = self.info.model
        assert name is not None
        sess = session_from_store(store, name, threads=self._threads)
        inputs = {i.name: i for i in sess.get_inputs()}
        outputs = {o.name for o in sess.get_outputs()}
        spec = inputs.get(self.input_name)
        if spec is None or self.logits_name not in outputs:
            raise ModelLoadError(
                f"model {name!r} has inputs {sorted(inputs)} / outputs {sorted(outputs)}; expected "
                f"{self.input_name!r} -> {self.logits_name!r} (reinstall it with: {store.install_hint(name)})")
        if len(spec.shape) != 2 or spec.shape[1] != self.n_samples:
            raise ModelLoadError(f"model {name!r} takes {self.input_name} {spec.shape}, "
                                 f"expected [batch, {self.n_samples}]")
        self._session = sess

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        """Mono float32 16 kHz waveform of any length -> exactly ``n_samples`` samples."""
        x = fit_length(item, self.n_samples)
        if not np.isfinite(x).all():
            raise DetectorError("the waveform holds NaN or infinite samples")
        return x

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw model logits ``[N, 2]`` (``[spoof, bona fide]``) for a preprocessed batch."""
        if self._session is None:
            raise DetectorError(f"{self.info.name}: call load(store) before detect()")
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_samples:
            raise DetectorError(f"{self.info.name}: expected a batch [N, {self.n_samples}], got {x.shape}")
        if x.shape[0] == 0:
            return np.zeros((0, 2), dtype=np.float32)
        outs = []
        # The first feature maps of these raw-waveform nets are large (AASIST-L: about 130 MB per
        # 4 s window): run at most MAX_RUN_BATCH windows per call so memory stays bounded whatever
        # batch a caller hands in (measured peak: 0.6 GB at 4 windows, 1.1 GB at 8; no faster).
        for i in range(0, x.shape[0], MAX_RUN_BATCH):
            try:
                out = self._session.run([self.logits_name], {self.input_name: x[i:i + MAX_RUN_BATCH]})[0]
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise DetectorError(f"{self.info.name}: ONNX Runtime failed: {exc}") from exc
            outs.append(np.asarray(out, dtype=np.float32))
        return np.concatenate(outs)

    def detect(self, batch: np.ndarray) -> np.ndarray:
        """``P(spoof)`` in [0, 1] per item; higher = more likely synthetic."""
        return p_spoof(self.logits(batch), self.spoof_index)

    def examples(self) -> list[np.ndarray]:
        return audio_examples(SAMPLE_RATE)
