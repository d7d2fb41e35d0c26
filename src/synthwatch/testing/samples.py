"""Deterministic sample media for tests, the README demo and benchmarks.

Everything here is generated from a seed, so the same call always writes the same pixels and
samples (encoded bytes can differ between FFmpeg builds). Nothing is downloaded.

* :func:`make_image` - a textured indoor-looking scene with a drawn frontal face.
* :func:`make_speech` - a speech-like signal (voiced harmonic source with a moving f0, formant
  envelope, syllable envelopes, consonant noise and pauses).
* :func:`make_video` - MP4 (H.264 + AAC), WebM (VP9 + Opus), MOV, MKV or AVI with a slowly moving,
  blinking, lip-synced drawn face over a panning background and the speech-like audio track.
* :func:`make_demo_set` - one image, one audio file and one short video in a folder.

The drawn face is not a photograph; it is shaded and proportioned like a frontal face (dark eye
sockets and brows over brighter cheeks and nose bridge, hair, ears, neck) so that classical and
CNN face detectors find it. OpenCV's Haar frontal-face cascade does, which the tests check.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..media.sniff import AUDIO_SUFFIXES, IMAGE_SUFFIXES, SUFFIX_FORMATS, VIDEO_SUFFIXES, pillow_format_for
from ..types import MediaKind

__all__ = [
    "WRITABLE_SUFFIXES",
    "DemoSet",
    "synth_speech",
    "render_face",
    "make_image",
    "make_speech",
    "make_video",
    "make_demo_set",
]

# How each generator encodes the formats of the media layer's suffix list (synthwatch.media.sniff,
# the one list): the suffix names the format (SUFFIX_FORMATS), these tables say how to write it.
# Audio through soundfile: format -> (container, subtype); through PyAV: format -> (muxer, encoder,
# sample rate). Ogg holds Vorbis, except that an ``.opus`` name holds Opus.
_SPEECH_SOUNDFILE = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS")}
_SPEECH_PYAV = {
    "mp3": ("mp3", "libmp3lame", 44_100),
    "m4a": ("ipod", "aac", 44_100),
    "aac": ("adts", "aac", 44_100),
    "mka": ("matroska", "libopus", 48_000),
    "weba": ("webm", "libopus", 48_000),
}
_OPUS = ("ogg", "libopus", 48_000)
# video: format -> (muxer, default video codec, audio codec); Ogg video (Theora) is not written
_CONTAINERS = {
    "mp4": ("mp4", "h264", "aac"),
    "mov": ("mov", "h264", "aac"),
    "mkv": ("matroska", "h264", "aac"),
    "webm": ("webm", "vp9", "opus"),
    "avi": ("avi", "mpeg4", "mp3"),
}

#: the suffixes each generator writes: those of the media layer's list whose format it can encode
WRITABLE_SUFFIXES: dict[MediaKind, tuple[str, ...]] = {
    MediaKind.IMAGE: tuple(sorted(IMAGE_SUFFIXES)),
    MediaKind.AUDIO: tuple(sorted(s for s in AUDIO_SUFFIXES
                                  if SUFFIX_FORMATS[s] in _SPEECH_SOUNDFILE or SUFFIX_FORMATS[s] in _SPEECH_PYAV)),
    MediaKind.VIDEO: tuple(sorted(s for s in VIDEO_SUFFIXES if SUFFIX_FORMATS[s] in _CONTAINERS)),
}


def _unsupported(kind: MediaKind, suffix: str) -> ValueError:
    return ValueError(f"unsupported {kind.value} suffix {suffix!r}; use one of {', '.join(WRITABLE_SUFFIXES[kind])}")

# (F1, F2, F3) in Hz for a handful of vowels (average adult values).
_VOWELS = np.array(
    [
        (730, 1090, 2440),  # a
        (530, 1840, 2480),  # e
        (270, 2290, 3010),  # i
        (570, 840, 2410),  # o
        (300, 870, 2240),  # u
        (660, 1720, 2410),  # ae
        (490, 1350, 1690),  # er
    ],
    dtype=np.float64,
)
_BANDWIDTHS = np.array([90.0, 110.0, 170.0])
_FORMANT_GAINS = np.array([1.0, 0.55, 0.25])


# --------------------------------------------------------------------------------------------
# speech
# --------------------------------------------------------------------------------------------


def _smooth_steps(times: np.ndarray, values: np.ndarray, t: np.ndarray, glide_s: float) -> np.ndarray:
    """Piecewise-constant targets at ``times`` joined by cosine glides of ``glide_s`` seconds."""
    out: np.ndarray = np.interp(t, times, values)
    if glide_s <= 0 or len(times) < 2:
        return out
    # cosine-shaped transitions: interpolate between knots placed glide/2 either side of each change
    knots_t: list[float] = []
    knots_v: list[float] = []
    for i, (ti, vi) in enumerate(zip(times, values, strict=True)):
        nxt = times[i + 1] if i + 1 < len(times) else ti + glide_s
        knots_t.extend([ti + glide_s / 2, max(ti + glide_s / 2, nxt - glide_s / 2)])
        knots_v.extend([vi, vi])
    kt = np.asarray(knots_t)
    kv = np.asarray(knots_v)
    lin = np.interp(t, kt, kv)
    # ease the linear ramps into cosine ramps
    idx = np.clip(np.searchsorted(kt, t) - 1, 0, len(kt) - 2)
    t0, t1 = kt[idx], kt[idx + 1]
    v0, v1 = kv[idx], kv[idx + 1]
    span = np.maximum(t1 - t0, 1e-9)
    frac = np.clip((t - t0) / span, 0.0, 1.0)
    eased = v0 + (v1 - v0) * (0.5 - 0.5 * np.cos(np.pi * frac))
    result: np.ndarray = np.where(v0 == v1, lin, eased)
    return result


def synth_speech(seconds: float = 6.0, sample_rate: int = 16_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthesise a speech-like signal.

    Returns ``(signal, voicing)``: float32 mono samples in [-1, 1] at ``sample_rate`` and the voiced
    amplitude envelope (float32, same length, 0..1) that :func:`make_video` uses for lip sync.
    """
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    rng = np.random.default_rng(seed)
    sr = int(sample_rate)
    n = int(round(seconds * sr))
    t = np.arange(n, dtype=np.float64) / sr

    base_f0 = float(rng.uniform(105.0, 205.0))  # speaker's pitch
    # --- timeline: phrases of syllables separated by pauses ------------------------------------
    syl_t: list[float] = []  # syllable onsets
    syl_d: list[float] = []  # syllable (vowel) durations
    syl_v: list[int] = []  # vowel index
    syl_acc: list[float] = []  # pitch accent
    cons: list[tuple[float, float, float]] = []  # (onset, duration, centre freq) of consonant noise
    phrase_bounds: list[tuple[float, float]] = []
    pos = float(rng.uniform(0.15, 0.3))
    while pos < seconds - 0.3:
        start = pos
        for _ in range(int(rng.integers(3, 9))):
            if pos > seconds - 0.25:
                break
            if rng.random() < 0.6:  # consonant onset (fricative or plosive burst)
                dur_c = float(rng.uniform(0.04, 0.1)) if rng.random() < 0.6 else float(rng.uniform(0.01, 0.025))
                cons.append((pos, dur_c, float(rng.uniform(2500.0, 6000.0))))
                pos += dur_c * 0.8
            d = float(rng.uniform(0.11, 0.28))
            syl_t.append(pos)
            syl_d.append(d)
            syl_v.append(int(rng.integers(0, len(_VOWELS))))
            syl_acc.append(float(rng.uniform(-0.06, 0.18)) if rng.random() < 0.4 else 0.0)
            pos += d + float(rng.uniform(0.0, 0.06))
        phrase_bounds.append((start, pos))
        pos += float(rng.uniform(0.25, 0.65))  # pause

    # --- control signals ------------------------------------------------------------------------
    amp = np.zeros(n)
    for onset, d in zip(syl_t, syl_d, strict=True):
        i0 = int(onset * sr)
        i1 = min(n, int((onset + d) * sr))
        if i1 <= i0:
            continue
        x = np.linspace(0.0, 1.0, i1 - i0)
        # fast attack, slower decay: a syllable-shaped envelope
        env = np.sin(np.pi * np.minimum(x / 0.35, 1.0) / 2) ** 2 * np.cos(np.pi * np.maximum(x - 0.55, 0) / 0.9) ** 2
        amp[i0:i1] = np.maximum(amp[i0:i1], env)
    # declination over each phrase plus accents, jitter-free smooth contour
    f0 = np.full(n, base_f0)
    for p0, p1 in phrase_bounds:
        i0, i1 = int(p0 * sr), min(n, int(p1 * sr))
        if i1 > i0:
            f0[i0:i1] = base_f0 * np.linspace(1.12, 0.86, i1 - i0)
    if syl_t:
        acc = _smooth_steps(np.asarray(syl_t), 1.0 + np.asarray(syl_acc), t, glide_s=0.08)
        f0 *= acc
        form = np.stack(
            [_smooth_steps(np.asarray(syl_t), _VOWELS[np.asarray(syl_v), k], t, glide_s=0.06) for k in range(3)],
            axis=0,
        )
    else:
        form = np.repeat(_VOWELS[0][:, None], n, axis=1)
    f0 *= 1.0 + 0.012 * np.sin(2 * np.pi * 5.2 * t + rng.uniform(0, 2 * np.pi))  # slow vibrato
    f0 *= 1.0 + 0.004 * np.convolve(rng.standard_normal(n), np.ones(64) / 64, mode="same")  # jitter

    # --- voiced source: harmonics shaped by the formant envelope ---------------------------------
    phase = np.cumsum(2 * np.pi * f0 / sr)
    voiced = np.zeros(n)
    nyq = 0.45 * sr
    h_max = int(nyq // max(60.0, float(f0.min())))
    block = sr  # one second at a time keeps memory flat for long clips
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        fb = f0[b0:b1]
        ph = phase[b0:b1]
        fm = form[:, b0:b1]
        acc_b = np.zeros(b1 - b0)
        for h in range(1, h_max + 1):
            fh = h * fb
            gain = np.zeros_like(fh)
            for k in range(3):
                gain += _FORMANT_GAINS[k] / (1.0 + ((fh - fm[k]) / (_BANDWIDTHS[k] / 2)) ** 2)
            gain *= (fh < nyq) / h**0.6  # spectral tilt of the glottal source
            acc_b += gain * np.sin(h * ph)
        voiced[b0:b1] = acc_b
    voiced *= amp

    # --- unvoiced: consonant noise bursts and a little breath -----------------------------------
    noise = np.zeros(n)
    white = rng.standard_normal(n)
    hp = np.empty(n)
    hp[0] = white[0]
    hp[1:] = white[1:] - 0.85 * white[:-1]  # tilt towards high frequencies
    for onset, d, _fc in cons:
        i0 = int(onset * sr)
        i1 = min(n, int((onset + d) * sr))
        if i1 <= i0:
            continue
        win = np.hanning(i1 - i0)
        noise[i0:i1] += 0.25 * win * hp[i0:i1]
    breath = 0.01 * np.convolve(white, np.ones(8) / 8, mode="same")
    y = voiced / (np.abs(voiced).max() + 1e-9) + noise + breath * (amp > 0.05)
    y += 1e-4 * white  # never digital silence
    y = 0.5 * y / (np.abs(y).max() + 1e-9)
    return y.astype(np.float32), amp.astype(np.float32)


def _write_audio_pyav(path: Path, signal: np.ndarray, sample_rate: int) -> None:
    import av

    suffix = path.suffix.lower()
    fmt, codec, rate = _OPUS if suffix == ".opus" else _SPEECH_PYAV[SUFFIX_FORMATS[suffix]]
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        _encode_audio(out, stream, signal, sample_rate, until_s=None, state={})


def _encode_audio(out: Any, stream: Any, signal: np.ndarray, sample_rate: int, until_s: float | None,
                  state: dict[str, int]) -> None:
    """Feed ``signal`` (float32 mono) to ``stream`` in 20 ms chunks up to ``until_s`` (None: all, then flush).

    PyAV's encoder converts format, layout, rate and frame size to what the codec needs.
    """
    import av

    pos = state.get("pos", 0)
    end = len(signal) if until_s is None else min(len(signal), int(round(until_s * sample_rate)))
    chunk = max(1, sample_rate // 50)
    while pos < end:
        stop = min(end, pos + chunk)
        frame = av.AudioFrame.from_ndarray(signal[None, pos:stop].astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = pos
        frame.time_base = Fraction(1, sample_rate)
        for packet in stream.encode(frame):
            out.mux(packet)
        pos = stop
    state["pos"] = pos
    if until_s is None:
        for packet in stream.encode(None):
            out.mux(packet)


def make_speech(path: str | Path, seconds: float = 6.0, seed: int = 0, sample_rate: int = 16_000) -> Path:
    """Write a speech-like clip. The format follows the suffix (:data:`WRITABLE_SUFFIXES`): .wav
    .flac .ogg/.oga (Vorbis) through soundfile; .mp3, .m4a/.m4b (AAC), .aac (ADTS), .opus (Ogg
    Opus), .mka and .weba (Opus) through PyAV."""
    import soundfile as sf

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES[MediaKind.AUDIO]:
        raise _unsupported(MediaKind.AUDIO, suffix)
    signal, _ = synth_speech(seconds, sample_rate, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = SUFFIX_FORMATS[suffix]
    if fmt in _SPEECH_SOUNDFILE and suffix != ".opus":
        container, subtype = _SPEECH_SOUNDFILE[fmt]
        sf.write(path, signal, sample_rate, subtype=subtype, format=container)
    else:
        _write_audio_pyav(path, signal, sample_rate)
    return path


# --------------------------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------------------------


def _background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """An indoor-looking RGB scene: a shaded wall with low-frequency texture, a door frame,
    a picture and a floor line. uint8 [H, W, 3]."""
    import cv2

    wall = np.array(rng.uniform([150, 150, 140], [215, 205, 190]), dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 0.82 + 0.25 * (1 - ((xx / width - 0.35) ** 2 + (yy / height - 0.3) ** 2))
    img = wall[None, None, :] * shade[..., None]
    # low-frequency texture (plaster)
    small = rng.standard_normal((max(2, height // 24), max(2, width // 24), 1)).astype(np.float32)
    tex = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    img += 7.0 * tex[..., None] if tex.ndim == 2 else 7.0 * tex
    fine = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 1.2)
    img += 5.0 * fine[..., None]
    # floor
    floor_y = int(height * 0.8)
    img[floor_y:] = img[floor_y:] * 0.55 + np.array([95, 70, 50], np.float32) * 0.45
    # a door frame and a picture on the wall
    dx = int(rng.uniform(0.04, 0.18) * width)
    cv2.rectangle(img, (dx, int(height * 0.12)), (dx + int(width * 0.14), floor_y), (120, 90, 60), -1, cv2.LINE_AA)
    cv2.rectangle(img, (dx + 6, int(height * 0.12) + 6), (dx + int(width * 0.14) - 6, floor_y), (150, 115, 80), -1, cv2.LINE_AA)
    px = int(rng.uniform(0.72, 0.82) * width)
    cv2.rectangle(img, (px, int(height * 0.18)), (px + int(width * 0.12), int(height * 0.42)), (60, 50, 40), -1, cv2.LINE_AA)
    cv2.rectangle(img, (px + 5, int(height * 0.18) + 5), (px + int(width * 0.12) - 5, int(height * 0.42) - 5),
                  tuple(float(c) for c in rng.uniform(60, 200, 3)), -1, cv2.LINE_AA)
    scene: np.ndarray = np.clip(img, 0, 255).astype(np.uint8)
    return scene


def render_face(width: int, seed: int = 0, mouth_open: float = 0.0, blink: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Draw a frontal head and shoulders sprite ``width`` pixels wide (height = 1.4 x width).

    Returns ``(rgb, alpha)``: uint8 [H, W, 3] and float32 [H, W] in 0..1. ``mouth_open`` in 0..1
    opens the lips; ``blink`` closes the eyes.
    """
    import cv2

    rng = np.random.default_rng(seed + 7919)
    w = max(40, int(width))
    h = int(round(w * 1.4))
    s = w / 100.0  # drawing unit: 1/100 of the sprite width

    def p(x: float, y: float) -> tuple[int, int]:
        return int(round(x * s)), int(round(y * s))

    def ax(a: float, b: float) -> tuple[int, int]:
        return max(1, int(round(a * s))), max(1, int(round(b * s)))

    skin = np.array(rng.uniform([205, 150, 115], [235, 185, 150]), dtype=np.float32)
    hair = np.array([62.0, 42.0, 28.0], dtype=np.float32) * np.float32(rng.uniform(0.35, 1.3))
    iris = np.array(rng.uniform([50, 35, 20], [110, 95, 70]), dtype=np.float32)
    shirt = np.array(rng.uniform(40, 170, 3), dtype=np.float32)

    img: np.ndarray = np.zeros((h, w, 3), np.float32)
    mask: np.ndarray = np.zeros((h, w), np.float32)

    def fill_ellipse(c: tuple[int, int], axes: tuple[int, int], color: np.ndarray, angle: float = 0.0,
                     m: bool = True) -> None:
        cv2.ellipse(img, c, axes, angle, 0, 360, tuple(float(v) for v in color), -1, cv2.LINE_AA)
        if m:
            cv2.ellipse(mask, c, axes, angle, 0, 360, 1.0, -1, cv2.LINE_AA)

    cx = 50.0
    # shoulders and neck
    fill_ellipse(p(cx, 138), ax(52, 22), shirt)
    cv2.rectangle(img, p(cx - 12, 95), p(cx + 12, 125), tuple(float(v) for v in skin * 0.8), -1, cv2.LINE_AA)
    cv2.rectangle(mask, p(cx - 12, 95), p(cx + 12, 125), 1.0, -1, cv2.LINE_AA)
    # hair behind the head
    fill_ellipse(p(cx, 52), ax(36, 44), hair)
    # ears
    fill_ellipse(p(cx - 30, 62), ax(5, 9), skin * 0.9)
    fill_ellipse(p(cx + 30, 62), ax(5, 9), skin * 0.9)
    # face with shading: brighter centre, darker rim
    face_c, face_ax = p(cx, 62), ax(29, 38)
    face_mask = np.zeros((h, w), np.float32)
    cv2.ellipse(face_mask, face_c, face_ax, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - face_c[0]) / max(face_ax[0], 1)) ** 2 + ((yy - face_c[1] - 4 * s) / max(face_ax[1], 1)) ** 2
    shade = np.clip(1.08 - 0.3 * r2, 0.6, 1.1)
    face_rgb = skin[None, None, :] * shade[..., None]
    img = img * (1 - face_mask[..., None]) + face_rgb * face_mask[..., None]
    mask = np.maximum(mask, face_mask)
    # hair fringe over the forehead
    cv2.ellipse(img, p(cx, 30), ax(31, 15), 0, 180, 360, tuple(float(v) for v in hair), -1, cv2.LINE_AA)
    cv2.ellipse(img, p(cx - 14, 32), ax(18, 9), 10, 0, 360, tuple(float(v) for v in hair), -1, cv2.LINE_AA)
    cv2.ellipse(img, p(cx + 14, 32), ax(18, 9), -10, 0, 360, tuple(float(v) for v in hair), -1, cv2.LINE_AA)
    # eye sockets (shadow), eyes, brows
    for side in (-1, 1):
        ex = cx + side * 12.5
        ey = 56.0
        sock: np.ndarray = np.zeros((h, w), np.float32)
        cv2.ellipse(sock, p(ex, ey - 1), ax(10, 6.5), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        sock = cv2.GaussianBlur(sock, (0, 0), 2.0 * s)
        img *= (1 - 0.28 * sock)[..., None]
        if blink:
            cv2.ellipse(img, p(ex, ey), ax(7, 1.2), 0, 0, 360, tuple(float(v) for v in skin * 0.55), -1, cv2.LINE_AA)
        else:
            cv2.ellipse(img, p(ex, ey), ax(7, 3.3), 0, 0, 360, (236.0, 232.0, 226.0), -1, cv2.LINE_AA)
            cv2.circle(img, p(ex + side * 0.4, ey), max(1, int(round(3.0 * s))), tuple(float(v) for v in iris), -1, cv2.LINE_AA)
            cv2.circle(img, p(ex + side * 0.4, ey), max(1, int(round(1.4 * s))), (12.0, 10.0, 10.0), -1, cv2.LINE_AA)
            cv2.circle(img, p(ex + side * 0.4 - 0.9, ey - 1.0), max(1, int(round(0.5 * s))), (250.0, 250.0, 250.0), -1, cv2.LINE_AA)
            cv2.ellipse(img, p(ex, ey), ax(7, 3.4), 0, 180, 360, (40.0, 30.0, 28.0), max(1, int(round(0.9 * s))), cv2.LINE_AA)
        # brow: thick arc
        cv2.ellipse(img, p(ex, ey - 4), ax(9, 4), 0, 200, 340, tuple(float(v) for v in hair * 0.9),
                    max(1, int(round(2.2 * s))), cv2.LINE_AA)
    # nose: bridge highlight, side shadow, nostrils
    cv2.line(img, p(cx + 2.5, 60), p(cx + 3.5, 72), tuple(float(v) for v in skin * 0.78), max(1, int(round(1.5 * s))), cv2.LINE_AA)
    cv2.line(img, p(cx - 0.5, 58), p(cx - 0.5, 72), tuple(float(v) for v in np.minimum(skin * 1.12, 255)),
             max(1, int(round(1.6 * s))), cv2.LINE_AA)
    cv2.ellipse(img, p(cx, 75), ax(6, 2.6), 0, 0, 180, tuple(float(v) for v in skin * 0.7), max(1, int(round(1.0 * s))), cv2.LINE_AA)
    for side in (-1, 1):
        cv2.ellipse(img, p(cx + side * 2.8, 76), ax(1.6, 1.0), 0, 0, 360, (70.0, 40.0, 35.0), -1, cv2.LINE_AA)
    # mouth
    lip = np.array([175.0, 85.0, 80.0], np.float32)
    mo = float(np.clip(mouth_open, 0.0, 1.0))
    my = 85.0
    cv2.ellipse(img, p(cx, my), ax(10, 2.6 + 3.2 * mo), 0, 0, 360, tuple(float(v) for v in lip), -1, cv2.LINE_AA)
    if mo > 0.05:
        cv2.ellipse(img, p(cx, my + 0.3), ax(8, 0.6 + 2.8 * mo), 0, 0, 360, (45.0, 18.0, 20.0), -1, cv2.LINE_AA)
        if mo > 0.4:
            cv2.ellipse(img, p(cx, my - 1.4 * mo), ax(6, 0.8), 0, 0, 360, (230.0, 225.0, 215.0), -1, cv2.LINE_AA)
    else:
        cv2.line(img, p(cx - 9.5, my), p(cx + 9.5, my), (95.0, 40.0, 40.0), max(1, int(round(0.9 * s))), cv2.LINE_AA)
    # chin and jaw shadow
    cv2.ellipse(img, p(cx, 95), ax(7, 2.0), 0, 0, 180, tuple(float(v) for v in skin * 0.82), max(1, int(round(1.0 * s))), cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), max(0.5, 0.35 * s))
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, 0.3 * s))
    return np.clip(img, 0, 255).astype(np.uint8), np.clip(mask, 0.0, 1.0)


def _composite(base: np.ndarray, sprite: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend ``sprite`` onto ``base`` in place with its top-left corner at (x, y), clipped."""
    h, w = alpha.shape
    bh, bw = base.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(bw, x + w), min(bh, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    s = sprite[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    region = base[y0:y1, x0:x1].astype(np.float32)
    if region.ndim == 3:
        a = a[..., None]
    base[y0:y1, x0:x1] = np.clip(region * (1 - a) + s * a + 0.5, 0, 255).astype(np.uint8)


def make_image(
    path: str | Path,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    face: bool = True,
    quality: int = 92,
) -> Path:
    """Write a scene ``size`` = (width, height) pixels, with a frontal face when ``face``.

    The format follows the suffix: any image suffix of :data:`WRITABLE_SUFFIXES` (.jpg/.jpeg
    .png .webp .gif .bmp .tif/.tiff and their aliases).
    """
    from PIL import Image

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES[MediaKind.IMAGE]:
        raise _unsupported(MediaKind.IMAGE, suffix)
    fmt = pillow_format_for(SUFFIX_FORMATS[suffix])
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16:
        raise ValueError("size must be at least 16x16")
    rng = np.random.default_rng(seed)
    img = _background(height, width, rng)
    if face:
        # head and shoulders at a scale where CNN face detectors find this drawing with high
        # confidence (CenterFace scores it about 0.8 when the sprite is ~15% of the frame width;
        # bigger drawn faces look less like faces to it)
        fw = min(max(64, int(min(width, height * 4 / 3) * 0.15)), width // 2)
        sprite, alpha = render_face(fw, seed=seed)
        fx = int(width / 2 - fw / 2 + rng.uniform(-0.08, 0.08) * width)
        fy = int(height * 0.8 - sprite.shape[0] * 0.88)
        _composite(img, sprite, alpha, fx, fy)
    # mild sensor noise, as in photographs
    noise = rng.normal(0.0, 3.0, img.shape)
    img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil = Image.fromarray(img, "RGB")
    kwargs: dict[str, object] = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    if fmt == "GIF":
        pil = pil.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pil.save(path, format=fmt, **kwargs)
    return path


# --------------------------------------------------------------------------------------------
# video
# --------------------------------------------------------------------------------------------

_VIDEO_ENCODERS = {"h264": "libx264", "vp9": "libvpx-vp9", "mpeg4": "mpeg4"}
_AUDIO_ENCODERS = {"aac": "aac", "opus": "libopus", "mp3": "libmp3lame"}


def _rgb_to_i420_planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import cv2

    h, w = rgb.shape[:2]
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
    y = yuv[: h * w].reshape(h, w)
    u = yuv[h * w : h * w + h * w // 4].reshape(h // 2, w // 2)
    v = yuv[h * w + h * w // 4 :].reshape(h // 2, w // 2)
    return y, u, v


def _blend_plane(plane: np.ndarray, sprite: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    _composite(plane, sprite, alpha, x, y)


def make_video(
    path: str | Path,
    seconds: float = 5.0,
    size: tuple[int, int] = (640, 360),
    fps: float | Fraction = 25,
    codec: str | None = None,
    audio: bool = True,
    face: bool = True,
    seed: int = 0,
    preset: str = "ultrafast",
    gop: int | None = None,
    crf: int = 23,
) -> Path:
    """Write a video with a slowly moving, blinking, lip-synced face and a speech-like track.

    The container follows the suffix: .mp4/.m4v, .mov/.qt, .mkv (default H.264 + AAC), .webm (VP9 + Opus),
    .avi (MPEG-4 Part 2 + MP3). ``codec`` overrides the video codec ('h264', 'vp9', 'mpeg4').
    ``size`` is (width, height), both even. ``gop`` is the keyframe interval in frames (default
    2 s); scene-cut keyframes are off, so keyframes fall exactly every ``gop`` frames for H.264.
    ``preset`` is the x264 preset (``ultrafast`` keeps 1080p generation fast: about 20 s for 60 s
    of 1080p30 on two cores); ``crf`` its quality. The audio is 48 kHz stereo.
    """
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES[MediaKind.VIDEO]:
        raise _unsupported(MediaKind.VIDEO, suffix)
    fmt = SUFFIX_FORMATS[suffix]
    container_fmt, default_vcodec, acodec = _CONTAINERS[fmt]
    vcodec = codec or default_vcodec
    if vcodec not in _VIDEO_ENCODERS:
        raise ValueError(f"unsupported codec {vcodec!r}; use one of {', '.join(_VIDEO_ENCODERS)}")
    if fmt == "webm" and vcodec != "vp9":
        raise ValueError("WebM holds VP9 video here; use codec='vp9'")
    if vcodec == "vp9" and fmt == "mkv":
        acodec = "opus"
    width, height = int(size[0]), int(size[1])
    if width % 2 or height % 2 or width < 32 or height < 32:
        raise ValueError("size must be even and at least 32x32")
    if seconds <= 0 or fps <= 0:
        raise ValueError("seconds and fps must be positive")
    rate = Fraction(fps).limit_denominator(1001)
    n_frames = max(1, int(round(seconds * float(rate))))
    gop = int(gop) if gop else max(1, int(round(2 * float(rate))))
    rng = np.random.default_rng(seed)

    # background larger than the frame; the camera pans slowly across it
    mx = (width // 16) * 2
    my = (height // 32) * 2
    bg = _background(height + 2 * my, width + 2 * mx, rng)
    bg_y, bg_u, bg_v = _rgb_to_i420_planes(bg)

    # face sprites: mouth in 4 states, plus a blink
    sprites: dict[tuple[int, bool], tuple[np.ndarray, ...]] = {}
    fw = fh = 0
    if face:
        fw = (min(max(64, int(min(width * 0.15, height * 0.6 / 1.4))), width // 2) // 2) * 2  # see make_image
        for level in range(4):
            for blink in (False, True):
                rgb, alpha = render_face(fw, seed=seed, mouth_open=level / 3.0, blink=blink)
                fh = (rgb.shape[0] // 2) * 2
                rgb, alpha = np.ascontiguousarray(rgb[:fh]), alpha[:fh]
                sy, su, sv = _rgb_to_i420_planes(rgb)
                a_half = alpha.reshape(fh // 2, 2, fw // 2, 2).mean(axis=(1, 3))
                sprites[(level, blink)] = (sy, su, sv, alpha, a_half)

    speech, voicing = synth_speech(seconds, 16_000, seed) if (audio or face) else (None, None)

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container_fmt) as out:
        options: dict[str, str] = {"g": str(gop)}
        if vcodec == "h264":
            options.update({"preset": preset, "crf": str(crf), "x264-params": f"scenecut=0:keyint={gop}:min-keyint={gop}"})
        elif vcodec == "vp9":
            options.update({"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "34", "b": "0",
                            "keyint_min": str(gop)})
        vs: Any = out.add_stream(_VIDEO_ENCODERS[vcodec], rate=rate, options=options)
        vs.width = width
        vs.height = height
        vs.pix_fmt = "yuv420p"
        if vcodec == "mpeg4":
            vs.bit_rate = int(width * height * float(rate) * 0.12)
        vs.codec_context.thread_count = 0
        astream: Any = None
        if audio:
            astream = out.add_stream(_AUDIO_ENCODERS[acodec], rate=48_000, layout="stereo")
        audio_state: dict[str, int] = {}

        frame_buf = np.empty(height * width * 3 // 2, np.uint8)
        y_size, c_size = height * width, height * width // 4
        blink_every = float(rng.uniform(2.8, 4.2))
        for i in range(n_frames):
            t = i / float(rate)
            ox = int(mx + mx * math.sin(2 * math.pi * t / 17.0)) // 2 * 2
            oy = int(my + my * math.sin(2 * math.pi * t / 23.0)) // 2 * 2
            fy_ = bg_y[oy : oy + height, ox : ox + width].copy()
            fu_ = bg_u[oy // 2 : oy // 2 + height // 2, ox // 2 : ox // 2 + width // 2].copy()
            fv_ = bg_v[oy // 2 : oy // 2 + height // 2, ox // 2 : ox // 2 + width // 2].copy()
            if face and voicing is not None:
                k = min(len(voicing) - 1, int(t * 16_000))
                level = int(np.clip(round(float(voicing[k : k + 640].mean()) * 3.5), 0, 3))
                blink = (t % blink_every) < 0.12
                sy, su, sv, alpha, a_half = sprites[(level, blink)]
                # slow drift across the frame
                px = int(width / 2 - fw / 2 + 0.12 * width * math.sin(2 * math.pi * t / 11.0)) // 2 * 2
                py = int(height - 0.95 * fh + 0.02 * height * math.sin(2 * math.pi * t / 7.0)) // 2 * 2
                _blend_plane(fy_, sy, alpha, px, py)
                _blend_plane(fu_, su, a_half, px // 2, py // 2)
                _blend_plane(fv_, sv, a_half, px // 2, py // 2)
            frame_buf[:y_size] = fy_.reshape(-1)
            frame_buf[y_size : y_size + c_size] = fu_.reshape(-1)
            frame_buf[y_size + c_size :] = fv_.reshape(-1)
            frame = av.VideoFrame.from_ndarray(frame_buf.reshape(height * 3 // 2, width), format="yuv420p")
            frame.pts = i
            frame.time_base = 1 / rate
            for packet in vs.encode(frame):
                out.mux(packet)
            if astream is not None and speech is not None:
                _encode_audio(out, astream, speech, 16_000, until_s=(i + 1) / float(rate), state=audio_state)
        for packet in vs.encode(None):
            out.mux(packet)
        if astream is not None and speech is not None:
            _encode_audio(out, astream, speech, 16_000, until_s=None, state=audio_state)
    return path


class DemoSet(NamedTuple):
    image: Path
    audio: Path
    video: Path


def make_demo_set(folder: str | Path, seed: int = 0) -> DemoSet:
    """Write ``face.jpg``, ``speech.wav`` and ``clip.mp4`` (4 s, 640x360, H.264 + AAC) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return DemoSet(
        image=make_image(folder / "face.jpg", seed=seed),
        audio=make_speech(folder / "speech.wav", seconds=6.0, seed=seed),
        video=make_video(folder / "clip.mp4", seconds=4.0, seed=seed),
    )
