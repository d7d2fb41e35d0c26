"""MKV / WebM / MKA: the AIGC label as a global ``SimpleTag`` named ``AIGC`` in ``Tags``.

Writing rewrites the Segment's level-1 layout without touching a single Cluster byte:

* all ``Tags`` elements are merged into one (every ``AIGC`` SimpleTag removed, one added to the
  global Tag), placed before the first Cluster so readers find it while reading the header;
* the first ``SeekHead`` is rebuilt (entries for moved elements remapped, a ``Tags`` entry added);
* when the header region grows or shrinks and no ``Void`` can absorb it, everything after it moves:
  ``Cues`` positions (``CueClusterPosition``, ``CueCodecState``, ``CueRefCluster``), SeekHead
  positions and Cluster ``Position`` elements are rewritten; Cluster contents are copied verbatim;
* ``CRC-32`` elements of rebuilt masters are recomputed.

Unknown-size Segments and Clusters (live WebM from browsers) are walked by their children.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from synthwatch._containers import ContainerError, Reader, ebml

from ..errors import CorruptContainer, LabelTooLarge, UnsupportedCarrier
from ..label import Deviation
from ._io import copy_exact

__all__ = ["MkvLabel", "read_mkv_labels", "write_mkv_label"]

EBML = 0x1A45DFA3
SEGMENT = 0x18538067
SEEKHEAD = 0x114D9B74
SEEK = 0x4DBB
SEEK_ID = 0x53AB
SEEK_POS = 0x53AC
INFO = 0x1549A966
TRACKS = 0x1654AE6B
CLUSTER = 0x1F43B675
CUES = 0x1C53BB6B
TAGS = 0x1254C367
TAG = 0x7373
TARGETS = 0x63C0
TARGET_TYPE_VALUE = 0x68CA
SIMPLE_TAG = 0x67C8
TAG_NAME = 0x45A3
TAG_LANGUAGE = 0x447A
TAG_DEFAULT = 0x4484
TAG_STRING = 0x4487
TAG_BINARY = 0x4485
VOID = 0xEC
CRC32 = 0xBF
CHAPTERS = 0x1043A770
ATTACHMENTS = 0x1941A469
CLUSTER_POSITION = 0xA7
_TARGET_UIDS = {0x63C5, 0x63C9, 0x63C4, 0x63C6}
_LEVEL1 = {SEEKHEAD, INFO, TRACKS, CLUSTER, CUES, TAGS, CHAPTERS, ATTACHMENTS, VOID, CRC32}
_CUE_MASTERS = {0xBB, 0xB7, 0xDB}
_CUE_POSITIONS = {0xF1, 0xEA, 0x97}
_UNKNOWN = ebml.UNKNOWN
_MAX_DEPTH = ebml.MAX_DEPTH
MAX_META_BYTES = 64 * 1024 * 1024
_MAX_ELEMENTS = 10_000_000
_KEY = "AIGC"


# ----------------------------------------------------------------------------------------------
# EBML primitives: the shared reader (synthwatch._containers.ebml); its ContainerError becomes
# CorruptContainer at this module's entry points


_read_id = ebml.read_id
_read_size = ebml.read_size
_enc_id = ebml.encode_id
_enc_size = ebml.encode_size
_el = ebml.element
_uint = ebml.uint_element


def _children(buf: bytes) -> list[tuple[int, bytes]]:
    return ebml.children(buf)


def _master(eid: int, children: list[tuple[int, bytes]], crc: bool) -> bytes:
    body = b"".join(_el(i, p) for i, p in children if i != CRC32)
    if crc:
        body = _el(CRC32, struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)) + body
    return _el(eid, body)


def _void(total: int) -> bytes:
    """A Void element exactly ``total`` bytes long (``total`` >= 2)."""
    if total < 2:
        raise ValueError("a Void element takes at least 2 bytes")
    if total - 2 <= 126:
        return b"\xec" + _enc_size(total - 2, 1) + b"\x00" * (total - 2)
    if total < 9:  # pragma: no cover - covered by the branch above
        raise ValueError("unreachable")
    return b"\xec" + _enc_size(total - 9, 8) + b"\x00" * (total - 9)


# ----------------------------------------------------------------------------------------------
# file layout


@dataclass
class _Elem:
    eid: int
    start: int  # absolute offset of the ID
    header: int  # ID + size bytes
    size: int  # data size (resolved for unknown-size clusters)
    unknown: bool = False

    @property
    def end(self) -> int:
        return self.start + self.header + self.size


@dataclass
class _Layout:
    segment_start: int
    segment_header: int
    segment_size_len: int
    segment_unknown: bool
    data_start: int
    data_end: int
    elements: list[_Elem]
    file_size: int


def _read(f: BinaryIO, pos: int, n: int) -> bytes:
    f.seek(pos)
    return f.read(n)


def _head(f: BinaryIO, pos: int, limit: int) -> tuple[int, int, int, int]:
    """(id, header length, data size or _UNKNOWN, size-field length) of the element at ``pos``."""
    return ebml.read_header(Reader(f, limit), pos, limit)


def _unknown_end(f: BinaryIO, pos: int, limit: int) -> int:
    """End of an unknown-size Cluster: its children run until a level-1 (or EBML) ID."""
    count = 0
    while pos < limit:
        count += 1
        if count > _MAX_ELEMENTS:
            raise CorruptContainer("too many EBML elements")
        eid, hl, size, _ = _head(f, pos, limit)
        if eid in _LEVEL1 and eid not in (VOID, CRC32) or eid in (EBML, SEGMENT):
            return pos
        if size == _UNKNOWN:
            raise UnsupportedCarrier("nested unknown-size EBML elements are not supported")
        pos += hl + size
    return limit


def _layout(f: BinaryIO) -> _Layout:
    file_size = os.fstat(f.fileno()).st_size
    eid, hl, size, _ = _head(f, 0, file_size)
    if eid != EBML or size == _UNKNOWN:
        raise CorruptContainer("not an EBML file")
    pos = hl + size
    eid, hl, size, sl = _head(f, pos, file_size)
    while eid == VOID:
        pos += hl + size
        eid, hl, size, sl = _head(f, pos, file_size)
    if eid != SEGMENT:
        raise CorruptContainer("no Matroska Segment after the EBML header")
    seg_start = pos
    data_start = pos + hl
    unknown = size == _UNKNOWN
    data_end = file_size if unknown else data_start + size
    elems: list[_Elem] = []
    pos = data_start
    while pos < data_end:
        if len(elems) > _MAX_ELEMENTS:
            raise CorruptContainer("too many EBML elements")
        if data_end - pos < 2:
            break
        eid, ehl, esize, _ = _head(f, pos, data_end)
        if eid in (EBML, SEGMENT):  # a chained segment follows an unknown-size one
            data_end = pos
            break
        if esize == _UNKNOWN:
            if eid != CLUSTER:
                raise UnsupportedCarrier(f"unknown-size level-1 element 0x{eid:X} is not supported")
            end = _unknown_end(f, pos + ehl, data_end)
            elems.append(_Elem(eid, pos, ehl, end - pos - ehl, unknown=True))
            pos = end
            continue
        elems.append(_Elem(eid, pos, ehl, esize))
        pos += ehl + esize
    return _Layout(seg_start, data_start - seg_start, sl, unknown, data_start, data_end, elems, file_size)


def _payload(f: BinaryIO, e: _Elem) -> bytes:
    if e.size > MAX_META_BYTES:
        raise LabelTooLarge(f"Matroska element 0x{e.eid:X} is {e.size} bytes, over the cap",
                            size=e.size, maximum=MAX_META_BYTES)
    data = _read(f, e.start + e.header, e.size)
    if len(data) != e.size:
        raise CorruptContainer("file ended inside an element")
    return data


# ----------------------------------------------------------------------------------------------
# reading


@dataclass
class MkvLabel:
    text: bytes
    where: str
    deviations: list[Deviation] = field(default_factory=list)


def _simple_tags(payload: bytes, path: str, out: list[tuple[str, list[tuple[int, bytes]]]], depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise CorruptContainer(f"SimpleTags nest deeper than {_MAX_DEPTH} levels")
    for eid, p in _children(payload):
        if eid == SIMPLE_TAG:
            kids = _children(p)
            out.append((path, kids))
            _simple_tags(b"".join(_el(i, q) for i, q in kids if i == SIMPLE_TAG), path + "/SimpleTag", out, depth + 1)


def _tag_name(kids: list[tuple[int, bytes]]) -> str | None:
    return next((p.decode("utf-8", "replace") for i, p in kids if i == TAG_NAME), None)


def _is_global(targets: list[tuple[int, bytes]]) -> bool:
    return not any(i in _TARGET_UIDS and int.from_bytes(p, "big") != 0 for i, p in targets)


def read_mkv_labels(path: str | os.PathLike[str]) -> list[MkvLabel]:
    try:
        return _read_mkv_labels(path)
    except ContainerError as exc:
        raise CorruptContainer(str(exc)) from exc


def _read_mkv_labels(path: str | os.PathLike[str]) -> list[MkvLabel]:
    labels: list[MkvLabel] = []
    with open(path, "rb") as f:
        lay = _layout(f)
        for e in lay.elements:
            if e.eid != TAGS:
                continue
            for tid, tag in _children(_payload(f, e)):
                if tid != TAG:
                    continue
                parts = _children(tag)
                targets = next((_children(p) for i, p in parts if i == TARGETS), [])
                found: list[tuple[str, list[tuple[int, bytes]]]] = []
                _simple_tags(b"".join(_el(i, p) for i, p in parts if i == SIMPLE_TAG), "Tags/Tag", found)
                for where, kids in found:
                    name = _tag_name(kids)
                    if name is None or name.strip().lower() != _KEY.lower():
                        continue
                    devs: list[Deviation] = []
                    if name != _KEY:
                        devs.append(Deviation("mkv_tag_name", f"SimpleTag is named {name!r}, not 'AIGC'"))
                    if where != "Tags/Tag":
                        devs.append(Deviation("mkv_nested", "label SimpleTag is nested in another SimpleTag"))
                    if not _is_global(targets):
                        devs.append(Deviation("mkv_target", "label targets a track/edition/chapter, not the file"))
                    value = next((p for i, p in kids if i == TAG_STRING), None)
                    if value is None:
                        value = next((p for i, p in kids if i == TAG_BINARY), None)
                        if value is None:
                            continue
                        devs.append(Deviation("mkv_binary", "label is a TagBinary, not a TagString"))
                    labels.append(MkvLabel(value.rstrip(b"\x00"), f"Segment/{where}/SimpleTag:{name}", devs))
    return labels


# ----------------------------------------------------------------------------------------------
# writing


def _strip_simple(kids: list[tuple[int, bytes]], depth: int = 0) -> list[tuple[int, bytes]] | None:
    """A SimpleTag's children with AIGC sub-tags removed; None when the SimpleTag itself is AIGC."""
    if depth > _MAX_DEPTH:
        raise CorruptContainer(f"SimpleTags nest deeper than {_MAX_DEPTH} levels")
    name = _tag_name(kids)
    if name is not None and name.strip().lower() == _KEY.lower():
        return None
    out = []
    for i, p in kids:
        if i == SIMPLE_TAG:
            sub = _strip_simple(_children(p), depth + 1)
            if sub is None:
                continue
            p = b"".join(_el(a, b) for a, b in sub)
        out.append((i, p))
    return out


def _merged_tags(f: BinaryIO, tags: list[_Elem], value: bytes | None) -> bytes | None:
    tag_list: list[list[tuple[int, bytes]]] = []
    crc = False
    for e in tags:
        kids = _children(_payload(f, e))
        crc = crc or bool(kids and kids[0][0] == CRC32)
        for tid, tag in kids:
            if tid != TAG:
                continue
            parts = []
            n_simple = 0
            for i, p in _children(tag):
                if i == SIMPLE_TAG:
                    sub = _strip_simple(_children(p))
                    if sub is None:
                        continue
                    p = b"".join(_el(a, b) for a, b in sub)
                    n_simple += 1
                parts.append((i, p))
            if n_simple:
                tag_list.append(parts)
    if value is not None:
        for parts in tag_list:
            targets = next((_children(p) for i, p in parts if i == TARGETS), [])
            tv = next((int.from_bytes(p, "big") for i, p in targets if i == TARGET_TYPE_VALUE), 50)
            if _is_global(targets) and tv == 50:
                parts.append((SIMPLE_TAG, _simple_payload(value)))
                break
        else:
            tag_list.append([(TARGETS, _uint(TARGET_TYPE_VALUE, 50)), (SIMPLE_TAG, _simple_payload(value))])
    if not tag_list:
        return None
    return _master(TAGS, [(TAG, b"".join(_el(i, p) for i, p in parts)) for parts in tag_list], crc)


def _simple_payload(value: bytes) -> bytes:
    return _el(TAG_NAME, _KEY.encode()) + _el(TAG_LANGUAGE, b"und") + _uint(TAG_DEFAULT, 1) + _el(TAG_STRING, value)


class _Mapper:
    """Old segment-relative positions -> new ones, through the elements that were moved."""

    def __init__(self, moves: list[tuple[int, int, int]], tags_new: int | None) -> None:
        self.moves = sorted(moves)  # (old_rel_start, old_rel_end, new_rel_start)
        self.tags_new = tags_new

    def map(self, pos: int) -> int | None:
        lo, hi = 0, len(self.moves)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.moves[mid][1] <= pos:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self.moves) and self.moves[lo][0] <= pos < self.moves[lo][1]:
            s, _, n = self.moves[lo]
            return n + (pos - s)
        return None


def _rewrite_seekhead(payload: bytes, mapper: _Mapper, add_tags: bool) -> bytes:
    kids = _children(payload)
    crc = bool(kids and kids[0][0] == CRC32)
    entries: list[tuple[int, bytes]] = []
    has_tags = False
    for i, p in kids:
        if i != SEEK:
            if i not in (CRC32, VOID):
                entries.append((i, p))
            continue
        sk = _children(p)
        sid = next((q for j, q in sk if j == SEEK_ID), None)
        spos = next((int.from_bytes(q, "big") for j, q in sk if j == SEEK_POS), None)
        if sid is None or spos is None:
            continue
        if sid == _enc_id(TAGS):
            if has_tags or mapper.tags_new is None:
                continue
            has_tags = True
            new = mapper.tags_new
        else:
            mapped = mapper.map(spos)
            if mapped is None:
                continue  # pointed at something that is gone
            new = mapped
        entries.append((SEEK, _el(SEEK_ID, sid) + _uint(SEEK_POS, new, 8)))
    if add_tags and not has_tags and mapper.tags_new is not None:
        entries.append((SEEK, _el(SEEK_ID, _enc_id(TAGS)) + _uint(SEEK_POS, mapper.tags_new, 8)))
    return _master(SEEKHEAD, entries, crc)


def _seekhead_size(payload: bytes, add_tags: bool) -> int:
    """Size of :func:`_rewrite_seekhead`'s output, which depends only on the entries kept."""
    probe = _Mapper([(0, 1 << 62, 0)], 0)
    return len(_rewrite_seekhead(payload, probe, add_tags))


def _rewrite_cues(payload: bytes, mapper: _Mapper) -> bytes:
    def walk(buf: bytes, depth: int = 0) -> list[tuple[int, bytes]]:
        if depth > _MAX_DEPTH:
            raise CorruptContainer(f"Cues nest deeper than {_MAX_DEPTH} levels")
        out = []
        for i, p in _children(buf):
            if i in _CUE_MASTERS:
                p = b"".join(_el(a, b) for a, b in walk(p, depth + 1))
            elif i in _CUE_POSITIONS:
                old = int.from_bytes(p, "big")
                new = mapper.map(old)
                p = (new if new is not None else old).to_bytes(8, "big")
            out.append((i, p))
        return out

    kids = _children(payload)
    crc = bool(kids and kids[0][0] == CRC32)
    return _master(CUES, walk(b"".join(_el(i, p) for i, p in kids if i != CRC32)), crc)


def _cues_size(payload: bytes) -> int:
    return len(_rewrite_cues(payload, _Mapper([(0, 1 << 62, 0)], None)))


def write_mkv_label(src: str | os.PathLike[str], dst: BinaryIO, value: bytes | None) -> None:
    """Copy ``src`` to ``dst`` with every AIGC SimpleTag removed and, unless None, one written."""
    try:
        _write_mkv_label(src, dst, value)
    except ContainerError as exc:
        raise CorruptContainer(str(exc)) from exc


def _write_mkv_label(src: str | os.PathLike[str], dst: BinaryIO, value: bytes | None) -> None:
    with open(src, "rb") as f:
        lay = _layout(f)
        elems = lay.elements
        first_cluster = next((i for i, e in enumerate(elems) if e.eid == CLUSTER), len(elems))
        head, rest = elems[:first_cluster], elems[first_cluster:]
        tags = [e for e in elems if e.eid == TAGS]
        new_tags = _merged_tags(f, tags, value)
        seekheads = [e for e in elems if e.eid == SEEKHEAD]
        first_sh = seekheads[0] if seekheads and seekheads[0] in head else None
        sh_payload = _payload(f, first_sh) if first_sh else b""

        # -- plan the header region: SeekHead, the other head elements, Tags, then padding
        plan: list[tuple[str, _Elem | None, int]] = []  # (kind, element, size)
        sh_size = _seekhead_size(sh_payload, True) if (first_sh or new_tags) else 0
        if sh_size:
            plan.append(("seekhead", first_sh, sh_size))
        for e in head:
            if e is first_sh or e.eid in (TAGS, VOID):
                continue
            if e.eid == CUES:
                plan.append(("cues", e, _cues_size(_payload(f, e))))
            elif e.eid == SEEKHEAD:
                plan.append(("seekhead2", e, _seekhead_size(_payload(f, e), False)))
            else:
                plan.append(("copy", e, e.header + e.size))
        if new_tags is not None:
            plan.append(("tags", None, len(new_tags)))
        region_end = rest[0].start if rest else (head[-1].end if head else lay.data_start)
        old_head = region_end - lay.data_start
        used = sum(s for _, _, s in plan)
        pad = old_head - used
        if pad >= 2:
            plan.append(("void", None, pad))
        # -- the rest keeps its order; Tags after the clusters become Void; SeekHeads that point at
        #    Tags or at moved elements and Cues (when clusters move) are rebuilt with 8-byte positions
        rebuild_cues = False
        for _attempt in range(3):
            rest_plan: list[tuple[str, _Elem, int]] = []
            for e in rest:
                if e.eid == TAGS:
                    rest_plan.append(("void", e, e.header + e.size))
                elif e.eid == CUES and rebuild_cues:
                    rest_plan.append(("cues", e, _cues_size(_payload(f, e))))
                elif e.eid == SEEKHEAD:
                    rest_plan.append(("seekhead", e, _seekhead_size(_payload(f, e), False)))
                else:
                    rest_plan.append(("copy", e, e.header + e.size))
            moves: list[tuple[int, int, int]] = []
            pos = 0
            tags_new: int | None = None
            for kind, pe, size in plan:
                if kind == "copy" and pe is not None:
                    moves.append((pe.start - lay.data_start, pe.end - lay.data_start, pos))
                elif kind in ("seekhead", "seekhead2", "cues") and pe is not None:
                    moves.append((pe.start - lay.data_start, pe.start - lay.data_start + 1, pos))
                elif kind == "tags":
                    tags_new = pos
                pos += size
            cluster_moved = False
            for kind, e, size in rest_plan:
                rel = e.start - lay.data_start
                if kind == "copy":
                    moves.append((rel, e.end - lay.data_start, pos))
                    cluster_moved = cluster_moved or (e.eid == CLUSTER and rel != pos)
                elif kind in ("cues", "seekhead"):
                    moves.append((rel, rel + 1, pos))
                pos += size
            if cluster_moved == rebuild_cues:
                break
            rebuild_cues = cluster_moved
        total = pos
        mapper = _Mapper(moves, tags_new)

        # -- write
        dst.write(_read(f, 0, lay.segment_start))
        seg_id = _enc_id(SEGMENT)
        if lay.segment_unknown:
            dst.write(seg_id + b"\x01\xff\xff\xff\xff\xff\xff\xff")
        else:
            width = lay.segment_size_len
            if total >= (1 << (7 * width)) - 1:
                width = 8
            dst.write(seg_id + _enc_size(total, width))
        for kind, pe, size in plan:
            if kind == "seekhead":
                data = _rewrite_seekhead(sh_payload, mapper, True)
            elif kind == "tags":
                assert new_tags is not None
                data = new_tags
            elif kind == "void":
                data = _void(size)
            elif kind == "cues":
                assert pe is not None
                data = _rewrite_cues(_payload(f, pe), mapper)
            elif kind == "seekhead2":
                assert pe is not None
                data = _rewrite_seekhead(_payload(f, pe), mapper, False)
            else:
                assert pe is not None
                data = _read(f, pe.start, pe.header + pe.size)
            if len(data) != size:
                raise CorruptContainer("internal layout error while rewriting Matroska header")
            dst.write(data)
        for kind, e, size in rest_plan:
            if kind == "void":
                dst.write(_void(size))
            elif kind == "cues":
                dst.write(_rewrite_cues(_payload(f, e), mapper))
            elif kind == "seekhead":
                dst.write(_rewrite_seekhead(_payload(f, e), mapper, False))
            elif e.eid == CLUSTER and mapper.map(e.start - lay.data_start) != e.start - lay.data_start:
                _copy_cluster(f, dst, e, mapper, lay.data_start)
            else:
                _copy(f, dst, e.start, e.header + e.size)
        if lay.data_end < lay.file_size:  # a following segment or trailing bytes
            _copy(f, dst, lay.data_end, lay.file_size - lay.data_end)


def _copy_cluster(f: BinaryIO, dst: BinaryIO, e: _Elem, mapper: _Mapper, data_start: int) -> None:
    """Copy a cluster; a ``Position`` child (its own segment-relative offset) is rewritten in place."""
    head = _read(f, e.start, e.header + min(e.size, 64))
    pos = e.header
    limit = len(head)
    while pos + 2 <= limit:
        try:
            eid, il = _read_id(head, pos)
            size, sl = _read_size(head, pos + il)
        except ContainerError:
            break
        if size == _UNKNOWN or pos + il + sl + size > limit:
            break
        if eid == CLUSTER_POSITION:
            new = mapper.map(e.start - data_start)
            if new is None or new.bit_length() > 8 * size:
                raise UnsupportedCarrier("a Cluster Position element cannot hold the moved offset")
            dst.write(head[:pos + il + sl] + new.to_bytes(size, "big"))
            done = pos + il + sl + size
            _copy(f, dst, e.start + done, e.header + e.size - done)
            return
        if eid in (0xA3, 0xA0):  # blocks: no Position after them
            break
        pos += il + sl + size
    _copy(f, dst, e.start, e.header + e.size)


def _copy(f: BinaryIO, dst: BinaryIO, start: int, n: int) -> None:
    f.seek(start)
    copy_exact(f, dst, n)
