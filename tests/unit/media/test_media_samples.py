"""synthwatch.testing.samples: deterministic, speech-like, face-bearing test media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthwatch.media import iter_frames, load_image, probe, read_audio
from synthwatch.media.sniff import SUFFIX_FORMATS, kind_of_suffix, sniff
from synthwatch.testing import samples
from synthwatch.types import MediaKind


def test_speech_is_deterministic_and_speech_like() -> None:
    a, voicing = samples.synth_speech(6.0, 16_000, seed=0)
    b, _ = samples.synth_speech(6.0, 16_000, seed=0)
    c, _ = samples.synth_speech(6.0, 16_000, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == (96_000,) and np.abs(a).max() <= 0.5 + 1e-6
    # syllables and pauses: a good share of quiet 20 ms frames, and a good share of loud ones
    frames = a[: len(a) // 320 * 320].reshape(-1, 320)
    rms = np.sqrt((frames**2).mean(axis=1))
    quiet = (rms < 0.05 * rms.max()).mean()
    assert 0.1 < quiet < 0.6
    # voiced parts are periodic with a speech-range pitch (autocorrelation peak 70-300 Hz)
    loud = frames[np.argmax(rms)]
    seg = a[np.argmax(rms) * 320 : np.argmax(rms) * 320 + 1024].astype(np.float64)
    ac = np.correlate(seg, seg, "full")[len(seg) - 1 :]
    lag = np.argmax(ac[16_000 // 300 : 16_000 // 70]) + 16_000 // 300
    assert 70 <= 16_000 / lag <= 300
    assert loud.std() > 0 and voicing.max() > 0.9


@pytest.mark.parametrize("suffix", samples.WRITABLE_SUFFIXES[MediaKind.AUDIO])
def test_make_speech_formats(tmp_path: Path, suffix: str) -> None:
    path = samples.make_speech(tmp_path / f"s{suffix}", seconds=2.0)
    assert sniff(path).format == SUFFIX_FORMATS[suffix]  # the bytes are what the name says
    info = probe(path)
    assert info.kind is MediaKind.AUDIO
    assert info.duration_s == pytest.approx(2.0, abs=0.08)


@pytest.mark.parametrize("suffix", samples.WRITABLE_SUFFIXES[MediaKind.IMAGE] + samples.WRITABLE_SUFFIXES[MediaKind.VIDEO])
def test_generators_write_what_the_suffix_names(tmp_path: Path, suffix: str) -> None:
    if suffix in samples.WRITABLE_SUFFIXES[MediaKind.IMAGE]:
        path = samples.make_image(tmp_path / f"i{suffix}", size=(48, 32), face=False)
    else:
        path = samples.make_video(tmp_path / f"v{suffix}", seconds=0.2, size=(64, 48), fps=10, audio=False,
                                  face=False, codec="vp9" if suffix == ".webm" else None)
    assert sniff(path).format == SUFFIX_FORMATS[suffix]
    assert probe(path).kind is kind_of_suffix(path)


def test_generators_write_only_the_media_layers_suffixes() -> None:
    for kind, suffixes in samples.WRITABLE_SUFFIXES.items():
        assert suffixes and all(kind_of_suffix(f"x{s}") is kind for s in suffixes)
    with pytest.raises(ValueError, match="unsupported audio suffix '.txt'"):
        samples.make_speech("x.txt")


def test_make_image_and_video(tmp_path: Path) -> None:
    img = samples.make_image(tmp_path / "a.png", size=(200, 150), seed=3)
    again = samples.make_image(tmp_path / "b.png", size=(200, 150), seed=3)
    assert np.array_equal(load_image(img), load_image(again))
    assert load_image(img).shape == (150, 200, 3)
    with pytest.raises(ValueError):
        samples.make_image(tmp_path / "a.xyz")
    with pytest.raises(ValueError):
        samples.make_video(tmp_path / "v.mp4", size=(101, 100))
    video = samples.make_video(tmp_path / "v.avi", seconds=1.0, size=(128, 96), fps=10)
    info = probe(video)
    assert (info.format, info.video_codec, info.audio_codec) == ("avi", "mpeg4", "mp3float")
    assert info.frame_count in (10, 11)


def test_demo_set(tmp_path: Path) -> None:
    demo = samples.make_demo_set(tmp_path / "demo")
    image, audio, video = demo
    assert probe(image).kind is MediaKind.IMAGE
    assert probe(audio).kind is MediaKind.AUDIO
    info = probe(video)
    assert info.kind is MediaKind.VIDEO and info.has_audio
    assert info.duration_s == pytest.approx(4.0, abs=0.05)
    assert read_audio(audio).shape == (96_000,)


def _faces(rgb: np.ndarray, model: Path) -> list[tuple[float, ...]]:
    cv2 = pytest.importorskip("cv2")
    h, w = rgb.shape[:2]
    detector = cv2.FaceDetectorYN.create(str(model), "", (w, h), 0.6)
    _, found = detector.detect(np.ascontiguousarray(rgb[..., ::-1]))
    return [] if found is None else [tuple(float(v) for v in row) for row in found]


@pytest.mark.shared_data
def test_drawn_faces_are_found_by_a_real_face_detector(shared_dir: Path, tmp_path: Path, sample_video: Path) -> None:
    model = shared_dir / "models" / "yunet" / "face_detection_yunet.onnx"
    if not model.exists():
        pytest.skip(f"{model} is absent")
    for seed in range(3):
        img = load_image(samples.make_image(tmp_path / f"f{seed}.jpg", size=(640, 480), seed=seed))
        faces = _faces(img, model)
        assert len(faces) == 1 and faces[0][-1] > 0.8
        no_face = load_image(samples.make_image(tmp_path / f"n{seed}.jpg", size=(640, 480), seed=seed, face=False))
        assert _faces(no_face, model) == []
    found = [len(_faces(f.image, model)) for f in iter_frames(sample_video, fps=1.0)]
    assert found == [1] * 5
