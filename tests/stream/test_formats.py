"""Declared formats and their streaming decoding to 16 kHz mono (G.711 checked against FFmpeg's
own codecs through PyAV)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from synthwatch.errors import StreamFormatError, StreamFrameTooLarge
from synthwatch.stream.formats import AudioFormat, StreamDecoder, alaw_decode, mulaw_decode, mulaw_encode


def _ffmpeg_decode(codec: str, data: bytes, rate: int = 8000) -> np.ndarray:
    ctx = av.CodecContext.create(codec, "r")
    ctx.sample_rate = rate
    ctx.layout = "mono"
    out = [f.to_ndarray().reshape(-1) for f in ctx.decode(av.Packet(data))]
    return np.concatenate(out).astype(np.float32) / 32768.0


@pytest.mark.parametrize(("codec", "ours"), [("pcm_mulaw", mulaw_decode), ("pcm_alaw", alaw_decode)])
def test_g711_tables_equal_ffmpegs_decoders(codec: str, ours) -> None:  # type: ignore[no-untyped-def]
    every_code = bytes(range(256))
    np.testing.assert_array_equal(ours(every_code), _ffmpeg_decode(codec, every_code))


def test_mulaw_encode_picks_the_nearest_code() -> None:
    x = np.linspace(-1, 1, 4001).astype(np.float32)
    decoded = mulaw_decode(mulaw_encode(x))
    levels = np.sort(mulaw_decode(bytes(range(256))))
    nearest = levels[np.abs(levels[None, :] - x[:, None]).argmin(axis=1)]
    np.testing.assert_allclose(np.abs(decoded - x), np.abs(nearest - x), atol=1e-7)


@pytest.mark.parametrize(("args", "expected"), [
    (("pcm_s16le", 16000, 1), AudioFormat("pcm_s16le", 16000, 1)),
    (("audio/x-mulaw", 8000, 1), AudioFormat("pcm_mulaw", 8000, 1)),
    (("LINEAR16", 48000.0, 2), AudioFormat("pcm_s16le", 48000, 2)),
])
def test_formats_and_aliases(args: tuple, expected: AudioFormat) -> None:  # type: ignore[type-arg]
    assert AudioFormat.parse(*args) == expected


@pytest.mark.parametrize("args", [("opus", 16000, 1), ("pcm_s16le", 11025, 1), ("pcm_s16le", 16000, 3),
                                  ("pcm_s16le", "16000", 1), ("pcm_s16le", True, 1), (None, 16000, 1),
                                  ("pcm_s16le", 16000.5, 1), ("pcm_s16le", 16000, True)])
def test_unsupported_formats_are_refused_with_1003(args: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(StreamFormatError) as err:
        AudioFormat.parse(*args)
    assert err.value.close_code == 1003


def test_frames_are_checked() -> None:
    dec = StreamDecoder(AudioFormat("pcm_s16le", 16000, 2))
    with pytest.raises(StreamFormatError) as err:
        dec.decode(b"\x00" * 6)  # one and a half stereo samples
    assert err.value.close_code == 1007
    with pytest.raises(StreamFrameTooLarge) as big:
        dec.decode(b"\x00" * (4 * 3201))  # 200.06 ms
    assert big.value.close_code == 1009
    assert dec.decode(b"\x00" * (4 * 3200)).size == 3200  # exactly 200 ms is allowed
    f32 = StreamDecoder(AudioFormat("pcm_f32le", 16000, 1))
    with pytest.raises(StreamFormatError, match="NaN"):
        f32.decode(np.array([0.1, np.nan], "<f4").tobytes())


def test_stereo_is_averaged_and_16k_passes_through() -> None:
    left = np.full(160, 0.5, np.float32)
    right = np.full(160, -0.25, np.float32)
    inter = np.stack([left, right], axis=1).reshape(-1)
    out = StreamDecoder(AudioFormat("pcm_f32le", 16000, 2)).decode(inter.astype("<f4").tobytes())
    np.testing.assert_allclose(out, 0.125)


@pytest.mark.parametrize("rate", [8000, 48000, 44100])
def test_resampling_streams_like_one_signal(rate: int) -> None:
    t = np.arange(rate * 2) / rate
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    samples = (x * 32767).astype("<i2")
    fmt = AudioFormat("pcm_s16le", rate, 1)
    tenths = StreamDecoder(fmt)  # 100 ms frames
    a = np.concatenate([tenths.decode(samples[i:i + rate // 10].tobytes()) for i in range(0, samples.size, rate // 10)]
                       + [tenths.flush()])
    odd = StreamDecoder(fmt)  # 97 frames of uneven sizes
    b = np.concatenate([odd.decode(part.tobytes()) for part in np.array_split(samples, 97)] + [odd.flush()])
    assert abs(a.size - 32000) <= 2 and a.size == b.size
    np.testing.assert_allclose(a, b, atol=1e-5)
    middle = a[4000:-4000]
    spectrum = np.abs(np.fft.rfft(middle))
    assert abs(np.fft.rfftfreq(middle.size, 1 / 16000)[spectrum.argmax()] - 1000) < 5
    assert odd.samples_in == rate * 2
