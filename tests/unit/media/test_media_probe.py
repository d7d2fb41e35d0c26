"""probe(): facts from headers, checked against limits before decoding."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from synthwatch.config import Limits
from synthwatch.errors import MediaTooLarge
from synthwatch.media import probe
from synthwatch.testing import samples
from synthwatch.types import MediaKind


def test_video(sample_video: Path) -> None:
    info = probe(sample_video)
    assert info.kind is MediaKind.VIDEO
    assert (info.format, info.mime) == ("mp4", "video/mp4")
    assert info.duration_s == pytest.approx(5.0, abs=0.05)
    assert (info.width, info.height) == (320, 240)
    assert info.fps == pytest.approx(25.0)
    assert info.frame_count == 125
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.sample_rate, info.channels) == (48_000, 2)
    assert info.has_video and info.has_audio
    assert info.size_bytes == sample_video.stat().st_size
    assert info.sha256 == hashlib.sha256(sample_video.read_bytes()).hexdigest()
    assert info.to_dict()["kind"] == "video"


def test_webm_and_silent_video(sample_webm: Path, sample_video_silent: Path) -> None:
    webm = probe(sample_webm)
    assert (webm.format, webm.video_codec, webm.audio_codec) == ("webm", "vp9", "opus")
    assert webm.duration_s == pytest.approx(3.0, abs=0.05)
    silent = probe(sample_video_silent)
    assert silent.has_video and not silent.has_audio
    assert silent.audio_codec is None and silent.sample_rate is None


def test_audio(sample_speech: Path, tmp_path: Path) -> None:
    info = probe(sample_speech)
    assert (info.kind, info.format, info.mime) == (MediaKind.AUDIO, "wav", "audio/wav")
    assert info.duration_s == pytest.approx(6.0, abs=1e-3)
    assert (info.sample_rate, info.channels, info.audio_codec) == (16_000, 1, "pcm_s16le")
    assert info.has_audio and not info.has_video
    assert info.width is None and info.fps is None
    m4a = probe(samples.make_speech(tmp_path / "s.m4a", seconds=2.0))
    assert (m4a.kind, m4a.format, m4a.audio_codec, m4a.sample_rate) == (MediaKind.AUDIO, "m4a", "aac", 44_100)


def test_image(sample_png: Path, tmp_path: Path) -> None:
    info = probe(sample_png)
    assert (info.kind, info.format, info.width, info.height) == (MediaKind.IMAGE, "png", 320, 240)
    assert info.duration_s is None and not info.has_video
    # EXIF orientation 6 (rotate 90): the reported size is the displayed size
    im = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = im.getexif()
    exif[0x0112] = 6
    path = tmp_path / "rot.jpg"
    im.save(path, exif=exif)
    rotated = probe(path)
    assert (rotated.width, rotated.height) == (20, 40)


def test_rotated_video_reports_display_size(tmp_path: Path) -> None:
    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = 64, 32, "yuv420p"
        vs.set_display_rotation(90)
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    info = probe(path)
    assert (info.width, info.height) == (32, 64)


def test_limits_apply_before_decoding(sample_video: Path, sample_png: Path) -> None:
    with pytest.raises(MediaTooLarge) as err:
        probe(sample_video, Limits(max_bytes=1000))
    assert err.value.limit == "max_bytes"
    with pytest.raises(MediaTooLarge) as err:
        probe(sample_video, Limits(max_duration_s=2.0))
    assert err.value.limit == "max_duration_s"
    assert err.value.value == pytest.approx(5.0, abs=0.05)
    assert err.value.maximum == 2.0
    with pytest.raises(MediaTooLarge) as err:
        probe(sample_video, Limits(max_pixels=320 * 240 - 1))
    assert err.value.limit == "max_pixels"
    assert err.value.value == 320 * 240
    with pytest.raises(MediaTooLarge) as err:
        probe(sample_png, Limits(max_pixels=1000))
    assert (err.value.limit, err.value.value, err.value.maximum) == ("max_pixels", 320 * 240, 1000)


def test_gif_frame_count_without_decoding_every_frame(tmp_path: Path) -> None:
    still = tmp_path / "still.gif"
    Image.new("P", (8, 8)).save(still)
    anim = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(5)]
    frames[0].save(anim, save_all=True, append_images=frames[1:])
    assert probe(still).frame_count == 1
    assert probe(anim).frame_count is None  # animated; not counted (that would decode them all)
    tiff = tmp_path / "pages.tiff"
    frames[0].save(tiff, save_all=True, append_images=frames[1:3])
    assert probe(tiff).frame_count == 3
