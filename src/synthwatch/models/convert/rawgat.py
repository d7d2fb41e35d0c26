"""RawGAT-ST: a PyTorch port of the published architecture and its conversion to ONNX.

RawGAT-ST (Tak et al., "End-to-end spectro-temporal graph attention networks for speaker
verification anti-spoofing and speech deepfake detection", ASVspoof 2021 workshop;
github.com/eurecom-asp/RawGAT-ST-antispoofing, MIT) scores a 64,600-sample 16 kHz raw waveform:

1. the same fixed sinc filterbank front end as AASIST (70 filters, 129 taps), ``|.|``, 3x3
   max-pool, BatchNorm, SELU;
2. two separate encoders of six 2-D residual blocks, one feeding a spectral graph (23 nodes: max
   over time) and one a temporal graph (29 nodes: max over frequency);
3. a graph attention layer and a top-k graph pool on each graph, a linear projection of each
   pooled graph's node axis onto 12 nodes, and an element-wise product (the "mul" model, which
   the published ``RawGAT_ST_mul`` checkpoint is);
4. a spectro-temporal graph attention layer and pool, a projection of each node to a scalar and a
   linear layer over the 7 remaining nodes: logits ``[spoof, bona fide]``.

The block and layer sizes that the upstream code fixes in Python (graph dims 32 and 16, pool
ratios 0.64 / 0.81 / 0.64, 12 fused nodes) are part of this module's config with the published
values as defaults; the card's ``model_config`` is the upstream ``model_config_RawGAT_ST.yaml``
``model`` block.

The residual blocks keep the upstream quirks that the checkpoint was trained with: the first
block's shortcut is the 1-channel input added to 32 channels by broadcasting (no shortcut
convolution since the configured channel counts are equal), and every block carries an unused
1-channel input convolution ``conv_1`` (only the first block uses it) and an unused ``bn1``; both
are loaded, for strictness, and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import ModelConversionError
from ..card import ModelCard
from ._torch_common import GraphAttention, GraphPool, SincFrontEnd, convert_waveform_model, load_into

__all__ = ["RawGATSTConfig", "RawGATSTNet", "build_model", "load_model", "convert", "OUTPUT_NAMES"]

OUTPUT_NAMES = ("logits",)


@dataclass(frozen=True)
class RawGATSTConfig:
    nb_samp: int = 64_600
    out_channels: int = 70  # sinc filters
    first_conv: int = 128  # sinc taps (made odd)
    in_channels: int = 1
    filts: tuple[Any, ...] = (32, (32, 32), (32, 64), (64, 64))
    gat_dims: tuple[int, int] = (32, 16)  # spectral/temporal GAT, spectro-temporal GAT
    pool_ratios: tuple[float, float, float] = (0.64, 0.81, 0.64)  # spectral, temporal, fused
    fused_nodes: int = 12
    sample_rate: int = 16_000

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RawGATSTConfig:
        try:
            filts = tuple(d.get("filts", cls.filts))
            if len(filts) != 4 or not all(len(f) == 2 for f in filts[1:]):
                raise ValueError(f"filts must be [c, [in, out] x 3], got {filts!r}")
            if int(d.get("in_channels", 1)) != 1:
                raise ValueError("the sinc front end takes one input channel")
            cfg = cls(nb_samp=int(d.get("nb_samp", cls.nb_samp)),
                      out_channels=int(d.get("out_channels", cls.out_channels)),
                      first_conv=int(d.get("first_conv", cls.first_conv)),
                      filts=(int(filts[0]), *(tuple(int(v) for v in f) for f in filts[1:])),
                      gat_dims=tuple(int(v) for v in d.get("gat_dims", cls.gat_dims)),  # type: ignore[arg-type]
                      pool_ratios=tuple(float(v) for v in d.get("pool_ratios", cls.pool_ratios)),  # type: ignore[arg-type]
                      fused_nodes=int(d.get("fused_nodes", cls.fused_nodes)),
                      sample_rate=int(d.get("sample_rate", cls.sample_rate)))
            if len(cfg.gat_dims) != 2 or len(cfg.pool_ratios) != 3:
                raise ValueError("gat_dims needs 2 values and pool_ratios 3")
            if int(d.get("nb_classes", 2)) != 2:
                raise ValueError("only the two-class model exists")
        except (TypeError, ValueError, IndexError) as exc:
            raise ModelConversionError(f"invalid RawGAT-ST model_config: {exc}") from exc
        return cfg

    @classmethod
    def from_card(cls, card: ModelCard) -> RawGATSTConfig:
        cfg = card.extra.get("model_config")
        if not isinstance(cfg, Mapping):
            raise ModelConversionError(f"model card {card.name!r} has no model_config mapping")
        return cls.from_dict(cfg)


class RawGATResidualBlock(nn.Module):
    """RawGAT-ST encoder block (see the module docstring for the upstream quirks kept)."""

    def __init__(self, c_in: int, c_out: int, first: bool = False) -> None:
        super().__init__()
        self.first = first
        if not first:
            self.bn1 = nn.BatchNorm2d(c_in)  # loaded, unused
            self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=(2, 3), padding=(1, 1))
        self.conv_1 = nn.Conv2d(1, c_out, kernel_size=(2, 3), padding=(1, 1))  # used by the first block only
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=(2, 3), padding=(0, 1))
        self.downsample = c_in != c_out
        if self.downsample:
            self.conv_downsample = nn.Conv2d(c_in, c_out, kernel_size=(1, 3), padding=(0, 1))

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv_1(x) if self.first else self.conv1(x)
        out = self.conv2(F.selu(self.bn2(out)))
        shortcut = self.conv_downsample(x) if self.downsample else x  # first block: broadcast 1 -> C
        return F.max_pool2d(out + shortcut, (1, 3))


class RawGATSTNet(nn.Module):
    """RawGAT-ST (multiplicative fusion), inference only:
    ``forward(waveform [B, nb_samp]) -> logits [B, 2]`` = ``[spoof, bona fide]``."""

    def __init__(self, cfg: RawGATSTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        f = cfg.filts
        blocks = [f[1], f[1], f[2], f[3], f[3], f[3]]
        c_last = blocks[-1][1]
        d_st, d_fused = cfg.gat_dims
        r_s, r_t, r_f = cfg.pool_ratios

        self.conv_time = SincFrontEnd(cfg.out_channels, cfg.first_conv, cfg.sample_rate)
        self.first_bn = nn.BatchNorm2d(1)

        def encoder() -> nn.Sequential:
            return nn.Sequential(*[nn.Sequential(RawGATResidualBlock(c_in, c_out, first=(i == 0)))
                                   for i, (c_in, c_out) in enumerate(blocks)])

        self.encoder1 = encoder()  # spectral
        self.encoder2 = encoder()  # temporal
        n_freq, n_time = self.graph_sizes(cfg)
        self.GAT_layer1 = GraphAttention(c_last, d_st)
        self.pool1 = GraphPool(d_st, n_freq, r_s, minimum=2)
        self.GAT_layer2 = GraphAttention(c_last, d_st)
        self.pool2 = GraphPool(d_st, n_time, r_t, minimum=2)
        self.GAT_layer3 = GraphAttention(d_st, d_fused)
        self.pool3 = GraphPool(d_fused, cfg.fused_nodes, r_f, minimum=2)
        self.proj1 = nn.Linear(self.pool1.k, cfg.fused_nodes)
        self.proj2 = nn.Linear(self.pool2.k, cfg.fused_nodes)
        self.proj = nn.Linear(d_fused, 1)
        self.proj_node = nn.Linear(self.pool3.k, 2)

    @staticmethod
    def graph_sizes(cfg: RawGATSTConfig) -> tuple[int, int]:
        k = cfg.first_conv + (1 - cfg.first_conv % 2)
        n_freq = cfg.out_channels // 3
        n_time = (cfg.nb_samp - k + 1) // 3
        for _ in range(6):
            n_time //= 3
        if n_freq < 2 or n_time < 2:
            raise ModelConversionError(f"nb_samp={cfg.nb_samp} is too short for RawGAT-ST")
        return n_freq, n_time

    def forward(self, waveform: Tensor) -> Tensor:
        x = self.conv_time(waveform).unsqueeze(1)  # [B, 1, 70, T']
        x = F.selu(self.first_bn(F.max_pool2d(x.abs(), (3, 3))))

        spectral = self.encoder1(x).abs().amax(dim=3).transpose(1, 2)  # [B, 23, C]
        s = self.pool1(self.GAT_layer1(spectral))  # [B, 14, 32]
        s = self.proj1(s.transpose(1, 2))  # [B, 32, 12]: project the node axis

        temporal = self.encoder2(x).abs().amax(dim=2).transpose(1, 2)  # [B, 29, C]
        t = self.pool2(self.GAT_layer2(temporal))  # [B, 23, 32]
        t = self.proj2(t.transpose(1, 2))  # [B, 32, 12]

        fused = (s * t).transpose(1, 2)  # [B, 12, 32]
        g = self.pool3(self.GAT_layer3(fused))  # [B, 7, 16]
        logits: Tensor = self.proj_node(self.proj(g).squeeze(-1))  # [B, 2]
        return logits


def build_model(cfg: RawGATSTConfig) -> RawGATSTNet:
    return RawGATSTNet(cfg)


def load_model(src: Path, cfg: RawGATSTConfig) -> RawGATSTNet:
    model = load_into(build_model(cfg), src)
    assert isinstance(model, RawGATSTNet)
    return model


def convert(src: Path, workdir: Path, card: ModelCard) -> dict[str, Path]:
    """Converter ``rawgat-st``: published ``RawGAT_ST_mul`` ``Best_epoch.pth`` -> ``card.file`` (ONNX)."""
    cfg = RawGATSTConfig.from_card(card)
    model = load_model(Path(src), cfg)
    return convert_waveform_model(model, workdir, card, n_samples=cfg.nb_samp, sample_rate=cfg.sample_rate,
                                  output_names=OUTPUT_NAMES, outputs_doc="logits [N, 2] = [spoof, bona fide]")
