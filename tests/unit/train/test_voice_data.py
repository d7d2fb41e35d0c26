"""sw-voice training data pipeline: generators, augmentations, splits and the manifest.

Needs the ``train`` extra (scipy, pyworld; piper-tts for the Piper family) and, for the TTS
families, Debian's espeak-ng and flite; each test skips with the reason when its tool is absent.
Nothing here needs ../shared: the sources are synthetic speech-like signals.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy", reason="the train extra (scipy) is not installed")

from synthwatch.testing.samples import synth_speech  # noqa: E402
from synthwatch.train.voice import augment, data, generators  # noqa: E402

SR = 16_000


def _source(seconds: float = 3.0, seed: int = 1) -> np.ndarray:
    x, _ = synth_speech(seconds, SR, seed=seed)
    return np.asarray(x, np.float32) * 0.5


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum())


def _need(family: str) -> None:
    why = generators.tool_missing(family)
    if why:
        pytest.skip(f"{family}: {why}")


@pytest.mark.parametrize("family", generators.RESYNTH_FAMILIES)
def test_resynthesis_keeps_rate_length_and_level_but_changes_the_signal(family: str) -> None:
    _need(family)
    x = _source()
    fn = {"griffinlim": generators.griffinlim, "world": generators.world, "lpc": generators.lpc_vocode}[family]
    y, params = fn(x, np.random.default_rng(0))
    assert y.dtype == np.float32 and y.shape == x.shape and np.isfinite(y).all()
    assert isinstance(params, dict) and params
    rms = lambda v: float(np.sqrt(np.mean(np.square(v, dtype=np.float64))))  # noqa: E731
    assert rms(y) == pytest.approx(rms(x), rel=0.05)  # loudness kept (unless clipped)
    # a different waveform, not a copy or a scaled copy
    assert float(np.mean(np.abs(y - x))) > 0.1 * float(np.mean(np.abs(x)))
    # deterministic for a seed
    y2, _ = fn(x, np.random.default_rng(0))
    np.testing.assert_array_equal(y, y2)


@pytest.mark.parametrize("family,voice", [("espeak", "en-us+m3"), ("flite", "slt"), ("flite", "kal"),
                                          ("piper", "en_US-joe-medium")])
def test_tts_families_produce_16k_speech(family: str, voice: str) -> None:
    _need(family)
    fn = {"espeak": generators.espeak, "flite": generators.flite, "piper": generators.piper}[family]
    y, params = fn(generators.SENTENCES[0], voice, np.random.default_rng(0))
    assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all()
    assert 0.8 * SR < y.size < 10 * SR  # one sentence: about a second or more at 16 kHz
    assert float(np.abs(y).max()) > 0.05  # not silent
    assert params["native_rate"] in (8_000, 16_000, 22_050)
    if params["native_rate"] > SR:  # resampled down: nothing above 8 kHz can exist, energy in speech band
        assert _band_energy(y, 100, 4000) > _band_energy(y, 4000, 8000)


def test_telephone_and_codec_augmentations_do_what_they_say() -> None:
    x = _source(2.0) + 0.05 * np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32)
    tel = augment.apply_chain([{"op": "tel8k"}], x, seed=1)
    assert tel.shape == x.shape
    assert _band_energy(tel, 4200, 8000) < 1e-3 * _band_energy(x, 4200, 8000)
    assert _band_energy(tel, 500, 3000) > 0.5 * _band_energy(x, 500, 3000)
    mp3 = augment.apply_chain([{"op": "mp3", "value": 32_000}], x, seed=1)
    assert mp3.shape == x.shape and not np.allclose(mp3, x, atol=1e-3)
    assert float(np.corrcoef(mp3, x)[0, 1]) > 0.8  # aligned and still the same signal
    noisy = augment.apply_chain([{"op": "noise", "value": 10.0}], x, seed=1)
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((noisy - x).astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.1)
    g = augment.apply_chain([{"op": "gain", "value": -6.0}], x, seed=1)
    assert float(np.abs(g).max()) == pytest.approx(float(np.abs(x).max()) * 10 ** (-6 / 20), rel=1e-3)


def test_rawboost_steps_change_the_signal_and_keep_level() -> None:
    x = _source(2.0)
    rng = np.random.default_rng(3)
    y = augment.lnl(x, rng)
    assert y.shape == x.shape and not np.allclose(y, x)
    assert np.sqrt(np.mean(y.astype(np.float64) ** 2)) == pytest.approx(np.sqrt(np.mean(x.astype(np.float64) ** 2)),
                                                                        rel=0.05)
    z = augment.isd(x, np.random.default_rng(4))
    changed = float(np.mean(z != x))
    assert 0.005 < changed < 0.15
    s = augment.ssi(x, 20.0, np.random.default_rng(5))
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((s - x).astype(np.float64) ** 2))
    assert snr == pytest.approx(20.0, abs=0.2)


def test_a_chain_is_applied_identically_to_both_classes() -> None:
    """The real utterance and its re-synthesis get the same noise / RIR realisation: applying the
    chain to both and subtracting equals applying the linear parts to the difference."""
    x = _source(2.0)
    y = _source(2.0, seed=2)
    chain = [{"op": "noise", "value": 15.0}]
    ax, ay = augment.apply_chain(chain, x, seed=9), augment.apply_chain(chain, y, seed=9)
    # the same noise was added to both: (ax - x) and (ay - y) are proportional (SNR scaling only)
    nx, ny = (ax - x).astype(np.float64), (ay - y).astype(np.float64)
    assert abs(float(np.corrcoef(nx, ny)[0, 1])) > 0.999
    # another seed gives another realisation
    az = augment.apply_chain(chain, x, seed=10)
    assert abs(float(np.corrcoef(nx, (az - x).astype(np.float64))[0, 1])) < 0.1


def test_draw_chain_is_seeded_and_covers_the_operations() -> None:
    a = [augment.draw_chain(np.random.default_rng(i)) for i in range(300)]
    b = [augment.draw_chain(np.random.default_rng(i)) for i in range(300)]
    assert a == b
    ops = {s["op"] for c in a for s in c}
    assert {"mp3", "aac", "opus", "tel8k", "noise", "reverb", "lnl", "isd", "ssi", "gain"} <= ops
    assert any(not c for c in a)  # some clean copies


def test_speaker_split_has_no_overlap_and_covers_everyone() -> None:
    files = [f"{spk}-{ch}-{u:04d}.flac" for spk in range(100, 160) for ch in (1, 2) for u in range(2)]
    s = data.speaker_splits(files, seed=7)
    assert set(s) == {str(spk) for spk in range(100, 160)}
    assert sorted(set(s.values())) == ["test", "train", "val"]
    assert list(s.values()).count("train") == 36  # 60 %
    assert data.speaker_splits(files, seed=7) == s
    assert data.speaker_splits(files, seed=8) != s
    v = data.voice_splits()
    assert set(v.values()) == {"train", "val", "test"}


def _fake_root(tmp: Path) -> Path:
    import soundfile as sf

    root = tmp / "data"
    d = root / data.LIBRI
    d.mkdir(parents=True)
    for i, spk in enumerate(("11", "22", "33", "44", "55")):
        sf.write(str(d / f"{spk}-100-{i:04d}.flac"), _source(2.5, seed=i), SR, subtype="PCM_16")
    return root


@pytest.mark.slow
def test_manifest_is_reproducible_and_pairs_reals_with_their_resyntheses(tmp_path: Path) -> None:
    for fam in generators.RESYNTH_FAMILIES:
        _need(fam)
    root = _fake_root(tmp_path)
    m1 = data.generate(root, tmp_path / "c1", seed=5, workers=1, families=())
    m2 = data.generate(root, tmp_path / "c2", seed=5, workers=1, families=())
    assert m1.read_bytes() == m2.read_bytes()
    recs = data.read_manifest(m1)
    by_split: dict[str, set[str]] = {}
    for r in recs:
        assert (tmp_path / "c1" / r["path"]).is_file()
        if r["label"] == "real":
            by_split.setdefault(r["split"], set()).add(r["speaker"])
    # no speaker in two splits
    splits = list(by_split.values())
    for i in range(len(splits)):
        for j in range(i + 1, len(splits)):
            assert not (splits[i] & splits[j])
    # every real clean item has one re-synthesis per family, same group, same split
    for r in (r for r in recs if r["label"] == "real" and not r["augment"]):
        fams = {q["family"] for q in recs if q["group"] == r["group"] and q["label"] == "fake" and not q["augment"]}
        assert fams == set(generators.RESYNTH_FAMILIES)
    # augmented copies: the same chain for the real and each of its re-syntheses
    aug = [r for r in recs if r["augment"]]
    assert aug, "train items get augmented copies"
    for r in aug:
        same = [q for q in aug if q["group"] == r["group"] and q["id"].endswith(r["id"][-5:])]
        assert {json.dumps(q["augment"]) for q in same} == {json.dumps(r["augment"])}
    m3 = data.generate(root, tmp_path / "c3", seed=6, workers=1, families=())
    assert m3.read_bytes() != m1.read_bytes()
