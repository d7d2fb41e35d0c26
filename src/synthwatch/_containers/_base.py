"""What every container reader shares: the one error, the element budget and positioned reads."""

from __future__ import annotations

import os
from typing import BinaryIO

__all__ = ["ContainerError", "Budget", "Reader", "DEFAULT_BUDGET"]

#: elements one walk of a file may visit unless the caller says otherwise
DEFAULT_BUDGET = 100_000


class ContainerError(ValueError):
    """A container structure that cannot be walked (truncated, overrunning, malformed, too many
    elements). The message says what and where (byte offsets), never more than a few bytes of
    the file's own content."""


class Budget:
    """How many more elements a walk may visit. Shared by nested walks of one file, so a
    hostile file cannot make the work grow with the product of its nesting levels."""

    __slots__ = ("left", "total")

    def __init__(self, n: int = DEFAULT_BUDGET) -> None:
        self.left = int(n)
        self.total = int(n)

    def take(self) -> bool:
        """Spend one element; False when none is left (a lenient walk stops there)."""
        self.left -= 1
        return self.left >= 0

    def spend(self) -> None:
        """Spend one element; :class:`ContainerError` when none is left (strict walks)."""
        if not self.take():
            raise ContainerError(f"more than {self.total:,} container elements")


class Reader:
    """Positioned reads over an open binary file or a bytes-like buffer.

    ``read_at(pos, n)`` returns at most ``n`` bytes (fewer at the end, never an error), so a
    declared size can never make a reader allocate more than its caller asked for."""

    __slots__ = ("_f", "_buf", "size")

    def __init__(self, src: BinaryIO | bytes | bytearray | memoryview, size: int | None = None) -> None:
        if isinstance(src, bytes | bytearray | memoryview):
            self._buf: memoryview | None = memoryview(src).cast("B")
            self._f: BinaryIO | None = None
            self.size = len(self._buf) if size is None else min(int(size), len(self._buf))
        else:
            self._buf = None
            self._f = src
            if size is None:
                try:
                    size = os.fstat(src.fileno()).st_size
                except (AttributeError, OSError, ValueError):
                    pos = src.tell()
                    size = src.seek(0, os.SEEK_END)
                    src.seek(pos)
            self.size = int(size)

    def read_at(self, pos: int, n: int) -> bytes:
        if pos < 0 or n <= 0 or pos >= self.size:
            return b""
        n = min(n, self.size - pos)
        if self._buf is not None:
            return bytes(self._buf[pos : pos + n])
        assert self._f is not None
        try:
            self._f.seek(pos)
            return self._f.read(n)
        except OSError as exc:
            raise ContainerError(f"cannot read {n} bytes at offset {pos}: {exc.strerror or exc}") from exc
