"""Each perturbation changes the signal the way it says it does."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from evalkit import smooth_image, textured_image

from synthwatch.errors import ConfigError, CorruptMedia
from synthwatch.evaluate import perturb as P

SR = 16_000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    from synthwatch.testing.samples import synth_speech

    x, _ = synth_speech(2.0, SR, seed=4)
    return x


def band_share(x: np.ndarray, lo: float, hi: float, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(np.asarray(x, np.float64))) ** 2
    f = np.fft.rfftfreq(x.size, 1 / sr)
    return float(spec[(f >= lo) & (f < hi)].sum() / spec.sum())


# ---------------------------------------------------------------------------------------- parsing
def test_parsing_canonical_names_chains_and_errors() -> None:
    conds = P.parse_conditions(["mp3:64k, aac:96 k", "opus:32kbps,tel8k", "noise:20dB,reverb:0.4s",
                                "jpeg:75,resize:0.5,crop:0.8,social,h264crf:28,downscale:0.5", "jpeg:75"])
    assert [c.name for c in conds] == ["clean", "mp3:64k", "aac:96k", "opus:32k", "tel8k", "noise:20db",
                                       "reverb:0.4", "jpeg:75", "resize:0.5", "crop:0.8", "social", "h264crf:28",
                                       "downscale:0.5"]
    chain = P.parse_condition("downscale:0.5+h264crf:30+jpeg:80")
    assert chain.name == "downscale:0.5+h264crf:30+jpeg:80" and chain.reencodes_video
    before, op, after = chain.split_video()
    assert [o.name for o in before] == ["downscale:0.5"] and op is not None and [o.name for o in after] == ["jpeg:80"]
    assert P.parse_condition("jpeg:75").applies_to("image") and P.parse_condition("jpeg:75").applies_to("frames")
    assert not P.parse_condition("h264crf:28").applies_to("image")
    assert P.parse_condition("tel8k").applies_to("audio") and not P.parse_condition("tel8k").applies_to("frames")
    assert P.parse_condition("clean") is P.CLEAN
    for bad in ("mp3", "mp3:2k", "jpeg:0", "jpeg:75.5", "resize:0", "crop:1.5", "h264crf:60", "reverb:9",
                "noise:loud", "tel8k:1", "blur:3", "mp3:64k+jpeg:75", "h264crf:20+h264crf:30"):
        with pytest.raises(ConfigError):
            P.parse_condition(bad)


def test_random_parts_are_seeded_per_condition_and_item() -> None:
    a = P.rng_for(0, "noise:20db", "x").standard_normal(4)
    assert np.array_equal(a, P.rng_for(0, "noise:20db", "x").standard_normal(4))
    assert not np.array_equal(a, P.rng_for(0, "noise:20db", "y").standard_normal(4))
    assert not np.array_equal(a, P.rng_for(1, "noise:20db", "x").standard_normal(4))


# ---------------------------------------------------------------------------------------- audio
def test_telephone_band_removes_energy_above_4khz_and_below_300hz(speech: np.ndarray) -> None:
    t = np.arange(speech.size) / SR
    x = (speech + 0.05 * np.sin(2 * np.pi * 100.0 * t)).astype(np.float32)  # speech plus a 100 Hz hum
    assert band_share(x, 4000, 8000) > 0.01 and band_share(x, 0, 200) > 0.05
    y = P.parse_condition("tel8k").apply_audio(x, SR, P.rng_for(0, "tel8k", "a"))
    assert y.shape == x.shape and y.dtype == np.float32
    assert band_share(y, 4000, 8000) < 1e-5
    assert band_share(y, 0, 200) < 0.05 * band_share(x, 0, 200)
    assert band_share(y, 300, 3400) > 0.95
    assert np.corrcoef(speech, y)[0, 1] > 0.6  # aligned, not shifted


@pytest.mark.parametrize("snr", [20.0, 5.0])
def test_noise_at_the_requested_snr(speech: np.ndarray, snr: float) -> None:
    y = P.parse_condition(f"noise:{snr:g}db").apply_audio(speech, SR, P.rng_for(0, "n", "a"))
    assert P.snr_db(speech, y) == pytest.approx(snr, abs=1e-3)
    assert not np.array_equal(y, P.parse_condition(f"noise:{snr:g}db").apply_audio(speech, SR, P.rng_for(0, "n", "b")))


def _rt60_schroeder(h: np.ndarray, sr: int) -> float:
    """RT60 from a -5..-25 dB fit of the Schroeder backward-integrated energy decay (T20 x 3)."""
    edc = np.cumsum((h.astype(np.float64) ** 2)[::-1])[::-1]
    db = 10 * np.log10(edc / edc[0])
    i5, i25 = int(np.argmax(db <= -5)), int(np.argmax(db <= -25))
    t = np.arange(i5, i25) / sr
    slope = np.polyfit(t, db[i5:i25], 1)[0]
    return -60.0 / slope


@pytest.mark.parametrize("rt60", [0.3, 0.8])
def test_reverb_tail_decays_with_the_requested_rt60(speech: np.ndarray, rt60: float) -> None:
    impulse = np.zeros(int(2 * rt60 * SR), np.float32)
    impulse[0] = 1.0
    h = P.reverb(impulse, SR, rt60, np.random.default_rng(0))
    assert _rt60_schroeder(h, SR) == pytest.approx(rt60, rel=0.15)
    y = P.parse_condition(f"reverb:{rt60:g}").apply_audio(speech, SR, P.rng_for(0, "r", "a"))
    assert y.shape == speech.shape
    assert np.sqrt(np.mean(y.astype(np.float64) ** 2)) == pytest.approx(np.sqrt(np.mean(speech.astype(np.float64) ** 2)), rel=1e-4)
    assert np.corrcoef(speech, y)[0, 1] < 0.9  # the reverberant tail smears the signal


@pytest.mark.parametrize("codec", ["mp3", "aac", "opus"])
def test_codec_round_trip_is_aligned_lossy_and_worse_at_lower_bitrate(speech: np.ndarray, codec: str) -> None:
    hi = P.parse_condition(f"{codec}:128k").apply_audio(speech, SR, P.rng_for(0, "c", "a"))
    lo = P.parse_condition(f"{codec}:16k").apply_audio(speech, SR, P.rng_for(0, "c", "a"))
    for y in (hi, lo):
        assert y.shape == speech.shape and y.dtype == np.float32
        assert np.corrcoef(speech, y)[0, 1] > 0.8  # the encoder delay was removed
        assert not np.allclose(speech, y, atol=1e-4)
    assert P.snr_db(speech, hi) > P.snr_db(speech, lo) + 3


# ---------------------------------------------------------------------------------------- pictures
def test_jpeg_lowers_psnr_monotonically_with_quality() -> None:
    img = textured_image(3, 0.3, (160, 120))
    psnrs = [P.psnr(img, P.parse_condition(f"jpeg:{q}").apply_picture(img)) for q in (95, 75, 50, 20, 5)]
    assert all(a > b for a, b in zip(psnrs, psnrs[1:], strict=False)), psnrs
    assert math.isfinite(psnrs[0]) and psnrs[-1] < 30


def test_resize_crop_and_social_change_the_shape_as_specified() -> None:
    img = smooth_image(1, (200, 100))
    assert P.parse_condition("resize:0.5").apply_picture(img).shape == (50, 100, 3)
    assert P.parse_condition("resize:1.5").apply_picture(img).shape == (150, 300, 3)
    crop = P.parse_condition("crop:0.8").apply_picture(img)
    assert crop.shape == (80, 160, 3)
    assert np.array_equal(crop, img[10:90, 20:180])
    big = smooth_image(2, (2160, 1440))
    soc = P.parse_condition("social").apply_picture(big)
    assert soc.shape == (720, 1080, 3)  # long side 2160 -> 1080
    small = P.parse_condition("social").apply_picture(img)
    assert small.shape == img.shape and not np.array_equal(small, img)  # JPEG 80 still applied
    assert P.parse_condition("social:100").apply_picture(img).shape == (50, 100, 3)
    chained = P.parse_condition("resize:0.5+jpeg:50").apply_picture(img)
    assert chained.shape == (50, 100, 3)


# ---------------------------------------------------------------------------------------- video
def test_h264_reencode_loses_more_at_higher_crf_and_downscale_halves_frames(tmp_path: Path) -> None:
    import av

    frames = [textured_image(k, 0.4, (96, 64)) for k in range(12)]

    def reencode(crf: int, before: tuple[P.Op, ...] = ()) -> list[np.ndarray]:
        dst = P.reencode_h264(iter(frames), 12.0, tmp_path / f"crf{crf}-{len(before)}.mp4", crf, before=before)
        with av.open(str(dst)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

    good, bad = reencode(10), reencode(45)
    assert len(good) == len(bad) == 12
    p_good = np.mean([P.psnr(a, b) for a, b in zip(frames, good, strict=True)])
    p_bad = np.mean([P.psnr(a, b) for a, b in zip(frames, bad, strict=True)])
    assert p_good > p_bad + 5
    down = P.parse_condition("downscale:0.5")
    small = reencode(20, down.ops)
    assert small[0].shape == (32, 48, 3)
    assert down.apply_picture(frames[0]).shape == (32, 48, 3)
    with pytest.raises(CorruptMedia):
        P.reencode_h264(iter([]), 12.0, tmp_path / "none.mp4", 23)
