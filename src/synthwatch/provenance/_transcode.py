"""Shared plumbing for labels that change the media itself (visible video notice, audible cue).

Re-encoding strips metadata, so every writer here ends the same way: the implicit label the caller
gives (or, without one, the source's own label) is written into the new file with
:func:`~synthwatch.provenance.aigc_label.write_label`, which reads it back to confirm. Container
tags other than ``AIGC`` are copied over. PyAV errors are translated at this boundary.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import av

from .aigc_label import read_labels, write_label
from .errors import CorruptContainer, DuplicateLabel, LabelError, TranscodeError
from .label import AIGCLabel, LabelReading

__all__ = ["MUXERS", "carry_label", "open_input", "open_output", "temp_output", "copy_tags"]

#: sniffed format -> FFmpeg muxer for the re-encoded copy
MUXERS: dict[str, str] = {
    "mp4": "mp4", "mov": "mov", "m4a": "ipod", "mkv": "matroska", "webm": "webm", "mka": "matroska",
    "weba": "webm", "wav": "wav", "flac": "flac", "ogg": "ogg", "mp3": "mp3",
}

#: the FFmpeg error family PyAV raises
AV_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, ValueError, OSError)


def open_input(path: str | os.PathLike[str], fmt: str) -> Any:
    """Open ``path`` (sniffed as ``fmt``) with PyAV for reading; an unreadable container is
    :class:`CorruptContainer`. As in the scan decoders (:func:`synthwatch.media._worker.open_av`),
    the file is opened as a file and never named to FFmpeg (a name like ``concat:a|b`` is just a
    name), the demuxer is forced from the sniffed format (FFmpeg never guesses: no playlists,
    concat scripts or image sequences) and nested opens may only use local files."""
    from synthwatch.media._worker import open_av
    from synthwatch.media.sniff import demuxer_for
    from synthwatch.media.source import display_name

    try:
        return open_av(path, demuxer_for(fmt))
    except AV_ERRORS as exc:
        raise CorruptContainer(f"cannot open {display_name(path)} for decoding: {exc}") from exc


def open_output(path: str | os.PathLike[str], muxer: str) -> Any:
    """Open the temporary copy ``path`` for writing with ``muxer``, through an explicit ``file:``
    URL (whatever the destination's name, FFmpeg writes a file and nothing else)."""
    from synthwatch.media._worker import file_url

    return av.open(file_url(path), "w", format=muxer)


@contextlib.contextmanager
def temp_output(dst: str | os.PathLike[str], suffix: str) -> Iterator[str]:
    """A temporary path beside ``dst``; removed on error (the caller moves it into place)."""
    dst_dir = os.path.dirname(os.path.abspath(dst)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".synthwatch-av-", suffix=suffix, dir=dst_dir)
    os.close(fd)
    try:
        yield tmp
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def copy_tags(src: Any, out: Any) -> None:
    """Copy container-level tags from ``src`` to ``out``, never an ``AIGC`` tag (written separately)."""
    for key, value in dict(src.metadata or {}).items():
        if key.strip().lower() in ("aigc", "encoder", "major_brand", "minor_version", "compatible_brands"):
            continue
        with contextlib.suppress(TypeError, ValueError):
            out.metadata[key] = value


def carry_label(src: str | os.PathLike[str], encoded: str, dst: str | os.PathLike[str], fmt: str,
                label: AIGCLabel | None) -> LabelReading | None:
    """Write ``label`` (else the source's own label, if it has one) into ``encoded`` and move it to ``dst``.

    Returns the label as read back from ``dst`` (None when there is none to carry). The source's
    label is taken as it is (``allow_invalid``), so a producer's deviating fields are not rewritten;
    a source with more than one label is refused (:class:`DuplicateLabel`).
    """
    allow_invalid = False
    if label is None:
        try:
            found = read_labels(src, fmt)
        except LabelError:
            found = []
        if len(found) > 1:
            raise DuplicateLabel(f"{len(found)} AIGC labels in the source; give the one label to write",
                                 count=len(found))
        if len(found) == 1:
            label, allow_invalid = found[0].label, True
    try:
        return write_label(encoded, dst, label, fmt=fmt, allow_invalid=allow_invalid)
    except av.error.FFmpegError as exc:  # pragma: no cover - the carriers do not use PyAV
        raise TranscodeError(f"writing the label failed: {exc}") from exc
