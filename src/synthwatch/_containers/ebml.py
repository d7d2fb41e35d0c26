"""EBML (Matroska, WebM): variable-length element IDs and sizes, their encoders, and walks.

An element is ``ID (1-4 bytes, the length marker kept) | size (1-8 bytes, marker removed) |
payload``; a size whose value bits are all ones is *unknown* (live streams: the element runs until
an element that cannot be its child). Buffers are parsed strictly (:func:`children`: the carriers,
which rewrite files); files are walked leniently or strictly (:func:`iter_elements`,
:func:`read_header`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from ._base import Budget, ContainerError, Reader

__all__ = ["UNKNOWN", "EBML", "SEGMENT", "CLUSTER", "TRACKS", "read_id", "read_size", "encode_id", "encode_size",
           "element", "uint_element", "children", "Element", "read_header", "iter_elements", "doc_type_and_tracks",
           "MAX_DEPTH"]

#: the size of an element whose size field is all ones
UNKNOWN = -1
#: nesting readers follow at most (Matroska's deepest standard path is about 7 levels)
MAX_DEPTH = 32

EBML = 0x1A45DFA3
DOC_TYPE = 0x4282
SEGMENT = 0x18538067
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_TYPE = 0x83
CLUSTER = 0x1F43B675


def read_id(buf: bytes, pos: int) -> tuple[int, int]:
    """``(id, length)`` of the element ID at ``buf[pos]`` (marker bits kept, as IDs are written)."""
    if pos >= len(buf):
        raise ContainerError(f"EBML ID past the end of the data (offset {pos})")
    first = buf[pos]
    length = next((i + 1 for i in range(4) if first & (0x80 >> i)), 0)
    if not length or pos + length > len(buf):
        raise ContainerError(f"bad EBML ID at offset {pos}")
    return int.from_bytes(buf[pos : pos + length], "big"), length


def read_size(buf: bytes, pos: int) -> tuple[int, int]:
    """``(size, length)`` of the size field at ``buf[pos]``; :data:`UNKNOWN` when all value bits are 1."""
    if pos >= len(buf):
        raise ContainerError(f"EBML size past the end of the data (offset {pos})")
    first = buf[pos]
    length = next((i + 1 for i in range(8) if first & (0x80 >> i)), 0)
    if not length or pos + length > len(buf):
        raise ContainerError(f"bad EBML size at offset {pos}")
    value = first & (0xFF >> length)
    for b in buf[pos + 1 : pos + length]:
        value = (value << 8) | b
    if value == (1 << (7 * length)) - 1:
        return UNKNOWN, length
    return value, length


def encode_id(eid: int) -> bytes:
    if not 0 < eid < 1 << 32:
        raise ContainerError(f"EBML ID {eid:#x} does not fit 4 bytes")
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big")


def encode_size(n: int, length: int | None = None) -> bytes:
    """The size field for ``n`` in the fewest bytes, or exactly ``length`` bytes."""
    if n < 0:
        raise ContainerError(f"negative EBML size {n}")
    if length is None:
        length = 1
        while length < 8 and n >= (1 << (7 * length)) - 1:
            length += 1
    if not 1 <= length <= 8 or n >= (1 << (7 * length)) - 1:
        raise ContainerError(f"size {n} does not fit {length} bytes")
    return ((1 << (7 * length)) | n).to_bytes(length, "big")


def element(eid: int, payload: bytes) -> bytes:
    return encode_id(eid) + encode_size(len(payload)) + payload


def uint_element(eid: int, value: int, width: int | None = None) -> bytes:
    if width is None:
        width = max(1, (value.bit_length() + 7) // 8)
    if value < 0 or value.bit_length() > 8 * width:
        raise ContainerError(f"{value} does not fit an unsigned {width}-byte EBML integer")
    return element(eid, value.to_bytes(width, "big"))


def children(buf: bytes, *, budget: Budget | None = None) -> list[tuple[int, bytes]]:
    """``(id, payload)`` of every element in ``buf``, which must hold whole elements of known size."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    n = len(buf)
    while pos < n:
        if budget is not None:
            budget.spend()
        eid, il = read_id(buf, pos)
        size, sl = read_size(buf, pos + il)
        data = pos + il + sl
        if size == UNKNOWN or data + size > n:
            raise ContainerError(f"EBML element 0x{eid:X} at offset {pos} overruns its parent")
        out.append((eid, bytes(buf[data : data + size])))
        pos = data + size
    return out


class Element(NamedTuple):
    """An element in a file: ``id``, absolute ``start``, ``header`` (ID + size field) length,
    payload ``size`` (:data:`UNKNOWN` when not declared) and ``end`` (clipped to the parent)."""

    id: int
    start: int
    header: int
    size: int
    end: int

    @property
    def data_start(self) -> int:
        return self.start + self.header

    @property
    def unknown(self) -> bool:
        return self.size == UNKNOWN


def read_header(r: Reader, pos: int, limit: int) -> tuple[int, int, int, int]:
    """``(id, header length, size or UNKNOWN, size-field length)`` of the element at ``pos``;
    :class:`~._base.ContainerError` when it is truncated, malformed or overruns ``limit``."""
    buf = r.read_at(pos, 12)
    if len(buf) < 2:
        raise ContainerError(f"EBML element header truncated at offset {pos}")
    eid, il = read_id(buf, 0)
    size, sl = read_size(buf, il)
    if size != UNKNOWN and pos + il + sl + size > limit:
        raise ContainerError(f"EBML element 0x{eid:X} at offset {pos} overruns its parent")
    return eid, il + sl, size, sl


def iter_elements(r: Reader, start: int, end: int, *, budget: Budget | None = None) -> Iterator[Element]:
    """The elements of one level between ``start`` and ``end``, leniently: an unreadable header or
    an exhausted budget ends the walk; an element of unknown size is yielded (its ``end`` is the
    parent's) and ends it; an overrunning one is yielded clipped and ends it."""
    budget = budget if budget is not None else Budget()
    end = min(end, r.size)
    pos = start
    while pos < end and budget.take():
        buf = r.read_at(pos, 12)
        try:
            eid, il = read_id(buf, 0)
            size, sl = read_size(buf, il)
        except ContainerError:
            return
        data = pos + il + sl
        if size == UNKNOWN:
            yield Element(eid, pos, il + sl, UNKNOWN, end)
            return
        if data + size > end:
            yield Element(eid, pos, il + sl, size, end)
            return
        yield Element(eid, pos, il + sl, size, data + size)
        pos = data + size


def doc_type_and_tracks(r: Reader, *, budget: Budget | None = None) -> tuple[bytes, set[int]]:
    """``(DocType, track types)`` of a Matroska / WebM file from its header and ``Tracks``
    (1 = video, 2 = audio, 17 = subtitles ...), reading no further than the first Cluster."""
    budget = budget if budget is not None else Budget(4096)
    doctype = b""
    track_types: set[int] = set()
    for top in iter_elements(r, 0, r.size, budget=budget):
        if top.id == EBML and not top.unknown:
            for sub in iter_elements(r, top.data_start, top.end, budget=budget):
                if sub.id == DOC_TYPE and not sub.unknown:
                    doctype = r.read_at(sub.data_start, min(sub.end - sub.data_start, 32)).rstrip(b"\0")
        elif top.id == SEGMENT:
            for sub in iter_elements(r, top.data_start, top.end, budget=budget):
                if sub.id == TRACKS and not sub.unknown:
                    for entry in iter_elements(r, sub.data_start, sub.end, budget=budget):
                        if entry.id != TRACK_ENTRY or entry.unknown:
                            continue
                        for field in iter_elements(r, entry.data_start, entry.end, budget=budget):
                            if field.id == TRACK_TYPE and not field.unknown and 0 < field.end - field.data_start <= 8:
                                track_types.add(int.from_bytes(r.read_at(field.data_start, field.end - field.data_start),
                                                               "big"))
                    break
                if sub.id == CLUSTER or sub.unknown:
                    break
            break
    return doctype, track_types
