"""The sw-face network: a compact residual CNN on 128 x 128 face crops (PyTorch, for training and
export only; scans run the exported float32 ONNX graph)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["SwFaceNet", "export_onnx", "count_params"]


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.act(y + self.short(x))


class SwFaceNet(nn.Module):
    """stem (16, /2) -> blocks 16, 32 (/2), 64 (/2), 128 (/2), 192 (/2) -> global average -> logit."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128, 192), dropout: float = 0.2) -> None:
        super().__init__()
        w0 = widths[0]
        self.stem = nn.Sequential(nn.Conv2d(3, w0, 3, 2, 1, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = [_Block(w0, w0, 1)]
        for cin, cout in zip(widths[:-1], widths[1:], strict=True):
            blocks.append(_Block(cin, cout, 2))
        self.blocks = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(widths[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.stem(x))
        y = y.mean(dim=(2, 3))
        return self.fc(self.drop(y)).squeeze(1)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def export_onnx(model: SwFaceNet, path: Any, size: int = 128) -> None:
    """Float32 ONNX (opset 17), dynamic batch, input ``faces`` [N, 3, size, size], output ``logit`` [N]."""
    model = model.eval()
    dummy = torch.zeros(1, 3, size, size, dtype=torch.float32)
    torch.onnx.export(model, (dummy,), str(path), input_names=["faces"], output_names=["logit"],
                      dynamic_axes={"faces": {0: "batch"}, "logit": {0: "batch"}}, opset_version=17,
                      do_constant_folding=True, dynamo=False)
