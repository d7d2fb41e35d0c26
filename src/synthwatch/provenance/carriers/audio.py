"""Audio carriers: WAV (RIFF ``LIST``/``INFO`` entry ``AIGC``), MP3 (ID3v2 ``TXXX:AIGC``) and FLAC /
Ogg Vorbis / Ogg Opus (Vorbis comment ``AIGC=``).

WAV is written here chunk by chunk: the label goes in a ``LIST``/``INFO`` entry with the four-character
ID ``AIGC`` (merged into an existing ``INFO`` list, else a new list placed before ``data``); FFmpeg
reads INFO entries as tags, so ffprobe shows it. A top-level ``AIGC`` chunk (the other form the TC260
guide allows) and an ``id3`` chunk's ``TXXX:AIGC`` are read, and removed when a label is written.

The other formats go through mutagen, which rewrites only the tag blocks.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import mutagen
import mutagen.flac
import mutagen.id3
import mutagen.oggflac
import mutagen.oggopus
import mutagen.oggspeex
import mutagen.oggvorbis

from synthwatch._containers import Budget, ContainerError, Reader, riff

from ..errors import CorruptContainer, LabelWriteError, UnsupportedCarrier
from ..label import Deviation
from ._io import copy_exact

# mutagen ships no type hints: its entry points are typed as Any here, once
_ID3: Any = mutagen.id3.ID3
_TXXX: Any = mutagen.id3.TXXX
_FLAC: Any = mutagen.flac.FLAC
_ID3_ERRORS = (mutagen.id3.ID3NoHeaderError, mutagen.id3.error, EOFError, struct.error, ValueError)

__all__ = [
    "AudioLabel",
    "read_wav_labels",
    "write_wav_label",
    "read_mutagen_labels",
    "write_mutagen_label",
]

_KEY = "AIGC"
_MAX_CHUNKS = 100_000
MAX_WAV_META = 16 * 1024 * 1024


@dataclass
class AudioLabel:
    text: bytes
    where: str
    deviations: list[Deviation] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# WAV


@dataclass(frozen=True)
class _Chunk:
    cid: bytes
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + 8 + self.size + (self.size & 1)


def _wav_chunks(f: BinaryIO, file_size: int) -> list[_Chunk]:
    """The top-level chunks of a RIFF/WAVE file (:mod:`synthwatch._containers.riff`): a chunk that
    overruns the RIFF form is :class:`CorruptContainer`, except a cut-off ``data`` chunk, which is
    common and kept as far as it goes."""
    r = Reader(f, file_size)
    found = riff.form(r.read_at(0, 12))
    if found is None or found[1] != b"WAVE":
        raise CorruptContainer("not a RIFF/WAVE file")
    if found[0] in (b"RF64", b"BW64"):
        raise UnsupportedCarrier("RF64/BW64 WAV files are not supported for labels")
    if found[0] != b"RIFF":
        raise CorruptContainer("not a RIFF/WAVE file")
    end_all = min(file_size, 8 + found[2])
    try:
        return [_Chunk(c.id, c.start, c.size) for c in
                riff.iter_chunks(r, 12, end_all, budget=Budget(_MAX_CHUNKS), truncated_ok=(b"data",))]
    except ContainerError as exc:
        raise CorruptContainer(str(exc)) from exc


def _body(f: BinaryIO, c: _Chunk) -> bytes:
    if c.size > MAX_WAV_META:
        raise CorruptContainer(f"RIFF chunk {c.cid!r} of {c.size} bytes is too large for metadata")
    f.seek(c.start + 8)
    return f.read(c.size)


def _info_entries(body: bytes) -> list[tuple[bytes, bytes]]:
    """(id, value) of each entry of a ``LIST`` body (after its 4-byte list type)."""
    try:
        return [(c.id, body[c.data_start:c.data_start + c.size])
                for c in riff.iter_chunks(Reader(body), 4, len(body), budget=Budget(_MAX_CHUNKS))]
    except ContainerError as exc:
        raise CorruptContainer(f"LIST/INFO entry overruns its list: {exc}") from exc


def _id3_labels(data: bytes, where: str) -> list[AudioLabel]:
    try:
        tags = _ID3(io.BytesIO(data))
    except _ID3_ERRORS:
        return []
    return _txxx(tags, where)


def _txxx(tags: Any, where: str) -> list[AudioLabel]:
    out = []
    for frame in tags.getall("TXXX"):
        desc = str(frame.desc)
        if desc.strip().lower() != _KEY.lower():
            continue
        devs = [] if desc == _KEY else [Deviation("id3_description", f"TXXX description is {desc!r}, not 'AIGC'")]
        texts = [str(t) for t in frame.text]
        if len(texts) > 1:
            devs.append(Deviation("id3_multiple_values", "TXXX:AIGC holds more than one value"))
        for t in texts:
            out.append(AudioLabel(t.encode("utf-8", "surrogatepass"), f"{where}TXXX:{desc}", list(devs)))
    return out


def read_wav_labels(path: str | os.PathLike[str]) -> list[AudioLabel]:
    labels: list[AudioLabel] = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        for c in _wav_chunks(f, size):
            if c.cid == b"LIST":
                body = _body(f, c)
                if body[:4] != b"INFO":
                    continue
                for cid, value in _info_entries(body):
                    if cid.upper() == b"AIGC":
                        devs = [] if cid == b"AIGC" else [Deviation("wav_info_id", f"INFO entry is {cid!r}, not 'AIGC'")]
                        labels.append(AudioLabel(value.split(b"\x00", 1)[0], "RIFF/LIST-INFO/AIGC", devs))
            elif c.cid.upper() == b"AIGC":
                devs = [] if c.cid == b"AIGC" else [Deviation("wav_chunk_id", f"chunk is {c.cid!r}, not 'AIGC'")]
                labels.append(AudioLabel(_body(f, c).split(b"\x00", 1)[0], "RIFF/AIGC", devs))
            elif c.cid in (b"id3 ", b"ID3 "):
                labels += _id3_labels(_body(f, c), "RIFF/id3/")
    return labels


def _riff_chunk(cid: bytes, body: bytes) -> bytes:
    try:
        return riff.chunk(cid, body)
    except ContainerError as exc:
        raise LabelWriteError(str(exc)) from exc


def _strip_id3_chunk(body: bytes) -> bytes:
    try:
        tags: Any = _ID3(io.BytesIO(body))
    except _ID3_ERRORS:
        return body
    frames = [fr for fr in tags.getall("TXXX") if str(fr.desc).strip().lower() == _KEY.lower()]
    if not frames:
        return body
    for fr in frames:
        del tags[fr.HashKey]
    buf = io.BytesIO()
    try:
        tags.save(buf, v2_version=tags.version[1] if tags.version[1] in (3, 4) else 4, padding=lambda _i: 0)
    except Exception as exc:  # noqa: BLE001 - mutagen raises assorted errors
        raise LabelWriteError(f"could not rewrite the WAV id3 chunk: {exc}") from exc
    data = buf.getvalue()
    return data[: 10 + _synchsafe(data[6:10])] if data[:3] == b"ID3" else body


def _synchsafe(b: bytes) -> int:
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def write_wav_label(src: str | os.PathLike[str], dst: BinaryIO, value: bytes | None) -> None:
    """Copy ``src`` to ``dst`` with every label removed and, unless None, one LIST/INFO ``AIGC`` entry."""
    if value is not None and b"\x00" in value:
        raise LabelWriteError("a WAV INFO value cannot hold NUL bytes")
    with open(src, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        chunks = _wav_chunks(f, size)
        if not any(c.cid == b"data" for c in chunks):
            raise CorruptContainer("WAV has no data chunk")
        entry = (b"AIGC", value + b"\x00") if value is not None else None
        info_done = entry is None
        pieces: list[bytes | _Chunk] = []
        for c in chunks:
            if c.cid.upper() == b"AIGC":
                continue
            if c.cid == b"LIST":
                body = _body(f, c)
                if body[:4] == b"INFO":
                    entries = [(i, v) for i, v in _info_entries(body) if i.upper() != b"AIGC"]
                    if not info_done and entry is not None:
                        entries.append(entry)
                        info_done = True
                    if entries:
                        pieces.append(_riff_chunk(b"LIST", b"INFO" + b"".join(_riff_chunk(i, v) for i, v in entries)))
                    continue
            if c.cid in (b"id3 ", b"ID3 "):
                pieces.append(_riff_chunk(c.cid, _strip_id3_chunk(_body(f, c))))
                continue
            if c.cid == b"data" and not info_done and entry is not None:
                pieces.append(_riff_chunk(b"LIST", b"INFO" + _riff_chunk(*entry)))
                info_done = True
            pieces.append(c)
        total = 4 + sum(len(p) if isinstance(p, bytes) else p.end - p.start for p in pieces)
        if total > 0xFFFFFFFF:
            raise UnsupportedCarrier("the labelled WAV would exceed 4 GiB")
        dst.write(b"RIFF" + struct.pack("<I", total) + b"WAVE")
        for p in pieces:
            if isinstance(p, bytes):
                dst.write(p)
                continue
            f.seek(p.start)
            remaining = p.end - p.start
            if p.end > size:  # a final odd-sized chunk without its pad byte
                remaining = size - p.start
            copy_exact(f, dst, remaining)
            if p.end > size:
                dst.write(b"\x00" * (p.end - size))


# ----------------------------------------------------------------------------------------------
# MP3 / FLAC / Ogg (mutagen)


#: the codec in an Ogg file's first page -> the mutagen class that edits its Vorbis comment
_OGG_CODECS: tuple[tuple[bytes, Any], ...] = (
    (b"OpusHead", mutagen.oggopus.OggOpus),
    (b"\x01vorbis", mutagen.oggvorbis.OggVorbis),
    (b"\x7fFLAC", mutagen.oggflac.OggFLAC),
    (b"Speex   ", mutagen.oggspeex.OggSpeex),
)


def _ogg_class(path: str | os.PathLike[str]) -> Any:
    """The mutagen class for an Ogg file, from the codec of its first page (by content: mutagen's
    own guess also scores the file name, so an Ogg file named ``.flac`` would be read as FLAC)."""
    with open(path, "rb") as f:
        head = f.read(27 + 255 + 16)
    if len(head) < 28 or head[:4] != b"OggS":
        raise CorruptContainer("not an Ogg file (no OggS page at the start)")
    payload = head[27 + head[26]: 27 + head[26] + 16]
    for magic, cls in _OGG_CODECS:
        if payload.startswith(magic):
            return cls
    raise UnsupportedCarrier("Ogg stream with a codec that has no Vorbis-comment carrier")


def _open_mutagen(path: str | os.PathLike[str], fmt: str) -> Any:
    """The tag object of ``path``, chosen from the sniffed format ``fmt`` (never from the name)."""
    try:
        if fmt == "mp3":
            try:
                return _ID3(path)
            except mutagen.id3.ID3NoHeaderError:
                return None
        if fmt == "flac":
            return _FLAC(path)
        if fmt == "ogg":
            return _ogg_class(path)(path)
    except mutagen.MutagenError as exc:
        raise CorruptContainer(f"mutagen could not read the {fmt} tags: {exc}") from exc
    except (struct.error, ValueError, EOFError, IndexError) as exc:  # mutagen lets a few of these through
        raise CorruptContainer(f"the {fmt} tags cannot be read: {type(exc).__name__}: {exc}") from exc
    raise UnsupportedCarrier(f"{fmt} files have no Vorbis-comment or ID3 carrier")


def read_mutagen_labels(path: str | os.PathLike[str], fmt: str) -> list[AudioLabel]:
    obj = _open_mutagen(path, fmt)
    if obj is None:
        return []
    if fmt == "mp3":
        return _txxx(obj, "ID3v2/")
    tags = obj.tags
    if tags is None:
        return []
    out = []
    for key, value in list(tags):
        if key.strip().lower() != _KEY.lower():
            continue
        devs = [] if key == _KEY else [Deviation("vorbis_key", f"Vorbis comment key is {key!r}, not 'AIGC'")]
        out.append(AudioLabel(str(value).encode("utf-8", "surrogatepass"), f"VorbisComment/{key}", devs))
    return out


def write_mutagen_label(path: str | os.PathLike[str], fmt: str, value: str | None) -> None:
    """Edit the tags of ``path`` in place (a copy made by the caller)."""
    try:
        if fmt == "mp3":
            tags = _open_mutagen(path, fmt)
            version = 4
            if tags is None:
                tags = _ID3()
            else:
                version = tags.version[1] if tags.version[1] in (3, 4) else 4
            for fr in list(tags.getall("TXXX")):
                if str(fr.desc).strip().lower() == _KEY.lower():
                    del tags[fr.HashKey]
            if value is not None:
                tags.add(_TXXX(encoding=3 if version == 4 else 1, desc=_KEY, text=[value]))
            tags.save(path, v2_version=version)
            return
        obj = _open_mutagen(path, fmt)
        if obj.tags is None:
            obj.add_tags()
        kept = [(k, v) for k, v in list(obj.tags) if k.strip().lower() != _KEY.lower()]
        obj.tags.clear()
        obj.tags.extend(kept)
        if value is not None:
            obj.tags.append((_KEY, value))
        obj.save()
    except mutagen.MutagenError as exc:
        raise LabelWriteError(f"mutagen could not write the {fmt} tags: {exc}") from exc
