"""Helpers for the provenance tests: small media of every labelled format and a decoded-media digest."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from PIL.PngImagePlugin import PngInfo

EXISTING_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="TestCam 1.0">'
    '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Keep me</rdf:li></rdf:Alt></dc:title>'
    "</rdf:Description></rdf:RDF></x:xmpmeta>\n"
    '<?xpacket end="w"?>'
)


def _rgb(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _exif_software(software: str) -> bytes:
    ex = Image.Exif()
    ex[0x0131] = software
    return ex.tobytes()


def _video(path: Path, fmt: str, vcodec: str, acodec: str | None, options: dict[str, str] | None = None,
           frames: int = 8) -> Path:
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        vs = out.add_stream(vcodec, rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        a_s = out.add_stream(acodec, rate=48000) if acodec else None
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(_rgb(seed=i), format="rgb24")
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if a_s is not None:
            _encode_tone(out, a_s, 48000, 0.5)
    return path


def _encode_tone(out: av.container.OutputContainer, stream: av.AudioStream, rate: int, seconds: float) -> None:
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
    frame.sample_rate = rate
    for p in stream.encode(frame):
        out.mux(p)
    for p in stream.encode():
        out.mux(p)


def _audio(path: Path, fmt: str, codec: str, rate: int = 48000) -> Path:
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=rate)
        if codec == "libopus":
            s.layout = "mono"
        _encode_tone(out, s, rate, 0.5)
    return path


def make_media(d: Path) -> dict[str, Path]:
    """name -> path of a small file, one per carrier variant."""
    m: dict[str, Path] = {}
    img = Image.fromarray(_rgb())
    m["jpeg"] = d / "plain.jpg"
    img.save(m["jpeg"], quality=90)
    m["jpeg_xmp"] = d / "xmp.jpg"
    img.save(m["jpeg_xmp"], quality=90, exif=_exif_software("Stable Diffusion"), xmp=EXISTING_XMP.encode())
    m["png"] = d / "plain.png"
    img.save(m["png"])
    m["png_xmp"] = d / "xmp.png"
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", EXISTING_XMP)
    info.add_text("parameters", "a cat, Steps: 20, Sampler: Euler a, Seed: 1, Model: sd15")
    img.save(m["png_xmp"], pnginfo=info)
    m["webp"] = d / "lossy.webp"
    img.save(m["webp"], quality=80)
    m["webp_lossless"] = d / "lossless.webp"
    img.save(m["webp_lossless"], lossless=True)
    m["webp_alpha"] = d / "alpha.webp"
    Image.fromarray(np.dstack([_rgb(), np.full((48, 64), 100, np.uint8)])).save(m["webp_alpha"], lossless=True)
    m["webp_exif"] = d / "exif.webp"
    img.save(m["webp_exif"], quality=80, exif=_exif_software("GenTool 2"))
    m["mp4"] = _video(d / "moov_end.mp4", "mp4", "libx264", "aac")
    m["mp4_faststart"] = _video(d / "faststart.mp4", "mp4", "libx264", "aac", {"movflags": "+faststart"})
    m["mov"] = _video(d / "clip.mov", "mov", "libx264", "aac")
    m["m4a"] = _audio(d / "tone.m4a", "ipod", "aac")
    m["mkv"] = _video(d / "clip.mkv", "matroska", "libx264", "aac")
    m["webm"] = _video(d / "clip.webm", "webm", "libvpx", "libopus")
    m["mka"] = _audio(d / "tone.mka", "matroska", "aac")
    m["mp3"] = _audio(d / "tone.mp3", "mp3", "libmp3lame", 44100)
    m["opus"] = _audio(d / "tone.opus", "ogg", "libopus")
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)).astype(np.float32)
    m["wav"] = d / "tone.wav"
    sf.write(m["wav"], tone, 16000, subtype="PCM_16")
    m["flac"] = d / "tone.flac"
    sf.write(m["flac"], tone, 16000)
    m["ogg"] = d / "tone.ogg"
    sf.write(m["ogg"], tone, 16000, format="OGG", subtype="VORBIS")
    return m


#: fixture name -> format as synthwatch.media.sniff names it
FORMATS = {
    "jpeg": "jpeg", "jpeg_xmp": "jpeg", "png": "png", "png_xmp": "png", "webp": "webp",
    "webp_lossless": "webp", "webp_alpha": "webp", "webp_exif": "webp", "mp4": "mp4", "mp4_faststart": "mp4",
    "mov": "mov", "m4a": "m4a", "mkv": "mkv", "webm": "webm", "mka": "mka", "mp3": "mp3", "opus": "ogg",
    "wav": "wav", "flac": "flac", "ogg": "ogg",
}


def decoded_digest(path: Path) -> str:
    """sha256 of the decoded media: Pillow pixels for images, every PyAV frame / sample otherwise."""
    h = hashlib.sha256()
    if path.suffix.lower() in (".jpg", ".png", ".webp"):
        with Image.open(path) as im:
            im.load()
            h.update(f"{im.mode}{im.size}".encode())
            h.update(im.tobytes())
        return h.hexdigest()
    with av.open(str(path)) as c:
        streams = list(c.streams)
        n = 0
        for frame in c.decode(*streams):
            h.update(frame.to_ndarray().tobytes())
            n += 1
    assert n > 0
    return h.hexdigest()


def copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: "
                    f"{'libimage-exiftool-perl' if name == 'exiftool' else 'ffmpeg'}); interop check skipped")
    return path


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout




def make_clip(path: Path, fmt: str, vcodec: str, acodec: str | None, *, seconds: float = 3.0, fps: int = 10,
              size: tuple[int, int] = (160, 120)) -> Path:
    """A short clip with a moving gradient (so frames differ) and, unless None, a 440 Hz tone track."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream(vcodec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        a_s = out.add_stream(acodec, rate=48000) if acodec else None
        if a_s is not None and acodec == "libopus":
            a_s.layout = "mono"
        for i in range(int(seconds * fps)):
            img = np.stack([(xx * 2 + i * 3) % 256, (yy * 2 + i) % 256, np.full_like(xx, 100)], -1).astype(np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if a_s is not None:
            _encode_tone(out, a_s, 48000, seconds)
    return path


def speech_like(rate: int = 16000, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """Voiced, syllable-like audio: a gliding 120 Hz harmonic series under a 2.5 Hz envelope, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t) + 10 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum((1 / k) * np.sin(k * phase) for k in range(1, 25))
    env = np.clip(np.sin(2 * np.pi * 2.5 * t) * 1.2, 0, 1) ** 0.5
    x = x * env + 0.01 * rng.standard_normal(len(t))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    """Every sample of the first audio stream as mono float32, and the sample rate."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        rate = int(s.codec_context.sample_rate)
        rs = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts = [f.to_ndarray()[0] for fr in c.decode(s) for f in rs.resample(fr)]
        parts += [f.to_ndarray()[0] for f in rs.resample(None)]
    return np.concatenate(parts), rate


def decode_frames(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """Every frame of the first video stream as RGB, with its time in seconds from the first frame."""
    frames: list[np.ndarray] = []
    times: list[float] = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.time or 0.0))
    return frames, [t - times[0] for t in times]
