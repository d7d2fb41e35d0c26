"""``sw-voice``: synthwatch's own voice-deepfake detector (speech audio and video audio tracks).

A compact LCNN (light CNN with max-feature-map activations, the ASVspoof LFCC-LCNN baseline
family) trained by this project (:mod:`synthwatch.train.voice`) on real speech and on synthetic
speech that the training pipeline generates itself (vocoder re-synthesis of the same real
utterances, rule-based TTS, MelGAN demo fakes), with identical codec / channel augmentation on both
classes. The network is an ONNX file shipped inside the package
(``synthwatch/models/weights/sw-voice/``); its sha256 is pinned in the packaged model card
``sw-voice.yaml`` and checked every time the detector loads. Nothing comes from the store or the
network.

Input to the network (what :func:`voice_features` computes in numpy, and
:mod:`synthwatch.train.voice.features` in torch for training; a unit test checks they agree):

1. the first :data:`N_SAMPLES` samples (4 s at 16 kHz) of the mono float32 waveform; a shorter clip
   is tiled end to end (the rule the AASIST detectors use);
2. pre-emphasis ``y[n] = x[n] - 0.97 x[n-1]``;
3. frames of 25 ms (400 samples, periodic Hann window) every 10 ms, 512-point power spectrum;
4. :data:`N_BANDS` triangular filters spaced linearly over 0-8 kHz (linear, not mel: synthesis
   artefacts sit in the upper band too, as in LFCC front ends);
5. ``log(E + floor)`` with ``floor = FLOOR_REL * mean(E) + 1e-10`` (a floor relative to the
   window's own energy, so that digital silence and faint room noise look alike);
6. per-band mean over time subtracted (cepstral-mean-style channel normalisation; also removes
   the gain).

Output: ``[N_BANDS, N_FRAMES]`` float32. Score: the sigmoid of the network's logit, higher = more
likely synthetic; the threshold is the card's (calibrated on validation data only).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np

from ...errors import DetectorError, ModelLoadError
from ...models.packaged import read_packaged
from ...models.runtime import create_session
from ...models.store import ModelStore
from ..base import Detector, DetectorInfo
from ._common import audio_examples, fit_length

__all__ = [
    "MODEL",
    "ONNX_FILE",
    "SAMPLE_RATE",
    "N_SAMPLES",
    "N_FFT",
    "WIN_LENGTH",
    "HOP_LENGTH",
    "N_BANDS",
    "N_FRAMES",
    "PREEMPHASIS",
    "FLOOR_REL",
    "linear_filterbank",
    "frame_window",
    "voice_features",
    "SwVoice",
]

MODEL = "sw-voice"
ONNX_FILE = "sw_voice.onnx"
SAMPLE_RATE = 16_000
N_SAMPLES = 64_000  # 4.0 s
N_FFT = 512
WIN_LENGTH = 400
HOP_LENGTH = 160
N_BANDS = 96
N_FRAMES = 1 + (N_SAMPLES - WIN_LENGTH) // HOP_LENGTH  # 398
PREEMPHASIS = 0.97
FLOOR_REL = 1e-5


@functools.lru_cache(maxsize=4)
def linear_filterbank(n_bands: int = N_BANDS, n_fft: int = N_FFT) -> np.ndarray:
    """Triangular filters with centres spaced linearly from 0 to the Nyquist frequency, as a
    float32 matrix ``[n_bands, n_fft // 2 + 1]`` (read-only)."""
    n_bins = n_fft // 2 + 1
    edges = np.linspace(0.0, n_bins - 1, n_bands + 2)
    bins = np.arange(n_bins, dtype=np.float64)
    fb = np.zeros((n_bands, n_bins), dtype=np.float64)
    for b in range(n_bands):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        up = (bins - lo) / (mid - lo)
        down = (hi - bins) / (hi - mid)
        fb[b] = np.clip(np.minimum(up, down), 0.0, None)
    out = fb.astype(np.float32)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=4)
def frame_window(win_length: int = WIN_LENGTH) -> np.ndarray:
    """Periodic Hann window (``torch.hann_window(periodic=True)``) as float32, read-only."""
    n = np.arange(win_length, dtype=np.float64)
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)).astype(np.float32)
    w.setflags(write=False)
    return w


def voice_features(waveform: np.ndarray) -> np.ndarray:
    """Network input ``float32 [N_BANDS, N_FRAMES]`` of a mono 16 kHz waveform of any length
    (steps in the module docstring). Deterministic; finite for any finite input."""
    x = fit_length(waveform, N_SAMPLES).astype(np.float64)
    if not np.isfinite(x).all():
        raise DetectorError("the waveform holds NaN or infinite samples")
    y = np.empty_like(x)
    y[0] = x[0]
    y[1:] = x[1:] - PREEMPHASIS * x[:-1]
    frames = np.lib.stride_tricks.sliding_window_view(y, WIN_LENGTH)[::HOP_LENGTH][:N_FRAMES]
    spec = np.fft.rfft(frames * frame_window().astype(np.float64), n=N_FFT, axis=1)
    power = spec.real ** 2 + spec.imag ** 2  # [T, bins]
    energy = power @ linear_filterbank().T.astype(np.float64)  # [T, bands]
    floor = FLOOR_REL * energy.mean() + 1e-10
    logf = np.log(energy + floor)
    logf -= logf.mean(axis=0, keepdims=True)
    return np.ascontiguousarray(logf.T, dtype=np.float32)


class SwVoice(Detector):
    info = DetectorInfo(
        name="sw-voice",
        version="1.0.0",
        modality="audio",
        model=MODEL,
        input_spec={
            "item": "float32 mono waveform at 16 kHz, any length",
            "sample_rate": SAMPLE_RATE,
            "samples": N_SAMPLES,
            "fit": f"first {N_SAMPLES} samples; shorter clips tiled end to end",
            "features": f"log linear-filterbank energies [{N_BANDS}, {N_FRAMES}]: pre-emphasis {PREEMPHASIS}, "
                        f"{WIN_LENGTH}-sample Hann frames every {HOP_LENGTH}, {N_FFT}-point FFT, "
                        f"{N_BANDS} linear triangular bands 0-8 kHz, relative floor {FLOOR_REL}, "
                        f"per-band mean removed",
            "layout": f"float32 [{N_BANDS}, {N_FRAMES}]",
            "score": "sigmoid(logit), higher = more likely synthetic",
        },
        default=True,
        description="synthwatch's own compact LCNN on log linear-filterbank features, trained on vocoder "
                    "re-synthesis of real speech, rule-based TTS and MelGAN fakes with codec/channel "
                    "augmentation; ships inside the package.",
    )

    def __init__(self, *, threads: int = 1) -> None:
        super().__init__()
        self._threads = int(threads)
        self._session: Any = None
        self._run_lock = threading.Lock()

    def _load(self, store: ModelStore) -> None:
        card = self.card
        assert card is not None
        session = create_session(read_packaged(card, card.file), threads=self._threads)
        ins, outs = session.get_inputs(), session.get_outputs()
        if len(ins) != 1 or list(ins[0].shape)[1:] != [N_BANDS, N_FRAMES] or not outs:
            raise ModelLoadError(f"{card.file} takes {[(i.name, i.shape) for i in ins]}, expected one input "
                                 f"[N, {N_BANDS}, {N_FRAMES}]")
        self._session = session

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        return voice_features(item)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        if self._session is None:
            raise DetectorError("sw-voice: call load(store) before detect()")
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (N_BANDS, N_FRAMES):
            raise DetectorError(f"sw-voice: expected a batch [N, {N_BANDS}, {N_FRAMES}], got {x.shape}")
        if x.shape[0] == 0:
            return np.zeros((0,), dtype=np.float32)
        name = self._session.get_inputs()[0].name
        try:
            out = self._session.run(None, {name: x})[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(f"sw-voice: ONNX Runtime failed: {exc}") from exc
        return np.asarray(out, dtype=np.float32).reshape(x.shape[0])

    def detect(self, batch: np.ndarray) -> np.ndarray:
        z = self.logits(batch).astype(np.float64)
        return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)

    def examples(self) -> list[np.ndarray]:
        return audio_examples(SAMPLE_RATE)
