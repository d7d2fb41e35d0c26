"""Matroska rewriting keeps the file self-consistent: CRC-32s, SeekHead targets, Cues, live streams."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from prov_media import decoded_digest

from synthwatch.provenance.aigc_label import read_labels, write_label
from synthwatch.provenance.carriers import matroska as m
from synthwatch.provenance.label import AIGCLabel

LABEL = AIGCLabel.as_producer("1", "PROD", "i1")


def check_integrity(path: Path) -> None:
    with open(path, "rb") as f:
        lay = m._layout(f)
        starts = {e.start - lay.data_start: e.eid for e in lay.elements}
        assert lay.elements[-1].end == lay.data_end
        for e in lay.elements:
            if e.eid in (m.CLUSTER, m.VOID):
                continue
            kids = m._children(m._payload(f, e))
            if kids and kids[0][0] == m.CRC32:
                rest = m._payload(f, e)[6:]
                assert struct.unpack("<I", kids[0][1])[0] == zlib.crc32(rest), f"bad CRC-32 in 0x{e.eid:X}"
            if e.eid == m.SEEKHEAD:
                for i, seek in kids:
                    if i != m.SEEK:
                        continue
                    parts = dict(m._children(seek))
                    target = int.from_bytes(parts[m.SEEK_POS], "big")
                    assert starts.get(target) == int.from_bytes(parts[m.SEEK_ID], "big"), "SeekHead points astray"


@pytest.mark.parametrize("name", ["mkv", "webm", "mka"])
@pytest.mark.parametrize("extra", [0, 20000])
def test_rewrites_stay_consistent(name: str, extra: int, media: dict[str, Path], tmp_path: Path) -> None:
    src = media[name]
    check_integrity(src)
    lab = AIGCLabel.as_producer("1", "PROD", "i1", reserved_code1="R" * extra) if extra else LABEL
    out = tmp_path / f"o{src.suffix}"
    write_label(src, out, lab)
    check_integrity(out)
    with open(out, "rb") as f:
        lay = m._layout(f)
        ids = [e.eid for e in lay.elements]
    assert ids.count(m.TAGS) == 1 and ids.index(m.TAGS) < ids.index(m.CLUSTER)
    # existing tags (ENCODER, per-track) survive the merge
    with open(out, "rb") as f:
        lay = m._layout(f)
        tags = next(e for e in lay.elements if e.eid == m.TAGS)
        assert b"ENCODER" in m._payload(f, tags)


def _make_live(src: Path, dst: Path) -> Path:
    """The same file with an unknown-size Segment and unknown-size Clusters (as browsers record)."""
    data = bytearray(src.read_bytes())
    with open(src, "rb") as f:
        lay = m._layout(f)
    seg_size_at = lay.segment_start + 4
    width = lay.segment_header - 4
    data[seg_size_at:seg_size_at + width] = ((1 << (7 * width + 1)) - 1).to_bytes(width, "big")
    for e in lay.elements:
        if e.eid == m.CLUSTER:
            w = e.header - 4
            data[e.start + 4:e.start + 4 + w] = ((1 << (7 * w + 1)) - 1).to_bytes(w, "big")
    dst.write_bytes(bytes(data))
    return dst


def test_live_webm_with_unknown_sizes(media: dict[str, Path], tmp_path: Path) -> None:
    live = _make_live(media["webm"], tmp_path / "live.webm")
    with open(live, "rb") as f:
        lay = m._layout(f)
    assert lay.segment_unknown and any(e.unknown for e in lay.elements)
    before = decoded_digest(live)
    for extra in (0, 20000):
        out = tmp_path / f"o{extra}.webm"
        lab = AIGCLabel.as_producer("1", "PROD", "i1", reserved_code1="R" * extra) if extra else LABEL
        write_label(live, out, lab)
        assert len(read_labels(out)) == 1
        assert decoded_digest(out) == before
