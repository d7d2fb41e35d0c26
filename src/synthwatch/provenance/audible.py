"""Explicit (audible) labels on audio: the rhythm cue short-long-short-short (Morse "AI": ·− ··).

GB 45438 (check the figures): an audio file carries a spoken notice or the rhythm cue
short-long-short-short at the start, the end or the middle. The cue here is Morse "AI" with the
usual Morse timing in units of ``unit`` seconds (default 0.1 s)::

    tone 1, gap 1, tone 3, gap 3 (between the letters), tone 1, gap 1, tone 1     = 11 units

each tone a ``freq`` Hz sine (default 1 kHz) at ``level_db`` dBFS with 5 ms raised-cosine edges (no
clicks). Placement: ``prepend`` (default) puts the cue, then ``gap`` seconds of silence, before the
original audio, which follows unchanged; ``mix`` lays the cue over the first 1.1 s (the original is
ducked by 12 dB under it). ``at_end`` also adds the cue at the end (after a gap, or mixed over the
last 1.1 s through a delay line, so the file is still streamed).

Streaming: the source is decoded, converted to planar float and re-encoded chunk by chunk in its own
codec (PCM WAV, FLAC, MP3, AAC in M4A / MKA, Opus or Vorbis in Ogg), keeping its sample rate,
channel layout and (lossy codecs) bit rate. Lossless sources stay sample-exact after the cue. Then
the implicit label is written and read back.

Isolation: decoding, mixing and re-encoding run in the isolated provenance worker
(:mod:`synthwatch.provenance.isolation`) under ``transcode_timeout_s`` / ``transcode_memory_mb``, so a
hostile file that crashes, hangs or exhausts FFmpeg costs a typed error, never the calling process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from synthwatch.media.sniff import sniff
from synthwatch.types import MediaKind

from . import isolation
from ._transcode import AV_ERRORS, MUXERS, carry_label, copy_tags, open_input, open_output, temp_output
from .errors import CorruptContainer, ProvenanceError, TranscodeError, UnsupportedCarrier
from .label import AIGCLabel, LabelReading

__all__ = ["AUDIO_FORMATS", "CUE_PATTERN", "AudioCueResult", "add_audio_cue", "cue_samples"]

#: Morse "AI" as (tone?, length in units): short-long-short-short
CUE_PATTERN: tuple[tuple[bool, int], ...] = ((True, 1), (False, 1), (True, 3), (False, 3), (True, 1), (False, 1),
                                             (True, 1))
AUDIO_FORMATS = ("wav", "flac", "ogg", "mp3", "m4a", "mka", "weba")
_RAMP_S = 0.005
_DUCK = 10 ** (-12 / 20)
#: decoder name -> encoder that writes the same codec
_ENCODERS = {"mp3": "libmp3lame", "mp3float": "libmp3lame", "aac": "aac", "opus": "libopus", "libopus": "libopus",
             "vorbis": "vorbis", "libvorbis": "vorbis", "flac": "flac"}
_LOSSY = frozenset({"libmp3lame", "aac", "libopus", "vorbis"})


@dataclass(frozen=True)
class AudioCueResult:
    """What was added and written."""

    placement: str  # "prepend" | "mix"
    at_end: bool
    cue_seconds: float
    gap_seconds: float
    original_offset_s: float  # where the original audio starts in the output
    unit_s: float
    freq_hz: float
    codec: str
    sample_rate: int
    channels: int
    label: LabelReading | None

    def to_dict(self) -> dict[str, Any]:
        return {"cue": "morse AI (short-long-short-short)", "placement": self.placement, "at_end": self.at_end,
                "cue_seconds": round(self.cue_seconds, 4), "gap_seconds": self.gap_seconds,
                "original_offset_s": round(self.original_offset_s, 4), "unit_s": self.unit_s,
                "freq_hz": self.freq_hz, "codec": self.codec, "sample_rate": self.sample_rate,
                "channels": self.channels, "label": self.label.to_dict() if self.label is not None else None}


def cue_samples(rate: int, *, unit: float = 0.1, freq: float = 1000.0, level_db: float = -6.0) -> np.ndarray:
    """The mono cue at ``rate`` Hz as float64 samples in [-1, 1]."""
    if rate <= 0 or unit <= 0 or not 0 < freq < rate / 2:
        raise ProvenanceError(f"cannot make a {freq} Hz cue with {unit} s units at {rate} Hz")
    amp = 10 ** (level_db / 20)
    n_unit = max(1, round(unit * rate))
    ramp = min(max(1, round(_RAMP_S * rate)), n_unit // 2)
    edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    parts: list[np.ndarray] = []
    for tone, units in CUE_PATTERN:
        n = units * n_unit
        if not tone:
            parts.append(np.zeros(n))
            continue
        env = np.ones(n)
        env[:ramp] = edge
        env[n - ramp:] = edge[::-1]
        parts.append(amp * env * np.sin(2 * np.pi * freq * np.arange(n) / rate))
    return np.concatenate(parts)


def _encoder_for(decoder: str) -> str:
    if decoder.startswith("pcm_"):
        return decoder
    try:
        return _ENCODERS[decoder]
    except KeyError:
        raise UnsupportedCarrier(f"cannot re-encode {decoder} audio to add the cue") from None


def add_audio_cue(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, placement: str = "prepend",
                  at_end: bool = False, label: AIGCLabel | None = None, unit: float = 0.1, freq: float = 1000.0,
                  level_db: float = -6.0, gap: float = 0.25, deadline: float | None = None) -> AudioCueResult:
    """Re-encode the audio file ``src`` to ``dst`` with the Morse "AI" cue at its start (and end).

    ``label`` is the implicit label written into ``dst`` (read back to confirm); without one the
    source's label, if any, is carried over. Raises :class:`UnsupportedCarrier` for files that are
    not audio in one of :data:`AUDIO_FORMATS` (or a codec that cannot be re-encoded),
    :class:`CorruptContainer` when the source cannot be decoded and :class:`TranscodeError` when
    encoding fails; ``dst`` is only written on success.
    """
    if placement not in ("prepend", "mix"):
        raise ProvenanceError(f"placement must be 'prepend' or 'mix', not {placement!r}")
    if not 0 <= gap <= 5:
        raise ProvenanceError(f"gap must be 0-5 s, not {gap!r}")
    sniffed = sniff(src)
    if sniffed.kind is not MediaKind.AUDIO or sniffed.format not in AUDIO_FORMATS:
        raise UnsupportedCarrier(f"audible labels are added to {', '.join(AUDIO_FORMATS)} audio, not {sniffed.format}")
    fmt = sniffed.format
    what = "re-encoding the audio with the audible cue"
    with temp_output(dst, os.path.splitext(os.fspath(dst))[1] or f".{fmt}") as tmp:
        raw = isolation.run("audio_cue", {"src": os.fspath(src), "tmp": tmp, "fmt": fmt, "placement": placement,
                                          "at_end": bool(at_end), "unit": float(unit), "freq": float(freq),
                                          "level_db": float(level_db), "gap": float(gap)},
                            what=what, transcode=True, deadline=deadline)
        info = isolation.checked(raw, {"cue_len": int, "gap_len": int, "rate": int, "channels": int, "codec": str},
                                 what)
        if info["rate"] <= 0:
            raise isolation.malformed(what)
        reading = carry_label(src, tmp, dst, fmt, label)
    cue_s = info["cue_len"] / info["rate"]
    return AudioCueResult(placement, at_end, cue_s, gap, (info["cue_len"] + info["gap_len"]) / info["rate"]
                          if placement == "prepend" else 0.0, unit, freq, info["codec"], info["rate"],
                          info["channels"], reading)


def _decoded(inp: Any, ain: Any, work: str, layout: str, rate: int) -> Iterator[np.ndarray]:
    """The source as (channels, n) float chunks."""
    resampler = av.AudioResampler(format=work, layout=layout, rate=rate)
    for frame in inp.decode(ain):
        for f in resampler.resample(frame):
            yield f.to_ndarray().astype(np.float64)
    for f in resampler.resample(None):
        yield f.to_ndarray().astype(np.float64)


class _AvSink:
    """Encode (channels, n) float chunks with PyAV into an open output container."""

    def __init__(self, tmp: str, fmt: str, codec: str, ctx: Any, rate: int, layout: str, work: str,
                 src_fmt: str, inp: Any) -> None:
        try:
            self.out = open_output(tmp, MUXERS[fmt])
        except AV_ERRORS as exc:
            raise TranscodeError(f"cannot create the {fmt} output: {exc}") from exc
        try:
            copy_tags(inp, self.out)
            stream: Any = self.out.add_stream(codec, rate=rate)
            stream.layout = layout
            formats = [f.name for f in av.Codec(codec, "w").audio_formats or ()]
            if formats:
                stream.format = src_fmt if src_fmt in formats else formats[0]
            if codec in _LOSSY and ctx.bit_rate:
                stream.bit_rate = int(ctx.bit_rate)
            self.stream = stream
        except AV_ERRORS as exc:
            self.out.close()
            raise TranscodeError(f"cannot set up the {codec} encoder: {exc}") from exc
        self.rate, self.layout, self.work = rate, layout, work
        self.dtype = np.float64 if work == "dblp" else np.float32
        self.written = 0

    def write(self, chunk: np.ndarray) -> None:
        data: Any = np.ascontiguousarray(chunk, dtype=self.dtype)
        frame = av.AudioFrame.from_ndarray(data, format=self.work,
                                           layout=self.layout)
        frame.sample_rate = self.rate
        frame.pts = self.written
        frame.time_base = Fraction(1, self.rate)
        self.written += chunk.shape[1]
        self.out.mux(self.stream.encode(frame))

    def close(self, ok: bool) -> None:
        try:
            if ok:
                self.out.mux(self.stream.encode(None))
        finally:
            self.out.close()


class _SoundfileSink:
    """Ogg Vorbis through libsndfile (FFmpeg's own Vorbis encoder is experimental and stereo-only)."""

    def __init__(self, tmp: str, rate: int, channels: int, inp: Any) -> None:
        import soundfile as sf

        try:
            self.f = sf.SoundFile(tmp, "w", samplerate=rate, channels=channels, format="OGG", subtype="VORBIS")
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise TranscodeError(f"cannot create the Ogg Vorbis output: {exc}") from exc
        for key, value in dict(inp.metadata or {}).items():  # Vorbis comments libsndfile knows
            if key.lower() in ("title", "artist", "album", "comment", "date", "genre", "copyright"):
                with contextlib.suppress(RuntimeError, ValueError):
                    setattr(self.f, key.lower(), str(value))

    def write(self, chunk: np.ndarray) -> None:
        self.f.write(chunk.T)

    def close(self, ok: bool) -> None:
        self.f.close()


def _transcode(src: str | os.PathLike[str], tmp: str, fmt: str, *, placement: str, at_end: bool, unit: float,
               freq: float, level_db: float, gap: float) -> dict[str, Any]:
    inp = open_input(src, fmt)
    with inp:
        if not inp.streams.audio:
            raise CorruptContainer("the file has no audio stream")
        ain = inp.streams.audio[0]
        ctx = ain.codec_context
        rate = int(ctx.sample_rate or 0)
        channels = int(ctx.channels or 0)
        if rate <= 0 or channels <= 0:
            raise CorruptContainer("the audio stream has no sample rate or channel layout")
        layout = ctx.layout.name
        codec = _encoder_for(ctx.name)
        src_fmt = ctx.format.name if ctx.format is not None else "flt"
        work = "dblp" if src_fmt.startswith(("s32", "dbl", "s64")) else "fltp"
        cue = cue_samples(rate, unit=unit, freq=freq, level_db=level_db)
        cue_len, gap_len = len(cue), round(gap * rate)
        sink: _AvSink | _SoundfileSink
        if codec == "vorbis":
            sink = _SoundfileSink(tmp, rate, channels, inp)
        else:
            sink = _AvSink(tmp, fmt, codec, ctx, rate, layout, work, src_fmt, inp)

        def emit(chunk: np.ndarray) -> None:
            if chunk.shape[1]:
                sink.write(np.clip(chunk, -1.0, 1.0))

        cue_ch = np.repeat(cue[None, :], channels, axis=0)
        silence = np.zeros((channels, gap_len))
        ok = False
        try:
            if placement == "prepend":
                emit(cue_ch)
                emit(silence)
            tail = np.zeros((channels, 0))
            pos = 0  # source samples seen
            for chunk in _decoded(inp, ain, work, layout, rate):
                n = chunk.shape[1]
                if placement == "mix" and pos < cue_len:
                    k = min(n, cue_len - pos)
                    chunk = chunk.copy()
                    chunk[:, :k] = chunk[:, :k] * _DUCK + cue_ch[:, pos:pos + k]
                pos += n
                if placement == "mix" and at_end:  # hold back the last cue_len samples
                    tail = np.concatenate([tail, chunk], axis=1)
                    if tail.shape[1] > cue_len:
                        emit(tail[:, :-cue_len])
                        tail = tail[:, -cue_len:]
                else:
                    emit(chunk)
            if pos == 0:
                raise CorruptContainer("the audio stream holds no decodable sample")
            if at_end:
                if placement == "mix":
                    emit(tail * _DUCK + cue_ch[:, cue_len - tail.shape[1]:])
                else:
                    emit(silence)
                    emit(cue_ch)
            ok = True
        except av.error.InvalidDataError as exc:
            raise CorruptContainer(f"the audio could not be decoded: {exc}") from exc
        except AV_ERRORS as exc:
            raise TranscodeError(f"re-encoding the audio failed: {exc}") from exc
        finally:
            try:
                sink.close(ok)
            except AV_ERRORS as exc:
                if ok:
                    raise TranscodeError(f"finishing the audio encode failed: {exc}") from exc
    return {"cue_len": cue_len, "gap_len": gap_len, "rate": rate, "channels": channels, "codec": codec}
