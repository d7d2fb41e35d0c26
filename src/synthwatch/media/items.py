"""Decoded items the media layer streams: sampled video frames and audio windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Frame", "AudioWindow", "SILENCE_PEAK"]

#: a window whose largest absolute sample is at most this (-80 dBFS, about three steps of 16-bit
#: audio: dither and codec noise on digital silence) holds no audible sound at all
SILENCE_PEAK = 1e-4


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One sampled video frame.

    ``t_s`` is the frame's presentation time in seconds from the start of the video stream;
    ``image`` is uint8 RGB, shape [H, W, 3], with the container's rotation already applied.
    """

    t_s: float
    image: np.ndarray

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class AudioWindow:
    """A window of mono float32 samples in [-1, 1] at ``sample_rate``.

    ``start_s`` / ``end_s`` are seconds from the start of the audio stream; the last window of a
    file may be shorter than the others and ``end_s`` is then its true end. ``peak`` is the
    largest absolute sample when the decoder measured it (None: computed from ``samples``).
    """

    start_s: float
    end_s: float
    samples: np.ndarray
    sample_rate: int = 16_000
    peak: float | None = None

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    @property
    def level(self) -> float:
        """The largest absolute sample (``peak``, or measured now)."""
        if self.peak is not None:
            return self.peak
        return float(np.max(np.abs(self.samples))) if len(self.samples) else 0.0

    @property
    def silent(self) -> bool:
        """True when the window holds no audible sound (``level`` at most :data:`SILENCE_PEAK`):
        no voice-activity detector or voice detector needs to see it."""
        return self.level <= SILENCE_PEAK
