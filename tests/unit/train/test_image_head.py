"""The sw-image head: fitting and the ONNX export agree with each other."""

from __future__ import annotations

import numpy as np
import pytest

from synthwatch.models.runtime import create_session
from synthwatch.train.image.head import HeadConfig, fit_head, to_onnx

pytest.importorskip("sklearn", reason="training needs scikit-learn")
pytest.importorskip("onnx", reason="exporting needs onnx")


def _data(n: int = 200, d: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.normal(0, 1, size=(n, d)) * rng.uniform(0.1, 10, size=d) + rng.normal(0, 5, size=d)
    x[:, 0] += 3.0 * y  # one informative column
    x[:, 3] = 7.0  # a constant column must not break standardisation
    return x.astype(np.float32), y


def test_fit_learns_and_onnx_matches_numpy() -> None:
    x, y = _data()
    head = fit_head(x, y, HeadConfig(blocks=("hand",), c=1.0))
    s = head.scores(x)
    assert s.shape == (len(y),) and np.all((s >= 0) & (s <= 1))
    assert s[y == 1].mean() > s[y == 0].mean() + 0.3
    assert HeadConfig.from_dict(head.config.to_dict()) == head.config
    sess = create_session(to_onnx(head), threads=1)
    assert [i.name for i in sess.get_inputs()] == ["features"]
    out = sess.run(None, {"features": x})[0]
    assert out.shape == (len(y),) and out.dtype == np.float32
    np.testing.assert_allclose(out, s, rtol=0, atol=1e-5)
    # batching does not change a score
    np.testing.assert_allclose(sess.run(None, {"features": x[:1]})[0], out[:1], rtol=0, atol=1e-6)


def test_export_is_deterministic() -> None:
    x, y = _data()
    head = fit_head(x, y, HeadConfig(blocks=("hand",), c=0.1))
    assert to_onnx(head) == to_onnx(head)


def test_sample_weights_count() -> None:
    x, y = _data()
    w = np.ones(len(y))
    w[y == 1] = 0.0
    w[np.nonzero(y == 1)[0][:5]] = 1.0
    a = fit_head(x, y, HeadConfig(blocks=("hand",), c=1.0))
    b = fit_head(x, y, HeadConfig(blocks=("hand",), c=1.0), sample_weight=w)
    assert not np.allclose(a.scores(x), b.scores(x))


def test_unknown_kind_is_refused() -> None:
    x, y = _data()
    with pytest.raises(ValueError):
        fit_head(x, y, HeadConfig(blocks=("hand",), kind="forest"))
