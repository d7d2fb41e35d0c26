r"""One function that turns every way media can arrive into a file on disk, one way to open a user's
file, one classification of what can go wrong doing so, and one way to name it in reports.

:func:`open_source` accepts a filesystem path, ``bytes``-like data or a readable binary stream and
yields a :class:`MediaSource` with a path the decoders can open and a display name for reports.
Bytes and streams are spooled to a private temporary file (mode 0600) that is removed when the
``with`` block ends; the byte limit is enforced while spooling, so an endless stream stops at
``limits.max_bytes + 1`` bytes.

:func:`open_input` opens a user's path as a regular file or raises the one classification of the
fault (:func:`input_error`), the same in every command: a missing file, a symlink loop or a path
without permission is :class:`~synthwatch.errors.MediaError`; a directory, FIFO, socket or device
is :class:`~synthwatch.errors.UnsupportedMedia` (a FIFO is never waited on).

:func:`display_name` is how a file's name appears in reports (``report.source``) and messages:
always valid Unicode, and lossless (:func:`name_from_display` gives the exact name back):

* a byte of the name that is not part of valid UTF-8 is written ``\xNN`` (two lower-case hex
  digits; on POSIX such names reach Python as ``surrogateescape`` characters U+DC80-U+DCFF);
* a lone surrogate that is not such a byte (possible in a ``str`` handed in by a caller) is
  written ``\uNNNN`` (four lower-case hex digits);
* a backslash is written as two backslashes, so the two escapes above are never ambiguous;
* everything else is kept as it is (control characters included: JSON output escapes them, and
  human output shows them with :func:`synthwatch.render.text.printable`).

So the Latin-1 name ``b"caf\xe9.jpg"`` is reported as ``caf\xe9.jpg`` (the four characters
backslash, x, e, 9), and ``a\b.jpg`` as ``a\\b.jpg``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

from synthwatch.config import Limits
from synthwatch.errors import MediaError, MediaTooLarge, UnsupportedMedia

__all__ = ["MediaSource", "SourceLike", "open_source", "check_file", "open_input", "input_error", "display_name",
           "name_from_display"]

_CHUNK = 1024 * 1024

SourceLike = Union[str, os.PathLike[str], bytes, bytearray, memoryview, IO[bytes], "MediaSource"]


@dataclass(frozen=True, slots=True)
class MediaSource:
    """A readable regular file plus how to name it in reports.

    ``name`` is the caller's name for it (else the path) through :func:`display_name`: valid
    Unicode, losslessly escaped. ``spooled`` is True when the file is a temporary copy of bytes or a stream (it is deleted when
    the :func:`open_source` block ends). Usable wherever a path is accepted (``os.fspath``).
    """

    path: Path
    name: str
    size_bytes: int
    spooled: bool = False

    def __fspath__(self) -> str:
        return str(self.path)


# ----------------------------------------------------------------------------------------------
# names: one lossless escape (see the module docstring)
# ----------------------------------------------------------------------------------------------


def display_name(name: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """The report name of a path or name: valid Unicode, lossless (the module docstring has the rule)."""
    raw = os.fspath(name)
    text = os.fsdecode(raw) if isinstance(raw, bytes) else raw
    if text.isascii() and "\\" not in text:
        return text
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


_ESCAPE = re.compile(r"\\(?:(\\)|x([0-9a-f]{2})|u([0-9a-f]{4}))")


def name_from_display(text: str) -> str:
    """The exact name :func:`display_name` made ``text`` from (as ``str``; ``os.fsencode`` gives
    the bytes of a POSIX name). Raises ``ValueError`` for text :func:`display_name` cannot make."""

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return "\\"
        if m.group(2):
            value = int(m.group(2), 16)
            if value < 0x80:
                raise ValueError(f"\\x{m.group(2)} is not an escaped byte (only 80-ff are)")
            return chr(0xDC00 + value)
        value = int(m.group(3), 16)
        if not 0xD800 <= value <= 0xDFFF or 0xDC80 <= value <= 0xDCFF:
            raise ValueError(f"\\u{m.group(3)} is not an escaped lone surrogate")
        return chr(value)

    pos = 0
    out: list[str] = []
    for m in _ESCAPE.finditer(text):
        chunk = text[pos : m.start()]
        if "\\" in chunk:
            raise ValueError(f"a lone backslash at offset {pos + chunk.index(chr(92))}")
        out.append(chunk)
        out.append(one(m))
        pos = m.end()
    tail = text[pos:]
    if "\\" in tail:
        raise ValueError(f"a lone backslash at offset {pos + tail.index(chr(92))}")
    out.append(tail)
    return "".join(out)


# ----------------------------------------------------------------------------------------------
# opening a user's file: one classification of every fault
# ----------------------------------------------------------------------------------------------

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _what(mode: int) -> str:
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def input_error(path: str | bytes | os.PathLike[str] | os.PathLike[bytes], exc: OSError) -> MediaError:
    """The synthwatch error for an ``OSError`` raised while opening or reading a user's path.

    One classification, used by every entry point (scan, label check, probe, the carriers):

    ============================  =====================  ==========================================
    fault                         error                  message
    ============================  =====================  ==========================================
    missing (ENOENT, ENOTDIR)     MediaError             ``no such file: NAME``
    symlink loop (ELOOP)          MediaError             ``cannot open NAME: a symbolic link loop``
    no permission (EACCES/EPERM)  MediaError             ``cannot open NAME: permission denied``
    a directory (EISDIR)          UnsupportedMedia       ``not a regular file (a directory): NAME``
    name too long                 MediaError             ``cannot open NAME: the name is too long``
    anything else                 MediaError             ``cannot read NAME: <strerror>``
    ============================  =====================  ==========================================
    """
    name = display_name(path)
    code = exc.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        return MediaError(f"no such file: {name}")
    if code == errno.ELOOP:
        return MediaError(f"cannot open {name}: a symbolic link loop")
    if code in (errno.EACCES, errno.EPERM):
        return MediaError(f"cannot open {name}: permission denied")
    if code == errno.EISDIR:
        return UnsupportedMedia(f"not a regular file (a directory): {name}")
    if code == errno.ENAMETOOLONG:
        return MediaError(f"cannot open {name}: the name is too long")
    return MediaError(f"cannot read {name}: {exc.strerror or exc}")


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def open_input(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> io.BufferedReader:
    """Open a user's path for reading as a regular file (binary, buffered, seekable).

    It is opened non-blocking and checked with ``fstat`` on the open descriptor, so a FIFO is
    never waited on and a file swapped for something else between a check and the open is still
    refused; then it reads like any file. Faults are classified by :func:`input_error`; anything
    that is not a regular file is :class:`~synthwatch.errors.UnsupportedMedia`.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise input_error(path, exc) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsupportedMedia(f"not a regular file ({_what(st.st_mode)}): {display_name(path)}")
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return open(fd, "rb", closefd=True)  # noqa: SIM115 - the caller owns it
    except OSError as exc:
        os.close(fd)
        raise input_error(path, exc) from exc
    except BaseException:
        os.close(fd)
        raise


def _too_large(value: int, maximum: int) -> MediaTooLarge:
    return MediaTooLarge(
        f"input is larger than the limit of {maximum} bytes (max_bytes)",
        limit="max_bytes",
        value=value,
        maximum=maximum,
    )


def check_file(path: str | os.PathLike[str], limits: Limits) -> tuple[Path, int]:
    """Check that ``path`` is a regular file within ``limits.max_bytes``; return (absolute path, size).

    This is the first check every media entry point makes: the size limit applies before any
    byte is parsed. The path is made absolute (not resolved: symlinks stay as given), so a worker
    process reads the very file the caller named. Faults are classified by :func:`input_error`.
    """
    p = Path(os.path.abspath(os.fspath(path)))
    try:
        st = p.stat()
    except OSError as exc:
        raise input_error(p, exc) from exc
    if not stat.S_ISREG(st.st_mode):
        raise UnsupportedMedia(f"not a regular file ({_what(st.st_mode)}): {display_name(p)}")
    if st.st_size > limits.max_bytes:
        raise _too_large(st.st_size, limits.max_bytes)
    if not os.access(p, os.R_OK):
        raise MediaError(f"cannot open {display_name(p)}: permission denied")
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
        yield MediaSource(path=p, name=display_name(name if name else src), size_bytes=size, spooled=False)
        return
    if isinstance(src, bytes | bytearray | memoryview):
        n = memoryview(src).nbytes
        if n > limits.max_bytes:
            raise _too_large(n, limits.max_bytes)
        path, size = _spool(_bytes_chunks(src), limits, directory)
        display = display_name(name) if name else "<bytes>"
    elif hasattr(src, "read"):
        if isinstance(src, io.TextIOBase):
            raise TypeError("open_source() needs a binary stream (opened with 'rb'), not a text stream")
        path, size = _spool(_stream_chunks(src), limits, directory)
        stream_name = getattr(src, "name", None)
        display = display_name(name) if name else (display_name(stream_name) if isinstance(stream_name, str | bytes)
                                                    else "<stream>")
    else:
        raise TypeError(f"open_source() takes a path, bytes or a binary stream, not {type(src).__name__}")
    try:
        yield MediaSource(path=path, name=display, size_bytes=size, spooled=True)
    finally:
        path.unlink(missing_ok=True)
