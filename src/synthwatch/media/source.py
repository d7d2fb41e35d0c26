"""One function that turns every way media can arrive into a file on disk.

:func:`open_source` accepts a filesystem path, ``bytes``-like data or a readable binary stream and
yields a :class:`MediaSource` with a path the decoders can open and a display name for reports.
Bytes and streams are spooled to a private temporary file (mode 0600) that is removed when the
``with`` block ends; the byte limit is enforced while spooling, so an endless stream stops at
``limits.max_bytes + 1`` bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

from synthwatch.config import Limits
from synthwatch.errors import MediaError, MediaTooLarge, UnsupportedMedia

__all__ = ["MediaSource", "SourceLike", "open_source", "check_file"]

_CHUNK = 1024 * 1024

SourceLike = Union[str, os.PathLike[str], bytes, bytearray, memoryview, IO[bytes], "MediaSource"]


@dataclass(frozen=True, slots=True)
class MediaSource:
    """A readable regular file plus how to name it in reports.

    ``spooled`` is True when the file is a temporary copy of bytes or a stream (it is deleted when
    the :func:`open_source` block ends). Usable wherever a path is accepted (``os.fspath``).
    """

    path: Path
    name: str
    size_bytes: int
    spooled: bool = False

    def __fspath__(self) -> str:
        return str(self.path)


def _too_large(value: int, maximum: int) -> MediaTooLarge:
    return MediaTooLarge(
        f"input is larger than the limit of {maximum} bytes (max_bytes)",
        limit="max_bytes",
        value=value,
        maximum=maximum,
    )


def check_file(path: str | os.PathLike[str], limits: Limits) -> tuple[Path, int]:
    """Resolve ``path`` to a regular file within ``limits.max_bytes``; return (path, size).

    This is the first check every media entry point makes: the size limit applies before any
    byte is parsed.
    """
    p = Path(os.fspath(path))
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise MediaError(f"no such file: {p}") from exc
    except OSError as exc:
        raise MediaError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise UnsupportedMedia(f"not a regular file: {p}")
    if st.st_size > limits.max_bytes:
        raise _too_large(st.st_size, limits.max_bytes)
    if not os.access(p, os.R_OK):
        raise MediaError(f"cannot read {p}: permission denied")
    return p, st.st_size


def _spool(chunks: Iterator[bytes], limits: Limits, directory: str | None) -> tuple[Path, int]:
    fd, name = tempfile.mkstemp(prefix="synthwatch-", suffix=".media", dir=directory)
    path = Path(name)
    total = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                total += len(chunk)
                if total > limits.max_bytes:
                    raise _too_large(total, limits.max_bytes)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, total


def _stream_chunks(stream: Any) -> Iterator[bytes]:
    while True:
        chunk = stream.read(_CHUNK)
        if chunk is None:
            raise TypeError("open_source() needs a blocking binary stream; read() returned None")
        if isinstance(chunk, str):
            raise TypeError("open_source() needs a binary stream (opened with 'rb'), not a text stream")
        if not chunk:
            return
        yield bytes(chunk)


def _bytes_chunks(data: bytes | bytearray | memoryview) -> Iterator[bytes]:
    view = memoryview(data).cast("B")
    for i in range(0, len(view), _CHUNK):
        yield bytes(view[i : i + _CHUNK])


@contextlib.contextmanager
def open_source(
    src: SourceLike,
    limits: Limits | None = None,
    *,
    name: str | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
) -> Iterator[MediaSource]:
    """Normalise ``src`` (path, bytes-like or binary stream) to a :class:`MediaSource`.

    ::

        with open_source(upload.file, limits, name=upload.filename) as source:
            info = probe(source.path, limits)

    Raises :class:`~synthwatch.errors.MediaTooLarge` when the input exceeds ``limits.max_bytes``
    (checked with ``stat`` for paths, while copying for bytes and streams),
    :class:`~synthwatch.errors.MediaError` for a missing or unreadable path and ``TypeError`` for
    anything that is not a path, bytes or a binary stream. Stream reads are not closed here:
    the caller owns the stream.
    """
    limits = limits or Limits()
    directory = os.fspath(spool_dir) if spool_dir is not None else None
    if isinstance(src, MediaSource):
        check_file(src.path, limits)
        yield src
        return
    if isinstance(src, str | os.PathLike):
        p, size = check_file(src, limits)
        yield MediaSource(path=p, name=name or str(src), size_bytes=size, spooled=False)
        return
    if isinstance(src, bytes | bytearray | memoryview):
        n = memoryview(src).nbytes
        if n > limits.max_bytes:
            raise _too_large(n, limits.max_bytes)
        path, size = _spool(_bytes_chunks(src), limits, directory)
        display = name or "<bytes>"
    elif hasattr(src, "read"):
        if isinstance(src, io.TextIOBase):
            raise TypeError("open_source() needs a binary stream (opened with 'rb'), not a text stream")
        path, size = _spool(_stream_chunks(src), limits, directory)
        stream_name = getattr(src, "name", None)
        display = name or (os.fsdecode(stream_name) if isinstance(stream_name, str | bytes) else "<stream>")
    else:
        raise TypeError(f"open_source() takes a path, bytes or a binary stream, not {type(src).__name__}")
    try:
        yield MediaSource(path=path, name=display, size_bytes=size, spooled=True)
    finally:
        path.unlink(missing_ok=True)
