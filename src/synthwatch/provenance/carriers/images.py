"""JPEG, PNG and WebP metadata: find the XMP packet, EXIF, text chunks and C2PA data; rewrite XMP.

Everything is parsed from bytes with bounded loops; writing touches only metadata segments or
chunks (JPEG APP1, PNG iTXt, WebP ``XMP `` and the VP8X header), so compressed image data is
copied byte for byte.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from synthwatch._containers import Budget, ContainerError, Reader, riff

from ..errors import CorruptContainer, LabelTooLarge
from ..label import Deviation
from .exif import exif_strings

__all__ = [
    "ImageMeta",
    "read_jpeg",
    "read_png",
    "read_webp",
    "write_jpeg_xmp",
    "write_png_xmp",
    "write_webp_xmp",
    "MAX_TEXT_CHUNK",
]

XMP_JPEG_SIG = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PNG_KEYWORD = b"XML:com.adobe.xmp"
MAX_TEXT_CHUNK = 4 * 1024 * 1024  # decompressed PNG text cap
_MAX_SEGMENTS = 65536


@dataclass
class ImageMeta:
    """Provenance-relevant metadata of one image file."""

    xmp: list[bytes] = field(default_factory=list)
    exif: dict[str, str] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)  # PNG tEXt/zTXt/iTXt keyword -> text
    c2pa: bool = False  # a JUMBF / caBX C2PA store is present
    deviations: list[Deviation] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# JPEG


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """(marker, start, end) of each marker segment before SOS, and the offset where SOS begins."""
    if data[:2] != b"\xff\xd8":
        raise CorruptContainer("not a JPEG (no SOI marker)")
    segs: list[tuple[int, int, int]] = []
    pos = 2
    while len(segs) < _MAX_SEGMENTS:
        if pos + 2 > len(data):
            raise CorruptContainer("JPEG ends before the image data")
        if data[pos] != 0xFF:
            raise CorruptContainer(f"JPEG marker expected at offset {pos}")
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        if marker == 0xDA or marker == 0xD9:
            return segs, pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > len(data):
            raise CorruptContainer("truncated JPEG segment header")
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise CorruptContainer(f"JPEG segment at {pos} overruns the file")
        segs.append((marker, pos, end))
        pos = end
    raise CorruptContainer("too many JPEG segments")


def read_jpeg(data: bytes) -> ImageMeta:
    meta = ImageMeta()
    segs, _ = _jpeg_segments(data)
    for marker, start, end in segs:
        payload = data[start + 4:end]
        if marker == 0xE1 and payload.startswith(XMP_JPEG_SIG):
            meta.xmp.append(payload[len(XMP_JPEG_SIG):])
        elif marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            meta.exif.update(exif_strings(payload[6:]))
        elif marker == 0xEB and payload[:2] == b"JP" and b"c2pa" in payload[:64]:
            meta.c2pa = True
    return meta


def write_jpeg_xmp(data: bytes, update: Callable[[bytes | None], bytes],
                   strip: Callable[[bytes], bytes]) -> bytes:
    """Replace the XMP packet with ``update(old_packet)``; other XMP packets get ``strip``."""
    segs, _ = _jpeg_segments(data)
    xmp_segs = [(s, e) for m, s, e in segs if m == 0xE1 and data[s + 4:e].startswith(XMP_JPEG_SIG)]
    first = data[xmp_segs[0][0] + 4 + len(XMP_JPEG_SIG):xmp_segs[0][1]] if xmp_segs else None
    packet = update(first)
    payload = XMP_JPEG_SIG + packet
    if len(payload) + 2 > 0xFFFF:
        raise LabelTooLarge(f"XMP packet of {len(packet)} bytes does not fit one JPEG APP1 segment "
                            "(extended XMP is not written)", size=len(packet), maximum=0xFFFF - 2 - len(XMP_JPEG_SIG))
    new_seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    out = bytearray()
    if xmp_segs:
        pos = 0
        for i, (s, e) in enumerate(xmp_segs):
            out += data[pos:s]
            if i == 0:
                out += new_seg
            else:
                other = strip(data[s + 4 + len(XMP_JPEG_SIG):e])
                p2 = XMP_JPEG_SIG + other
                out += b"\xff\xe1" + struct.pack(">H", len(p2) + 2) + p2
            pos = e
        out += data[pos:]
        return bytes(out)
    # no XMP yet: after SOI and any leading APP0 (JFIF) / APP1 (Exif) segments
    insert = 2
    for m, s, e in segs:
        if s != insert or m not in (0xE0, 0xE1):
            break
        insert = e
    return data[:insert] + new_seg + data[insert:]


# ----------------------------------------------------------------------------------------------
# PNG

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, chunk start, chunk end incl. CRC) for every chunk up to and including IEND."""
    if not data.startswith(PNG_SIG):
        raise CorruptContainer("not a PNG (bad signature)")
    chunks: list[tuple[bytes, int, int]] = []
    pos = 8
    while pos < len(data) and len(chunks) < _MAX_SEGMENTS:
        if pos + 8 > len(data):
            raise CorruptContainer("truncated PNG chunk header")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise CorruptContainer(f"PNG chunk {ctype!r} overruns the file")
        chunks.append((ctype, pos, end))
        pos = end
        if ctype == b"IEND":
            return chunks
    raise CorruptContainer("PNG has no IEND chunk")


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_TEXT_CHUNK)
    except zlib.error as exc:
        raise CorruptContainer(f"bad compressed PNG text: {exc}") from exc
    if d.unconsumed_tail:
        raise LabelTooLarge(f"compressed PNG text expands past {MAX_TEXT_CHUNK} bytes", maximum=MAX_TEXT_CHUNK)
    return out


def _png_text(ctype: bytes, body: bytes) -> tuple[str, bytes, bool] | None:
    """(keyword, raw text bytes, is_utf8) of a tEXt / zTXt / iTXt chunk."""
    if b"\x00" not in body:
        return None
    kw, rest = body.split(b"\x00", 1)
    keyword = kw.decode("latin-1")
    if ctype == b"tEXt":
        return keyword, rest, False
    if ctype == b"zTXt":
        return keyword, _inflate(rest[1:]), False
    if len(rest) < 2:
        return None
    comp, _method = rest[0], rest[1]
    parts = rest[2:].split(b"\x00", 2)
    if len(parts) < 3:
        return None
    text = parts[2]
    return keyword, _inflate(text) if comp else text, True


def read_png(data: bytes) -> ImageMeta:
    meta = ImageMeta()
    for ctype, s, e in _png_chunks(data):
        body = data[s + 8:e - 4]
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            parsed = _png_text(ctype, body)
            if parsed is None:
                continue
            keyword, raw, utf8 = parsed
            if ctype == b"iTXt" and keyword.encode("latin-1") == XMP_PNG_KEYWORD:
                meta.xmp.append(raw)
                continue
            if keyword.encode("latin-1") == XMP_PNG_KEYWORD:
                meta.deviations.append(Deviation("png_xmp_chunk_type", f"XMP is in a {ctype.decode()} chunk, not iTXt"))
                meta.xmp.append(raw)
                continue
            meta.text[keyword] = raw.decode("utf-8" if utf8 else "latin-1", "replace")
        elif ctype == b"eXIf":
            meta.exif.update(exif_strings(body))
        elif ctype == b"caBX":
            meta.c2pa = True
    return meta


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def write_png_xmp(data: bytes, update: Callable[[bytes | None], bytes], strip: Callable[[bytes], bytes],
                  drop_text_keys: frozenset[str] = frozenset()) -> bytes:
    """Put ``update(old_packet)`` in one uncompressed iTXt before the first IDAT.

    Other XMP chunks are stripped of labels; text chunks whose keyword (case-insensitive) is in
    ``drop_text_keys`` are removed (stray non-XMP labels, so one label remains).
    """
    chunks = _png_chunks(data)
    idat_index = next((i for i, (t, _, _) in enumerate(chunks) if t == b"IDAT"), None)
    if idat_index is None:
        raise CorruptContainer("PNG has no IDAT chunk")
    texts: dict[int, tuple[str, bytes, bool]] = {}
    for i, (ctype, s, e) in enumerate(chunks):
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            parsed = _png_text(ctype, data[s + 8:e - 4])
            if parsed is not None:
                texts[i] = parsed
    xmp_idx = [i for i, t in texts.items() if t[0].encode("latin-1") == XMP_PNG_KEYWORD]
    first = texts[xmp_idx[0]][1] if xmp_idx else None
    new_chunk = _png_chunk(b"iTXt", XMP_PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + update(first))
    out = bytearray(PNG_SIG)
    for i, (_ctype, s, e) in enumerate(chunks):
        if i == idat_index:
            out += new_chunk
        if i in texts:
            keyword = texts[i][0]
            if xmp_idx and i == xmp_idx[0]:
                continue
            if i in xmp_idx:
                out += _png_chunk(b"iTXt", XMP_PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + strip(texts[i][1]))
                continue
            if keyword.lower() in drop_text_keys:
                continue
        out += data[s:e]
    return bytes(out)


# ----------------------------------------------------------------------------------------------
# WebP


def _webp_chunks(data: bytes) -> list[tuple[bytes, int, int, int]]:
    """(fourcc, chunk start, payload size, chunk end incl. padding) of the chunks inside RIFF/WEBP
    (:mod:`synthwatch._containers.riff`, strict)."""
    found = riff.form(data[:12])
    if found is None or found[0] != b"RIFF" or found[1] != b"WEBP":
        raise CorruptContainer("not a WebP (RIFF/WEBP header missing)")
    end_all = min(len(data), 8 + found[2])
    try:
        chunks = [(c.id, c.start, c.size, min(c.end, end_all))
                  for c in riff.iter_chunks(Reader(data), 12, end_all, budget=Budget(_MAX_SEGMENTS))]
    except ContainerError as exc:
        raise CorruptContainer(f"WebP {exc}") from exc
    if not chunks:
        raise CorruptContainer("WebP has no chunks")
    return chunks


def read_webp(data: bytes) -> ImageMeta:
    meta = ImageMeta()
    chunks = _webp_chunks(data)
    flags = None
    for fourcc, s, size, _ in chunks:
        body = data[s + 8:s + 8 + size]
        if fourcc == b"VP8X" and size >= 1:
            flags = body[0]
        elif fourcc == b"XMP ":
            meta.xmp.append(body)
        elif fourcc == b"EXIF":
            meta.exif.update(exif_strings(body[6:] if body.startswith(b"Exif\x00\x00") else body))
        elif fourcc == b"C2PA":
            meta.c2pa = True
    if meta.xmp and (flags is None or not flags & 0x04):
        meta.deviations.append(Deviation("webp_xmp_flag", "WebP has an XMP chunk but the VP8X XMP flag is not set"))
    return meta


def _webp_canvas(data: bytes, chunks: list[tuple[bytes, int, int, int]]) -> tuple[int, int, bool]:
    fourcc, s, size, _ = chunks[0]
    body = data[s + 8:s + 8 + size]
    if fourcc == b"VP8 ":
        if len(body) < 10 or body[3:6] != b"\x9d\x01\x2a":
            raise CorruptContainer("bad VP8 frame header")
        w, h = struct.unpack("<HH", body[6:10])
        return w & 0x3FFF, h & 0x3FFF, False
    if fourcc == b"VP8L":
        if len(body) < 5 or body[0] != 0x2F:
            raise CorruptContainer("bad VP8L header")
        (bits,) = struct.unpack("<I", body[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    raise CorruptContainer(f"WebP starts with {fourcc!r}, not VP8X/VP8/VP8L")


_WEBP_KNOWN = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L", b"EXIF"}


def write_webp_xmp(data: bytes, update: Callable[[bytes | None], bytes]) -> bytes:
    """Put ``update(old_packet)`` in the one ``XMP `` chunk, adding VP8X (or its XMP flag) as needed."""
    chunks = _webp_chunks(data)
    xmp = [c for c in chunks if c[0] == b"XMP "]
    first = data[xmp[0][1] + 8:xmp[0][1] + 8 + xmp[0][2]] if xmp else None
    packet = update(first)
    if len(packet) > 0xFFFFFFFF - 64:
        raise LabelTooLarge("XMP packet too large for a RIFF chunk")
    pieces: list[bytes] = []
    if chunks[0][0] == b"VP8X":
        _, s, size, e = chunks[0]
        body = bytearray(data[s + 8:s + 8 + size])
        if len(body) < 10:
            raise CorruptContainer(f"WebP VP8X chunk of {len(body)} bytes (10 expected)")
        body[0] |= 0x04
        pieces.append(b"VP8X" + struct.pack("<I", size) + bytes(body) + (b"\x00" if size & 1 else b""))
        rest = chunks[1:]
    else:
        w, h, alpha = _webp_canvas(data, chunks)
        if not (0 < w <= 1 << 24 and 0 < h <= 1 << 24):
            raise CorruptContainer(f"WebP frame declares an empty or impossible size {w}x{h}")
        flags = 0x04 | (0x10 if alpha else 0)
        vp8x = bytes([flags, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
        pieces.append(b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x)
        rest = chunks
    kept = [c for c in rest if c[0] != b"XMP "]
    last_known = max((i for i, c in enumerate(kept) if c[0] in _WEBP_KNOWN), default=-1)
    xmp_chunk = b"XMP " + struct.pack("<I", len(packet)) + packet + (b"\x00" if len(packet) & 1 else b"")
    for i, (_fourcc, s, size, _e) in enumerate(kept):
        raw = data[s:s + 8 + size]
        pieces.append(raw + (b"\x00" if size & 1 else b""))
        if i == last_known:
            pieces.append(xmp_chunk)
    if last_known == -1:
        pieces.append(xmp_chunk)
    body_all = b"WEBP" + b"".join(pieces)
    return b"RIFF" + struct.pack("<I", len(body_all)) + body_all
