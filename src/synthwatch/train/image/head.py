"""The ``sw-image`` head: standardisation + an L2-regularised logistic regression + sigmoid,
fitted with scikit-learn and exported to a self-contained ONNX graph.

ONNX graph (input ``features`` float32 [N, D], output ``score`` float32 [N])::

    z = (features - mean) * inv_std
    logit = z @ w + b
    score = sigmoid(logit)

scikit-learn and onnx are needed to *train*; the detector only needs ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["HeadConfig", "FittedHead", "fit_head", "to_onnx", "OPSET"]

OPSET = 17
IR_VERSION = 8  # readable by every ONNX Runtime synthwatch supports (>= 1.18)


@dataclass(frozen=True)
class HeadConfig:
    """What to fit: ``kind`` ``linear`` (L2 logistic regression with inverse strength ``c``) on the
    feature ``blocks`` in this order."""

    blocks: tuple[str, ...]
    kind: str = "linear"
    c: float = 0.01

    def label(self) -> str:
        return f"{self.kind}(C={self.c:g}) on {'+'.join(self.blocks)}"

    def to_dict(self) -> dict[str, Any]:
        return {"blocks": list(self.blocks), "kind": self.kind, "c": self.c}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadConfig:
        return cls(blocks=tuple(str(b) for b in d["blocks"]), kind=str(d.get("kind", "linear")),
                   c=float(d["c"]))


@dataclass
class FittedHead:
    config: HeadConfig
    mean: np.ndarray  # [D]
    inv_std: np.ndarray  # [D] (0 for constant columns)
    weights: np.ndarray  # [D]
    bias: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        """float64 logits [N] (the numpy twin of the ONNX graph)."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) * self.inv_std
        out: np.ndarray = z @ self.weights + self.bias
        return out

    def scores(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(self.logits(x), -60, 60)))
        return out


def fit_head(x: np.ndarray, y: np.ndarray, config: HeadConfig, sample_weight: np.ndarray | None = None) -> FittedHead:
    """Fit on rows ``x`` [N, D] with labels ``y`` (0 real, 1 fake); the row weights are rescaled so
    that both classes carry the same total weight."""
    if config.kind != "linear":
        raise ValueError(f"unknown head kind {config.kind!r}")
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    inv_std = np.where(std > 1e-8, 1.0 / np.maximum(std, 1e-8), 0.0)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).copy()
    for cls in (0, 1):
        sel = y == cls
        if sel.any():
            w[sel] *= 0.5 * w.sum() / w[sel].sum()
    clf = LogisticRegression(C=config.c, max_iter=5000, tol=1e-6)
    clf.fit((x - mean) * inv_std, y, sample_weight=w)
    return FittedHead(config=config, mean=mean, inv_std=inv_std, weights=clf.coef_[0].astype(np.float64),
                      bias=float(clf.intercept_[0]))


def to_onnx(head: FittedHead, *, doc: str = "") -> bytes:
    """The head as a serialized ONNX model (see the module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    d = head.mean.shape[0]
    inits = [numpy_helper.from_array(head.mean.astype(np.float32), "mean"),
             numpy_helper.from_array(head.inv_std.astype(np.float32), "inv_std"),
             numpy_helper.from_array(head.weights.astype(np.float32).reshape(d, 1), "w"),
             numpy_helper.from_array(np.array([head.bias], dtype=np.float32), "b"),
             numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat")]
    nodes = [helper.make_node("Sub", ["features", "mean"], ["centred"]),
             helper.make_node("Mul", ["centred", "inv_std"], ["z"]),
             helper.make_node("MatMul", ["z", "w"], ["zw"]),
             helper.make_node("Add", ["zw", "b"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["prob"]),
             helper.make_node("Reshape", ["prob", "flat"], ["score"])]
    graph = helper.make_graph(
        nodes, "sw_image_head",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="synthwatch.train.image", doc_string=doc)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString(deterministic=True)
    return data
