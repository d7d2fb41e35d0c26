"""Decode images, sample video frames and window audio, all inside the sandboxed worker.

Every function checks the file size first, then the real type from magic bytes, then runs the
decoder in a worker process (see :mod:`synthwatch.media.sandbox`) that checks the header limits
before decoding. Iterators stream: the worker stays at most two items ahead of the consumer.

Every function takes ``deadline``: a :func:`time.monotonic` value past which the decoder is
stopped with :class:`~synthwatch.errors.DecodeTimeout` whatever is left of ``decode_timeout_s``
(the caller's limit for a whole scan, e.g. the CLI's ``--timeout``).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np

from synthwatch.config import Limits
from synthwatch.errors import UnsupportedMedia
from synthwatch.media import sandbox
from synthwatch.media.items import AudioWindow, Frame
from synthwatch.media.sniff import Sniffed, demuxer_for, pillow_format_for, sniff
from synthwatch.media.source import check_file
from synthwatch.types import MediaKind

__all__ = ["load_image", "iter_frames", "iter_audio", "read_audio"]

PathLike = str | os.PathLike[str]

#: the last, shorter audio window is kept when it holds at least this much new audio
MIN_LAST_WINDOW_S = 0.5


def _prepare(path: PathLike, limits: Limits | None, sniffed: Sniffed | None = None) -> tuple[Path, Sniffed, Limits]:
    """The checked path, its type and the limits. ``sniffed``: the type the caller already read from
    the file's bytes (a scan sniffs and probes each file once); the size and file checks always run."""
    limits = limits or Limits()
    p, _ = check_file(path, limits)
    return p, sniffed if sniffed is not None else sniff(p), limits


def load_image(path: PathLike, limits: Limits | None = None, *, deadline: float | None = None,
               sniffed: Sniffed | None = None) -> np.ndarray:
    """Decode an image to uint8 RGB ``[H, W, 3]``.

    EXIF orientation is applied; an animated GIF / WebP gives its first frame; alpha is
    composited on white; 16-bit, CMYK, palette and grey images are converted. The pixel limit is
    checked from the header before any pixel is decoded. Any image within ``max_pixels`` decodes
    under the default ``decode_memory_mb``; under a lower cap a JPEG that would not fit is decoded
    at 1/2, 1/4 or 1/8 of its size (the decoder's own scaling) and any other image is refused with
    :class:`~synthwatch.errors.DecodeResourceError` before decoding. Float or 16-bit pixels that
    are NaN or infinite are :class:`~synthwatch.errors.CorruptMedia`.
    """
    p, sniffed, limits = _prepare(path, limits, sniffed)
    if sniffed.kind is not MediaKind.IMAGE:
        raise UnsupportedMedia(f"{sniffed.format} is {sniffed.kind.value}, not an image")
    arr = sandbox.call(
        "image",
        {"path": str(p), "pil_format": pillow_format_for(sniffed.format), "limits": sandbox.limits_payload(limits)},
        timeout_s=limits.decode_timeout_s,
        memory_mb=limits.decode_memory_mb,
        what="decoding the image",
        deadline=deadline,
    )
    return np.asarray(arr, dtype=np.uint8)


def iter_frames(
    path: PathLike,
    limits: Limits | None = None,
    fps: float = 1.0,
    keyframes_only: bool = False,
    *,
    deadline: float | None = None,
    sniffed: Sniffed | None = None,
) -> Iterator[Frame]:
    """Stream sampled frames of a video as :class:`Frame` (``t_s``, uint8 RGB ``image``).

    With ``keyframes_only=False`` the first frame at or after each ``k / fps`` seconds
    (k = 0, 1, 2, ...) is returned, so a 5 s clip at 1 fps gives frames near 0, 1, 2, 3, 4 s. With
    ``keyframes_only=True`` every keyframe is returned and ``fps`` is ignored. Decoding is
    threaded; only sampled frames are converted to RGB. The display rotation of the stream is
    applied.

    Limits: the declared duration, frame size and the number of frames the sampling would give
    (``max_frames``) are checked before decoding, then again on every decoded frame. An audio-only
    file yields nothing; an image raises :class:`~synthwatch.errors.UnsupportedMedia`. Closing the
    iterator early stops the decoder. Arguments are checked, and the file is sniffed, when this
    function is called; decoding starts on the first ``next()``.
    """
    if not fps > 0:
        raise ValueError("fps must be positive")
    p, sniffed, limits = _prepare(path, limits, sniffed)
    if sniffed.kind is MediaKind.IMAGE:
        raise UnsupportedMedia(f"{sniffed.format} is an image, not a video; use load_image()")
    if sniffed.kind is MediaKind.AUDIO:
        return iter(())
    kwargs = {
        "path": str(p),
        "demuxer": demuxer_for(sniffed.format),
        "limits": sandbox.limits_payload(limits),
        "fps": float(fps),
        "keyframes_only": bool(keyframes_only),
    }
    return _frames(kwargs, limits, deadline)


def _frames(kwargs: dict[str, object], limits: Limits, deadline: float | None) -> Generator[Frame, None, None]:
    items = sandbox.stream("frames", kwargs, timeout_s=limits.decode_timeout_s, memory_mb=limits.decode_memory_mb,
                           what="decoding the video", deadline=deadline)
    try:
        for t_s, image in items:
            yield Frame(t_s=float(t_s), image=image)
    finally:
        items.close()


def iter_audio(
    path: PathLike,
    limits: Limits | None = None,
    sample_rate: int = 16_000,
    window_s: float = 4.0,
    hop_s: float = 4.0,
    *,
    deadline: float | None = None,
    sniffed: Sniffed | None = None,
) -> Iterator[AudioWindow]:
    """Stream :class:`AudioWindow` s of float32 mono audio resampled to ``sample_rate``.

    Windows start every ``hop_s`` seconds and last ``window_s``; the last, shorter window is
    included when it adds at least 0.5 s not covered by the previous window, with its true
    ``end_s``. Works for audio files and for the audio track of videos (the default track); a
    video without audio yields nothing. Times count samples from the start of the audio stream.

    Each window carries its ``peak`` (largest absolute sample); ``window.silent`` is True for
    digital silence (:data:`~synthwatch.media.items.SILENCE_PEAK`), which callers skip without
    running a voice-activity detector: the cost of a long silent file then follows its sound, not
    its duration. An all-zero window costs no transfer from the decoder. Samples that are NaN or
    infinite (float PCM) are :class:`~synthwatch.errors.CorruptMedia`.
    """
    if not (window_s > 0 and hop_s > 0 and sample_rate > 0):
        raise ValueError("sample_rate, window_s and hop_s must be positive")
    kwargs, limits = _audio_job(path, limits, sample_rate, sniffed)
    kwargs.update(window_s=float(window_s), hop_s=float(hop_s), min_last_s=MIN_LAST_WINDOW_S)
    return _windows(kwargs, limits, int(sample_rate), max(1, int(round(window_s * sample_rate))), deadline)


def _audio_job(path: PathLike, limits: Limits | None, sample_rate: int,
               sniffed: Sniffed | None = None) -> tuple[dict[str, object], Limits]:
    """The sandbox arguments every audio decode shares; images are refused (they have no audio)."""
    p, sniffed, limits = _prepare(path, limits, sniffed)
    if sniffed.kind is MediaKind.IMAGE:
        raise UnsupportedMedia(f"{sniffed.format} is an image; it has no audio")
    return {"path": str(p), "demuxer": demuxer_for(sniffed.format), "limits": sandbox.limits_payload(limits),
            "sample_rate": int(sample_rate)}, limits


def _windows(kwargs: dict[str, object], limits: Limits, sample_rate: int, win: int,
             deadline: float | None) -> Generator[AudioWindow, None, None]:
    items = sandbox.stream("audio_windows", kwargs, timeout_s=limits.decode_timeout_s,
                           memory_mb=limits.decode_memory_mb, what="decoding the audio", deadline=deadline)
    try:
        for start_s, end_s, samples, peak in items:
            if isinstance(samples, int):  # an all-zero window, sent as its length (never longer than a window)
                samples = np.zeros(min(max(0, samples), win), np.float32)
            yield AudioWindow(start_s=float(start_s), end_s=float(end_s), samples=samples, sample_rate=sample_rate,
                              peak=float(peak))
    finally:
        items.close()


def read_audio(path: PathLike, limits: Limits | None = None, sample_rate: int = 16_000, *,
               deadline: float | None = None, sniffed: Sniffed | None = None) -> np.ndarray:
    """Decode a whole (short) audio track to float32 mono at ``sample_rate``.

    Bounded by ``limits.max_duration_s`` (declared duration first, then decoded samples). A video
    without audio gives an empty array. For long media prefer :func:`iter_audio`.
    """
    if not sample_rate > 0:
        raise ValueError("sample_rate must be positive")
    kwargs, limits = _audio_job(path, limits, sample_rate, sniffed)
    blocks = list(sandbox.stream("audio_chunks", kwargs, timeout_s=limits.decode_timeout_s,
                                 memory_mb=limits.decode_memory_mb, what="decoding the audio", deadline=deadline))
    if not blocks:
        return np.zeros(0, np.float32)
    return np.concatenate(blocks).astype(np.float32, copy=False)
