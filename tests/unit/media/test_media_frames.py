"""iter_frames(): sampling rate, keyframes, limits, exactness and early stop."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from synthwatch.config import Limits
from synthwatch.errors import MediaTooLarge, UnsupportedMedia
from synthwatch.media import Frame, iter_frames, sandbox
from synthwatch.testing import samples


def _reference(path: Path, fps: float) -> list[tuple[float, np.ndarray]]:
    """Plain full decode with PyAV in this process, same sampling rule."""
    out = []
    next_t = 0.0
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if f.time >= next_t - 1e-3:
                out.append((f.time, f.to_ndarray(format="rgb24")))
                next_t = (math.floor((f.time + 1e-3) * fps) + 1) / fps
    return out


@pytest.mark.parametrize(
    ("fps", "expected"),
    [(1.0, [0, 1, 2, 3, 4]), (2.0, [0, 0.52, 1, 1.52, 2, 2.52, 3, 3.52, 4, 4.52])],  # 25 fps: no frame at 0.5 s
)
def test_sampling_rate(sample_video: Path, fps: float, expected: list[float]) -> None:
    frames = list(iter_frames(sample_video, fps=fps))
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.t_s for f in frames] == pytest.approx(expected, abs=1e-6)
    for f in frames:
        assert f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8
        assert (f.width, f.height) == (320, 240)


def test_odd_rate_takes_first_frame_at_or_after_each_tick(sample_video: Path) -> None:
    frames = list(iter_frames(sample_video, fps=3.0))  # ticks at k/3 s; frames every 0.04 s
    assert len(frames) == 15
    for k, f in enumerate(frames):
        assert k / 3 - 1e-6 <= f.t_s < k / 3 + 0.04 + 1e-6


def test_keyframes_only(sample_video: Path) -> None:
    frames = list(iter_frames(sample_video, keyframes_only=True, fps=100.0))  # fps is ignored
    assert [f.t_s for f in frames] == pytest.approx([0, 1, 2, 3, 4], abs=1e-6)


def test_same_pixels_as_a_full_decode_with_b_frames(tmp_path: Path) -> None:
    # x264 'medium' uses B-frames (and B-pyramid): frames skipped as non-reference must not
    # change any sampled frame
    path = samples.make_video(tmp_path / "b.mp4", seconds=3.0, size=(160, 96), fps=30, preset="medium", gop=45,
                              audio=False)
    for fps in (1.0, 4.0):
        ref = _reference(path, fps)
        got = list(iter_frames(path, fps=fps))
        assert len(got) == len(ref)
        for (t, img), frame in zip(ref, got, strict=True):
            assert frame.t_s == pytest.approx(t, abs=1e-6)
            assert np.array_equal(frame.image, img)


def test_vp9_webm(sample_webm: Path) -> None:
    frames = list(iter_frames(sample_webm, fps=1.0))
    assert [round(f.t_s, 3) for f in frames] == [0.0, 1.0, 2.0]


def test_limits(sample_video: Path) -> None:
    with pytest.raises(MediaTooLarge) as err:
        next(iter_frames(sample_video, Limits(max_frames=4), fps=1.0))
    assert (err.value.limit, err.value.value, err.value.maximum) == ("max_frames", 5, 4)
    # keyframes cannot be counted ahead; the limit stops the stream when it is passed
    got = []
    with pytest.raises(MediaTooLarge):
        for f in iter_frames(sample_video, Limits(max_frames=2), keyframes_only=True):
            got.append(f)
    assert len(got) == 2
    with pytest.raises(MediaTooLarge) as err:
        next(iter_frames(sample_video, Limits(max_pixels=100 * 100)))
    assert err.value.limit == "max_pixels"
    with pytest.raises(MediaTooLarge) as err:
        next(iter_frames(sample_video, Limits(max_duration_s=1.0)))
    assert err.value.limit == "max_duration_s"


def test_early_close_stops_the_worker_cleanly(sample_video: Path) -> None:
    it = iter_frames(sample_video, fps=25.0)
    first = next(it)
    assert first.t_s == 0.0
    it.close()  # type: ignore[attr-defined]
    pids = sandbox.worker_pids()
    assert pids  # the worker went back to the pool instead of being killed
    assert len(list(iter_frames(sample_video, fps=1.0))) == 5
    assert set(sandbox.worker_pids()) & set(pids)


def test_other_kinds(sample_speech: Path, sample_png: Path) -> None:
    assert list(iter_frames(sample_speech)) == []
    with pytest.raises(UnsupportedMedia):
        iter_frames(sample_png)
    with pytest.raises(ValueError):
        iter_frames(sample_speech, fps=0)


def test_rotation_is_applied(tmp_path: Path) -> None:
    from fractions import Fraction

    path = tmp_path / "rot.mp4"
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:, :32] = 255  # left half white
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10, options={"preset": "ultrafast", "crf": "0"})
        vs.width, vs.height, vs.pix_fmt = 64, 32, "yuv420p"
        vs.set_display_rotation(90)  # counterclockwise
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    img = next(iter(iter_frames(path))).image
    assert img.shape == (64, 32, 3)
    assert img[:24].mean() < 30 and img[-24:].mean() > 225  # the left half turned to the bottom
