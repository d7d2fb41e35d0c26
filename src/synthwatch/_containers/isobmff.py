"""ISO base media file format (MP4, MOV, M4A, HEIF): boxes.

A box is ``size:u32 type:4cc [largesize:u64] payload``; ``size == 1`` means a 64-bit size follows,
``size == 0`` means "to the end of the enclosing box (or file)". :func:`iter_boxes` walks one level;
callers recurse into the container boxes they care about with the same :class:`~._base.Budget`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from ._base import Budget, ContainerError, Reader

__all__ = ["Box", "iter_boxes", "parse_header", "full_box_duration", "tkhd_duration", "MovieFacts", "movie_facts",
           "UNSET_DURATIONS"]

#: all-ones durations mean "unknown" in mvhd / tkhd / mdhd
UNSET_DURATIONS = (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
_ZERO_TYPE = b"\x00\x00\x00\x00"


class Box(NamedTuple):
    """One box: ``type``, absolute ``start`` (of its size field), ``header`` length (8 or 16),
    ``end`` clipped to the parent and ``declared_end`` as its size field says."""

    type: bytes
    start: int
    header: int
    end: int
    declared_end: int

    @property
    def data_start(self) -> int:
        return self.start + self.header

    @property
    def overrun(self) -> bool:
        """The declared size passes the end of the parent (a truncated or lying box)."""
        return self.declared_end > self.end

    @property
    def type_text(self) -> str:
        """The type for messages: printable ASCII kept, anything else as \\xNN (never raw bytes)."""
        return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in self.type)


def parse_header(hdr: bytes, pos: int, end: int) -> tuple[bytes, int, int] | None:
    """``(type, header length, declared size)`` of the box whose first bytes are ``hdr`` (read at
    ``pos`` inside a parent that ends at ``end``); None when ``hdr`` is too short to hold it.
    A size of 0 resolves to the rest of the parent."""
    if len(hdr) < 8:
        return None
    size, typ = struct.unpack(">I4s", hdr[:8])
    hlen = 8
    if size == 1:
        if len(hdr) < 16:
            return None
        size = struct.unpack(">Q", hdr[8:16])[0]
        hlen = 16
    elif size == 0:
        size = end - pos
    return typ, hlen, size


def iter_boxes(r: Reader, start: int, end: int, *, budget: Budget | None = None,
               strict: bool = False) -> Iterator[Box]:
    """The boxes of one level between ``start`` and ``end``.

    Lenient (``strict=False``, sniffing and probing): a header that cannot be read ends the walk,
    an overrunning box is yielded clipped (``overrun`` is True) and ends the walk, an exhausted
    budget ends it. Strict (the carriers, which rewrite files): each of those raises
    :class:`~._base.ContainerError`. In both modes an overrunning box of type ``\\0\\0\\0\\0`` (the
    zero padding and terminators QuickTime writers leave) ends the walk silently; what follows the
    last box is the caller's trailer.
    """
    budget = budget if budget is not None else Budget()
    end = min(end, r.size)
    pos = start
    while pos + 8 <= end:
        if strict:
            budget.spend()
        elif not budget.take():
            return
        head = parse_header(r.read_at(pos, min(16, end - pos)), pos, end)
        if head is None:
            if strict:
                raise ContainerError(f"truncated 64-bit box header at offset {pos}")
            return
        typ, hlen, size = head
        declared = pos + size
        if size < hlen or declared > end:
            if typ == _ZERO_TYPE:
                return
            box = Box(typ, pos, hlen, end, declared)
            if strict:
                what = "is smaller than its header" if size < hlen else f"overruns its parent (ends at {end:,})"
                raise ContainerError(f"box {box.type_text!r} at offset {pos:,} declares {size:,} bytes and {what}")
            if size >= hlen:
                yield box
            return
        yield Box(typ, pos, hlen, declared, declared)
        pos = declared


def full_box_duration(payload: bytes) -> tuple[int, int] | None:
    """``(timescale, duration)`` of an ``mvhd`` or ``mdhd`` payload (version 0 or 1), or None."""
    if not payload:
        return None
    if payload[0] == 1:
        if len(payload) < 32:
            return None
        scale, dur = struct.unpack(">IQ", payload[20:32])
    else:
        if len(payload) < 20:
            return None
        scale, dur = struct.unpack(">II", payload[12:20])
    return int(scale), int(dur)


def tkhd_duration(payload: bytes) -> int | None:
    """The duration field of a ``tkhd`` payload (in the movie's timescale), or None."""
    if not payload:
        return None
    if payload[0] == 1:
        return int(struct.unpack(">Q", payload[28:36])[0]) if len(payload) >= 36 else None
    return int(struct.unpack(">I", payload[20:24])[0]) if len(payload) >= 24 else None


class MovieFacts(NamedTuple):
    """What the box headers of a movie say, read without any decoder."""

    brands: list[bytes]  # ftyp major brand, then the compatible brands
    handlers: set[bytes]  # hdlr handler types of the tracks (b"vide", b"soun", ...)
    durations: list[float]  # seconds declared by mvhd, tkhd and mdhd
    truncated: str | None  # why the file is cut short, when a top-level box overruns it


def movie_facts(r: Reader, *, budget: Budget | None = None) -> MovieFacts:
    """Walk ``ftyp`` and ``moov/{mvhd, trak/{tkhd, mdia/{mdhd, hdlr}}}`` leniently (bounded by
    ``budget``, 4096 boxes by default) and report brands, track handlers, declared durations and
    whether a top-level box runs past the end of the file."""
    budget = budget if budget is not None else Budget(4096)
    brands: list[bytes] = []
    handlers: set[bytes] = set()
    durations: list[float] = []
    truncated: str | None = None
    movie_scale = 0
    for top in iter_boxes(r, 0, r.size, budget=budget):
        if top.overrun and truncated is None:
            truncated = (f"the file is truncated: its {top.type_text!r} box needs {top.declared_end:,} bytes "
                         f"but the file has {r.size:,}")
        if top.type == b"ftyp":
            data = r.read_at(top.data_start, min(top.end - top.data_start, 256))
            if len(data) >= 4:
                brands.append(data[:4])
                brands.extend(data[i : i + 4] for i in range(8, len(data) - 3, 4))
        elif top.type == b"moov":
            for box in iter_boxes(r, top.data_start, top.end, budget=budget):
                if box.type == b"mvhd":
                    found = full_box_duration(r.read_at(box.data_start, min(box.end - box.data_start, 32)))
                    if found is not None:
                        movie_scale, dur = found
                        if movie_scale and dur not in UNSET_DURATIONS:
                            durations.append(dur / movie_scale)
                elif box.type == b"trak":
                    _track(r, box, budget, movie_scale, handlers, durations)
    return MovieFacts(brands, handlers, durations, truncated)


def _track(r: Reader, trak: Box, budget: Budget, movie_scale: int, handlers: set[bytes],
           durations: list[float]) -> None:
    for box in iter_boxes(r, trak.data_start, trak.end, budget=budget):
        if box.type == b"tkhd" and movie_scale:
            dur = tkhd_duration(r.read_at(box.data_start, min(box.end - box.data_start, 36)))
            if dur is not None and dur not in UNSET_DURATIONS:
                durations.append(dur / movie_scale)
        elif box.type == b"mdia":
            for sub in iter_boxes(r, box.data_start, box.end, budget=budget):
                if sub.type == b"mdhd":
                    found = full_box_duration(r.read_at(sub.data_start, min(sub.end - sub.data_start, 32)))
                    if found is not None and found[0] and found[1] not in UNSET_DURATIONS:
                        durations.append(found[1] / found[0])
                elif sub.type == b"hdlr":
                    handler = r.read_at(sub.data_start + 8, 4)
                    if len(handler) == 4 and sub.end - sub.data_start >= 12:
                        handlers.add(handler)
