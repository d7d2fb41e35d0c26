"""Channel and compression perturbations, applied on the fly to decoded media.

A *condition* is one perturbation or a chain joined with ``+`` (applied left to right), e.g.
``mp3:64k``, ``resize:0.5+jpeg:75``. Operations and what they act on:

==================  =========  ===========================================================================
spec                acts on    what it does
==================  =========  ===========================================================================
``mp3:64k``         audio      MP3 (libmp3lame) encode + decode at the bitrate (PyAV), at the clip's rate
``aac:96k``         audio      AAC (FFmpeg's native encoder, ADTS) encode + decode
``opus:32k``        audio      Opus (libopus, Ogg) encode + decode
``tel8k``           audio      telephone channel: resample to 8 kHz (swresample), 300-3400 Hz linear-phase
                               band-pass (windowed-sinc FIR, 255 taps), resample back
``noise:20db``      audio      white Gaussian noise at that SNR (against the clip's mean power), seeded
``reverb:0.4``      audio      convolution with a synthetic room impulse response: direct path plus
                               exponentially decaying Gaussian noise with RT60 = 0.4 s; the output keeps
                               the input's RMS and length
``jpeg:75``         pictures   JPEG (Pillow, 4:2:0) at that quality, decoded again
``resize:0.5``      pictures   resize by that factor (Pillow, antialiased bicubic); the shape changes
``crop:0.8``        pictures   centre crop keeping that fraction of the width and of the height
``social``          pictures   long side to at most 1080 px (``social:720`` for another size), then JPEG 80
``h264crf:28``      video      re-encode the whole video (every frame, native rate) with libx264 at that
                               CRF (preset ``medium``), then sample frames from the re-encode
``downscale:0.5``   video      every video frame resized by that factor
==================  =========  ===========================================================================

"pictures" are still images and video frames. Codec round trips are aligned back to the input
(encoder delay removed by cross-correlation) and cut or padded to the input length, so the
perturbed clip lines up with the clean one. Random parts (noise, RIR) are seeded from the
run's seed, the condition and the item id: the same run gives the same perturbed media.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, CorruptMedia

__all__ = [
    "AUDIO",
    "PICTURE",
    "VIDEO",
    "Op",
    "Condition",
    "CLEAN",
    "parse_condition",
    "parse_conditions",
    "rng_for",
    "codec_roundtrip",
    "telephone",
    "add_noise",
    "reverb",
    "synthetic_rir",
    "jpeg",
    "resize",
    "center_crop",
    "social",
    "reencode_h264",
    "psnr",
    "snr_db",
]

AUDIO = "audio"  # audio files and the audio track of videos
PICTURE = "picture"  # still images and video frames
VIDEO = "video"  # video frames only (ops that need the whole video or only make sense for it)

_CODECS = {  # op -> (container format, encoder)
    "mp3": ("mp3", "libmp3lame"),
    "aac": ("adts", "aac"),
    "opus": ("ogg", "libopus"),
}
TEL_RATE = 8_000
TEL_BAND = (300.0, 3400.0)
TEL_TAPS = 255
SOCIAL_MAX_SIDE = 1080
SOCIAL_QUALITY = 80
H264_PRESET = "medium"


@dataclass(frozen=True)
class Op:
    """One perturbation: ``name`` (the canonical spec), ``kind`` (op name), ``value``, ``target``."""

    name: str
    kind: str
    value: float
    target: str  # AUDIO | PICTURE | VIDEO

    def applies_to(self, stream: str) -> bool:
        """``stream``: ``audio``, ``image`` (a still image) or ``frames`` (video frames)."""
        if self.target == AUDIO:
            return stream == "audio"
        if self.target == PICTURE:
            return stream in ("image", "frames")
        return stream == "frames"


@dataclass(frozen=True)
class Condition:
    """A chain of :class:`Op` s (empty = the clean condition)."""

    name: str
    ops: tuple[Op, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.ops

    def applies_to(self, stream: str) -> bool:
        return all(op.applies_to(stream) for op in self.ops)

    @property
    def reencodes_video(self) -> bool:
        return any(op.kind == "h264crf" for op in self.ops)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ops": [{"op": o.kind, "value": o.value, "target": o.target} for o in self.ops]}

    # ---------------------------------------------------------------- application
    def apply_audio(self, x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        y = np.asarray(x, dtype=np.float32)
        for op in self.ops:
            y = _apply_audio_op(op, y, sr, rng)
        return y

    def apply_picture(self, img: np.ndarray, *, ops: tuple[Op, ...] | None = None) -> np.ndarray:
        y = np.asarray(img, dtype=np.uint8)
        for op in self.ops if ops is None else ops:
            y = _apply_picture_op(op, y)
        return y

    def split_video(self) -> tuple[tuple[Op, ...], Op | None, tuple[Op, ...]]:
        """``(before, h264 op or None, after)``: frame ops before the re-encode run on every frame
        that goes into the encoder; those after it on the sampled frames."""
        for i, op in enumerate(self.ops):
            if op.kind == "h264crf":
                return self.ops[:i], op, self.ops[i + 1:]
        return (), None, self.ops


CLEAN = Condition("clean")


# ---------------------------------------------------------------------------------------- parsing
_BITRATE = re.compile(r"^(\d+(?:\.\d+)?)\s*(k|kbps|kb/s)?$")
_DB = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(db)?$")


def _number(raw: str, what: str) -> float:
    try:
        v = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{what}: {raw!r} is not a number") from exc
    if not math.isfinite(v):
        raise ConfigError(f"{what}: {raw!r} is not finite")
    return v


def _parse_op(spec: str) -> Op:
    s = spec.strip().lower()
    kind, _, arg = s.partition(":")
    arg = arg.strip()
    if kind in _CODECS:
        m = _BITRATE.match(arg)
        if not m:
            raise ConfigError(f"{spec!r}: give a bitrate like {kind}:64k")
        kbps = float(m.group(1))
        if not 6 <= kbps <= 512:
            raise ConfigError(f"{spec!r}: bitrate must be between 6k and 512k")
        return Op(f"{kind}:{kbps:g}k", kind, kbps * 1000.0, AUDIO)
    if kind == "tel8k":
        if arg:
            raise ConfigError(f"{spec!r}: tel8k takes no value")
        return Op("tel8k", "tel8k", float(TEL_RATE), AUDIO)
    if kind == "noise":
        m = _DB.match(arg)
        if not m:
            raise ConfigError(f"{spec!r}: give an SNR like noise:20db")
        return Op(f"noise:{float(m.group(1)):g}db", "noise", float(m.group(1)), AUDIO)
    if kind == "reverb":
        rt60 = _number(arg.removesuffix("s"), spec)
        if not 0.05 <= rt60 <= 5.0:
            raise ConfigError(f"{spec!r}: RT60 must be between 0.05 and 5 seconds")
        return Op(f"reverb:{rt60:g}", "reverb", rt60, AUDIO)
    if kind == "jpeg":
        q = _number(arg, spec)
        if not (q == int(q) and 1 <= q <= 100):
            raise ConfigError(f"{spec!r}: JPEG quality must be an integer 1..100")
        return Op(f"jpeg:{int(q)}", "jpeg", q, PICTURE)
    if kind in ("resize", "downscale", "crop"):
        f = _number(arg, spec)
        if not 0.0 < f <= (4.0 if kind == "resize" else 1.0):
            raise ConfigError(f"{spec!r}: factor out of range")
        return Op(f"{kind}:{f:g}", kind, f, VIDEO if kind == "downscale" else PICTURE)
    if kind == "social":
        side = _number(arg, spec) if arg else float(SOCIAL_MAX_SIDE)
        if not (side == int(side) and 16 <= side <= 10_000):
            raise ConfigError(f"{spec!r}: the long side must be an integer number of pixels")
        return Op("social" if side == SOCIAL_MAX_SIDE else f"social:{int(side)}", "social", side, PICTURE)
    if kind == "h264crf":
        crf = _number(arg, spec)
        if not (crf == int(crf) and 0 <= crf <= 51):
            raise ConfigError(f"{spec!r}: CRF must be an integer 0..51")
        return Op(f"h264crf:{int(crf)}", "h264crf", crf, VIDEO)
    raise ConfigError(f"unknown perturbation {spec!r}; known: mp3:64k aac:96k opus:32k tel8k noise:20db "
                      f"reverb:0.4 jpeg:75 resize:0.5 crop:0.8 social h264crf:28 downscale:0.5")


def parse_condition(spec: str) -> Condition:
    """``"resize:0.5+jpeg:75"`` -> :class:`Condition` (``"clean"`` or ``""`` -> :data:`CLEAN`)."""
    s = spec.strip()
    if s.lower() in ("", "clean", "none"):
        return CLEAN
    ops = tuple(_parse_op(p) for p in s.split("+"))
    targets = {o.target for o in ops}
    if AUDIO in targets and len(targets) > 1:
        raise ConfigError(f"{spec!r} mixes audio and picture perturbations; give them as separate conditions")
    if sum(o.kind == "h264crf" for o in ops) > 1:
        raise ConfigError(f"{spec!r}: at most one h264crf re-encode per condition")
    return Condition("+".join(o.name for o in ops), ops)


def parse_conditions(specs: str | list[str] | tuple[str, ...] | None) -> list[Condition]:
    """Comma-separated (and/or repeated) condition specs -> conditions, clean first, no repeats."""
    raw: list[str] = []
    for s in [specs] if isinstance(specs, str) else list(specs or []):
        raw.extend(p for p in s.split(",") if p.strip())
    out = [CLEAN]
    for r in raw:
        c = parse_condition(r)
        if c.name not in {x.name for x in out}:
            out.append(c)
    return out


def rng_for(seed: int, condition: str, item_id: str) -> np.random.Generator:
    """A generator seeded from the run seed, the condition and the item (stable across runs)."""
    h = hashlib.sha256(f"{condition}\0{item_id}".encode()).digest()
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int.from_bytes(h[:8], "little")])


# ---------------------------------------------------------------------------------------- audio
def _require_av() -> Any:
    import av

    return av


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample mono float32 with FFmpeg's swresample (through PyAV)."""
    if sr_in == sr_out or x.size == 0:
        return np.asarray(x, dtype=np.float32).copy()
    av = _require_av()
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x, dtype=np.float32)[None, :], format="flt",
                                       layout="mono")
    frame.sample_rate = sr_in
    res = av.AudioResampler(format="flt", layout="mono", rate=sr_out)
    chunks = [f.to_ndarray().reshape(-1) for f in res.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in res.resample(None)]
    y = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    n = int(round(x.size * sr_out / sr_in))
    return _fit(y.astype(np.float32), n)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    if y.size >= n:
        return np.ascontiguousarray(y[:n])
    return np.concatenate([y, np.zeros(n - y.size, y.dtype)])


def _align(ref: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    """Remove a leading delay of ``y`` against ``ref`` (0..max_lag samples, by cross-correlation),
    then cut / pad to ``ref``'s length."""
    n = min(ref.size, y.size, 4 * max_lag + 16_000)
    if n > max_lag and np.any(ref[:n]):
        a = ref[:n].astype(np.float64)
        b = y[:n + max_lag].astype(np.float64)
        size = 1 << int(np.ceil(np.log2(a.size + b.size)))
        xc = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
        lag = int(np.argmax(xc[:max_lag + 1]))
        y = y[lag:]
    return _fit(y, ref.size)


def codec_roundtrip(x: np.ndarray, sr: int, codec: str, bitrate: float) -> np.ndarray:
    """Encode ``x`` (mono float32 at ``sr``) with ``codec`` (``mp3``, ``aac``, ``opus``) at
    ``bitrate`` bit/s in memory, decode it, resample back to ``sr`` and align to the input."""
    av = _require_av()
    fmt, encoder = _CODECS[codec]
    try:
        av.codec.Codec(encoder, "w")
    except Exception as exc:  # PyAV raises its own UnknownCodecError
        raise ConfigError(f"this PyAV/FFmpeg build has no {encoder} encoder, needed for {codec}") from exc
    rate = sr
    if codec == "opus" and sr not in (8_000, 12_000, 16_000, 24_000, 48_000):
        rate = 48_000
    src = _resample(x, sr, rate)
    buf = io.BytesIO()
    try:
        with av.open(buf, "w", format=fmt) as out:
            stream = out.add_stream(encoder, rate=rate, layout="mono")
            stream.bit_rate = int(bitrate)
            chunk = max(1, rate // 50)
            for pos in range(0, src.size, chunk):
                frame = av.AudioFrame.from_ndarray(src[None, pos:pos + chunk], format="flt", layout="mono")
                frame.sample_rate = rate
                frame.pts = pos
                frame.time_base = Fraction(1, rate)
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        buf.seek(0)
        res = av.AudioResampler(format="flt", layout="mono", rate=sr)
        chunks: list[np.ndarray] = []
        with av.open(buf, "r", format=fmt) as inp:
            for frame in inp.decode(audio=0):
                chunks += [f.to_ndarray().reshape(-1) for f in res.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in res.resample(None)]
    except av.FFmpegError as exc:
        raise CorruptMedia(f"{codec} round trip failed: {exc}") from exc
    y = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return _align(np.asarray(x, np.float32), y, max_lag=int(0.2 * sr))


def _bandpass_fir(sr: int, lo: float, hi: float, taps: int = TEL_TAPS) -> np.ndarray:
    n = np.arange(taps) - (taps - 1) / 2.0
    h = 2 * hi / sr * np.sinc(2 * hi / sr * n) - 2 * lo / sr * np.sinc(2 * lo / sr * n)
    out: np.ndarray = (h * np.hamming(taps)).astype(np.float64)
    return out


def _fftconvolve_same(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Linear convolution cut to ``x``'s length, centred (for a linear-phase FIR: no delay)."""
    n = x.size + h.size - 1
    size = 1 << int(np.ceil(np.log2(max(n, 2))))
    y = np.fft.irfft(np.fft.rfft(x.astype(np.float64), size) * np.fft.rfft(h, size), size)[:n]
    start = (h.size - 1) // 2
    return y[start:start + x.size]


def telephone(x: np.ndarray, sr: int) -> np.ndarray:
    """8 kHz narrow-band telephone channel: down to 8 kHz, 300-3400 Hz band-pass, back to ``sr``."""
    narrow = _resample(x, sr, TEL_RATE)
    band = _fftconvolve_same(narrow, _bandpass_fir(TEL_RATE, *TEL_BAND)).astype(np.float32)
    return _resample(band, TEL_RATE, sr)


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """SNR of ``noisy`` against ``clean`` (same length), in dB."""
    c = np.asarray(clean, np.float64)
    d = np.asarray(noisy, np.float64) - c
    return float(10 * np.log10(float(np.mean(c**2)) / max(float(np.mean(d**2)), 1e-30)))


def add_noise(x: np.ndarray, snr: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise so that mean signal power / noise power = ``snr`` dB exactly."""
    xd = np.asarray(x, np.float64)
    p = float(np.mean(xd**2)) if xd.size else 0.0
    if p <= 0:
        return np.asarray(x, np.float32).copy()
    n = rng.standard_normal(xd.size)
    n *= math.sqrt(p / 10 ** (snr / 10.0) / float(np.mean(n**2)))
    return (xd + n).astype(np.float32)


def synthetic_rir(rt60: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A room impulse response: a unit direct path, then Gaussian noise whose amplitude decays by
    60 dB in ``rt60`` seconds (``exp(-3 ln(10) t / rt60)``), lasting ``1.2 * rt60``, direct-to-
    reverberant energy about 0 dB; normalised to unit energy."""
    n = max(2, int(round(1.2 * rt60 * sr)))
    t = np.arange(n) / sr
    env = np.exp(-3.0 * math.log(10.0) * t / rt60)
    tail = rng.standard_normal(n) * env
    tail[0] = 0.0
    tail *= 1.0 / math.sqrt(max(float(np.sum(tail**2)), 1e-30))
    h = tail
    h[0] = 1.0
    return h / math.sqrt(float(np.sum(h**2)))


def reverb(x: np.ndarray, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with :func:`synthetic_rir`; keep the input's length and RMS."""
    xd = np.asarray(x, np.float64)
    if xd.size == 0:
        return np.asarray(x, np.float32).copy()
    h = synthetic_rir(rt60, sr, rng)
    size = 1 << int(np.ceil(np.log2(xd.size + h.size - 1)))
    y = np.fft.irfft(np.fft.rfft(xd, size) * np.fft.rfft(h, size), size)[:xd.size]
    rms_in = math.sqrt(float(np.mean(xd**2)))
    rms_out = math.sqrt(float(np.mean(y**2)))
    if rms_out > 0:
        y *= rms_in / rms_out
    return y.astype(np.float32)


def _apply_audio_op(op: Op, x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    if x.size == 0:
        return x
    if op.kind in _CODECS:
        return codec_roundtrip(x, sr, op.kind, op.value)
    if op.kind == "tel8k":
        return telephone(x, sr)
    if op.kind == "noise":
        return add_noise(x, op.value, rng)
    if op.kind == "reverb":
        return reverb(x, sr, op.value, rng)
    raise ConfigError(f"{op.name} is not an audio perturbation")


# ---------------------------------------------------------------------------------------- pictures
def _pil(img: np.ndarray) -> Any:
    from PIL import Image

    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ConfigError(f"expected a uint8 RGB image [H, W, 3], got {arr.dtype} {arr.shape}")
    return Image.fromarray(arr, "RGB")


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG encode (Pillow, 4:2:0 chroma subsampling) at ``quality`` and decode."""
    from PIL import Image

    buf = io.BytesIO()
    _pil(img).save(buf, format="JPEG", quality=int(quality), subsampling=2)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def resize(img: np.ndarray, factor: float) -> np.ndarray:
    """Resize by ``factor`` (antialiased bicubic); at least 1 x 1 pixel."""
    from PIL import Image

    h, w = np.asarray(img).shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    if size == (w, h):
        return np.asarray(img, dtype=np.uint8).copy()
    return np.asarray(_pil(img).resize(size, Image.Resampling.BICUBIC), dtype=np.uint8)


def center_crop(img: np.ndarray, fraction: float) -> np.ndarray:
    """Keep the central ``fraction`` of the width and of the height."""
    arr = np.asarray(img, dtype=np.uint8)
    h, w = arr.shape[:2]
    ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(arr[y0:y0 + ch, x0:x0 + cw])


def social(img: np.ndarray, max_side: int = SOCIAL_MAX_SIDE, quality: int = SOCIAL_QUALITY) -> np.ndarray:
    """A social-network upload: long side to at most ``max_side`` (never enlarged), then JPEG."""
    h, w = np.asarray(img).shape[:2]
    scale = max_side / max(h, w)
    out = resize(img, scale) if scale < 1 else np.asarray(img, dtype=np.uint8)
    return jpeg(out, quality)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images of the same shape."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    mse = float(np.mean(d**2))
    return math.inf if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _apply_picture_op(op: Op, img: np.ndarray) -> np.ndarray:
    if op.kind == "jpeg":
        return jpeg(img, int(op.value))
    if op.kind in ("resize", "downscale"):
        return resize(img, op.value)
    if op.kind == "crop":
        return center_crop(img, op.value)
    if op.kind == "social":
        return social(img, int(op.value))
    raise ConfigError(f"{op.name} is not a picture perturbation")


# ---------------------------------------------------------------------------------------- video
def reencode_h264(frames: Iterator[np.ndarray], fps: float, dst: Path, crf: int,
                  before: tuple[Op, ...] = (), preset: str = H264_PRESET) -> Path:
    """Encode RGB ``frames`` (every frame of a video, at its native ``fps``) to H.264 MP4 at ``crf``
    (libx264, yuv420p), after applying the picture ops ``before`` to each frame. Odd frame sizes
    lose their last row / column (4:2:0 needs even sizes). Returns ``dst``."""
    av = _require_av()
    try:
        av.codec.Codec("libx264", "w")
    except Exception as exc:
        raise ConfigError("this PyAV/FFmpeg build has no libx264 encoder, needed for h264crf") from exc
    rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
    stream = None
    n = 0
    try:
        with av.open(str(dst), "w", format="mp4") as out:
            for img in frames:
                for op in before:
                    img = _apply_picture_op(op, img)
                h, w = img.shape[:2]
                h2, w2 = max(2, h - h % 2), max(2, w - w % 2)
                if stream is None:
                    stream = out.add_stream("libx264", rate=rate)
                    stream.width, stream.height = w2, h2
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(int(crf)), "preset": preset}
                if (h2, w2) != (stream.height, stream.width):
                    raise CorruptMedia("the frame size changes inside the video; cannot re-encode it")
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h2, :w2]), format="rgb24")
                frame.pts = n
                n += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
            if stream is None:
                raise CorruptMedia("no video frames to re-encode")
            for packet in stream.encode(None):
                out.mux(packet)
    except av.FFmpegError as exc:
        raise CorruptMedia(f"H.264 re-encode failed: {exc}") from exc
    return dst
