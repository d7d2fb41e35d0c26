"""Find a file's real type from its magic bytes; the name and extension are never consulted.

Runs in the calling process: it only reads a few header bytes and walks container box/element
headers with bounded, pure-Python parsing (no decoder is involved), so it is safe on hostile input.

Polyglots: the signature at offset 0 decides. A JPEG with a ZIP or an MP4 appended is a JPEG (and
decoders only ever read the JPEG part); a ZIP, PDF or anything else with media appended is rejected
as unsupported. Nothing scans further into the file for a second signature.
"""

from __future__ import annotations

import os
from typing import BinaryIO, NamedTuple

from synthwatch._containers import Budget, ContainerError, Reader, ebml, isobmff, riff
from synthwatch.errors import CorruptMedia, UnsupportedMedia
from synthwatch.media.source import open_input
from synthwatch.types import MediaKind

__all__ = ["Sniffed", "sniff", "sniff_file", "check_structure", "MAX_TOP_LEVEL", "FORMATS", "demuxer_for", "pillow_format_for", "SUFFIX_FORMATS",
           "MEDIA_SUFFIXES", "IMAGE_SUFFIXES", "AUDIO_SUFFIXES", "VIDEO_SUFFIXES", "kind_of_suffix",
           "suffix_for", "suffix_for_mime"]

_HEAD = 64 * 1024
_MAX_BOXES = 4096  # bound the ISO-BMFF / EBML walks

# format -> (kind, mime, decoder hint): Pillow format name for images, FFmpeg demuxer otherwise
FORMATS: dict[str, tuple[MediaKind, str, str]] = {
    "jpeg": (MediaKind.IMAGE, "image/jpeg", "JPEG"),
    "png": (MediaKind.IMAGE, "image/png", "PNG"),
    "webp": (MediaKind.IMAGE, "image/webp", "WEBP"),
    "gif": (MediaKind.IMAGE, "image/gif", "GIF"),
    "bmp": (MediaKind.IMAGE, "image/bmp", "BMP"),
    "tiff": (MediaKind.IMAGE, "image/tiff", "TIFF"),
    "wav": (MediaKind.AUDIO, "audio/wav", "wav"),
    "mp3": (MediaKind.AUDIO, "audio/mpeg", "mp3"),
    "flac": (MediaKind.AUDIO, "audio/flac", "flac"),
    "ogg": (MediaKind.AUDIO, "audio/ogg", "ogg"),
    "m4a": (MediaKind.AUDIO, "audio/mp4", "mov"),
    "aac": (MediaKind.AUDIO, "audio/aac", "aac"),
    "mka": (MediaKind.AUDIO, "audio/x-matroska", "matroska"),
    "weba": (MediaKind.AUDIO, "audio/webm", "matroska"),
    "mp4": (MediaKind.VIDEO, "video/mp4", "mov"),
    "mov": (MediaKind.VIDEO, "video/quicktime", "mov"),
    "mkv": (MediaKind.VIDEO, "video/x-matroska", "matroska"),
    "webm": (MediaKind.VIDEO, "video/webm", "matroska"),
    "avi": (MediaKind.VIDEO, "video/x-msvideo", "avi"),
    "ogv": (MediaKind.VIDEO, "video/ogg", "ogg"),
}


class Sniffed(NamedTuple):
    """What :func:`sniff` found; unpacks as ``kind, format, mime``."""

    kind: MediaKind
    format: str
    mime: str


def _result(fmt: str) -> Sniffed:
    kind, mime, _ = FORMATS[fmt]
    return Sniffed(kind, fmt, mime)


def demuxer_for(fmt: str) -> str:
    """The FFmpeg demuxer that must read ``fmt`` (decoders are never left to guess)."""
    kind, _, hint = FORMATS[fmt]
    if kind is MediaKind.IMAGE:
        raise ValueError(f"{fmt} is an image format")
    return hint


def pillow_format_for(fmt: str) -> str:
    """The only Pillow plugin allowed to open ``fmt``."""
    kind, _, hint = FORMATS[fmt]
    if kind is not MediaKind.IMAGE:
        raise ValueError(f"{fmt} is not an image format")
    return hint


# ----------------------------------------------------------------------------------------------
# MPEG audio / ADTS frame headers
# ----------------------------------------------------------------------------------------------

_MP3_BITRATES = {
    (3, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),  # MPEG-1 layer I
    (3, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),  # MPEG-1 layer II
    (3, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 layer III
    (2, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),  # MPEG-2/2.5 layer I
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2/2.5 layer II
    (2, 1): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2/2.5 layer III
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame(h: bytes) -> tuple[int, int, int] | None:
    """(frame length, version, layer) of an MPEG-1/2/2.5 audio frame header, or None."""
    if len(h) < 4 or h[0] != 0xFF or (h[1] & 0xE0) != 0xE0:
        return None
    version = (h[1] >> 3) & 3
    layer = (h[1] >> 1) & 3
    br_idx = (h[2] >> 4) & 0xF
    sr_idx = (h[2] >> 2) & 3
    if version == 1 or layer == 0 or br_idx in (0, 15) or sr_idx == 3:
        return None
    bitrate = _MP3_BITRATES[(3 if version == 3 else 2, layer)][br_idx] * 1000
    rate = _MP3_RATES[version][sr_idx]
    pad = (h[2] >> 1) & 1
    if layer == 3:
        length = (12 * bitrate // rate + pad) * 4
    elif layer == 1 and version != 3:
        length = 72 * bitrate // rate + pad
    else:
        length = 144 * bitrate // rate + pad
    return (length, version, layer) if length >= 4 else None


def _adts_frame(h: bytes) -> int | None:
    """Frame length of an ADTS (AAC) header, or None."""
    if len(h) < 7 or h[0] != 0xFF or (h[1] & 0xF6) != 0xF0:
        return None
    if ((h[2] >> 2) & 0xF) >= 13:  # sampling frequency index
        return None
    length = ((h[3] & 3) << 11) | (h[4] << 3) | (h[5] >> 5)
    return length if length >= 7 else None


def _read_at(f: BinaryIO, offset: int, n: int) -> bytes:
    f.seek(offset)
    return f.read(n)


def _sniff_audio_stream(f: BinaryIO, offset: int, size: int) -> str | None:
    """MP3 / ADTS / FLAC at ``offset``; two consecutive frame headers are required for the
    frame-sync formats (or one frame that ends exactly at the end of the file) so that random bytes
    do not pass."""
    h = _read_at(f, offset, 8)
    if h[:4] == b"fLaC":
        return "flac"
    adts = _adts_frame(h)
    if adts is not None:
        nxt = offset + adts
        return "aac" if nxt == size or _adts_frame(_read_at(f, nxt, 8)) is not None else None
    mp = _mpeg_frame(h)
    if mp is not None:
        nxt = offset + mp[0]
        if nxt == size:  # exactly one whole frame
            return "mp3"
        second = _mpeg_frame(_read_at(f, nxt, 4))
        return "mp3" if second is not None and second[1:] == mp[1:] else None
    return None


def _id3_end(head: bytes) -> int:
    flags = head[5]
    size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
    return 10 + size + (10 if flags & 0x10 else 0)


# ----------------------------------------------------------------------------------------------
# ISO base media (MP4 / MOV / M4A) and EBML (Matroska / WebM): the shared container readers
# ----------------------------------------------------------------------------------------------

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_QT_TOP = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _sniff_iso(f: BinaryIO, size: int) -> Sniffed:
    facts = isobmff.movie_facts(Reader(f, size), budget=Budget(_MAX_BOXES))
    brands, handlers = facts.brands, facts.handlers
    major = brands[0] if brands else b""
    if major in _HEIF_BRANDS or (not handlers and _HEIF_BRANDS.intersection(brands)):
        raise UnsupportedMedia("HEIF/AVIF still images are not supported")
    if b"vide" in handlers:
        return _result("mov" if (not brands or major == b"qt  ") else "mp4")
    if b"soun" in handlers:
        return _result("m4a")
    if major in _AUDIO_BRANDS:
        return _result("m4a")
    # no readable track list (truncated or fragmented oddly): a video container; probing decides
    return _result("mov" if (not brands or major == b"qt  ") else "mp4")


def _sniff_ebml(f: BinaryIO, size: int) -> Sniffed:
    doctype, track_types = ebml.doc_type_and_tracks(Reader(f, size), budget=Budget(_MAX_BOXES))
    if doctype == b"webm":
        video, audio = "webm", "weba"
    elif doctype == b"matroska":
        video, audio = "mkv", "mka"
    else:
        raise UnsupportedMedia(f"EBML document type {doctype!r} is not supported")
    if 2 in track_types and 1 not in track_types:
        return _result(audio)
    return _result(video)


# ----------------------------------------------------------------------------------------------


def _describe_unknown(head: bytes) -> str:
    known = {
        b"PK\x03\x04": "a ZIP archive",
        b"%PDF": "a PDF document",
        b"\x7fELF": "an ELF executable",
        b"Rar!": "a RAR archive",
        b"\x1f\x8b": "a gzip stream",
    }
    for magic, what in known.items():
        if head.startswith(magic):
            return f"unsupported file type: {what}"
    if head.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or head.lstrip()[:4].lower() == b"<svg":
        return "unsupported file type: XML/SVG"
    return f"unsupported or unknown file type (first bytes {head[:12].hex(' ')})"


def _sniff_open(f: BinaryIO, size: int) -> Sniffed:
    head = f.read(_HEAD)
    if not head:
        raise CorruptMedia("empty file (0 bytes)")
    if head[:3] == b"\xff\xd8\xff":
        return _result("jpeg")
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return _result("png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _result("gif")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _result("tiff")
    if head[:2] == b"BM" and len(head) >= 26 and int.from_bytes(head[14:18], "little") in (12, 16, 40, 52, 56, 64, 108, 124):
        return _result("bmp")
    riff_form = riff.form(head)
    if riff_form is not None:
        container, sub, _ = riff_form
        if sub == b"WEBP" and container == b"RIFF":
            return _result("webp")
        if sub == b"WAVE":
            return _result("wav")
        if sub in (b"AVI ", b"AVIX") and container == b"RIFF":
            return _result("avi")
        raise UnsupportedMedia(f"unsupported RIFF form type {sub!r}")
    if head[:4] == b"fLaC":
        return _result("flac")
    if head[:4] == b"OggS":
        nseg = head[26] if len(head) > 26 else 0
        payload = head[27 + nseg : 27 + nseg + 16]
        if payload.startswith((b"OpusHead", b"\x01vorbis", b"\x7fFLAC", b"Speex   ")):
            return _result("ogg")
        if payload.startswith(b"\x80theora"):
            return _result("ogv")
        raise UnsupportedMedia("Ogg stream with an unsupported codec")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _sniff_ebml(f, size)
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return _sniff_iso(f, size)
    if len(head) >= 8 and head[4:8] in _QT_TOP:
        first_size = int.from_bytes(head[:4], "big")
        if first_size in (0, 1) or first_size >= 8:
            return _sniff_iso(f, size)
    if head[:3] == b"ID3" and len(head) >= 10:
        offset = _id3_end(head)
        # skip zero padding some taggers leave after the tag
        pad = _read_at(f, offset, 4096)
        offset += len(pad) - len(pad.lstrip(b"\0"))
        return _result(_sniff_audio_stream(f, offset, size) or "mp3")
    found = _sniff_audio_stream(f, 0, size)
    if found:
        return _result(found)
    raise UnsupportedMedia(_describe_unknown(head))


def sniff(path: str | os.PathLike[str]) -> Sniffed:
    """Return ``(kind, format, mime)`` for the file at ``path`` from its content alone.

    Raises :class:`~synthwatch.errors.CorruptMedia` for an empty file and
    :class:`~synthwatch.errors.UnsupportedMedia` for anything that is not one of the supported
    formats (JPEG, PNG, WebP, GIF, BMP, TIFF; WAV, MP3, FLAC, Ogg Vorbis/Opus, M4A, ADTS AAC;
    MP4, MOV, MKV, WebM, AVI). A path that cannot be opened as a regular file (missing, a
    directory, a FIFO, a device, a symlink loop, no permission) gets the one classification of
    :func:`synthwatch.media.source.open_input` (a FIFO is never waited on).
    """
    with open_input(path) as f:
        return sniff_file(f)


#: the most top-level boxes (ISO-BMFF), Segment children (Matroska) or chunks (RIFF) a file may have
#: before it is refused to libraries whose walk costs more than linear time in that number: the C2PA
#: SDK takes 0.5 s on 10,000 empty top-level boxes, 20 s on 60,000 and minutes on 100,000. A
#: fragmented MP4 of 4 h in 1 s fragments has about 29,000.
MAX_TOP_LEVEL = 32_768


def check_structure(path: str | os.PathLike[str], fmt: str | None = None) -> None:
    """Refuse (:class:`~synthwatch.errors.CorruptMedia`) a container with more than
    :data:`MAX_TOP_LEVEL` top-level elements, counted with the shared readers (a bounded walk: at
    most that many headers are read). Other formats pass."""
    with open_input(path) as f:
        fmt = fmt or sniff_file(f).format
        r = Reader(f)
        budget = Budget(MAX_TOP_LEVEL + 1)
        try:
            if fmt in ("mp4", "mov", "m4a"):
                n = sum(1 for _ in isobmff.iter_boxes(r, 0, r.size, budget=budget))
                what = "top-level boxes"
            elif fmt in ("mkv", "webm", "mka", "weba"):
                seg = next((e for e in ebml.iter_elements(r, 0, r.size, budget=Budget(64)) if e.id == ebml.SEGMENT),
                           None)
                n = 0 if seg is None else sum(1 for _ in ebml.iter_elements(r, seg.data_start, seg.end, budget=budget))
                what = "Segment elements"
            elif fmt in ("wav", "avi", "webp"):
                n = sum(1 for _ in riff.iter_chunks(r, 12, r.size, budget=budget, strict=False))
                what = "RIFF chunks"
            else:
                return
        except ContainerError as exc:
            raise CorruptMedia(f"the container cannot be walked: {exc}") from exc
    if n > MAX_TOP_LEVEL:
        raise CorruptMedia(f"the file has more than {MAX_TOP_LEVEL:,} {what}: refused as a structure no real "
                           "media file has")


def sniff_file(f: BinaryIO) -> Sniffed:
    """:func:`sniff` on an already-open, seekable binary file (read from offset 0)."""
    try:
        size = os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        size = f.seek(0, os.SEEK_END)
    try:
        f.seek(0)
        return _sniff_open(f, size)
    except ContainerError as exc:  # the readers raise only this; a lenient walk rarely does
        raise CorruptMedia(f"the container cannot be walked: {exc}") from exc
    except OSError as exc:
        raise CorruptMedia(f"the file could not be read: {exc.strerror or exc}") from exc


# ----------------------------------------------------------------------------------------------
# file-name suffixes: ONE list, for finding media in folders (the type is always read from the bytes)
# ----------------------------------------------------------------------------------------------

#: suffix -> the format it usually names (aliases included); ``.ogg`` / ``.opus`` / ``.oga`` are Ogg audio
SUFFIX_FORMATS: dict[str, str] = {
    ".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".jfif": "jpeg", ".png": "png", ".webp": "webp", ".gif": "gif",
    ".bmp": "bmp", ".tif": "tiff", ".tiff": "tiff",
    ".wav": "wav", ".wave": "wav", ".mp3": "mp3", ".flac": "flac", ".ogg": "ogg", ".oga": "ogg", ".opus": "ogg",
    ".m4a": "m4a", ".m4b": "m4a", ".aac": "aac", ".mka": "mka", ".weba": "weba",
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".qt": "mov", ".mkv": "mkv", ".webm": "webm", ".avi": "avi",
    ".ogv": "ogv",
}
IMAGE_SUFFIXES: frozenset[str] = frozenset(s for s, f in SUFFIX_FORMATS.items() if FORMATS[f][0] is MediaKind.IMAGE)
AUDIO_SUFFIXES: frozenset[str] = frozenset(s for s, f in SUFFIX_FORMATS.items() if FORMATS[f][0] is MediaKind.AUDIO)
VIDEO_SUFFIXES: frozenset[str] = frozenset(s for s, f in SUFFIX_FORMATS.items() if FORMATS[f][0] is MediaKind.VIDEO)
#: every suffix a folder walk picks up (scan, eval folders, training sets)
MEDIA_SUFFIXES: frozenset[str] = frozenset(SUFFIX_FORMATS)


#: format -> its usual suffix: the first one SUFFIX_FORMATS lists for it
_FORMAT_SUFFIX: dict[str, str] = {f: s for s, f in reversed(SUFFIX_FORMATS.items())}
#: MIME type -> format (each format has its own MIME type)
_MIME_FORMAT: dict[str, str] = {mime: fmt for fmt, (_, mime, _) in FORMATS.items()}


def suffix_for(fmt: str) -> str:
    """The usual file-name suffix of a format :func:`sniff` reports (``"jpeg"`` -> ``".jpg"``), for
    naming files written from bytes whose type was sniffed; ValueError for an unknown format."""
    try:
        return _FORMAT_SUFFIX[fmt]
    except KeyError:
        raise ValueError(f"unknown media format {fmt!r}") from None


def suffix_for_mime(mime: str) -> str | None:
    """The usual suffix of the format whose MIME type (as :func:`sniff` reports it) is ``mime``,
    or None when no media format has that type (the match is exact: no parameters, lower case)."""
    fmt = _MIME_FORMAT.get(mime)
    return _FORMAT_SUFFIX[fmt] if fmt is not None else None


def kind_of_suffix(path: str | os.PathLike[str]) -> MediaKind | None:
    """The kind a file name's suffix suggests (case-insensitive), or None. A hint for walking
    folders only: :func:`sniff` decides what a file is."""
    name = os.fsdecode(os.fspath(path))
    dot = name.rfind(".")
    if dot <= max(name.rfind("/"), name.rfind(os.sep)):
        return None
    fmt = SUFFIX_FORMATS.get(name[dot:].lower())
    return FORMATS[fmt][0] if fmt is not None else None
