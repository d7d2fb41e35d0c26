"""sw-voice features: the numpy front end the detector runs at scan time and the torch twin the
training code uses must agree, and the front end must behave as documented."""

from __future__ import annotations

import numpy as np
import pytest

from synthwatch.detectors.audio import sw_voice as sv
from synthwatch.testing.samples import synth_speech


def _speech(seconds: float, seed: int) -> np.ndarray:
    x, _ = synth_speech(seconds, sv.SAMPLE_RATE, seed=seed)
    return np.asarray(x, np.float32)


def test_numpy_and_torch_front_ends_agree() -> None:
    torch = pytest.importorskip("torch", reason="the train extra (torch) is not installed")
    from synthwatch.train.voice.features import TorchFrontEnd, fit_batch

    rng = np.random.default_rng(0)
    waves = [_speech(5.0, 1), _speech(1.3, 2), 0.01 * rng.standard_normal(70_000).astype(np.float32),
             np.zeros(64_000, np.float32)]
    ref = np.stack([sv.voice_features(w) for w in waves])
    got64 = TorchFrontEnd()(torch.from_numpy(fit_batch(waves))).numpy()
    np.testing.assert_allclose(got64, ref, atol=1e-4)
    got32 = TorchFrontEnd(dtype=torch.float32)(torch.from_numpy(fit_batch(waves))).numpy()
    np.testing.assert_allclose(got32, ref, atol=2e-3)  # the float32 path used while fitting


def test_front_end_shape_gain_invariance_and_tiling() -> None:
    x = _speech(5.0, 3)
    f = sv.voice_features(x)
    assert f.shape == (sv.N_BANDS, sv.N_FRAMES) and f.dtype == np.float32 and np.isfinite(f).all()
    np.testing.assert_allclose(f.mean(axis=1), 0.0, atol=1e-4)  # per-band mean removed
    np.testing.assert_allclose(sv.voice_features(0.1 * x), f, atol=1e-3)  # gain drops out
    # only the first 4 s count
    np.testing.assert_array_equal(sv.voice_features(x), sv.voice_features(x[:sv.N_SAMPLES]))
    short = x[:16_000]
    np.testing.assert_array_equal(sv.voice_features(short), sv.voice_features(np.tile(short, 4)))
    # silence is finite (relative floor), and a band-limited signal differs from a full-band one
    assert np.isfinite(sv.voice_features(np.zeros(10, np.float32))).all()


def test_filterbank_is_linear_and_covers_the_band() -> None:
    fb = sv.linear_filterbank()
    assert fb.shape == (sv.N_BANDS, sv.N_FFT // 2 + 1)
    centres = fb.argmax(axis=1)
    assert np.all(np.diff(centres) > 0)
    steps = np.diff(centres)
    assert steps.max() - steps.min() <= 1  # equally spaced (linear, not mel)
    assert fb.sum(axis=0)[3:-3].min() > 0.99  # every bin between the first and last centre is covered
