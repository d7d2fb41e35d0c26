"""The sw-voice front end in torch (batched, for training), the twin of
:func:`synthwatch.detectors.audio.sw_voice.voice_features` (numpy, at scan time). A unit test checks
that the two agree; the constants come from the detector module so there is one definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...detectors.audio.sw_voice import (
    FLOOR_REL,
    HOP_LENGTH,
    N_FFT,
    N_FRAMES,
    N_SAMPLES,
    PREEMPHASIS,
    WIN_LENGTH,
    frame_window,
    linear_filterbank,
)

__all__ = ["TorchFrontEnd", "fit_batch"]


def fit_batch(waves: list[np.ndarray]) -> np.ndarray:
    """The detector's length rule (first N_SAMPLES, shorter tiled) for a list of waveforms."""
    from ...detectors.audio._common import fit_length

    return np.stack([fit_length(w, N_SAMPLES) for w in waves]).astype(np.float32)


class TorchFrontEnd:
    """``__call__(x: float tensor [B, N_SAMPLES]) -> [B, N_BANDS, N_FRAMES]``."""

    def __init__(self, dtype: Any = None) -> None:
        import torch

        self.torch = torch
        self.dtype = dtype or torch.float64
        self.window = torch.from_numpy(np.asarray(frame_window(), dtype=np.float64)).to(self.dtype)
        self.fb = torch.from_numpy(np.asarray(linear_filterbank(), dtype=np.float64)).to(self.dtype)

    def __call__(self, x: Any) -> Any:
        torch = self.torch
        x = x.to(self.dtype)
        y = torch.cat([x[:, :1], x[:, 1:] - PREEMPHASIS * x[:, :-1]], dim=1)
        frames = y.unfold(1, WIN_LENGTH, HOP_LENGTH)[:, :N_FRAMES]  # [B, T, W]
        spec = torch.fft.rfft(frames * self.window, n=N_FFT, dim=-1)
        power = spec.real ** 2 + spec.imag ** 2
        energy = power @ self.fb.T  # [B, T, bands]
        floor = FLOOR_REL * energy.mean(dim=(1, 2), keepdim=True) + 1e-10
        logf = torch.log(energy + floor)
        logf = logf - logf.mean(dim=1, keepdim=True)
        return logf.transpose(1, 2).contiguous()
