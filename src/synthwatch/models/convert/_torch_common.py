"""PyTorch building blocks shared by the raw-waveform anti-spoofing ports (AASIST, RawGAT-ST), and
the checkpoint-loading / ONNX-export / verification steps every converter here runs.

The modules are inference-only re-implementations of the published architectures (Jung et al.,
"AASIST", ICASSP 2022; Tak et al., "End-to-end spectro-temporal graph attention networks for speaker
verification anti-spoofing and speech deepfake detection", ASVspoof 2021 workshop). Attribute names
follow the published checkpoints so that ``load_state_dict(strict=True)`` succeeds. Training-only
parts are left out: dropout (identity in eval mode) and the random sinc-channel masking
("Freq_aug"). Where the published code computes something it then ignores (the residual blocks'
``bn1``), the parameters exist so that loading is strict, and the port ignores them the same way,
because the checkpoints were trained (and their published results measured) with that behaviour.

Needs the ``[convert]`` extra (PyTorch, onnx); scans never import this module.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import ModelConversionError

__all__ = [
    "convert_waveform_model",
    "sinc_filterbank",
    "SincFrontEnd",
    "batchnorm_nodes",
    "GraphAttention",
    "GraphPool",
    "pooled_nodes",
    "load_state_dict",
    "load_into",
    "export_onnx",
    "verify_onnx",
    "MAX_EXPORT_DIFF",
]

#: the largest |torch - ONNX Runtime| difference a converter accepts on its verification inputs
MAX_EXPORT_DIFF = 1e-3


# --------------------------------------------------------------------------- front end
def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def sinc_filterbank(n_filters: int, kernel_size: int, sample_rate: int = 16_000) -> np.ndarray:
    """The fixed (not learned) band-pass sinc filters of the AASIST / RawGAT-ST front end.

    ``n_filters`` band-pass filters whose edges are equally spaced on the mel scale between 0 Hz and
    Nyquist, each an ideal band-pass impulse response (difference of two low-pass sincs) times a
    Hamming window. An even ``kernel_size`` is made odd (symmetric filters), as in the published
    code. Returns float32 ``[n_filters, kernel_size']``.

    The published code evaluates the sinc argument on a float32 time axis and multiplies by float64
    gains; this follows the same precision path so the filters agree with the reference bit for bit
    up to the final float32 rounding.
    """
    if kernel_size % 2 == 0:
        kernel_size += 1
    half = (kernel_size - 1) // 2
    nyquist = sample_rate // 2
    # band edges: equally spaced mels between mel(0) and mel(nyquist)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(float(nyquist)), n_filters + 1))
    t = np.arange(-half, half + 1, dtype=np.float32)  # sample offsets, float32 as in the reference
    window = np.hamming(kernel_size).astype(np.float32)
    bank = np.empty((n_filters, kernel_size), dtype=np.float32)
    for i in range(n_filters):
        lo, hi = float(edges[i]), float(edges[i + 1])
        arg_hi = (np.float32(2.0 * hi) * t / np.float32(sample_rate)).astype(np.float32)
        arg_lo = (np.float32(2.0 * lo) * t / np.float32(sample_rate)).astype(np.float32)
        ideal = (2.0 * hi / sample_rate) * np.sinc(arg_hi).astype(np.float64) \
            - (2.0 * lo / sample_rate) * np.sinc(arg_lo).astype(np.float64)
        bank[i] = window * ideal.astype(np.float32)
    return bank


class SincFrontEnd(nn.Module):
    """Fixed sinc filterbank convolution over the raw waveform: ``[B, T] -> [B, n_filters, T - k + 1]``.

    The filters are a constant (a non-persistent buffer: not in the checkpoint, folded into the
    ONNX graph as an initializer).
    """

    filters: Tensor

    def __init__(self, n_filters: int, kernel_size: int, sample_rate: int = 16_000) -> None:
        super().__init__()
        bank = torch.from_numpy(sinc_filterbank(n_filters, kernel_size, sample_rate))
        self.register_buffer("filters", bank.unsqueeze(1), persistent=False)
        self.kernel_size = int(bank.shape[1])

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x.unsqueeze(1), self.filters)


# --------------------------------------------------------------------------- graph layers
def batchnorm_nodes(bn: nn.BatchNorm1d, x: Tensor) -> Tensor:
    """BatchNorm over the feature axis of a node tensor ``[B, N, D]`` (the reference flattens to
    ``[B*N, D]``; in eval mode both are the same per-feature affine map)."""
    out: Tensor = bn(x.transpose(1, 2)).transpose(1, 2)
    return out


class GraphAttention(nn.Module):
    """Graph attention layer over a fully connected graph of ``N`` nodes.

    Attention logits come from the element-wise product of every node pair, projected and squashed
    (``tanh``), scored with a learned vector and divided by a temperature; each node aggregates the
    others with a softmax over its neighbours. Output: projection of the aggregate plus a projection
    of the node itself, BatchNorm, SELU. ``[B, N, in_dim] -> [B, N, out_dim]``.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0) -> None:
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = nn.Parameter(torch.zeros(out_dim, 1))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.temperature = float(temperature)

    def forward(self, x: Tensor) -> Tensor:
        pair = x.unsqueeze(2) * x.unsqueeze(1)  # [B, N, N, D]: node i times node j
        logits = torch.matmul(torch.tanh(self.att_proj(pair)), self.att_weight).squeeze(-1)  # [B, N, N]
        att = torch.softmax(logits / self.temperature, dim=-1)  # over neighbours j
        out = self.proj_with_att(torch.matmul(att, x)) + self.proj_without_att(x)
        return F.selu(batchnorm_nodes(self.bn, out))


def pooled_nodes(n_nodes: int, ratio: float, minimum: int) -> int:
    """How many nodes a :class:`GraphPool` keeps (``int`` truncation as in the reference)."""
    return max(int(n_nodes * ratio), minimum)


class GraphPool(nn.Module):
    """Graph pooling: score each node (sigmoid of a projection), keep the top-k nodes in descending
    score order, each scaled by its score. ``[B, N, D] -> [B, k, D]``.

    ``k`` is fixed at construction from the known node count (the ports run on fixed-length input),
    so the ONNX graph has a constant ``TopK``. The order of the kept nodes matters downstream (the
    AASIST readout takes an element-wise maximum of two branches; RawGAT-ST projects over the node
    axis), so it follows ``torch.topk``'s descending order exactly.
    """

    def __init__(self, in_dim: int, n_nodes: int, ratio: float, minimum: int = 1) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, 1)
        self.n_in = int(n_nodes)
        self.k = pooled_nodes(n_nodes, ratio, minimum)

    def forward(self, h: Tensor) -> Tensor:
        scores = torch.sigmoid(self.proj(h))  # [B, N, 1]
        _, idx = torch.topk(scores, self.k, dim=1)  # [B, k, 1], descending
        return torch.gather(h * scores, 1, idx.expand(-1, -1, h.shape[-1]))


# --------------------------------------------------------------------------- checkpoints
def load_state_dict(src: Path) -> dict[str, Tensor]:
    """Load a PyTorch checkpoint safely (``weights_only=True``) and return its state dict.

    Accepts a bare state dict or one wrapped under ``state_dict`` / ``model``; strips a
    ``module.`` prefix left by ``DataParallel``.
    """
    try:
        obj: Any = torch.load(Path(src), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip / OSError: all mean "not a loadable checkpoint"
        raise ModelConversionError(f"cannot load checkpoint {src}: {exc}") from exc
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ModelConversionError(f"{src} does not hold a PyTorch state dict")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_into(model: nn.Module, src: Path) -> nn.Module:
    """Strictly load the checkpoint at ``src`` into ``model`` and put it in eval mode."""
    state = load_state_dict(src)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelConversionError(
            f"{src} does not match the {type(model).__name__} architecture built from the card's "
            f"model_config: {exc}") from exc
    return model.eval()


# --------------------------------------------------------------------------- ONNX
def export_onnx(model: nn.Module, out: Path, *, n_samples: int, output_names: Sequence[str],
                opset: int = 17, metadata: Mapping[str, Any] | None = None) -> Path:
    """Export a waveform model ``[batch, n_samples] float32 -> outputs`` to ONNX with a dynamic
    batch axis, using the TorchScript-based exporter (no onnxscript needed). ``metadata`` goes into
    the model's ``metadata_props`` (values JSON-encoded unless already strings)."""
    import onnx

    model = model.eval()
    # traced at batch 1; verify_onnx runs another batch size, which proves the batch axis dynamic
    example = torch.zeros(1, n_samples, dtype=torch.float32)
    axes = {"waveform": {0: "batch"}, **{name: {0: "batch"} for name in output_names}}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # torch >= 2.9 flags this exporter (and some of its internals) as deprecated; it is
            # still supported in 2.13 and needs no extra dependency. Keep those notices away from
            # callers that turn warnings into errors; anything else (e.g. TracerWarning) still shows.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(model, (example,), str(out), dynamo=False, opset_version=opset,
                              input_names=["waveform"], output_names=list(output_names),
                              dynamic_axes=axes, do_constant_folding=True)
        proto = onnx.load(str(out))
        for key, value in (metadata or {}).items():
            entry = proto.metadata_props.add()
            entry.key = str(key)
            entry.value = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(out))
    except ModelConversionError:
        raise
    except Exception as exc:
        raise ModelConversionError(f"ONNX export of {type(model).__name__} failed: {exc}") from exc
    return out


def verify_onnx(model: nn.Module, onnx_path: Path, *, n_samples: int, output_names: Sequence[str],
                batch_sizes: Sequence[int] = (2,), seed: int = 0,
                tolerance: float = MAX_EXPORT_DIFF) -> float:
    """Run ``model`` (PyTorch) and the exported file (ONNX Runtime) on the same random waveforms,
    for each of ``batch_sizes`` (a size other than the traced one exercises the dynamic batch axis;
    the default, 2, keeps a conversion to seconds on a laptop CPU). Returns the largest absolute
    difference over all outputs; raises :class:`ModelConversionError` when it exceeds ``tolerance``.
    """
    from ..runtime import import_onnxruntime

    ort = import_onnxruntime()  # telemetry off before the first import

    try:
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelConversionError(f"ONNX Runtime cannot load the exported {onnx_path}: {exc}") from exc
    rng = np.random.default_rng(seed)
    worst = 0.0
    for bs in batch_sizes:
        # speech-like scale: a sum of a few tones plus noise, peak around 0.3
        t = np.arange(n_samples, dtype=np.float64) / 16_000.0
        wave = np.stack([
            0.1 * np.sin(2 * np.pi * rng.uniform(80, 400) * t) + 0.05 * rng.standard_normal(n_samples)
            for _ in range(bs)]).astype(np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(wave))
        refs = ref if isinstance(ref, tuple) else (ref,)
        got = sess.run(list(output_names), {"waveform": wave})
        for name, r, g in zip(output_names, refs, got, strict=True):
            r_np = r.detach().numpy()
            if r_np.shape != g.shape:
                raise ModelConversionError(
                    f"exported output {name!r} has shape {g.shape}, PyTorch gives {r_np.shape}")
            diff = float(np.max(np.abs(r_np - g)))
            if not np.isfinite(diff) or diff > tolerance:
                raise ModelConversionError(
                    f"exported model disagrees with PyTorch on {name!r} (batch {bs}): max |diff| "
                    f"{diff:.3g} > {tolerance:g}")
            worst = max(worst, diff)
    return worst


def convert_waveform_model(model: nn.Module, workdir: Path, card: Any, *, n_samples: int, sample_rate: int,
                           output_names: Sequence[str], outputs_doc: str) -> dict[str, Path]:
    """The common tail of every raw-waveform converter: export ``model`` to ``card.file`` under
    ``workdir`` with the card's facts as metadata, check it against PyTorch, return it for the store."""
    out = Path(workdir) / card.file
    meta = {
        "synthwatch.model": card.name,
        "synthwatch.card_version": card.version,
        "synthwatch.model_config": card.extra.get("model_config"),
        "synthwatch.outputs": outputs_doc,
        "synthwatch.input": f"waveform [N, {n_samples}] float32, {sample_rate} Hz mono",
    }
    export_onnx(model, out, n_samples=n_samples, output_names=output_names, metadata=meta)
    verify_onnx(model, out, n_samples=n_samples, output_names=output_names)
    return {card.file: out}
