"""AASIST / AASIST-L: a PyTorch port of the published architecture and its conversion to ONNX.

AASIST (Jung et al., "AASIST: Audio Anti-Spoofing using Integrated Spectro-Temporal Graph Attention
Networks", ICASSP 2022; github.com/clovaai/aasist, MIT) scores a 64,600-sample (about 4 s) 16 kHz
raw waveform:

1. a fixed mel-spaced sinc filterbank (70 band-pass filters, 129 taps), ``|.|``, 3x3 max-pool,
   BatchNorm, SELU: a 1-channel "spectrogram" of 23 sub-bands x 21,490 frames;
2. six 2-D residual blocks (each ending in a 1x3 max-pool): ``[B, C, 23, 29]``;
3. a spectral graph (23 nodes: max over time, plus a learned positional embedding) and a temporal
   graph (29 nodes: max over frequency), each a graph attention layer and a top-k graph pool;
4. two parallel branches of two heterogeneous stacking graph attention layers (HS-GAL) over the
   union of both graphs plus a learned master node, with graph pools in between;
5. max graph operation (element-wise maximum of the two branches), readout (max |.| and mean over
   nodes of each graph, plus the master node) and a linear layer: logits ``[spoof, bona fide]``.

The converter builds the model from the card's ``model_config`` (the ``model_config`` block of the
published ``AASIST.conf`` / ``AASIST-L.conf``), loads the official checkpoint strictly with
``weights_only=True``, exports ONNX (opset 17, dynamic batch axis; outputs ``logits`` [N, 2] and
``embedding`` [N, 5 * gat_dims[1]], the readout before the last layer) and checks ONNX Runtime
against PyTorch before handing the file to the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import ModelConversionError
from ..card import ModelCard
from ._torch_common import (
    GraphAttention,
    GraphPool,
    SincFrontEnd,
    batchnorm_nodes,
    convert_waveform_model,
    load_into,
)

__all__ = ["AASISTConfig", "AASISTNet", "build_model", "load_model", "convert", "OUTPUT_NAMES"]

#: ONNX output names, in order
OUTPUT_NAMES = ("logits", "embedding")


@dataclass(frozen=True)
class AASISTConfig:
    """The ``model_config`` block of the published ``.conf`` files."""

    nb_samp: int
    first_conv: int
    filts: tuple[Any, ...]  # (n_sinc_filters, [c_in, c_out] x 4)
    gat_dims: tuple[int, int]
    pool_ratios: tuple[float, float, float, float]
    temperatures: tuple[float, float, float, float]
    sample_rate: int = 16_000

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AASISTConfig:
        try:
            arch = d.get("architecture", "AASIST")
            if arch != "AASIST":
                raise ValueError(f"architecture is {arch!r}, not 'AASIST'")
            filts = tuple(d["filts"])
            if len(filts) != 5 or not all(len(f) == 2 for f in filts[1:]):
                raise ValueError(f"filts must be [n_sinc, [in, out] x 4], got {filts!r}")
            cfg = cls(nb_samp=int(d["nb_samp"]), first_conv=int(d["first_conv"]),
                      filts=(int(filts[0]), *(tuple(int(v) for v in f) for f in filts[1:])),
                      gat_dims=(int(d["gat_dims"][0]), int(d["gat_dims"][1])),
                      pool_ratios=tuple(float(v) for v in d["pool_ratios"]),  # type: ignore[arg-type]
                      temperatures=tuple(float(v) for v in d["temperatures"]),  # type: ignore[arg-type]
                      sample_rate=int(d.get("sample_rate", 16_000)))
            if len(cfg.pool_ratios) != 4 or len(cfg.temperatures) != 4:
                raise ValueError("pool_ratios and temperatures need 4 values each")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelConversionError(f"invalid AASIST model_config: {exc}") from exc
        return cfg

    @classmethod
    def from_card(cls, card: ModelCard) -> AASISTConfig:
        cfg = card.extra.get("model_config")
        if not isinstance(cfg, Mapping):
            raise ModelConversionError(f"model card {card.name!r} has no model_config mapping")
        return cls.from_dict(cfg)


class ResidualBlock2d(nn.Module):
    """AASIST encoder block: two (2x3) convolutions with BatchNorm + SELU in between, a (1x3)
    convolution on the shortcut when the channel count changes, then a (1x3) max-pool.

    In the published code the first convolution reads the block input directly: ``bn1`` (present
    in every block but the first) is applied and its result discarded, so it has no effect on the
    output. This port skips it; its parameters exist only so that the checkpoints load strictly.
    """

    def __init__(self, c_in: int, c_out: int, first: bool = False) -> None:
        super().__init__()
        self.first = first
        if not first:
            self.bn1 = nn.BatchNorm2d(c_in)  # loaded, unused (see class docstring)
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=(2, 3), padding=(0, 1))
        self.downsample = c_in != c_out
        if self.downsample:
            self.conv_downsample = nn.Conv2d(c_in, c_out, kernel_size=(1, 3), padding=(0, 1))

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(F.selu(self.bn2(self.conv1(x))))
        shortcut = self.conv_downsample(x) if self.downsample else x
        return F.max_pool2d(out + shortcut, (1, 3))


class HeteroGraphAttention(nn.Module):
    """Heterogeneous stacking graph attention layer (HS-GAL).

    Two node types (temporal, spectral) are projected into a shared space and treated as one graph
    with type-dependent attention vectors (type1-type1, type2-type2, cross-type); a master node
    attends to all nodes and is updated alongside. Returns the updated nodes of each type and the
    master node.
    """

    pair_kind: Tensor

    def __init__(self, in_dim: int, out_dim: int, n1: int, n2: int, temperature: float = 1.0) -> None:
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        self.att_weight11 = nn.Parameter(torch.zeros(out_dim, 1))
        self.att_weight22 = nn.Parameter(torch.zeros(out_dim, 1))
        self.att_weight12 = nn.Parameter(torch.zeros(out_dim, 1))
        self.att_weightM = nn.Parameter(torch.zeros(out_dim, 1))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.temperature = float(temperature)
        self.n1, self.n2 = int(n1), int(n2)
        # which attention vector scores each (i, j) pair: 0 within type 1, 1 within type 2, 2 across
        n = self.n1 + self.n2
        kind = torch.full((n, n), 2, dtype=torch.long)
        kind[:n1, :n1] = 0
        kind[n1:, n1:] = 1
        self.register_buffer("pair_kind", kind, persistent=False)

    def forward(self, x1: Tensor, x2: Tensor, master: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)  # [B, n1+n2, D]

        # node-to-node attention with a type-dependent scoring vector
        pair = torch.tanh(self.att_proj(x.unsqueeze(2) * x.unsqueeze(1)))  # [B, N, N, O]
        weights = torch.cat([self.att_weight11, self.att_weight22, self.att_weight12], dim=1)  # [O, 3]
        scored = torch.matmul(pair, weights)  # [B, N, N, 3]
        logits = torch.where(self.pair_kind == 0, scored[..., 0],
                             torch.where(self.pair_kind == 1, scored[..., 1], scored[..., 2]))
        att = torch.softmax(logits / self.temperature, dim=-1)  # [B, N, N]

        # master node: attends to every node
        m_logits = torch.matmul(torch.tanh(self.att_projM(x * master)), self.att_weightM)  # [B, N, 1]
        m_att = torch.softmax(m_logits / self.temperature, dim=1)
        master = self.proj_with_attM(torch.matmul(m_att.transpose(1, 2), x)) + self.proj_without_attM(master)

        out = self.proj_with_att(torch.matmul(att, x)) + self.proj_without_att(x)
        out = F.selu(batchnorm_nodes(self.bn, out))
        return out[:, :self.n1], out[:, self.n1:], master


class AASISTNet(nn.Module):
    """AASIST, inference only. ``forward(waveform [B, nb_samp]) -> (logits [B, 2], embedding [B, 5*gat_dims[1]])``;
    logits are ``[spoof, bona fide]``."""

    def __init__(self, cfg: AASISTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_sinc = cfg.filts[0]
        blocks: list[tuple[int, int]] = [cfg.filts[1], cfg.filts[2], cfg.filts[3],
                                         cfg.filts[4], cfg.filts[4], cfg.filts[4]]
        c_last = blocks[-1][1]
        d0, d1 = cfg.gat_dims
        r_s, r_t, r_h, _unused = cfg.pool_ratios  # the published model uses pool_ratios[2] for all
        t_s, t_t, t_h, _unused_t = cfg.temperatures  # HS-GAL pools/layers; [3] is never read

        self.conv_time = SincFrontEnd(n_sinc, cfg.first_conv, cfg.sample_rate)
        self.first_bn = nn.BatchNorm2d(1)
        self.encoder = nn.Sequential(*[
            nn.Sequential(ResidualBlock2d(c_in, c_out, first=(i == 0)))
            for i, (c_in, c_out) in enumerate(blocks)])

        n_freq, n_time = self.graph_sizes(cfg)
        self.pos_S = nn.Parameter(torch.zeros(1, n_freq, c_last))
        self.master1 = nn.Parameter(torch.zeros(1, 1, d0))
        self.master2 = nn.Parameter(torch.zeros(1, 1, d0))

        self.GAT_layer_S = GraphAttention(c_last, d0, temperature=t_s)
        self.GAT_layer_T = GraphAttention(c_last, d0, temperature=t_t)
        self.pool_S = GraphPool(d0, n_freq, r_s)
        self.pool_T = GraphPool(d0, n_time, r_t)
        n_s, n_t = self.pool_S.k, self.pool_T.k

        # HS-GAL inputs are (temporal, spectral)
        self.HtrgGAT_layer_ST11 = HeteroGraphAttention(d0, d1, n_t, n_s, temperature=t_h)
        self.HtrgGAT_layer_ST21 = HeteroGraphAttention(d0, d1, n_t, n_s, temperature=t_h)
        self.pool_hS1 = GraphPool(d1, n_s, r_h)
        self.pool_hT1 = GraphPool(d1, n_t, r_h)
        self.pool_hS2 = GraphPool(d1, n_s, r_h)
        self.pool_hT2 = GraphPool(d1, n_t, r_h)
        n_s2, n_t2 = self.pool_hS1.k, self.pool_hT1.k
        self.HtrgGAT_layer_ST12 = HeteroGraphAttention(d1, d1, n_t2, n_s2, temperature=t_h)
        self.HtrgGAT_layer_ST22 = HeteroGraphAttention(d1, d1, n_t2, n_s2, temperature=t_h)

        self.out_layer = nn.Linear(5 * d1, 2)

    @staticmethod
    def graph_sizes(cfg: AASISTConfig) -> tuple[int, int]:
        """(spectral nodes, temporal nodes) after the encoder, for ``cfg.nb_samp`` input samples."""
        k = cfg.first_conv + (1 - cfg.first_conv % 2)  # odd kernel
        n_freq = cfg.filts[0] // 3
        n_time = (cfg.nb_samp - k + 1) // 3
        for _ in range(6):
            n_time //= 3
        if n_freq < 1 or n_time < 1:
            raise ModelConversionError(f"nb_samp={cfg.nb_samp} is too short for AASIST")
        return n_freq, n_time

    def _branch(self, out_t: Tensor, out_s: Tensor, master: Tensor, first: HeteroGraphAttention,
                pool_s: GraphPool, pool_t: GraphPool, second: HeteroGraphAttention) -> tuple[Tensor, Tensor, Tensor]:
        t1, s1, m1 = first(out_t, out_s, master)
        s1, t1 = pool_s(s1), pool_t(t1)
        t_aug, s_aug, m_aug = second(t1, s1, m1)
        return t1 + t_aug, s1 + s_aug, m1 + m_aug

    def forward(self, waveform: Tensor) -> tuple[Tensor, Tensor]:
        x = self.conv_time(waveform).unsqueeze(1)  # [B, 1, n_sinc, T']
        x = F.selu(self.first_bn(F.max_pool2d(torch.abs(x), (3, 3))))
        e = torch.abs(self.encoder(x))  # [B, C, F, T]

        gat_s = self.GAT_layer_S(torch.amax(e, dim=3).transpose(1, 2) + self.pos_S)  # spectral graph
        gat_t = self.GAT_layer_T(torch.amax(e, dim=2).transpose(1, 2))  # temporal graph
        out_s, out_t = self.pool_S(gat_s), self.pool_T(gat_t)

        t1, s1, m1 = self._branch(out_t, out_s, self.master1, self.HtrgGAT_layer_ST11,
                                  self.pool_hS1, self.pool_hT1, self.HtrgGAT_layer_ST12)
        t2, s2, m2 = self._branch(out_t, out_s, self.master2, self.HtrgGAT_layer_ST21,
                                  self.pool_hS2, self.pool_hT2, self.HtrgGAT_layer_ST22)
        out_t, out_s, master = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)

        hidden = torch.cat([torch.amax(torch.abs(out_t), dim=1), out_t.mean(dim=1),
                            torch.amax(torch.abs(out_s), dim=1), out_s.mean(dim=1),
                            master.squeeze(1)], dim=1)
        return self.out_layer(hidden), hidden


def build_model(cfg: AASISTConfig) -> AASISTNet:
    return AASISTNet(cfg)


def load_model(src: Path, cfg: AASISTConfig) -> AASISTNet:
    """Build AASIST from ``cfg`` and strictly load the published checkpoint at ``src``."""
    model = load_into(build_model(cfg), src)
    assert isinstance(model, AASISTNet)
    return model


def convert(src: Path, workdir: Path, card: ModelCard) -> dict[str, Path]:
    """Converter ``aasist``: published ``AASIST.pth`` / ``AASIST-L.pth`` -> ``card.file`` (ONNX)."""
    cfg = AASISTConfig.from_card(card)
    model = load_model(Path(src), cfg)
    return convert_waveform_model(model, workdir, card, n_samples=cfg.nb_samp, sample_rate=cfg.sample_rate,
                                  output_names=OUTPUT_NAMES, outputs_doc="logits [N, 2] = [spoof, bona fide]; embedding [N, 5*gat_dims[1]] = readout")
