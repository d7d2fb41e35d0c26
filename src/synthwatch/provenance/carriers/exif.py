"""Minimal, bounded EXIF (TIFF IFD0) reading: the tags that name the software that made a file."""

from __future__ import annotations

import struct

__all__ = ["exif_strings"]

#: IFD0 tags whose ASCII value can name a generator
_TAGS = {0x0131: "Software", 0x010F: "Make", 0x0110: "Model", 0x013B: "Artist", 0x010E: "ImageDescription"}
_MAX_ENTRIES = 1024


def exif_strings(tiff: bytes) -> dict[str, str]:
    """ASCII IFD0 tags (Software, Make, Model, Artist, ImageDescription) from TIFF-structured EXIF.

    ``tiff`` starts at the byte-order mark ("II*\\0" / "MM\\0*"). Malformed data gives what could
    be read, never an exception.
    """
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return {}
    e = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(e + "I", tiff, 4)
        (count,) = struct.unpack_from(e + "H", tiff, ifd)
    except struct.error:
        return {}
    out: dict[str, str] = {}
    for i in range(min(count, _MAX_ENTRIES)):
        pos = ifd + 2 + 12 * i
        try:
            tag, typ, n, value = struct.unpack_from(e + "HHI4s", tiff, pos)
        except struct.error:
            break
        if tag not in _TAGS or typ != 2 or n == 0:
            continue
        if n <= 4:
            raw = value[:n]
        else:
            (off,) = struct.unpack(e + "I", value)
            raw = tiff[off:off + min(n, 4096)]
        out[_TAGS[tag]] = raw.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()
    return out
