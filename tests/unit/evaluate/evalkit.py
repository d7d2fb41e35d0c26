"""Helpers of the evaluation tests: generated media and sets, and tiny test detectors.

The detectors measure something real, so a run needs no model files:

* ``test-hf-image``: the share of a picture's luminance energy in high frequencies (a Laplacian);
  the generated fakes carry added fine texture, the reals are smooth.
* ``test-hf-audio``: the share of spectral energy above 4 kHz in the first second; the generated
  fakes carry added 4.5-7.5 kHz energy, the reals are low-passed speech-like signals.
* ``test-hf-image-card``: ``test-hf-image`` bound to an installed store model (for --write-card).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image

from synthwatch.detectors.base import Detector, DetectorInfo
from synthwatch.models.store import ModelStore

SR = 16_000


# ---------------------------------------------------------------------------------------- detectors
class HFImage(Detector):
    info = DetectorInfo(name="test-hf-image", version="1", modality="image", model=None,
                        input_spec={"item": "uint8 RGB [H, W, 3]", "layout": "float32 [64, 64] luminance"},
                        description="test only: high-frequency energy share")

    def _load(self, store: ModelStore) -> None:
        return None

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        img = Image.fromarray(np.asarray(item, dtype=np.uint8)).convert("L").resize((64, 64), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.float32) / 255.0

    def detect(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float64)
        lap = 4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:]
        hf = np.mean(lap**2, axis=(1, 2))
        return (1.0 - np.exp(-hf / 0.01)).astype(np.float32)

    def examples(self) -> list[np.ndarray]:
        return [smooth_image(0), textured_image(1, 0.3)]


class HFImageCard(HFImage):
    info = DetectorInfo(name="test-hf-image-card", version="1", modality="image", model="test-hf-model",
                        input_spec=dict(HFImage.info.input_spec), description="test only, with a model card")

    def _load(self, store: ModelStore) -> None:
        store.verified_bytes("test-hf-model")  # the sha256-checked model file must be there


class HFAudio(Detector):
    info = DetectorInfo(name="test-hf-audio", version="1", modality="audio", model=None,
                        input_spec={"item": "float32 mono 16 kHz", "sample_rate": SR, "samples": SR},
                        description="test only: share of energy above 4 kHz")

    def _load(self, store: ModelStore) -> None:
        return None

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        x = np.asarray(item, dtype=np.float32)
        if x.size >= SR:
            return np.ascontiguousarray(x[:SR])
        return np.tile(x, -(-SR // x.size))[:SR]

    def detect(self, batch: np.ndarray) -> np.ndarray:
        spec = np.abs(np.fft.rfft(np.asarray(batch, dtype=np.float64), axis=1)) ** 2
        f = np.fft.rfftfreq(batch.shape[1], 1 / SR)
        share = spec[:, f > 4000].sum(axis=1) / np.maximum(spec.sum(axis=1), 1e-12)
        return np.clip(share * 5.0, 0.0, 1.0).astype(np.float32)

    def examples(self) -> list[np.ndarray]:
        return [real_audio(0), fake_audio(1, 0.5)]


TEST_DETECTORS = {
    "test-hf-image": f"{__name__}:HFImage",
    "test-hf-image-card": f"{__name__}:HFImageCard",
    "test-hf-audio": f"{__name__}:HFAudio",
}


# ---------------------------------------------------------------------------------------- media
def smooth_image(seed: int, size: tuple[int, int] = (96, 72)) -> np.ndarray:
    """A smooth picture: colour gradients and a few soft blobs."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    img = np.zeros((h, w, 3))
    for c in range(3):
        img[..., c] = rng.uniform(0.2, 0.8) + rng.uniform(-0.3, 0.3) * xx + rng.uniform(-0.3, 0.3) * yy
        for _ in range(3):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 0.75), rng.uniform(0.1, 0.3)
            img[..., c] += rng.uniform(-0.2, 0.2) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / r**2)
    img += rng.normal(0, 0.004, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def textured_image(seed: int, strength: float, size: tuple[int, int] = (96, 72)) -> np.ndarray:
    """The same kind of picture with fine (pixel-level) texture added."""
    base = smooth_image(seed, size).astype(np.float64)
    rng = np.random.default_rng(seed + 1000)
    tex = rng.normal(0, 255 * strength * 0.1, base.shape[:2])[..., None]
    return np.clip(base + tex, 0, 255).round().astype(np.uint8)


def real_audio(seed: int, seconds: float = 1.5) -> np.ndarray:
    """Speech-like, band-limited to about 3.5 kHz."""
    from synthwatch.testing.samples import synth_speech

    x, _ = synth_speech(seconds, SR, seed=seed)
    spec = np.fft.rfft(x.astype(np.float64))
    f = np.fft.rfftfreq(x.size, 1 / SR)
    spec[f > 3500] *= 0.02
    y = np.fft.irfft(spec, x.size)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def fake_audio(seed: int, strength: float, seconds: float = 1.5) -> np.ndarray:
    """The same kind of signal with added 4.5-7.5 kHz energy."""
    x = real_audio(seed, seconds).astype(np.float64)
    rng = np.random.default_rng(seed + 2000)
    n = np.fft.rfft(rng.standard_normal(x.size))
    f = np.fft.rfftfreq(x.size, 1 / SR)
    n[(f < 4500) | (f > 7500)] = 0
    hf = np.fft.irfft(n, x.size)
    hf *= strength * np.sqrt(np.mean(x**2) / np.mean(hf**2))
    y = x + hf
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def write_png(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, format="PNG")
    return path


def write_wav(path: Path, x: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, SR, subtype="PCM_16", format="WAV")
    return path


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10, audio: np.ndarray | None = None) -> Path:
    """A small H.264 MP4 (with an AAC track when ``audio`` is given) written with PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": "10", "preset": "ultrafast"}
        ast = out.add_stream("aac", rate=SR, layout="mono") if audio is not None else None
        for i, img in enumerate(frames):
            fr = av.VideoFrame.from_ndarray(img, format="rgb24")
            fr.pts = i
            for p in vs.encode(fr):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        if ast is not None and audio is not None:
            for pos in range(0, audio.size, 1024):
                af = av.AudioFrame.from_ndarray(audio[None, pos:pos + 1024].astype(np.float32), format="flt",
                                                layout="mono")
                af.sample_rate = SR
                af.pts = pos
                af.time_base = Fraction(1, SR)
                for p in ast.encode(af):
                    out.mux(p)
            for p in ast.encode(None):
                out.mux(p)
    return path


# ---------------------------------------------------------------------------------------- sets
def image_set(root: Path, n: int = 10, seed: int = 0) -> Path:
    """``root/real/{indoor,outdoor}/*.png`` and ``root/fake/{genA,genB}/*.png`` (n per class)."""
    for i in range(n):
        s = seed * 100 + i
        write_png(root / "real" / ("indoor" if i % 2 else "outdoor") / f"r{i:02d}.png", smooth_image(s))
        write_png(root / "fake" / ("genA" if i % 2 else "genB") / f"f{i:02d}.png",
                  textured_image(s + 50, 0.15 + 0.5 * i / n))
    return root


def audio_manifest(root: Path, n: int = 8, seed: int = 0) -> Path:
    """A CSV manifest of WAVs; clips come in pairs sharing a group id (two clips of one "recording")."""
    rows = ["path,label,group,family,split,source"]
    for i in range(n):
        s = seed * 100 + i
        write_wav(root / "audio" / f"real{i:02d}.wav", real_audio(s))
        write_wav(root / "audio" / f"fake{i:02d}.wav", fake_audio(s + 50, 0.4 + 1.2 * i / n))
        rows.append(f"audio/real{i:02d}.wav,bonafide,rec-real-{i // 2},,test,corpusA")
        rows.append(f"audio/fake{i:02d}.wav,spoof,rec-fake-{i // 2},{'tts' if i % 2 else 'vc'},test,corpusA")
    p = root / "manifest.csv"
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return p


def results_of(out: Path) -> dict[str, Any]:
    import json

    return json.loads((out / "results.json").read_text(encoding="utf-8"))
