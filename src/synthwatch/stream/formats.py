"""Live audio formats: what a client may send, and its decoding to the analysis rate.

A stream declares its format once (the binary mode's ``start`` message, Twilio's ``mediaFormat``,
or the Opus track of a WebRTC session); every frame after it is raw audio in that format:

========================  ==============================================  ======================
encoding                  samples                                         aliases
========================  ==============================================  ======================
``pcm_s16le``             signed 16-bit little-endian, interleaved        ``linear16``, ``s16le``
``pcm_f32le``             IEEE float 32-bit little-endian, interleaved    ``f32le``, ``float32``
``pcm_mulaw``             ITU-T G.711 mu-law, 8 bits                      ``audio/x-mulaw``, ``mulaw``, ``ulaw``
``pcm_alaw``              ITU-T G.711 A-law, 8 bits                       ``audio/x-alaw``, ``alaw``
========================  ==============================================  ======================

at 8, 16, 24, 32, 44.1 or 48 kHz, one or two channels. :class:`StreamDecoder` turns frames into
mono float32 samples at 16 kHz, the rate of the voice-activity model and the voice detectors:
channels are averaged (as the media layer does for files) and other rates are resampled with
libswresample (PyAV's ``AudioResampler``), whose filter state is carried from frame to frame so a
stream is resampled exactly as one long signal would be. Frames are resampled in batches of about
100 ms (the resampler's fixed cost per call is paid ten times a second, not fifty), which delays
the audio by at most that much: windows are cut every few seconds.

Every frame is checked: a byte count that is not a whole number of samples, or a frame longer than
the protocol allows (:data:`MAX_FRAME_S`), raises a typed
:class:`~synthwatch.errors.StreamError` that carries its WebSocket close code.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import StreamFormatError, StreamFrameTooLarge

__all__ = ["ANALYSIS_RATE", "ENCODINGS", "SAMPLE_RATES", "MAX_FRAME_S", "MIN_FRAME_S", "AudioFormat",
           "StreamDecoder", "mulaw_decode", "alaw_decode", "mulaw_encode"]

#: the rate every stream is analysed at (the voice-activity model's and the voice detectors')
ANALYSIS_RATE = 16_000
#: encoding -> bytes per sample
ENCODINGS: dict[str, int] = {"pcm_s16le": 2, "pcm_f32le": 4, "pcm_mulaw": 1, "pcm_alaw": 1}
_ALIASES = {"linear16": "pcm_s16le", "s16le": "pcm_s16le", "f32le": "pcm_f32le", "float32": "pcm_f32le",
            "audio/x-mulaw": "pcm_mulaw", "mulaw": "pcm_mulaw", "ulaw": "pcm_mulaw", "g711_ulaw": "pcm_mulaw",
            "audio/x-alaw": "pcm_alaw", "alaw": "pcm_alaw", "g711_alaw": "pcm_alaw"}
SAMPLE_RATES = (8_000, 16_000, 24_000, 32_000, 44_100, 48_000)
#: longest frame the protocol allows (a longer one is refused: close code 1009)
MAX_FRAME_S = 0.2
#: shortest frame the protocol asks for (shorter frames are accepted but count against the message rate)
MIN_FRAME_S = 0.01
#: audio gathered before one resampler call
_RESAMPLE_BATCH_S = 0.1


@dataclass(frozen=True)
class AudioFormat:
    """A stream's declared format (validated by :meth:`parse`)."""

    encoding: str
    sample_rate: int
    channels: int = 1

    @classmethod
    def parse(cls, encoding: Any, sample_rate: Any, channels: Any = 1) -> AudioFormat:
        """The format a client declared, or :class:`~synthwatch.errors.StreamFormatError` (close
        code 1003, unsupported data) naming what is accepted."""
        enc = _ALIASES.get(str(encoding).strip().lower(), str(encoding).strip().lower()) \
            if isinstance(encoding, str) else None
        if enc not in ENCODINGS:
            raise StreamFormatError(f"unsupported encoding {str(encoding)[:40]!r}; use one of "
                                    f"{', '.join(ENCODINGS)}", close_code=1003)
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float) \
                or int(sample_rate) != sample_rate or int(sample_rate) not in SAMPLE_RATES:
            raise StreamFormatError(f"unsupported sample_rate {str(sample_rate)[:20]!r}; use one of "
                                    f"{', '.join(map(str, SAMPLE_RATES))}", close_code=1003)
        if isinstance(channels, bool) or channels not in (1, 2):
            raise StreamFormatError(f"unsupported channels {str(channels)[:20]!r}; use 1 or 2", close_code=1003)
        return cls(enc, int(sample_rate), int(channels))

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample of every channel."""
        return ENCODINGS[self.encoding] * self.channels

    def duration_s(self, nbytes: int) -> float:
        return nbytes / self.frame_bytes / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return {"encoding": self.encoding, "sample_rate": self.sample_rate, "channels": self.channels}


# --------------------------------------------------------------------------------------- G.711
def _mulaw_table() -> np.ndarray:
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.float32) / 32768.0


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.float32) / 32768.0


_MULAW = _mulaw_table()
_ALAW = _alaw_table()


def mulaw_decode(data: bytes | np.ndarray) -> np.ndarray:
    """G.711 mu-law bytes -> float32 samples in [-1, 1]."""
    return _MULAW[np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray | memoryview)
                  else np.asarray(data, dtype=np.uint8)]


def alaw_decode(data: bytes | np.ndarray) -> np.ndarray:
    """G.711 A-law bytes -> float32 samples in [-1, 1]."""
    return _ALAW[np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray | memoryview)
                 else np.asarray(data, dtype=np.uint8)]


def mulaw_encode(samples: np.ndarray) -> bytes:
    """float32 samples in [-1, 1] -> G.711 mu-law bytes (the nearest code of :func:`mulaw_decode`;
    for test media and the ``rooms simulate`` client's Twilio mode)."""
    x = np.clip(np.asarray(samples, dtype=np.float64).reshape(-1), -1.0, 1.0)
    order = np.argsort(_MULAW)
    levels = _MULAW[order]
    idx = np.clip(np.searchsorted(levels, x), 1, len(levels) - 1)
    nearer_low = (x - levels[idx - 1]) <= (levels[idx] - x)
    pick = np.where(nearer_low, idx - 1, idx)
    return order[pick].astype(np.uint8).tobytes()


# --------------------------------------------------------------------------------------- decoding
class StreamDecoder:
    """Frames of one stream's :class:`AudioFormat` -> mono float32 samples at 16 kHz.

    :meth:`decode` checks and converts one frame and returns the samples ready so far (an empty
    array while the resampler gathers its batch); :meth:`flush` returns what is left at the end.
    ``samples_in`` counts input samples (per channel), ``seconds_in`` their duration."""

    def __init__(self, fmt: AudioFormat, *, max_frame_s: float = MAX_FRAME_S) -> None:
        self.fmt = fmt
        self.max_frame_bytes = int(round(max_frame_s * fmt.sample_rate)) * fmt.frame_bytes
        self.samples_in = 0
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._batch = max(1, int(_RESAMPLE_BATCH_S * fmt.sample_rate))
        self._resampler: Any = None
        if fmt.sample_rate != ANALYSIS_RATE:
            import av

            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=ANALYSIS_RATE)

    @property
    def seconds_in(self) -> float:
        return self.samples_in / self.fmt.sample_rate

    def check(self, nbytes: int) -> None:
        """Raise when a frame of ``nbytes`` is not whole samples or longer than allowed."""
        if nbytes > self.max_frame_bytes:
            raise StreamFrameTooLarge(f"a frame of {nbytes} bytes holds {self.fmt.duration_s(nbytes) * 1000:.0f} ms "
                                      f"of audio; frames may hold at most {MAX_FRAME_S * 1000:.0f} ms "
                                      f"({self.max_frame_bytes} bytes in this format)")
        if nbytes % self.fmt.frame_bytes:
            raise StreamFormatError(f"a frame of {nbytes} bytes is not a whole number of "
                                    f"{self.fmt.frame_bytes}-byte samples ({self.fmt.encoding}, "
                                    f"{self.fmt.channels} channel(s))")

    def to_float(self, data: bytes) -> np.ndarray:
        """One frame's samples as mono float32 at the stream's own rate (checked)."""
        self.check(len(data))
        enc = self.fmt.encoding
        if enc == "pcm_s16le":
            x = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        elif enc == "pcm_f32le":
            x = np.frombuffer(data, dtype="<f4").astype(np.float32)
            if not np.all(np.isfinite(x)):
                raise StreamFormatError("a pcm_f32le frame holds NaN or infinite samples")
            x = np.clip(x, -1.0, 1.0)
        elif enc == "pcm_mulaw":
            x = mulaw_decode(data)
        else:
            x = alaw_decode(data)
        if self.fmt.channels > 1:
            x = x.reshape(-1, self.fmt.channels).mean(axis=1, dtype=np.float32)
        return x

    def decode(self, data: bytes) -> np.ndarray:
        return self.push(self.to_float(data))

    def push(self, mono: np.ndarray) -> np.ndarray:
        """Mono float32 samples at the stream's rate in; 16 kHz samples out (possibly none yet)."""
        x = np.asarray(mono, dtype=np.float32).reshape(-1)
        self.samples_in += x.size
        if self._resampler is None:
            return x
        self._pending.append(x)
        self._pending_n += x.size
        if self._pending_n < self._batch:
            return _EMPTY
        return self._resample(final=False)

    def flush(self) -> np.ndarray:
        """Whatever the resampler still holds (call once, at the end of the stream)."""
        if self._resampler is None:
            return _EMPTY
        return self._resample(final=True)

    def _resample(self, *, final: bool) -> np.ndarray:
        import av

        outs: list[np.ndarray] = []
        if self._pending_n:
            x = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending, self._pending_n = [], 0
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[None, :]), format="flt", layout="mono")
            frame.sample_rate = self.fmt.sample_rate
            outs += [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        if final:
            with contextlib.suppress(av.error.EOFError, ValueError):  # already flushed
                outs += [f.to_ndarray().reshape(-1) for f in self._resampler.resample(None)]
            self._resampler = None
        if not outs:
            return _EMPTY
        return np.concatenate(outs).astype(np.float32, copy=False)


_EMPTY = np.zeros(0, dtype=np.float32)
_EMPTY.setflags(write=False)
