"""Probe a file: its real type, size, hash and container facts, checked against the limits before
anything is fully decoded."""

from __future__ import annotations

import hashlib
import os
import time

from synthwatch._hashing import sha256_file
from synthwatch.config import Limits
from synthwatch.errors import CorruptMedia, DecodeTimeout
from synthwatch.media import sandbox
from synthwatch.media.sniff import FORMATS, Sniffed, demuxer_for, pillow_format_for, sniff
from synthwatch.media.source import check_file
from synthwatch.types import MediaInfo, MediaKind

__all__ = ["probe", "sha256_file"]

# what a container format is called once probing shows it holds video / only audio
_AS_VIDEO = {"m4a": "mp4", "mka": "mkv", "weba": "webm"}
_AS_AUDIO = {"mp4": "m4a", "mov": "m4a", "mkv": "mka", "webm": "weba"}


_HASH_BLOCK = 1 << 20


def _sha256(path: str | os.PathLike[str], deadline: float | None) -> str:
    """:func:`sha256_file`, stopped with :class:`DecodeTimeout` at ``deadline`` (hashing 4 GiB,
    the default ``max_bytes``, takes seconds: it is part of a scan's time)."""
    if deadline is None:
        return sha256_file(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        n = 0
        while block := f.read(_HASH_BLOCK):
            h.update(block)
            n += 1
            if n % 64 == 0 and time.monotonic() >= deadline:
                raise DecodeTimeout("hashing the file was stopped at the caller's time limit (deadline)")
    return h.hexdigest()


def probe(path: str | os.PathLike[str], limits: Limits | None = None, *, deadline: float | None = None,
          sniffed: Sniffed | None = None) -> MediaInfo:
    """Return :class:`~synthwatch.types.MediaInfo` for ``path``.

    Order of checks: file size (``max_bytes``) first; then the type from magic bytes; then, in the
    sandboxed worker under ``probe_timeout_s``, the header: image dimensions without decoding pixels,
    or the container's declared duration and frame size for audio/video
    (``max_pixels``, ``max_duration_s``). ``sha256`` covers the file's bytes.

    Raises the typed :mod:`synthwatch.errors` (``MediaTooLarge``, ``UnsupportedMedia``,
    ``CorruptMedia``, ``DecodeTimeout``, ``DecodeResourceError``). ``deadline`` (a
    :func:`time.monotonic` value) stops the probe there whatever is left of ``probe_timeout_s``.
    ``sniffed``: the type the caller already read from the file's bytes (a scan sniffs once).
    """
    limits = limits or Limits()
    p, size = check_file(path, limits)
    sniffed = sniffed if sniffed is not None else sniff(p)
    payload = sandbox.limits_payload(limits)
    if sniffed.kind is MediaKind.IMAGE:
        facts = sandbox.call(
            "probe_image",
            {"path": str(p), "pil_format": pillow_format_for(sniffed.format), "limits": payload},
            timeout_s=limits.probe_timeout_s,
            memory_mb=limits.decode_memory_mb,
            what="probing",
            deadline=deadline,
        )
        return MediaInfo(
            kind=MediaKind.IMAGE,
            format=sniffed.format,
            mime=sniffed.mime,
            size_bytes=size,
            sha256=_sha256(p, deadline),
            width=facts["width"],
            height=facts["height"],
            frame_count=facts["frame_count"],
        )
    facts = sandbox.call(
        "probe_av",
        {"path": str(p), "demuxer": demuxer_for(sniffed.format), "limits": payload},
        timeout_s=limits.probe_timeout_s,
        memory_mb=limits.decode_memory_mb,
        what="probing",
        deadline=deadline,
    )
    fmt = sniffed.format
    if facts["has_video"]:
        kind = MediaKind.VIDEO
        fmt = _AS_VIDEO.get(fmt, fmt)
    elif facts["has_audio"]:
        kind = MediaKind.AUDIO
        fmt = _AS_AUDIO.get(fmt, fmt)
    else:  # the worker already refuses this; kept for clarity
        raise CorruptMedia("the container holds no audio or video stream")
    mime = FORMATS[fmt][1]
    if kind is MediaKind.AUDIO and FORMATS[fmt][0] is MediaKind.VIDEO:
        mime = mime.replace("video/", "audio/", 1)
    return MediaInfo(
        kind=kind,
        format=fmt,
        mime=mime,
        size_bytes=size,
        sha256=_sha256(p, deadline),
        duration_s=facts.get("duration_s"),
        width=facts.get("width"),
        height=facts.get("height"),
        fps=facts.get("fps"),
        frame_count=facts.get("frame_count"),
        video_codec=facts.get("video_codec"),
        audio_codec=facts.get("audio_codec"),
        sample_rate=facts.get("sample_rate"),
        channels=facts.get("channels"),
        has_audio=bool(facts["has_audio"]),
        has_video=bool(facts["has_video"]),
    )
