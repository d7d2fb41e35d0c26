"""The sw-voice network: a compact LCNN (light CNN with max-feature-map activations, as in the
ASVspoof LFCC-LCNN baseline, Wang & Yamagishi 2021 / Lavrentyeva et al. 2019), shrunk to ~100k
parameters so that a 4 s window costs a few milliseconds on one CPU core.

Input ``[B, N_BANDS, N_FRAMES]`` (features), output one logit per item (higher = synthetic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...detectors.audio.sw_voice import N_BANDS, N_FRAMES

__all__ = ["MFM", "LCNN", "export_onnx"]


class MFM(nn.Module):
    """Max-feature-map: split the channels in two halves, keep the element-wise max."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.chunk(x, 2, dim=1)
        return torch.maximum(a, b)


def _block(c_in: int, c_mid: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, 2 * c_mid, 1), MFM(), nn.BatchNorm2d(c_mid),
            nn.Conv2d(c_mid, 2 * c_out, 3, padding=1), MFM(), nn.BatchNorm2d(c_out), nn.MaxPool2d(2)]


class LCNN(nn.Module):
    def __init__(self, width: int = 16, dropout: float = 0.5) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(1, 2 * w // 2, 5, padding=2), MFM(), nn.MaxPool2d(2),  # [w/2, 48, 199]
            *_block(w // 2, w // 2, w),  # [w, 24, 99]
            *_block(w, w, 3 * w // 2),  # [1.5w, 12, 49]
            *_block(3 * w // 2, 3 * w // 2, 2 * w),  # [2w, 6, 24]
        )
        f = N_BANDS // 16
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * w * f * 2, 64), MFMLinear(),
                                  nn.BatchNorm1d(32), nn.Dropout(dropout / 2), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.body(x.unsqueeze(1))  # [B, C, F, T]
        pooled = torch.cat([z.mean(dim=3), z.amax(dim=3)], dim=2)  # [B, C, 2F]: mean and max over time
        return self.head(pooled.flatten(1)).squeeze(1)


class MFMLinear(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.chunk(x, 2, dim=1)
        return torch.maximum(a, b)


def export_onnx(model: nn.Module, path: Path) -> bytes:
    """Export ``model`` (eval mode) to ONNX: input ``features [N, N_BANDS, N_FRAMES]`` -> output
    ``logit [N]``; returns the file's bytes (written to ``path``)."""
    model.eval()
    dummy = torch.zeros(2, N_BANDS, N_FRAMES)
    path = Path(path)
    kwargs: dict[str, Any] = {"input_names": ["features"], "output_names": ["logit"],
                              "dynamic_axes": {"features": {0: "batch"}, "logit": {0: "batch"}},
                              "opset_version": 17, "do_constant_folding": True}
    try:
        torch.onnx.export(model, (dummy,), str(path), dynamo=False, **kwargs)
    except TypeError:
        torch.onnx.export(model, (dummy,), str(path), **kwargs)
    return path.read_bytes()
