"""How far into a file its media can reach: the byte range a decoder needs to see.

Junk after the media (a sparse tail of zeros, a second file appended) must not cost a decoder
anything: FFmpeg's WAV demuxer walks an all-zero tail eight bytes at a time looking for another
``data`` chunk (minutes for a few GiB), and its raw-stream parsers (MP3, FLAC, ADTS, Ogg) buffer
and resynchronise through it (GiBs of memory). :func:`media_extent` gives the end of what the
container itself declares, so the decode worker can show FFmpeg only that much:

* RIFF (``wav``, ``avi``): the end of the RIFF form (and of the ``AVIX`` forms chained after an
  AVI), when its size field is usable; RF64 / an unset size: the whole file;
* Matroska (``matroska``): the end of the first Segment when its size is known;
* FLAC (``flac``): the metadata blocks plus the largest size the frames declared by STREAMINFO
  can take (every frame stored verbatim: the worst case), when the total sample count is known;
* raw streams (``mp3``, ``aac``, ``flac``, ``ogg``): never past the start of a trailing run of
  zero bytes (no frame or page of those formats is all zeros); sparse holes are skipped without
  reading them;
* anything else (``mov``: a box walk ends by itself): the whole file.
"""

from __future__ import annotations

import os
import struct

from . import ebml, riff
from ._base import Budget, ContainerError, Reader

__all__ = ["media_extent", "trailing_zeros_start", "flac_bound", "RAW_STREAMS"]

#: demuxers that read a raw stream of frames or pages (resynchronising through junk)
RAW_STREAMS = frozenset({"mp3", "aac", "flac", "ogg"})
_BLOCK = 1 << 20
_SLACK = 64 * 1024


def _data_end(fd: int, size: int) -> int:
    """Where the last non-hole region of the file ends (``size`` when holes are not reported)."""
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        return size
    end = 0
    pos = 0
    for _ in range(4096):  # data / hole pairs; a file with more is simply not trimmed further
        try:
            start = os.lseek(fd, pos, seek_data)
        except OSError:  # ENXIO: only a hole is left
            return end
        try:
            stop = os.lseek(fd, start, seek_hole)
        except OSError:
            return size
        end = stop
        if stop >= size:
            return size
        pos = stop
    return size


def trailing_zeros_start(fd: int, size: int) -> int:
    """Offset where the file's trailing run of zero bytes begins (``size`` when it ends in data).
    A final sparse hole is skipped without reading it; data blocks are read backwards, 1 MiB at a
    time, while they hold only zeros."""
    end = _data_end(fd, size)
    while end > 0:
        start = max(0, end - _BLOCK)
        try:
            block = os.pread(fd, end - start, start)
        except OSError:
            return end
        if len(block) != end - start:
            return end
        stripped = len(block.rstrip(b"\x00"))
        if stripped:
            return start + stripped
        end = start
    return 0


def _riff_extent(r: Reader) -> int | None:
    head = r.read_at(0, 12)
    found = riff.form(head)
    if found is None:
        return None
    container, _form, size = found
    if container not in (b"RIFF", b"RIFX") or size in (0, 0xFFFFFFFF) or size < 4:
        return None
    end = 8 + size + (size & 1)
    # AVI (OpenDML): further RIFF 'AVIX' forms follow the first one
    for _ in range(4096):
        nxt = riff.form(r.read_at(end, 12))
        if nxt is None or nxt[0] != container or nxt[1] != b"AVIX" or nxt[2] < 4:
            break
        end += 8 + nxt[2] + (nxt[2] & 1)
    return end


def _ebml_extent(r: Reader) -> int | None:
    budget = Budget(64)
    for top in ebml.iter_elements(r, 0, r.size, budget=budget):
        if top.id == ebml.SEGMENT:
            return None if top.unknown else top.data_start + top.size
    return None


def flac_bound(r: Reader) -> int | None:
    """The most bytes a FLAC file can use: its metadata blocks plus every frame its STREAMINFO
    declares stored verbatim (None when the total sample count is not given)."""
    if r.read_at(0, 4) != b"fLaC":
        return None
    pos = 4
    info: bytes | None = None
    for _ in range(1024):
        head = r.read_at(pos, 4)
        if len(head) < 4:
            return None
        last, kind = head[0] & 0x80, head[0] & 0x7F
        length = int.from_bytes(head[1:4], "big")
        if kind == 0 and info is None:
            info = r.read_at(pos + 4, min(length, 34))
        pos += 4 + length
        if last:
            break
    else:
        return None
    if info is None or len(info) < 18:
        return None
    min_bs, max_bs = (int(v) for v in struct.unpack(">HH", info[:4]))
    packed = int.from_bytes(info[10:18], "big")
    channels = ((packed >> 41) & 0x7) + 1
    bps = ((packed >> 36) & 0x1F) + 1
    total = packed & ((1 << 36) - 1)
    if total == 0:
        return None
    min_bs = max(16, min_bs)
    max_bs = max_bs if max_bs >= min_bs else 65535
    frames = -(-total // min_bs)
    verbatim = max_bs * channels * (bps + 1 + 7) // 8 + 32  # +1 bit for a side channel; header and CRC
    return pos + frames * verbatim + _SLACK


def media_extent(r: Reader, demuxer: str, fd: int | None = None) -> int:
    """How many bytes from the start of the file a decoder with ``demuxer`` needs (at most the
    file's size; see the module docstring). ``fd`` lets raw streams skip sparse tails."""
    size = r.size
    end: int | None = None
    try:
        if demuxer in ("wav", "avi"):
            end = _riff_extent(r)
        elif demuxer == "matroska":
            end = _ebml_extent(r)
        elif demuxer == "flac":
            end = flac_bound(r)
    except ContainerError:
        end = None
    extent = min(size, end) if end is not None and end > 0 else size
    if demuxer in RAW_STREAMS and fd is not None:
        extent = min(extent, max(trailing_zeros_start(fd, extent), 1))
    return extent
