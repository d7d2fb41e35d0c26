"""iter_audio() / read_audio(): 16 kHz mono windows from audio files and video tracks."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from synthwatch.config import Limits
from synthwatch.errors import MediaTooLarge, UnsupportedMedia
from synthwatch.media import AudioWindow, iter_audio, read_audio
from synthwatch.testing import samples


def _spans(windows: list[AudioWindow]) -> list[tuple[float, float]]:
    return [(round(w.start_s, 4), round(w.end_s, 4)) for w in windows]


def test_windows_of_a_wav(sample_speech: Path) -> None:
    windows = list(iter_audio(sample_speech))
    assert _spans(windows) == [(0.0, 4.0), (4.0, 6.0)]
    assert [len(w.samples) for w in windows] == [64_000, 32_000]
    for w in windows:
        assert w.samples.dtype == np.float32 and w.samples.ndim == 1
        assert w.sample_rate == 16_000
        assert w.duration_s == pytest.approx(w.end_s - w.start_s)
    # 16 kHz mono PCM in, so the samples are the file's samples
    data, _ = sf.read(sample_speech, dtype="float32")
    assert np.allclose(np.concatenate([w.samples for w in windows]), data, atol=1e-4)


def test_overlapping_windows_and_tails(tmp_path: Path) -> None:
    def wav(seconds: float) -> Path:
        path = tmp_path / f"{seconds}.wav"
        sf.write(path, np.zeros(int(seconds * 16_000), np.float32), 16_000)
        return path

    six = wav(6.0)
    assert _spans(list(iter_audio(six, hop_s=2.0))) == [(0, 4), (2, 6)]  # no redundant tail window
    assert _spans(list(iter_audio(six, window_s=1.5, hop_s=1.0))) == [(0, 1.5), (1, 2.5), (2, 3.5), (3, 4.5), (4, 5.5),
                                                                      (5, 6)]
    assert _spans(list(iter_audio(six, window_s=1.0, hop_s=2.0))) == [(0, 1), (2, 3), (4, 5)]
    assert _spans(list(iter_audio(wav(4.6)))) == [(0, 4), (4, 4.6)]
    assert _spans(list(iter_audio(wav(4.3)))) == [(0, 4)]  # a 0.3 s tail is dropped
    assert _spans(list(iter_audio(wav(0.3)))) == []
    assert _spans(list(iter_audio(wav(2.0)))) == [(0, 2)]  # shorter than one window


@pytest.mark.parametrize("suffix", [".mp3", ".m4a", ".opus", ".ogg", ".flac"])
def test_compressed_formats_are_resampled(tmp_path: Path, suffix: str) -> None:
    path = samples.make_speech(tmp_path / f"s{suffix}", seconds=5.0, sample_rate=22_050)
    windows = list(iter_audio(path))
    assert len(windows) == 2
    assert windows[0].end_s == 4.0 and len(windows[0].samples) == 64_000
    assert windows[1].end_s == pytest.approx(5.0, abs=0.06)  # codec padding is at most a frame
    assert all(w.sample_rate == 16_000 for w in windows)


def test_resampling_keeps_the_pitch(tmp_path: Path) -> None:
    rate = 44_100
    t = np.arange(rate * 2) / rate
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 440 * t)], axis=1)
    path = tmp_path / "tone.flac"
    sf.write(path, stereo.astype(np.float32), rate)
    wave = read_audio(path)
    assert wave.dtype == np.float32 and len(wave) == 32_000
    spectrum = np.abs(np.fft.rfft(wave))
    assert np.argmax(spectrum) * 16_000 / len(wave) == pytest.approx(440, abs=1)
    assert np.abs(wave).max() == pytest.approx(0.5, abs=0.02)  # mono = mean of the channels


def test_video_tracks(sample_video: Path, sample_video_silent: Path, sample_webm: Path) -> None:
    windows = list(iter_audio(sample_video))
    assert _spans(windows)[0] == (0.0, 4.0)
    assert windows[-1].end_s == pytest.approx(5.0, abs=0.05)
    assert len(list(iter_audio(sample_webm))) == 1
    assert list(iter_audio(sample_video_silent)) == []
    assert read_audio(sample_video_silent).shape == (0,)


def test_read_audio(sample_speech: Path, sample_png: Path) -> None:
    wave = read_audio(sample_speech)
    assert wave.shape == (96_000,) and wave.dtype == np.float32
    assert read_audio(sample_speech, sample_rate=8_000).shape == (48_000,)
    with pytest.raises(MediaTooLarge) as err:
        read_audio(sample_speech, Limits(max_duration_s=5.0))
    assert err.value.limit == "max_duration_s"
    with pytest.raises(UnsupportedMedia):
        read_audio(sample_png)
    with pytest.raises(UnsupportedMedia):
        iter_audio(sample_png)
    with pytest.raises(ValueError):
        iter_audio(sample_speech, window_s=0)


def test_decoded_length_is_bounded_even_if_the_header_lies(tmp_path: Path) -> None:
    # a WAV header can only declare so much; an ADTS stream declares nothing at all
    path = tmp_path / "long.aac"
    signal = np.zeros(16_000 * 8, np.float32)
    with av.open(str(path), "w", format="adts") as out:
        stream = out.add_stream("aac", rate=16_000, layout="mono")
        samples._encode_audio(out, stream, signal, 16_000, until_s=None, state={})
    with pytest.raises(MediaTooLarge) as err:
        list(iter_audio(path, Limits(max_duration_s=3.0)))
    assert err.value.limit == "max_duration_s"


def test_surround_is_downmixed(tmp_path: Path) -> None:
    rate = 48_000
    t = np.arange(rate) / rate
    six = np.stack([0.2 * np.sin(2 * np.pi * 300 * t)] * 6, axis=1).astype(np.float32)
    path = tmp_path / "surround.flac"
    sf.write(path, six, rate)
    wave = read_audio(path)
    assert wave.shape == (16_000,)
    assert 0.05 < np.abs(wave).max() < 0.6
