"""An independent float64 numpy forward pass of the CLIP ViT-B/16 image encoder, read straight from
the published INT8 ONNX file: the reference that the portable encoder is checked against.

Nothing here goes through ONNX Runtime or the graph rewrite in ``synthwatch.detectors.image._portable``:
the weights are taken from the file's initializers by the layer names of the Hugging Face export
(``W_int8 * per-channel scale``, in float64), and the architecture is written out from the CLIP paper
(pre-LayerNorm transformer, quick GELU, class-token pooling, projection).
"""

from __future__ import annotations

from typing import Any

import numpy as np

LAYERS = 12
HEADS = 12
WIDTH = 768
EPS = 1e-5


class ClipNumpy:
    """``ClipNumpy(onnx_model).forward(x)`` -> (image_embeds [512], last hidden states [197, 768])."""

    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        g = model.graph
        self.inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.linear: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        producer = {o: n for n in g.node for o in n.output}
        for n in g.node:
            if n.op_type != "MatMulInteger":
                continue
            # the layer is named by the node: /vision_model/encoder/layers.3/mlp/fc1/MatMul_quant
            layer = n.name.rsplit("/", 1)[0].strip("/").replace("/", ".")
            w = self.inits[n.input[1]].astype(np.float64)
            scale_mul = next(c for c in g.node if c.op_type == "Mul" and c.name == n.name + "_scales_mul")
            act_scale = producer[n.input[0]].output[1]
            w_scale = next(i for i in scale_mul.input if i != act_scale)
            self.linear[layer] = (w * self.inits[w_scale].astype(np.float64), None)

    def _w(self, name: str) -> np.ndarray:
        return self.inits[name].astype(np.float64)

    def _lin(self, x: np.ndarray, layer: str) -> np.ndarray:
        w, _ = self.linear[layer]
        bias_name = layer + ".bias"
        out = x @ w
        if bias_name in self.inits:
            out = out + self._w(bias_name)
        return out

    def _ln(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(var + EPS) * self._w(prefix + ".weight") + self._w(prefix + ".bias")

    def forward(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(pixels, dtype=np.float64).reshape(3, 224, 224)
        conv = self._w("vision_model.embeddings.patch_embedding.weight")  # [768, 3, 16, 16]
        patches = x.reshape(3, 14, 16, 14, 16).transpose(1, 3, 0, 2, 4).reshape(196, 3 * 16 * 16)
        tokens = patches @ conv.reshape(WIDTH, -1).T  # [196, 768]
        h = np.concatenate([self._w("vision_model.embeddings.class_embedding")[None], tokens], axis=0)
        h = h + self._w("vision_model.embeddings.position_embedding.weight")
        h = self._ln(h, "vision_model.pre_layrnorm")
        d = WIDTH // HEADS
        for i in range(LAYERS):
            p = f"vision_model.encoder.layers.{i}"
            a = self._ln(h, p + ".layer_norm1")
            q = self._lin(a, p + ".self_attn.q_proj").reshape(197, HEADS, d).transpose(1, 0, 2)
            k = self._lin(a, p + ".self_attn.k_proj").reshape(197, HEADS, d).transpose(1, 0, 2)
            v = self._lin(a, p + ".self_attn.v_proj").reshape(197, HEADS, d).transpose(1, 0, 2)
            logits = q @ k.transpose(0, 2, 1) / np.sqrt(d)
            logits -= logits.max(axis=-1, keepdims=True)
            att = np.exp(logits)
            att /= att.sum(axis=-1, keepdims=True)
            ctx = (att @ v).transpose(1, 0, 2).reshape(197, WIDTH)
            h = h + self._lin(ctx, p + ".self_attn.out_proj")
            m = self._ln(h, p + ".layer_norm2")
            f = self._lin(m, p + ".mlp.fc1")
            f = f / (1.0 + np.exp(-1.702 * f))  # quick GELU: f * sigmoid(1.702 f)
            h = h + self._lin(f, p + ".mlp.fc2")
        pooled = self._ln(h[0], "vision_model.post_layernorm")
        embeds = pooled @ self.linear["visual_projection"][0]
        return embeds, h
