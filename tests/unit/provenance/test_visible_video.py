"""Visible labels on video: the first 2 s carry the notice, the rest matches, audio and timing survive."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from prov_media import decode_audio, decode_frames, make_clip

from synthwatch.errors import CorruptMedia
from synthwatch.provenance import AIGCLabel, read_label, write_label
from synthwatch.provenance.errors import ProvenanceError, UnsupportedCarrier
from synthwatch.provenance.visible_video import burn_video_label

CLIPS = {  # name -> (muxer, video encoder, audio encoder, expected output codec)
    "mp4": ("mp4", "libx264", "aac", "h264"),
    "mov": ("mov", "libx264", "aac", "h264"),
    "webm": ("webm", "libvpx-vp9", "libopus", "vp9"),
    "mkv": ("matroska", "libvpx", "aac", "vp9"),
}


def _stream_facts(path: Path) -> dict[str, object]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        return {"rate": v.average_rate, "size": (v.codec_context.width, v.codec_context.height),
                "pix_fmt": v.codec_context.pix_fmt, "codec": v.codec_context.name,
                "audio": a.codec_context.name if a is not None else None,
                "audio_rate": a.codec_context.sample_rate if a is not None else None}


def _box_diff(a: np.ndarray, b: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    return float(np.abs(a[y0:y1, x0:x1].astype(int) - b[y0:y1, x0:x1].astype(int)).mean())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(float) - b.astype(float)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_first_two_seconds_carry_the_notice(name: str, font: str, tmp_path: Path) -> None:
    muxer, vcodec, acodec, out_codec = CLIPS[name]
    ext = {"matroska": "mkv"}.get(muxer, muxer)
    src = make_clip(tmp_path / f"in.{ext}", muxer, vcodec, acodec, seconds=3.0, fps=10)
    labelled = tmp_path / f"l.{ext}"
    write_label(src, labelled, AIGCLabel.as_producer("1", "PROD", "src1"))
    out = tmp_path / f"o.{ext}"
    lab = AIGCLabel("1", "PROD", "src1", "", "PLAT", "p1", "")
    result = burn_video_label(labelled, out, label=lab)

    # the notice is legible and only the first 2 s carry it
    assert result.visible.ratio >= 0.05 and result.visible.text_height_px >= 0.05 * 120
    assert result.frames == 30 and result.frames_labelled == 20 and result.codec.endswith(("x264", "vp9"))
    before, t_before = decode_frames(labelled)
    after, t_after = decode_frames(out)
    assert len(after) == len(before) == 30
    assert t_after == pytest.approx(t_before, abs=1e-3)  # every timestamp (so fps and duration) kept
    box = result.visible.box
    for i, t in enumerate(t_after):
        if t < 2.0:
            assert _box_diff(before[i], after[i], box) > 20, (i, t)
        else:
            assert _psnr(before[i], after[i]) > 33, (i, t)  # only the re-encode differs
            assert _box_diff(before[i], after[i], box) < 4
    facts_in, facts_out = _stream_facts(labelled), _stream_facts(out)
    assert facts_out["rate"] == facts_in["rate"] and facts_out["size"] == facts_in["size"]
    assert facts_out["pix_fmt"] == facts_in["pix_fmt"] and facts_out["codec"] == out_codec
    # the audio track is copied packet for packet
    assert facts_out["audio"] == facts_in["audio"] and facts_out["audio_rate"] == facts_in["audio_rate"]
    a_in, _ = decode_audio(labelled)
    a_out, _ = decode_audio(out)
    assert len(a_out) == len(a_in) and np.array_equal(a_in, a_out)
    # the implicit label was written into the re-encoded file and reads back
    got = read_label(out)
    assert got is not None and got.valid and got.label == lab
    assert result.label is not None and result.label.label == lab


def test_throughout_and_label_carried_over(font: str, tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", "mp4", "libx264", "aac", seconds=3.0, fps=10)
    labelled = tmp_path / "l.mp4"
    lab = AIGCLabel.as_producer("1", "PROD", "id9")
    write_label(src, labelled, lab)
    out = tmp_path / "o.mp4"
    result = burn_video_label(labelled, out, throughout=True)
    assert result.frames_labelled == result.frames == 30 and result.seconds is None
    before, _ = decode_frames(labelled)
    after, _ = decode_frames(out)
    assert all(_box_diff(b, a, result.visible.box) > 20 for b, a in zip(before, after, strict=True))
    got = read_label(out)  # no label given: the source's label is carried into the new file
    assert got is not None and got.label == lab


def test_video_without_audio_and_longer_window(font: str, tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.webm", "webm", "libvpx-vp9", None, seconds=4.0, fps=5, size=(96, 200))
    out = tmp_path / "o.webm"
    result = burn_video_label(src, out, seconds=3.0)
    assert result.frames == 20 and result.frames_labelled == 15 and result.audio_streams == 0
    assert result.label is None and read_label(out) is None
    assert result.visible.text_height_px >= 0.05 * 96


def test_refusals(font: str, media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ProvenanceError):
        burn_video_label(media["mp4"], tmp_path / "x.mp4", seconds=1.0)  # the standard asks >= 2 s
    with pytest.raises(UnsupportedCarrier):
        burn_video_label(media["wav"], tmp_path / "x.wav")
    with pytest.raises(UnsupportedCarrier):
        burn_video_label(media["png"], tmp_path / "x.png")
    broken = tmp_path / "broken.mp4"
    data = bytearray(media["mp4"].read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 8: mdat + 2000] = bytes(len(data[mdat + 8: mdat + 2000]))  # zero the coded frames
    broken.write_bytes(bytes(data[: len(data)]))
    with pytest.raises((CorruptMedia, ProvenanceError)):
        burn_video_label(broken, tmp_path / "y.mp4")
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "y.mp4").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["broken.mp4"]  # no temporary file left behind


def test_only_the_box_changes_before_encoding(font: str) -> None:
    from synthwatch.provenance.visible_video import _Overlay

    rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    overlay = _Overlay((160, 120))
    drawn = overlay.draw(frame, "yuv420p")
    before, after = frame.to_ndarray(format="rgb24").astype(int), drawn.to_ndarray(format="rgb24").astype(int)
    x0, y0, x1, y1 = overlay.info.box
    outside = np.ones((120, 160), bool)
    outside[max(0, y0 - 2): y1 + 2, max(0, x0 - 2): x1 + 2] = False  # the box, widened to the chroma grid
    assert np.array_equal(before[outside], after[outside])
    assert np.abs(before - after)[y0:y1, x0:x1].mean() > 20
