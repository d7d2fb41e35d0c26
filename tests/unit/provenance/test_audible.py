"""Audible labels: the Morse "AI" cue (short-long-short-short) is at the start, the original follows."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from prov_media import decode_audio

from synthwatch.provenance import AIGCLabel, read_label, write_label
from synthwatch.provenance.audible import add_audio_cue, cue_samples
from synthwatch.provenance.errors import ProvenanceError, UnsupportedCarrier

UNIT = 0.1


def _segments(x: np.ndarray, rate: int, threshold: float) -> list[tuple[bool, float, float]]:
    """(on?, start s, length s) runs of a 5 ms RMS envelope against ``threshold``."""
    hop = max(1, rate // 200)
    n = len(x) // hop
    env = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    on = env > threshold
    runs: list[tuple[bool, float, float]] = []
    start = 0
    for i in range(1, n + 1):
        if i == n or on[i] != on[start]:
            runs.append((bool(on[start]), start * hop / rate, (i - start) * hop / rate))
            start = i
    return runs


def _cue_at(x: np.ndarray, rate: int, start: float, threshold: float = 0.15) -> bool:
    """The envelope from ``start`` holds tones of 1, 3, 1, 1 units with gaps of 1, 3, 1 units."""
    seg = x[int(start * rate): int((start + 11 * UNIT + 0.05) * rate)]
    runs = _segments(seg, rate, threshold)
    tones = [length for on, _, length in runs if on]
    gaps = [length for on, s, length in runs if not on and 0 < s < 10.5 * UNIT]
    if len(tones) != 4 or len(gaps) != 3:
        return False
    return (np.allclose(np.array(tones) / UNIT, [1, 3, 1, 1], atol=0.35)
            and np.allclose(np.array(gaps) / UNIT, [1, 3, 1], atol=0.35))


def _onset(x: np.ndarray, rate: int, threshold: float = 0.15) -> float:
    runs = _segments(x, rate, threshold)
    return next(s for on, s, _ in runs if on)


def _best_corr(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Largest normalised correlation of ``b`` against ``a`` over lags 0..max_lag."""
    best = -1.0
    n = len(b) - max_lag
    for lag in range(0, max_lag + 1, 1):
        seg = a[lag: lag + n]
        if len(seg) < n:
            break
        c = float(np.dot(seg, b[:n]) / (np.linalg.norm(seg) * np.linalg.norm(b[:n]) + 1e-12))
        best = max(best, c)
    return best


def test_cue_pattern_is_morse_ai() -> None:
    x = cue_samples(8000, unit=UNIT)
    assert len(x) == 11 * 800 and np.abs(x).max() <= 0.51
    assert _cue_at(x, 8000, 0.0)


@pytest.mark.parametrize("name", ["wav", "flac", "ogg", "opus", "mp3", "m4a", "mka"])
def test_prepended_cue_then_the_original(name: str, media: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / f"in{media[name].suffix}"
    write_label(media[name], src, AIGCLabel.as_producer("1", "PROD", "a1"))
    out = tmp_path / f"o{media[name].suffix}"
    lab = AIGCLabel("1", "PROD", "a1", "", "PLAT", "p1", "")
    result = add_audio_cue(src, out, label=lab)
    orig, rate = decode_audio(src)
    got, out_rate = decode_audio(out)
    assert out_rate == rate == result.sample_rate
    start = _onset(got, rate)
    assert start < 0.1  # codec priming at most
    assert _cue_at(got, rate, start), _segments(got[: int(1.5 * rate)], rate, 0.15)
    # the original follows after the cue and the gap
    offset = result.original_offset_s
    assert offset == pytest.approx(1.1 + 0.25)
    tail = got[int(offset * rate):]
    if name in ("wav", "flac"):  # lossless: sample-exact
        assert np.array_equal(tail[: len(orig)], orig) and len(tail) == len(orig)
    else:
        assert _best_corr(tail, orig[int(0.05 * rate): int(0.45 * rate)], 4096) > 0.9
        assert len(got) / rate == pytest.approx(offset + len(orig) / rate, abs=0.1)
    reading = read_label(out)
    assert reading is not None and reading.valid and reading.label == lab


def test_mixed_cue_at_start_and_end(media: dict[str, Path], tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(3 * rate) / rate
    speechish = (0.2 * np.sin(2 * np.pi * 300 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t))).astype(np.float32)
    src = tmp_path / "in.wav"
    sf.write(src, speechish, rate, subtype="PCM_16")
    out = tmp_path / "o.wav"
    result = add_audio_cue(src, out, placement="mix", at_end=True)
    got, _ = decode_audio(out)
    orig, _ = decode_audio(src)
    assert len(got) == len(orig) and result.original_offset_s == 0.0  # mixed: the length is unchanged
    assert _cue_at(got, rate, 0.0, threshold=0.2)
    assert _cue_at(got, rate, (len(got) - len(cue_samples(rate))) / rate, threshold=0.2)
    mid = slice(int(1.2 * rate), int(1.8 * rate))  # between the cues: the original, untouched
    assert np.array_equal(got[mid], orig[mid])
    assert result.label is None and read_label(out) is None


def test_prepend_with_cue_at_end(media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o.flac"
    result = add_audio_cue(media["flac"], out, at_end=True)
    got, rate = decode_audio(out)
    orig, _ = decode_audio(media["flac"])
    assert len(got) == len(orig) + 2 * (len(cue_samples(rate)) + int(0.25 * rate))
    assert _cue_at(got, rate, 0.0)
    assert _cue_at(got, rate, (len(got) - len(cue_samples(rate))) / rate)
    assert result.codec == "flac"


def test_refusals(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UnsupportedCarrier):
        add_audio_cue(media["mp4"], tmp_path / "x.mp4")
    with pytest.raises(UnsupportedCarrier):
        add_audio_cue(media["png"], tmp_path / "x.png")
    with pytest.raises(ProvenanceError):
        add_audio_cue(media["wav"], tmp_path / "x.wav", placement="middle")
    with pytest.raises(ProvenanceError):
        add_audio_cue(media["wav"], tmp_path / "x.wav", freq=9000.0)  # above Nyquist at 16 kHz
    broken = tmp_path / "broken.flac"
    broken.write_bytes(media["flac"].read_bytes()[:200])
    with pytest.raises(ProvenanceError):
        add_audio_cue(broken, tmp_path / "y.flac")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.flac"]


def test_streams_and_layout_kept(tmp_path: Path) -> None:
    rate = 44100
    stereo = np.stack([0.2 * np.sin(2 * np.pi * 330 * np.arange(rate) / rate)] * 2, axis=1).astype(np.float32)
    src = tmp_path / "st.wav"
    sf.write(src, stereo, rate, subtype="PCM_24")
    out = tmp_path / "o.wav"
    add_audio_cue(src, out)
    info = sf.info(str(out))
    assert info.channels == 2 and info.samplerate == rate
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "pcm_s24le"
    data, _ = sf.read(str(out), dtype="float32")
    tail = data[-rate:]
    assert np.allclose(tail, stereo, atol=1e-6)
