"""Round trips of the implicit label in every carrier: one label, read back, media unchanged."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from PIL import Image
from prov_media import FORMATS, copy, decoded_digest

from synthwatch.provenance import aigc_label
from synthwatch.provenance.aigc_label import apply_label, read_label, read_labels, write_label
from synthwatch.provenance.errors import DuplicateLabel, LabelError, LabelWriteError, UnsupportedCarrier
from synthwatch.provenance.label import AIGCLabel
from synthwatch.provenance.xmp import parse_xmp

ALL = sorted(FORMATS)
PRODUCER = AIGCLabel.as_producer("1", "001191110102MAD55U9H0F10002", "a1b2c3")


def _ids() -> iter:  # type: ignore[type-arg]
    n = 0
    while True:
        n += 1
        yield f"id{n:04d}"


@pytest.mark.parametrize("name", ALL)
def test_write_read_update_remove_round_trip(name: str, media: dict[str, Path], tmp_path: Path) -> None:
    src = media[name]
    before = decoded_digest(src)
    assert read_labels(src) == []
    out = tmp_path / f"labelled{src.suffix}"
    got = write_label(src, out, PRODUCER)
    assert got is not None and got.valid and got.label == PRODUCER
    assert read_label(out) == got
    assert decoded_digest(out) == before, "writing a label changed the decoded media"

    # a platform that distributes it: producer fields kept, one label, still the same media
    ids = _ids()
    prop = tmp_path / f"propagated{src.suffix}"
    reading = apply_label(out, prop, propagator="PLATFORM0001", id_factory=lambda: next(ids))
    assert reading.label.content_producer == PRODUCER.content_producer
    assert reading.label.produce_id == PRODUCER.produce_id
    assert (reading.label.content_propagator, reading.label.propagate_id) == ("PLATFORM0001", "id0001")
    assert len(read_labels(prop)) == 1 and reading.valid
    # again, in place, with a new Label: updated, never duplicated
    again = apply_label(prop, prop, propagator="PLATFORM0001", label="3", id_factory=lambda: next(ids))
    assert again.label.label == "3" and again.label.propagate_id == "id0001"  # same platform keeps its id
    assert len(read_labels(prop)) == 1
    assert decoded_digest(prop) == before

    # removal leaves no label and the same media
    bare = tmp_path / f"bare{src.suffix}"
    assert write_label(prop, bare, None) is None
    assert read_labels(bare) == []
    assert decoded_digest(bare) == before


@pytest.mark.parametrize("name", ["jpeg_xmp", "png_xmp"])
def test_existing_xmp_is_merged_not_overwritten(name: str, media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / f"o{media[name].suffix}"
    write_label(media[name], out, PRODUCER)
    reader = aigc_label._image_meta(out.read_bytes(), FORMATS[name])
    assert len(reader.xmp) == 1
    info = parse_xmp(reader.xmp[0])
    assert b"Keep me" in reader.xmp[0] and info.creator_tools == ["TestCam 1.0"]
    assert len(info.labels) == 1
    if name == "jpeg_xmp":
        assert reader.exif.get("Software") == "Stable Diffusion"
    else:
        assert reader.text["parameters"].startswith("a cat")


@pytest.mark.parametrize("name", ["webp", "webp_lossless", "webp_alpha", "webp_exif"])
def test_webp_gets_a_correct_vp8x_header(name: str, media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o.webp"
    write_label(media[name], out, PRODUCER)
    data = out.read_bytes()
    assert data[12:16] == b"VP8X"
    flags = data[20]
    assert flags & 0x04
    w = int.from_bytes(data[24:27], "little") + 1
    h = int.from_bytes(data[27:30], "little") + 1
    with Image.open(media[name]) as im:
        assert (w, h) == im.size
        assert bool(flags & 0x10) == (im.mode == "RGBA")
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    if name == "webp_exif":
        assert aigc_label._image_meta(data, "webp").exif["Software"] == "GenTool 2"


def test_mp4_faststart_offsets_are_shifted(media: dict[str, Path], tmp_path: Path) -> None:
    src = media["mp4_faststart"]
    big = AIGCLabel.as_producer("1", "P", "i", reserved_code1="R" * 5000)
    out = tmp_path / "o.mp4"
    write_label(src, out, big)
    assert out.stat().st_size > src.stat().st_size + 5000
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    assert decoded_digest(out) == decoded_digest(src)


def _cue_targets(path: Path) -> list[bytes]:
    """The 4 bytes at every CueClusterPosition (each must be a Cluster ID)."""
    from synthwatch.provenance.carriers import matroska as m

    with open(path, "rb") as f:
        lay = m._layout(f)
        out = []
        for e in lay.elements:
            if e.eid != m.CUES:
                continue
            for k, point in m._children(m._payload(f, e)):
                if k != 0xBB:  # CuePoint (CRC-32 may come first)
                    continue
                for i, tp in m._children(point):
                    if i != 0xB7:
                        continue
                    for j, v in m._children(tp):
                        if j == 0xF1:
                            f.seek(lay.data_start + int.from_bytes(v, "big"))
                            out.append(f.read(4))
    return out


@pytest.mark.parametrize("name", ["mkv", "webm"])
def test_matroska_header_growth_moves_clusters_and_fixes_cues(name: str, media: dict[str, Path],
                                                              tmp_path: Path) -> None:
    src = media[name]
    assert _cue_targets(src) and set(_cue_targets(src)) == {b"\x1f\x43\xb6\x75"}
    big = AIGCLabel.as_producer("1", "P", "i", reserved_code1="R" * 20000)  # larger than any Void
    out = tmp_path / f"o{src.suffix}"
    write_label(src, out, big)
    assert out.stat().st_size > src.stat().st_size + 20000
    assert set(_cue_targets(out)) == {b"\x1f\x43\xb6\x75"}
    assert decoded_digest(out) == decoded_digest(src)
    small = tmp_path / f"s{src.suffix}"
    write_label(out, small, PRODUCER)  # and shrinking back
    assert set(_cue_targets(small)) == {b"\x1f\x43\xb6\x75"}
    assert decoded_digest(small) == decoded_digest(src)


def test_duplicates_are_reported_and_collapsed(media: dict[str, Path], tmp_path: Path) -> None:
    from mutagen.flac import FLAC

    dup = copy(media["flac"], tmp_path / "dup.flac")
    f = FLAC(dup)
    f.tags.append(("AIGC", PRODUCER.to_json()))  # type: ignore[union-attr]
    f.tags.append(("aigc", PRODUCER.to_json()))  # type: ignore[union-attr]
    f.save()
    assert len(read_labels(dup)) == 2
    assert any(d.code == "vorbis_key" for d in read_labels(dup)[1].deviations)
    with pytest.raises(DuplicateLabel) as exc:
        read_label(dup)
    assert exc.value.count == 2
    fixed = apply_label(dup, tmp_path / "fixed.flac", propagator="PLAT", id_factory=lambda: "p1")
    assert len(read_labels(tmp_path / "fixed.flac")) == 1
    assert fixed.label.content_producer == PRODUCER.content_producer


def test_png_text_chunk_label_is_read_and_replaced_by_xmp(media: dict[str, Path], tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    src = tmp_path / "t.png"
    info = PngInfo()
    info.add_text("AIGC", PRODUCER.to_json())
    Image.open(media["png"]).save(src, pnginfo=info)
    (reading,) = read_labels(src)
    assert reading.carrier == "png:text:AIGC" and "png_text_chunk" in {d.code for d in reading.deviations}
    out = tmp_path / "o.png"
    apply_label(src, out, propagator="PLAT", id_factory=lambda: "x")
    (only,) = read_labels(out)
    assert only.carrier == "png:xmp:element" and only.valid


def test_wav_other_forms_are_read_and_removed(media: dict[str, Path], tmp_path: Path) -> None:
    raw = media["wav"].read_bytes()
    body = PRODUCER.to_json().encode() + b"\x00"
    chunk = b"AIGC" + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")
    data = raw[:12] + chunk + raw[12:]
    data = data[:4] + struct.pack("<I", len(data) - 8) + data[8:]
    src = tmp_path / "chunk.wav"
    src.write_bytes(data)
    (reading,) = read_labels(src)
    assert reading.carrier == "wav:RIFF/AIGC" and reading.valid
    out = tmp_path / "o.wav"
    write_label(src, out, PRODUCER)
    (only,) = read_labels(out)
    assert only.carrier == "wav:RIFF/LIST-INFO/AIGC"
    assert decoded_digest(out) == decoded_digest(media["wav"])


def test_mp4_itunes_freeform_variant(media: dict[str, Path], tmp_path: Path) -> None:
    from mutagen.mp4 import MP4, MP4FreeForm

    src = copy(media["m4a"], tmp_path / "ff.m4a")
    f = MP4(src)
    f["----:com.apple.iTunes:AIGC"] = [MP4FreeForm(PRODUCER.to_json().encode())]
    f.save()
    (reading,) = read_labels(src)
    assert "mp4_freeform" in {d.code for d in reading.deviations} and reading.label == PRODUCER
    out = tmp_path / "o.m4a"
    write_label(src, out, PRODUCER)
    (only,) = read_labels(out)
    assert only.valid and "keys:AIGC" in only.carrier
    assert decoded_digest(out) == decoded_digest(media["m4a"])


def test_write_refuses_invalid_labels_and_leaves_dst_alone(media: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "o.jpg"
    dst.write_bytes(b"untouched")
    with pytest.raises(LabelError):
        write_label(media["jpeg"], dst, AIGCLabel("7", "P", "i"))
    with pytest.raises(LabelError):
        write_label(media["jpeg"], dst, AIGCLabel("1", "P Q", "i"))
    assert dst.read_bytes() == b"untouched"
    assert list(tmp_path.iterdir()) == [dst]


def test_unsupported_formats(tmp_path: Path) -> None:
    gif = tmp_path / "a.gif"
    Image.new("RGB", (8, 8)).save(gif)
    with pytest.raises(UnsupportedCarrier):
        read_labels(gif)
    with pytest.raises(UnsupportedCarrier):
        write_label(gif, tmp_path / "b.gif", PRODUCER)


def test_apply_label_policy(media: dict[str, Path], tmp_path: Path) -> None:
    src = media["png"]
    with pytest.raises(LabelError):
        apply_label(src, tmp_path / "x.png", propagator="PLAT")  # no label and none given
    with pytest.raises(LabelError):
        apply_label(src, tmp_path / "x.png", producer="A", propagator="B")
    mine = apply_label(src, tmp_path / "p.png", producer="PRODA", id_factory=lambda: "g1")
    assert mine.label == AIGCLabel("1", "PRODA", "g1", "", "PRODA", "g1", "")
    with pytest.raises(LabelError):
        apply_label(tmp_path / "p.png", tmp_path / "q.png", producer="PRODB")  # would alter A's label
    relabel = apply_label(tmp_path / "p.png", tmp_path / "p.png", producer="PRODA", label="2")
    assert relabel.label.produce_id == "g1" and relabel.label.label == "2"
    declared = apply_label(src, tmp_path / "d.png", propagator="PLAT", label="2", id_factory=lambda: "d1")
    assert declared.label == AIGCLabel("2", content_propagator="PLAT", propagate_id="d1")
    assert declared.valid


def test_wild_upstream_label_is_normalised_by_a_propagator(media: dict[str, Path], tmp_path: Path) -> None:
    from mutagen.id3 import ID3, TXXX

    src = copy(media["mp3"], tmp_path / "wild.mp3")
    tags = ID3()
    tags.add(TXXX(encoding=3, desc="aigc", text=[json.dumps({"aigc": {"label": "AIGC", "contentproducer": "P",
                                                                        "produceid": 7}})]))
    tags.save(src)
    (wild,) = read_labels(src)
    assert wild.label.label == "1" and not wild.valid
    assert {"id3_description", "aigc_key_case", "field_key_case", "label_value_invalid", "value_not_string",
            "field_missing"} <= {d.code for d in wild.deviations}
    out = tmp_path / "o.mp3"
    fixed = apply_label(src, out, propagator="PLAT", id_factory=lambda: "q")
    assert fixed.valid and fixed.label == AIGCLabel("1", "P", "7", "", "PLAT", "q", "")
    assert decoded_digest(out) == decoded_digest(media["mp3"])


def test_hostile_xmp_in_a_jpeg_gives_a_typed_error(media: dict[str, Path], tmp_path: Path) -> None:
    from test_xmp import BILLION_LAUGHS

    from synthwatch.provenance.errors import UnsafeXML

    data = media["jpeg"].read_bytes()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + BILLION_LAUGHS
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(data[:2] + seg + data[2:])
    with pytest.raises(UnsafeXML):
        read_labels(bad)
    with pytest.raises(UnsafeXML):
        write_label(bad, tmp_path / "o.jpg", PRODUCER)


def test_same_path_in_place(media: dict[str, Path], tmp_path: Path) -> None:
    p = copy(media["mkv"], tmp_path / "inplace.mkv")
    write_label(p, p, PRODUCER)
    write_label(p, p, PRODUCER.with_propagator("PLAT", "z"))
    assert len(read_labels(p)) == 1
    assert [x.name for x in tmp_path.iterdir()] == ["inplace.mkv"]


def test_failed_read_back_raises(media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aigc_label, "read_labels", lambda path, fmt=None: [])
    with pytest.raises(LabelWriteError):
        write_label(media["png"], tmp_path / "o.png", PRODUCER)
    assert not (tmp_path / "o.png").exists()
    shutil.rmtree(tmp_path)
