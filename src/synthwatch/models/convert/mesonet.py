"""MesoNet (Afchar et al., WIFS 2018; github.com/DariusAf/MesoNet, Apache-2.0) Keras HDF5 weights
to ONNX.

The published files (``Meso4_DF.h5``, ``Meso4_F2F.h5``, ``MesoInception_DF.h5``,
``MesoInception_F2F.h5``) hold weights only (Keras 2.1.5 ``save_weights``), no architecture. The
architecture is upstream ``classifiers.py``:

Meso4
    4 blocks ``Conv2D(same, relu) -> BatchNormalization -> MaxPooling2D(same)`` with 8, 8, 16, 16
    filters, kernels 3, 5, 5, 5, pools 2, 2, 2, 4; then ``Flatten -> Dropout(0.5) -> Dense(16) ->
    LeakyReLU(0.1) -> Dropout(0.5) -> Dense(1, sigmoid)``.
MesoInception4
    two inception layers ``(a, b, c, d) = (1, 4, 4, 2)`` and ``(2, 4, 4, 2)``, each the
    concatenation of ``1x1(a)``, ``1x1(b) -> 3x3(b)``, ``1x1(c) -> 3x3 dilation 2 (c)`` and
    ``1x1(d) -> 3x3 dilation 3 (d)`` (all ``same``, relu), each followed by BatchNormalization and
    MaxPooling 2; then two Meso blocks (16 filters, kernel 5, pools 2 and 4) and the Meso4 head.

Input: 256x256 RGB face crops scaled to [0, 1] (upstream ``ImageDataGenerator(rescale=1/255)``).
Output: the sigmoid; upstream trained with ``flow_from_directory(class_mode='binary')``, so
classes sorted by folder name and 1 = ``real``: the output is P(real), which the detector turns
into P(synthetic) = 1 - output.

Porting details that matter: Keras kernels are HWIO (torch/ONNX: OIHW); Keras flattens
channels-last (h, w, c) while the ONNX graph flattens channels-first (c, h, w), so the first dense
layer's rows are permuted; BatchNormalization epsilon is the Keras default 1e-3 (PyTorch's is
1e-5); all convolution kernels are odd, so ``same`` padding is symmetric (dilation x (k - 1) / 2).

The ONNX graph is written directly with ``onnx.helper`` (no PyTorch needed) and takes NHWC input
``input`` [N, 256, 256, 3] float32 in [0, 1]; outputs ``p_real`` [N, 1] (the sigmoid) and ``logit``
[N, 1] (the value before it, for calibration). Every conversion is checked
against :func:`keras_reference`, an independent channels-last NumPy implementation of the Keras
forward pass that uses the HDF5 arrays exactly as stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelConversionError
from ..card import ModelCard

__all__ = [
    "ARCHITECTURES",
    "BN_EPSILON",
    "INPUT_SIZE",
    "MesoWeights",
    "read_h5",
    "build_onnx",
    "keras_reference",
    "verification_inputs",
    "convert",
]

INPUT_SIZE = 256
BN_EPSILON = 1e-3  # Keras BatchNormalization default
LEAKY_ALPHA = 0.1
ARCHITECTURES = ("meso4", "mesoinception4")
OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "p_real"
LOGIT_NAME = "logit"

# (kernel size, dilation, in, out) in layer creation order
_MESO4_CONVS = [(3, 1, 3, 8), (5, 1, 8, 8), (5, 1, 8, 16), (5, 1, 16, 16)]
_MESO4_BN = [8, 8, 16, 16]
_MESO4_POOLS = [2, 2, 2, 4]


def _inception_convs(cin: int, a: int, b: int, c: int, d: int) -> list[tuple[int, int, int, int]]:
    return [(1, 1, cin, a), (1, 1, cin, b), (3, 1, b, b), (1, 1, cin, c), (3, 2, c, c),
            (1, 1, cin, d), (3, 3, d, d)]


_INCEPTION_CONVS = (_inception_convs(3, 1, 4, 4, 2) + _inception_convs(11, 2, 4, 4, 2)
                    + [(5, 1, 12, 16), (5, 1, 16, 16)])
_INCEPTION_BN = [11, 12, 16, 16]
_INCEPTION_POOLS = [2, 2, 2, 4]
_DENSE = [(1024, 16), (16, 1)]


@dataclass(frozen=True)
class _Conv:
    kernel: np.ndarray  # HWIO, as stored by Keras
    bias: np.ndarray
    dilation: int


@dataclass(frozen=True)
class _BN:
    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray


@dataclass(frozen=True)
class MesoWeights:
    """The arrays of one MesoNet HDF5 file, in layer creation order, Keras layouts."""

    architecture: str
    convs: tuple[_Conv, ...]
    bns: tuple[_BN, ...]
    dense: tuple[tuple[np.ndarray, np.ndarray], ...]  # (kernel [in, out], bias)


def _layer_key(name: str) -> tuple[str, int]:
    """``conv2d_12`` -> ("conv2d", 12): Keras numbers layers of one kind in creation order."""
    m = re.fullmatch(r"(.+?)_(\d+)", name)
    return (m.group(1), int(m.group(2))) if m else (name, 0)


def _decode(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def read_h5(src: Path) -> MesoWeights:
    """Read a MesoNet weight file; the architecture is recognised from the layers it holds."""
    import h5py

    try:
        f = h5py.File(src, "r")
    except (OSError, ValueError) as exc:
        raise ModelConversionError(f"{src} is not an HDF5 file: {exc}") from exc
    with f:
        root = f.get("model_weights", f)  # full-model files nest the weights
        layer_names = [_decode(n) for n in root.attrs.get("layer_names", [])]
        if not layer_names:
            raise ModelConversionError(f"{src}: no Keras layer_names attribute; not Keras HDF5 weights")
        arrays: dict[str, dict[str, np.ndarray]] = {}
        for lname in layer_names:
            group = root[lname]
            wnames = [_decode(n) for n in group.attrs.get("weight_names", [])]
            if not wnames:
                continue
            arrays[lname] = {w.split("/")[-1].split(":")[0]: np.asarray(group[w], dtype=np.float32)
                             for w in wnames}
    by_kind: dict[str, list[str]] = {}
    for lname in sorted(arrays, key=_layer_key):
        by_kind.setdefault(_layer_key(lname)[0], []).append(lname)
    convs, bns, dense = by_kind.get("conv2d", []), by_kind.get("batch_normalization", []), by_kind.get("dense", [])
    unknown = set(by_kind) - {"conv2d", "batch_normalization", "dense"}
    if unknown:
        raise ModelConversionError(f"{src}: unexpected weighted layers {sorted(unknown)}")
    if len(convs) == len(_MESO4_CONVS):
        arch, conv_spec, bn_spec = "meso4", _MESO4_CONVS, _MESO4_BN
    elif len(convs) == len(_INCEPTION_CONVS):
        arch, conv_spec, bn_spec = "mesoinception4", _INCEPTION_CONVS, _INCEPTION_BN
    else:
        raise ModelConversionError(f"{src}: {len(convs)} conv layers; neither Meso4 (4) nor MesoInception4 (16)")
    if len(bns) != len(bn_spec) or len(dense) != len(_DENSE):
        raise ModelConversionError(f"{src}: {len(bns)} batch-norm and {len(dense)} dense layers, "
                                   f"expected {len(bn_spec)} and {len(_DENSE)} for {arch}")
    out_convs = []
    for lname, (k, dil, cin, cout) in zip(convs, conv_spec, strict=True):
        w = arrays[lname]
        if w.get("kernel") is None or w["kernel"].shape != (k, k, cin, cout) or w.get("bias") is None \
                or w["bias"].shape != (cout,):
            raise ModelConversionError(f"{src}: layer {lname} has shapes "
                                       f"{ {n: a.shape for n, a in w.items()} }, expected kernel {(k, k, cin, cout)}")
        out_convs.append(_Conv(w["kernel"], w["bias"], dil))
    out_bns = []
    for lname, ch in zip(bns, bn_spec, strict=True):
        w = arrays[lname]
        need = ("gamma", "beta", "moving_mean", "moving_variance")
        if any(n not in w or w[n].shape != (ch,) for n in need):
            raise ModelConversionError(f"{src}: batch-norm layer {lname} does not hold 4 x ({ch},) arrays")
        out_bns.append(_BN(w["gamma"], w["beta"], w["moving_mean"], w["moving_variance"]))
    out_dense = []
    for lname, shape in zip(dense, _DENSE, strict=True):
        w = arrays[lname]
        if w.get("kernel") is None or w["kernel"].shape != shape or w.get("bias") is None:
            raise ModelConversionError(f"{src}: dense layer {lname} kernel is not {shape}")
        out_dense.append((w["kernel"], w["bias"]))
    return MesoWeights(arch, tuple(out_convs), tuple(out_bns), tuple(out_dense))


# ---------------------------------------------------------------------------------------- ONNX
class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, prefix: str, arr: np.ndarray) -> str:
        from onnx import numpy_helper

        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), n))
        return n

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv_relu(self, x: str, conv: _Conv) -> str:
        k = conv.kernel.shape[0]
        pad = conv.dilation * (k - 1) // 2
        w = self.const("conv_w", conv.kernel.transpose(3, 2, 0, 1))  # HWIO -> OIHW
        b = self.const("conv_b", conv.bias)
        y = self.node("Conv", [x, w, b], kernel_shape=[k, k], dilations=[conv.dilation] * 2,
                      pads=[pad] * 4, strides=[1, 1])
        return self.node("Relu", [y])

    def bn_pool(self, x: str, bn: _BN, pool: int) -> str:
        args = [self.const("bn_gamma", bn.gamma), self.const("bn_beta", bn.beta),
                self.const("bn_mean", bn.mean), self.const("bn_var", bn.var)]
        y = self.node("BatchNormalization", [x, *args], epsilon=BN_EPSILON)
        return self.node("MaxPool", [y], kernel_shape=[pool, pool], strides=[pool, pool])


def build_onnx(weights: MesoWeights, *, doc: str = "") -> Any:
    """The ONNX model (``onnx.ModelProto``) for ``weights``."""
    from onnx import TensorProto, helper

    g = _GraphBuilder()
    x = g.node("Transpose", [INPUT_NAME], perm=[0, 3, 1, 2])  # NHWC -> NCHW
    convs = list(weights.convs)
    pools = _MESO4_POOLS if weights.architecture == "meso4" else _INCEPTION_POOLS
    bn_i = 0
    if weights.architecture == "mesoinception4":
        for _ in range(2):
            c = [convs.pop(0) for _ in range(7)]
            b1 = g.conv_relu(x, c[0])
            b2 = g.conv_relu(g.conv_relu(x, c[1]), c[2])
            b3 = g.conv_relu(g.conv_relu(x, c[3]), c[4])
            b4 = g.conv_relu(g.conv_relu(x, c[5]), c[6])
            x = g.node("Concat", [b1, b2, b3, b4], axis=1)
            x = g.bn_pool(x, weights.bns[bn_i], pools[bn_i])
            bn_i += 1
    for conv in convs:
        x = g.bn_pool(g.conv_relu(x, conv), weights.bns[bn_i], pools[bn_i])
        bn_i += 1
    # [N, 16, 8, 8] -> flatten channels-first; permute the Keras (h, w, c) rows to (c, h, w)
    k1, b1_ = weights.dense[0]
    c_last, hw = weights.convs[-1].kernel.shape[3], INPUT_SIZE // 32
    k1_chw = k1.reshape(hw, hw, c_last, -1).transpose(2, 0, 1, 3).reshape(hw * hw * c_last, -1)
    x = g.node("Flatten", [x], axis=1)
    x = g.node("Gemm", [x, g.const("dense1_w", k1_chw), g.const("dense1_b", b1_)])
    x = g.node("LeakyRelu", [x], alpha=LEAKY_ALPHA)
    k2, b2_ = weights.dense[1]
    g.nodes.append(helper.make_node("Gemm", [x, g.const("dense2_w", k2), g.const("dense2_b", b2_)], [LOGIT_NAME],
                                    name="dense2"))
    g.nodes.append(helper.make_node("Sigmoid", [LOGIT_NAME], [OUTPUT_NAME], name="sigmoid_out"))
    graph = helper.make_graph(
        g.nodes, f"mesonet_{weights.architecture}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", INPUT_SIZE, INPUT_SIZE, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", 1]),
         helper.make_tensor_value_info(LOGIT_NAME, TensorProto.FLOAT, ["N", 1])],
        initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="synthwatch.models.convert.mesonet", doc_string=doc)
    model.ir_version = 7
    return model


# ------------------------------------------------------------------------- NumPy reference
def _np_conv_relu(x: np.ndarray, conv: _Conv) -> np.ndarray:
    """'same' convolution, channels-last, HWIO kernel used as stored; then ReLU."""
    k, d = conv.kernel.shape[0], conv.dilation
    pad = d * (k - 1) // 2
    n, h, w, _ = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.zeros((n, h, w, conv.kernel.shape[3]), dtype=np.float64)
    for i in range(k):
        for j in range(k):
            out += xp[:, i * d:i * d + h, j * d:j * d + w, :] @ conv.kernel[i, j].astype(np.float64)
    y: np.ndarray = np.maximum(out + conv.bias, 0.0)
    return y


def _np_bn_pool(x: np.ndarray, bn: _BN, pool: int) -> np.ndarray:
    y = (x - bn.mean) / np.sqrt(bn.var.astype(np.float64) + BN_EPSILON) * bn.gamma + bn.beta
    n, h, w, c = y.shape
    pooled: np.ndarray = y.reshape(n, h // pool, pool, w // pool, pool, c).max(axis=(2, 4))
    return pooled


def keras_reference(weights: MesoWeights, x: np.ndarray, *, logits: bool = False) -> np.ndarray:
    """The Keras forward pass (inference mode) in float64 NumPy, channels-last: ``x`` [N, 256, 256, 3]
    in [0, 1] -> sigmoid output [N, 1] (or, with ``logits``, the value before the sigmoid)."""
    h = np.asarray(x, dtype=np.float64)
    convs = list(weights.convs)
    pools = _MESO4_POOLS if weights.architecture == "meso4" else _INCEPTION_POOLS
    bn_i = 0
    if weights.architecture == "mesoinception4":
        for _ in range(2):
            c = [convs.pop(0) for _ in range(7)]
            branches = [_np_conv_relu(h, c[0]),
                        _np_conv_relu(_np_conv_relu(h, c[1]), c[2]),
                        _np_conv_relu(_np_conv_relu(h, c[3]), c[4]),
                        _np_conv_relu(_np_conv_relu(h, c[5]), c[6])]
            h = _np_bn_pool(np.concatenate(branches, axis=-1), weights.bns[bn_i], pools[bn_i])
            bn_i += 1
    for conv in convs:
        h = _np_bn_pool(_np_conv_relu(h, conv), weights.bns[bn_i], pools[bn_i])
        bn_i += 1
    flat = h.reshape(h.shape[0], -1)  # Keras Flatten: (h, w, c) order
    k1, b1 = weights.dense[0]
    y = flat @ k1 + b1
    y = np.where(y > 0, y, LEAKY_ALPHA * y)
    k2, b2 = weights.dense[1]
    z: np.ndarray = y @ k2 + b2
    if logits:
        return z
    p_real: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return p_real


# ---------------------------------------------------------------------------------- converter
def verification_inputs(n: int = 4, seed: int = 20180901) -> np.ndarray:
    """Inputs for parity checks [n, 256, 256, 3] in [0, 1]: smooth random colour fields plus fine
    noise (pure noise saturates the networks' sigmoid, which would hide differences)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        cells = 4 + 6 * i
        field = cv2.resize(rng.random((cells, cells, 3)).astype(np.float32), (INPUT_SIZE, INPUT_SIZE),
                           interpolation=cv2.INTER_CUBIC)
        out.append(np.clip(field + rng.normal(0, 0.02 * (i + 1), field.shape), 0, 1))
    return np.stack(out).astype(np.float32)


def _verify(model_bytes: bytes, weights: MesoWeights, tol: float = 1e-4) -> float:
    """Max |logit difference| between the ONNX graph and :func:`keras_reference`; raises above ``tol``."""
    from ..runtime import import_onnxruntime

    ort = import_onnxruntime()  # telemetry off before the first import

    x = verification_inputs()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    p_real, logit = sess.run([OUTPUT_NAME, LOGIT_NAME], {INPUT_NAME: x})
    ref = keras_reference(weights, x, logits=True)
    err = float(max(np.max(np.abs(logit - ref)), np.max(np.abs(p_real - 1.0 / (1.0 + np.exp(-ref))))))
    if not np.isfinite(err) or err > tol * max(1.0, float(np.max(np.abs(ref)))):
        raise ModelConversionError(f"MesoNet ONNX output differs from the Keras reference by {err:.3g}")
    return err


def convert(src: Path, workdir: Path, card: ModelCard) -> dict[str, Path]:
    """Convert one MesoNet ``.h5`` into ``workdir / card.file`` (ONNX), checked against
    :func:`keras_reference`. ``card.extra['architecture']`` (``meso4`` or ``mesoinception4``),
    when set, must match the file."""
    import onnx

    weights = read_h5(Path(src))
    expected = card.extra.get("architecture")
    if expected is not None and expected != weights.architecture:
        raise ModelConversionError(
            f"{src} holds a {weights.architecture} network, but model {card.name!r} is {expected}")
    doc = (f"{card.name} {card.version}: MesoNet {weights.architecture} converted from {Path(src).name} "
           f"by synthwatch; input NHWC float32 RGB [0, 1] 256x256, output p_real = upstream sigmoid "
           f"(1 = real), logit = its input. Source: {card.source}. Licence: {card.licence}.")
    model = build_onnx(weights, doc=doc)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelConversionError(f"the MesoNet ONNX graph is invalid: {exc}") from exc
    data = model.SerializeToString()
    _verify(data, weights)
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / card.file
    out.write_bytes(data)
    return {card.file: out}
