"""RIFF (WAV, WebP, AVI): ``fourcc:4 size:u32 payload [pad byte when size is odd]``.

``RIFF`` and ``RF64`` / ``BW64`` are little-endian, ``RIFX`` big-endian. :func:`form` names the
file's outer form; :func:`iter_chunks` walks the chunks of one level (the top level after the
12-byte form header, or the entries of a ``LIST``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from ._base import Budget, ContainerError, Reader

__all__ = ["Chunk", "form", "iter_chunks", "chunk"]

_FORMS = (b"RIFF", b"RIFX", b"RF64", b"BW64")


class Chunk(NamedTuple):
    """One chunk: ``id``, absolute ``start`` (of its fourcc), payload ``size`` (clipped when the
    chunk was allowed to be truncated) and ``declared`` (the size field)."""

    id: bytes
    start: int
    size: int
    declared: int

    @property
    def data_start(self) -> int:
        return self.start + 8

    @property
    def end(self) -> int:
        """Where the next chunk starts: the payload plus its pad byte when the size is odd."""
        return self.start + 8 + self.size + (self.size & 1)

    @property
    def truncated(self) -> bool:
        return self.size < self.declared

    @property
    def id_text(self) -> str:
        return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in self.id)


def form(head: bytes) -> tuple[bytes, bytes, int] | None:
    """``(container id, form type, declared size)`` of a RIFF-family header, or None."""
    if len(head) < 12 or head[:4] not in _FORMS:
        return None
    (size,) = struct.unpack(">I" if head[:4] == b"RIFX" else "<I", head[4:8])
    return head[:4], head[8:12], int(size)


def iter_chunks(r: Reader, start: int, end: int, *, budget: Budget | None = None, big_endian: bool = False,
                truncated_ok: frozenset[bytes] | tuple[bytes, ...] = (), strict: bool = True) -> Iterator[Chunk]:
    """The chunks between ``start`` and ``end``.

    A chunk that runs past ``end`` is :class:`~._base.ContainerError` (``strict``) unless its id is
    in ``truncated_ok`` (a cut-off ``data`` chunk is common: it is yielded clipped and ends the
    walk); lenient walks yield it clipped and stop. Fewer than 8 bytes left end the walk.
    """
    budget = budget if budget is not None else Budget()
    end = min(end, r.size)
    fmt = ">I" if big_endian else "<I"
    pos = start
    while pos + 8 <= end:
        if strict:
            budget.spend()
        elif not budget.take():
            return
        head = r.read_at(pos, 8)
        if len(head) < 8:
            return
        cid = head[:4]
        (size,) = struct.unpack(fmt, head[4:8])
        if pos + 8 + size > end:
            c = Chunk(cid, pos, end - pos - 8, int(size))
            if cid in truncated_ok or not strict:
                yield c
                return
            raise ContainerError(f"RIFF chunk {c.id_text!r} at offset {pos:,} declares {size:,} bytes and overruns "
                                 f"its parent (ends at {end:,})")
        c = Chunk(cid, pos, int(size), int(size))
        yield c
        pos = c.end


def chunk(cid: bytes, body: bytes, *, big_endian: bool = False) -> bytes:
    """A whole chunk: header, ``body`` and the pad byte when its length is odd."""
    if len(cid) != 4:
        raise ContainerError("a RIFF chunk id is four bytes")
    if len(body) > 0xFFFFFFFF:
        raise ContainerError("a RIFF chunk holds at most 4 GiB")
    return cid + struct.pack(">I" if big_endian else "<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")
