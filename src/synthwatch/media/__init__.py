"""The media layer: normalise inputs, sniff real types, probe within limits, and decode in a
sandboxed worker process.

::

    from synthwatch.media import open_source, probe, iter_frames, iter_audio

    with open_source(data_or_path_or_stream, limits) as src:
        info = probe(src.path, limits)
        for frame in iter_frames(src.path, limits, fps=1.0):
            ...  # frame.t_s, frame.image (uint8 RGB [H, W, 3])
        for window in iter_audio(src.path, limits):
            ...  # window.start_s, window.end_s, window.samples (float32 mono, 16 kHz)
"""

from __future__ import annotations

from synthwatch.media.decode import iter_audio, iter_frames, load_image, read_audio
from synthwatch.media.items import AudioWindow, Frame
from synthwatch.media.probe import probe
from synthwatch.media.sniff import (
    AUDIO_SUFFIXES,
    IMAGE_SUFFIXES,
    MEDIA_SUFFIXES,
    VIDEO_SUFFIXES,
    Sniffed,
    kind_of_suffix,
    sniff,
)
from synthwatch.media.source import (
    MediaSource,
    check_file,
    display_name,
    input_error,
    name_from_display,
    open_input,
    open_source,
)

__all__ = [
    "open_source",
    "MediaSource",
    "sniff",
    "Sniffed",
    "probe",
    "load_image",
    "iter_frames",
    "iter_audio",
    "read_audio",
    "Frame",
    "AudioWindow",
    "check_file",
    "open_input",
    "input_error",
    "display_name",
    "name_from_display",
    "MEDIA_SUFFIXES",
    "IMAGE_SUFFIXES",
    "AUDIO_SUFFIXES",
    "VIDEO_SUFFIXES",
    "kind_of_suffix",
]
