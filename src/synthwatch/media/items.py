"""Decoded items the media layer streams: sampled video frames and audio windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Frame", "AudioWindow"]


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
    file may be shorter than the others and ``end_s`` is then its true end.
    """

    start_s: float
    end_s: float
    samples: np.ndarray
    sample_rate: int = 16_000

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)
