"""MP4 / MOV / M4A: the AIGC label in ``moov/udta/meta`` (handler ``mdta``, ``keys`` + ``ilst``).

Only ``moov`` is parsed into memory (capped); every other top-level box, ``mdat`` included, is
copied byte for byte. When ``moov`` changes size and precedes the media data, every chunk offset
in ``stco`` / ``co64`` is shifted by the difference (an ``stco`` that would overflow 32 bits becomes
a ``co64``), so decoders find the same samples.

Read leniently as well: an iTunes freeform item ``----:com.apple.iTunes:AIGC`` (what mutagen
writes) and a bare ``udta/AIGC`` atom are found and reported as deviations.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from synthwatch._containers import Budget, ContainerError, Reader
from synthwatch._containers.isobmff import iter_boxes

from ..errors import CorruptContainer, LabelTooLarge, UnsupportedCarrier
from ..label import Deviation
from ._io import copy_exact

__all__ = ["Mp4Label", "read_mp4_labels", "write_mp4_label", "MAX_MOOV_BYTES", "top_level_boxes"]

MAX_MOOV_BYTES = 64 * 1024 * 1024
_MAX_BOXES = 1_000_000
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"meta", b"ilst", b"edts", b"dinf", b"moof",
               b"traf"}
_KEY = "AIGC"


@dataclass
class Box:
    type: bytes
    payload: bytes = b""  # leaf payload
    children: list[Box] | None = None  # container children
    prefix: bytes = b""  # full-box version/flags of a container (meta)
    trailer: bytes = b""  # bytes after the last child (QuickTime udta terminator)

    def serialize(self) -> bytes:
        if self.children is None:
            body = self.payload
        else:
            body = self.prefix + b"".join(c.serialize() for c in self.children) + self.trailer
        size = 8 + len(body)
        if size > 0xFFFFFFFF:
            return struct.pack(">I", 1) + self.type + struct.pack(">Q", size + 8) + body
        return struct.pack(">I", size) + self.type + body

    def find(self, t: bytes) -> list[Box]:
        return [c for c in (self.children or []) if c.type == t]


@dataclass(frozen=True)
class TopBox:
    type: bytes
    start: int
    header: int
    end: int


def top_level_boxes(f: BinaryIO, size: int) -> list[TopBox]:
    """The top-level boxes of the file, strictly (:func:`synthwatch._containers.isobmff.iter_boxes`):
    a box that overruns the file is :class:`CorruptContainer` (trailing zero padding is not a box)."""
    try:
        return [TopBox(b.type, b.start, b.header, b.end)
                for b in iter_boxes(Reader(f, size), 0, size, budget=Budget(_MAX_BOXES), strict=True)]
    except ContainerError as exc:
        raise CorruptContainer(str(exc)) from exc


def _parse(data: bytes, start: int, end: int, depth: int = 0, budget: Budget | None = None) -> tuple[list[Box], bytes]:
    """The boxes of ``data[start:end]`` as a tree (container boxes parsed, leaves kept as bytes) and
    the bytes after the last box (a QuickTime terminator); strict, bounded in depth and count."""
    if depth > 16:
        raise CorruptContainer("boxes nest too deeply")
    budget = budget if budget is not None else Budget(_MAX_BOXES)
    r = Reader(data)
    out: list[Box] = []
    pos = start
    try:
        for b in iter_boxes(r, start, end, budget=budget, strict=True):
            typ, body_start, body_end = b.type, b.data_start, b.end
            if typ in _CONTAINERS:
                prefix = b""
                if typ == b"meta" and data[body_start + 4:body_start + 8] not in (b"hdlr", b"keys", b"ilst", b"free"):
                    prefix = data[body_start:body_start + 4]
                if typ == b"ilst":
                    children = [Box(data[p + 4:p + 8], payload=data[p + 8:q])
                                for p, q in _spans(data, body_start, body_end)]
                    out.append(Box(typ, children=children))
                else:
                    kids, trailer = _parse(data, body_start + len(prefix), body_end, depth + 1, budget)
                    out.append(Box(typ, children=kids, prefix=prefix, trailer=trailer))
            else:
                out.append(Box(typ, payload=data[body_start:body_end]))
            pos = b.end
    except ContainerError as exc:
        raise CorruptContainer(str(exc)) from exc
    return out, data[pos:end]


def _spans(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each box in ``data[start:end]`` whose header is 8 bytes (ilst items, the
    boxes inside them); anything else there is :class:`CorruptContainer`."""
    try:
        boxes = list(iter_boxes(Reader(data), start, end, budget=Budget(_MAX_BOXES), strict=True))
    except ContainerError as exc:
        raise CorruptContainer(f"bad ilst item: {exc}") from exc
    if any(b.header != 8 for b in boxes):
        raise CorruptContainer("bad ilst item: a 64-bit size inside ilst")
    return [(b.start, b.end) for b in boxes]


def _data_boxes(payload: bytes) -> list[tuple[int, bytes]]:
    """(well-known type, value) of each ``data`` box inside an ilst item."""
    out = []
    for p, q in _spans(payload, 0, len(payload)):
        if payload[p + 4:p + 8] == b"data" and q - p >= 16:
            (tinfo,) = struct.unpack(">I", payload[p + 8:p + 12])
            out.append((tinfo & 0xFFFFFF, payload[p + 16:q]))
    return out


def _hdlr_type(meta: Box) -> bytes | None:
    for h in meta.find(b"hdlr"):
        if len(h.payload) >= 12:
            return h.payload[8:12]
    return None


def _keys(meta: Box) -> list[tuple[bytes, bytes]]:
    """(namespace, name) of each key, 1-based order."""
    out: list[tuple[bytes, bytes]] = []
    for k in meta.find(b"keys"):
        p = k.payload
        if len(p) < 8:
            raise CorruptContainer("short keys box")
        (count,) = struct.unpack(">I", p[4:8])
        pos = 8
        for _ in range(count):
            if pos + 8 > len(p):
                raise CorruptContainer("keys box entry overruns")
            (sz,) = struct.unpack(">I", p[pos:pos + 4])
            if sz < 8 or pos + sz > len(p):
                raise CorruptContainer("bad keys entry")
            out.append((p[pos + 4:pos + 8], p[pos + 8:pos + sz]))
            pos += sz
        break
    return out


def _keys_box(keys: list[tuple[bytes, bytes]]) -> Box:
    body = b"\x00\x00\x00\x00" + struct.pack(">I", len(keys))
    for ns, name in keys:
        body += struct.pack(">I", 8 + len(name)) + ns + name
    return Box(b"keys", payload=body)


def _item_index(item: Box) -> int:
    return int(struct.unpack(">I", item.type)[0])


def _is_key(name: bytes) -> bool:
    return name.decode("utf-8", "replace").strip().lower() == _KEY.lower()


def _freeform_name(item: Box) -> tuple[str, str] | None:
    if item.type != b"----":
        return None
    mean = name = ""
    for p, q in _spans(item.payload, 0, len(item.payload)):
        t = item.payload[p + 4:p + 8]
        if t == b"mean":
            mean = item.payload[p + 12:q].decode("utf-8", "replace")
        elif t == b"name":
            name = item.payload[p + 12:q].decode("utf-8", "replace")
    return mean, name


@dataclass
class Mp4Label:
    text: bytes
    where: str
    deviations: list[Deviation] = field(default_factory=list)


def _metas(moov: Box) -> list[tuple[str, Box, Box]]:
    """(path, parent, meta) for metas in moov/udta, moov and trak/udta."""
    found = []
    for udta in moov.find(b"udta"):
        found += [("moov/udta/meta", udta, m) for m in udta.find(b"meta")]
    found += [("moov/meta", moov, m) for m in moov.find(b"meta")]
    for trak in moov.find(b"trak"):
        for udta in trak.find(b"udta"):
            found += [("trak/udta/meta", udta, m) for m in udta.find(b"meta")]
    return found


def _labels_in_moov(moov: Box) -> list[Mp4Label]:
    labels: list[Mp4Label] = []
    for path, _parent, meta in _metas(moov):
        htype = _hdlr_type(meta)
        keys = _keys(meta)
        for ilst in meta.find(b"ilst"):
            for item in ilst.children or []:
                ff = _freeform_name(item)
                if ff is not None:
                    if _is_key(ff[1].encode()):
                        for _t, value in _data_boxes(item.payload):
                            labels.append(Mp4Label(value, f"{path}/ilst/----:{ff[0]}:{ff[1]}", [Deviation(
                                "mp4_freeform", "label is an iTunes freeform item, not an mdta key")]))
                    continue
                if not keys:
                    continue
                idx = _item_index(item)
                if not 1 <= idx <= len(keys) or not _is_key(keys[idx - 1][1]):
                    continue
                ns, name = keys[idx - 1]
                devs = []
                if path != "moov/udta/meta":
                    devs.append(Deviation("mp4_location", f"label is in {path}, not moov/udta/meta"))
                if htype != b"mdta":
                    devs.append(Deviation("mp4_handler", f"meta handler is {htype!r}, not 'mdta'"))
                if ns != b"mdta":
                    devs.append(Deviation("mp4_key_namespace", f"key namespace is {ns!r}, not 'mdta'"))
                if name != _KEY.encode():
                    devs.append(Deviation("mp4_key_name", f"key is {name!r}, not 'AIGC'"))
                for t, value in _data_boxes(item.payload):
                    d = list(devs)
                    if t != 1:
                        d.append(Deviation("mp4_data_type", f"value has data type {t}, not 1 (UTF-8)"))
                    labels.append(Mp4Label(value, f"{path}/keys:{name.decode('utf-8', 'replace')}", d))
    for udta in moov.find(b"udta"):
        for c in udta.children or []:
            if c.type.upper() == b"AIGC":
                labels.append(Mp4Label(c.payload, "moov/udta/AIGC", [Deviation(
                    "mp4_bare_atom", "label is a bare udta atom, not an mdta key")]))
    return labels


def _load_moov(f: BinaryIO, boxes: list[TopBox]) -> tuple[TopBox, Box]:
    moovs = [b for b in boxes if b.type == b"moov"]
    if not moovs:
        raise CorruptContainer("no moov box")
    if len(moovs) > 1:
        raise CorruptContainer("more than one moov box")
    mb = moovs[0]
    if mb.end - mb.start > MAX_MOOV_BYTES:
        raise LabelTooLarge(f"moov is {mb.end - mb.start} bytes, over the {MAX_MOOV_BYTES}-byte cap",
                            size=mb.end - mb.start, maximum=MAX_MOOV_BYTES)
    f.seek(mb.start)
    raw = f.read(mb.end - mb.start)
    kids, trailer = _parse(raw, mb.header, len(raw))
    return mb, Box(b"moov", children=kids, trailer=trailer)


def read_mp4_labels(path: str | os.PathLike[str]) -> list[Mp4Label]:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        boxes = top_level_boxes(f, size)
        _, moov = _load_moov(f, boxes)
    return _labels_in_moov(moov)


def _strip_labels(moov: Box) -> None:
    for _path, _parent, meta in _metas(moov):
        keys = _keys(meta)
        drop = {i + 1 for i, (_ns, name) in enumerate(keys) if _is_key(name)}
        for ilst in meta.find(b"ilst"):
            kept = []
            for item in ilst.children or []:
                ff = _freeform_name(item)
                if ff is not None:
                    if not _is_key(ff[1].encode()):
                        kept.append(item)
                    continue
                if keys and item.type != b"----" and _item_index(item) in drop:
                    continue
                if keys and drop and item.type[:1] == b"\x00":
                    idx = _item_index(item)
                    item = Box(struct.pack(">I", idx - sum(1 for d in drop if d < idx)), payload=item.payload)
                kept.append(item)
            ilst.children = kept
        if drop:
            new_keys = [k for i, k in enumerate(keys) if i + 1 not in drop]
            meta.children = [(_keys_box(new_keys) if c.type == b"keys" else c) for c in meta.children or []]
    for udta in moov.find(b"udta"):
        udta.children = [c for c in udta.children or [] if c.type.upper() != b"AIGC"]


def _data_item(index: int, value: bytes) -> Box:
    data = struct.pack(">I", 16 + len(value)) + b"data" + struct.pack(">II", 1, 0) + value
    return Box(struct.pack(">I", index), payload=data)


def _put_label(moov: Box, value: bytes) -> None:
    udtas = moov.find(b"udta")
    if udtas:
        udta = udtas[0]
    else:
        udta = Box(b"udta", children=[])
        assert moov.children is not None
        moov.children.append(udta)
    assert udta.children is not None
    metas = [m for m in udta.find(b"meta") if _hdlr_type(m) == b"mdta"]
    if metas:
        meta = metas[0]
        keys = _keys(meta) + [(b"mdta", _KEY.encode())]
        assert meta.children is not None
        if not meta.find(b"keys"):
            hi = next((i for i, c in enumerate(meta.children) if c.type == b"hdlr"), -1)
            meta.children.insert(hi + 1, _keys_box([]))
        meta.children = [(_keys_box(keys) if c.type == b"keys" else c) for c in meta.children]
        ilsts = meta.find(b"ilst")
        if not ilsts:
            ilst = Box(b"ilst", children=[])
            meta.children.append(ilst)
        else:
            ilst = ilsts[0]
        assert ilst.children is not None
        ilst.children.append(_data_item(len(keys), value))
        return
    hdlr = Box(b"hdlr", payload=b"\x00" * 8 + b"mdta" + b"\x00" * 12 + b"\x00")
    meta = Box(b"meta", children=[hdlr, _keys_box([(b"mdta", _KEY.encode())]),
                                   Box(b"ilst", children=[_data_item(1, value)])], prefix=b"\x00\x00\x00\x00")
    # before any other meta so that readers that honour only one meta (and the first) see it
    first_meta = next((i for i, c in enumerate(udta.children) if c.type == b"meta"), len(udta.children))
    udta.children.insert(first_meta, meta)


def _chunk_offset_boxes(moov: Box) -> list[Box]:
    out = []
    for trak in moov.find(b"trak"):
        for mdia in trak.find(b"mdia"):
            for minf in mdia.find(b"minf"):
                for stbl in minf.find(b"stbl"):
                    out += [c for c in stbl.children or [] if c.type in (b"stco", b"co64")]
    return out


def _read_offsets(box: Box) -> list[int]:
    p = box.payload
    if len(p) < 8:
        raise CorruptContainer(f"{box.type.decode('latin-1')} box is shorter than its header")
    (n,) = struct.unpack(">I", p[4:8])
    width = 4 if box.type == b"stco" else 8
    if 8 + n * width > len(p):
        raise CorruptContainer(f"{box.type.decode()} table overruns its box")
    fmt = f">{n}{'I' if width == 4 else 'Q'}"
    return list(struct.unpack(fmt, p[8:8 + n * width]))


def _shift_offsets(moov: Box, originals: dict[int, tuple[bytes, bytes, list[int]]], threshold: int,
                   delta: int) -> None:
    for box in _chunk_offset_boxes(moov):
        typ, vf, offs = originals[id(box)]
        new = [o + delta if o >= threshold else o for o in offs]
        if typ == b"stco" and max(new, default=0) <= 0xFFFFFFFF:
            box.type = b"stco"
            box.payload = vf + struct.pack(">I", len(new)) + struct.pack(f">{len(new)}I", *new)
        else:
            box.type = b"co64"
            box.payload = vf + struct.pack(">I", len(new)) + struct.pack(f">{len(new)}Q", *new)


def write_mp4_label(src: str | os.PathLike[str], dst: BinaryIO, value: bytes | None) -> None:
    """Copy ``src`` to ``dst`` with every label removed and, unless ``value`` is None, one written."""
    with open(src, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        boxes = top_level_boxes(f, size)
        mb, moov = _load_moov(f, boxes)
        old_len = mb.end - mb.start
        _strip_labels(moov)
        if value is not None:
            _put_label(moov, value)
        offset_boxes = _chunk_offset_boxes(moov)
        originals = {id(b): (b.type, b.payload[:4], _read_offsets(b)) for b in offset_boxes}
        media_after = any(b.type in (b"mdat", b"moof") and b.start >= mb.end for b in boxes)
        if any(b.type == b"moof" for b in boxes) and any(b.type == b"mfra" for b in boxes):
            fragmented_after = any(b.type == b"moof" and b.start >= mb.end for b in boxes)
        else:
            fragmented_after = False
        delta = 0
        for _ in range(4):
            new_len = len(moov.serialize())
            if new_len - old_len == delta:
                break
            delta = new_len - old_len
            if media_after:
                _shift_offsets(moov, originals, mb.end, delta)
        new_moov = moov.serialize()
        delta = len(new_moov) - old_len
        if delta and fragmented_after:
            raise UnsupportedCarrier("fragmented MP4 with a fragment index (mfra) after a moov that must grow: "
                                     "absolute fragment offsets would break")
        if delta and media_after:
            _check_fragments(f, boxes, mb.end)
        for b in boxes:
            if b is mb:
                dst.write(new_moov)
            else:
                f.seek(b.start)
                copy_exact(f, dst, b.end - b.start)
        if boxes and boxes[-1].end < size:
            f.seek(boxes[-1].end)
            copy_exact(f, dst, size - boxes[-1].end)


def _check_fragments(f: BinaryIO, boxes: list[TopBox], after: int) -> None:
    """Movie fragments with explicit absolute base offsets cannot follow a moov that moved."""
    for b in boxes:
        if b.type != b"moof" or b.start < after:
            continue
        f.seek(b.start)
        raw = f.read(b.end - b.start)
        kids, _ = _parse(raw, b.header, len(raw))
        for traf in (c for c in kids if c.type == b"traf"):
            for tfhd in traf.find(b"tfhd"):
                flags = int.from_bytes(tfhd.payload[1:4], "big")
                if flags & 0x000001:
                    raise UnsupportedCarrier("fragmented MP4 with absolute base data offsets: the label cannot "
                                             "be added without breaking the fragments")


