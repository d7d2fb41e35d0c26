"""Properties of the shared container readers (synthwatch._containers), over arbitrary bytes and
over structures built to be valid: the only exception is ContainerError, walks stay inside their
parent and within their budget, and what is built reads back exactly."""

from __future__ import annotations

import ast
import io
import os
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthwatch import _containers
from synthwatch._containers import Budget, ContainerError, Reader, ebml, extent, isobmff, riff

PROPS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FOURCC = st.binary(min_size=4, max_size=4)


# ----------------------------------------------------------------------------------------------
# arbitrary bytes: no exception but ContainerError, every result inside the data


@PROPS
@given(st.binary(max_size=2048), st.booleans())
def test_iso_boxes_of_any_bytes(data: bytes, strict: bool) -> None:
    r = Reader(data)
    try:
        boxes = list(isobmff.iter_boxes(r, 0, len(data), budget=Budget(500), strict=strict))
    except ContainerError:
        assert strict
        return
    pos = 0
    for b in boxes:
        assert b.start == pos and b.header in (8, 16)
        assert b.start + b.header <= b.end <= len(data)
        assert b.end <= b.declared_end
        pos = b.end
    if strict:
        assert not any(b.overrun for b in boxes)


@PROPS
@given(st.binary(max_size=4096))
def test_movie_facts_of_any_bytes(data: bytes) -> None:
    facts = isobmff.movie_facts(Reader(data), budget=Budget(200))
    assert all(len(b) == 4 for b in facts.brands)
    assert all(d >= 0 for d in facts.durations)


@PROPS
@given(st.binary(max_size=2048))
def test_ebml_of_any_bytes(data: bytes) -> None:
    r = Reader(data)
    for e in ebml.iter_elements(r, 0, len(data), budget=Budget(500)):
        assert e.data_start <= e.end <= len(data) or e.data_start > len(data)
    doctype, tracks = ebml.doc_type_and_tracks(r, budget=Budget(500))
    assert len(doctype) <= 32 and all(t >= 0 for t in tracks)
    try:
        kids = ebml.children(data, budget=Budget(500))
    except ContainerError:
        return
    assert sum(len(p) for _, p in kids) <= len(data)


@PROPS
@given(st.binary(max_size=2048), st.booleans(), st.booleans())
def test_riff_of_any_bytes(data: bytes, strict: bool, big_endian: bool) -> None:
    r = Reader(data)
    try:
        chunks = list(riff.iter_chunks(r, 0, len(data), budget=Budget(500), strict=strict, big_endian=big_endian,
                                       truncated_ok=(b"data",)))
    except ContainerError:
        assert strict
        return
    for c in chunks:
        assert c.data_start + c.size <= len(data)
        assert c.size <= c.declared


@PROPS
@given(st.binary(max_size=4096), st.sampled_from(["wav", "avi", "matroska", "flac", "mp3", "ogg", "aac", "mov"]))
def test_extent_of_any_bytes(data: bytes, demuxer: str) -> None:
    assert 0 < extent.media_extent(Reader(data), demuxer) <= max(1, len(data)) or not data


@PROPS
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=80))
def test_ebml_primitives_raise_only_container_error(data: bytes, pos: int) -> None:
    for fn in (ebml.read_id, ebml.read_size):
        try:
            value, length = fn(data, pos)
        except ContainerError:
            continue
        assert 1 <= length <= 8 and pos + length <= len(data)
        assert value == ebml.UNKNOWN or value >= 0


# ----------------------------------------------------------------------------------------------
# valid structures read back exactly


def _box(typ: bytes, payload: bytes, large: bool) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, typ, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), typ) + payload


@PROPS
@given(st.lists(st.tuples(FOURCC.filter(lambda t: t != b"\0\0\0\0"), st.binary(max_size=40), st.booleans()),
                max_size=12))
def test_iso_boxes_round_trip(spec: list[tuple[bytes, bytes, bool]]) -> None:
    data = b"".join(_box(t, p, large) for t, p, large in spec)
    boxes = list(isobmff.iter_boxes(Reader(data), 0, len(data), strict=True))
    assert [(b.type, data[b.data_start:b.end]) for b in boxes] == [(t, p) for t, p, _ in spec]


@PROPS
@given(st.lists(st.tuples(st.integers(min_value=0x81, max_value=0xFE), st.binary(max_size=300)), max_size=10))
def test_ebml_round_trip(spec: list[tuple[int, bytes]]) -> None:
    data = b"".join(ebml.element(eid, payload) for eid, payload in spec)
    assert ebml.children(data) == spec
    elements = list(ebml.iter_elements(Reader(data), 0, len(data)))
    assert [(e.id, data[e.data_start:e.end]) for e in elements] == spec


@PROPS
@given(st.integers(min_value=0, max_value=(1 << 56) - 2), st.integers(min_value=1, max_value=8))
def test_ebml_sizes_round_trip(n: int, length: int) -> None:
    try:
        enc = ebml.encode_size(n, length)
    except ContainerError:
        assert n >= (1 << (7 * length)) - 1
        return
    assert len(enc) == length
    assert ebml.read_size(enc, 0) == (n, length)
    shortest = ebml.encode_size(n)
    assert ebml.read_size(shortest, 0) == (n, len(shortest))


@PROPS
@given(st.lists(st.tuples(FOURCC, st.binary(max_size=41)), max_size=10), st.booleans())
def test_riff_round_trip(spec: list[tuple[bytes, bytes]], big_endian: bool) -> None:
    data = b"".join(riff.chunk(cid, body, big_endian=big_endian) for cid, body in spec)
    chunks = list(riff.iter_chunks(Reader(data), 0, len(data), big_endian=big_endian))
    assert [(c.id, data[c.data_start:c.data_start + c.size]) for c in chunks] == spec


def test_strict_iso_walk_names_the_overrun() -> None:
    data = _box(b"moov", b"x" * 20, False)[:-5]
    with pytest.raises(ContainerError, match="moov"):
        list(isobmff.iter_boxes(Reader(data), 0, len(data), strict=True))
    (box,) = isobmff.iter_boxes(Reader(data), 0, len(data))  # lenient: clipped and flagged
    assert box.overrun and box.end == len(data)


def test_budgets_bound_the_work() -> None:
    data = _box(b"free", b"", False) * 10_000
    assert len(list(isobmff.iter_boxes(Reader(data), 0, len(data), budget=Budget(100)))) == 100
    with pytest.raises(ContainerError, match="more than 100"):
        list(isobmff.iter_boxes(Reader(data), 0, len(data), budget=Budget(100), strict=True))


def test_movie_facts_of_a_real_mp4(sample_video: Path) -> None:
    with open(sample_video, "rb") as f:
        facts = isobmff.movie_facts(Reader(f))
    assert facts.truncated is None
    assert {b"vide", b"soun"} <= facts.handlers
    assert facts.durations and max(facts.durations) == pytest.approx(5.0, abs=0.1)


def test_doc_type_of_a_real_webm(sample_webm: Path) -> None:
    with open(sample_webm, "rb") as f:
        doctype, tracks = ebml.doc_type_and_tracks(Reader(f))
    assert doctype == b"webm" and 1 in tracks


# ----------------------------------------------------------------------------------------------
# media extents: junk after the media is never shown to a decoder


def test_riff_extent_stops_at_the_form(sample_speech: Path, tmp_path: Path) -> None:
    data = sample_speech.read_bytes()
    path = tmp_path / "tail.wav"
    path.write_bytes(data + b"\x00" * 100_000 + b"junk")
    with open(path, "rb") as f:
        assert extent.media_extent(Reader(f), "wav", f.fileno()) == len(data)


def test_raw_streams_end_before_a_zero_tail(tmp_path: Path) -> None:
    path = tmp_path / "x.mp3"
    body = bytes(range(1, 256)) * 40
    with open(path, "wb") as f:
        f.write(body)
        f.truncate(len(body) + (64 << 20))  # a sparse 64 MiB hole: never read
    with open(path, "rb") as f:
        assert extent.trailing_zeros_start(f.fileno(), os.fstat(f.fileno()).st_size) == len(body)
        assert extent.media_extent(Reader(f), "mp3", f.fileno()) == len(body)
        assert extent.media_extent(Reader(f), "mov", f.fileno()) == len(body) + (64 << 20)


def test_flac_bound_covers_the_frames(tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    path = tmp_path / "n.flac"
    sf.write(path, np.random.default_rng(0).standard_normal(48_000).astype(np.float32) * 0.3, 16_000)
    size = path.stat().st_size
    with open(path, "ab") as f:
        f.truncate(size + (1 << 30))
    with open(path, "rb") as f:
        bound = extent.flac_bound(Reader(f))
    assert bound is not None and size <= bound < size * 3


# ----------------------------------------------------------------------------------------------
# the package is a leaf: standard library and relative imports only (the decode worker loads it
# by path without importing synthwatch)


def test_containers_import_only_the_standard_library() -> None:
    root = Path(_containers.__file__).parent
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert node.module.split(".")[0] in sys.stdlib_module_names, f"{path.name}: {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in sys.stdlib_module_names, f"{path.name}: {alias.name}"


def test_reader_never_reads_past_what_is_asked() -> None:
    class Spy(io.BytesIO):
        asked: list[int] = []

        def read(self, n: int | None = -1) -> bytes:
            self.asked.append(-1 if n is None else n)
            return super().read(n)

    f = Spy(b"\xff" * 100)
    r = Reader(f, size=1 << 40)  # a lying size cannot make a read larger than asked
    assert r.read_at(10, 16) == b"\xff" * 16
    assert max(Spy.asked) == 16
