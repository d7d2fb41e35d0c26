"""Byte copying shared by the container writers."""

from __future__ import annotations

from typing import BinaryIO

from ..errors import CorruptContainer

__all__ = ["copy_exact"]

_BLOCK = 1 << 20


def copy_exact(f: BinaryIO, dst: BinaryIO, n: int) -> None:
    """Copy exactly ``n`` bytes from ``f``'s current position to ``dst``, in 1 MiB blocks;
    :class:`CorruptContainer` when ``f`` ends first."""
    remaining = n
    while remaining > 0:
        buf = f.read(min(remaining, _BLOCK))
        if not buf:
            raise CorruptContainer("file ended early while copying")
        dst.write(buf)
        remaining -= len(buf)
