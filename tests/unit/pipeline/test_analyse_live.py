"""The analysis core's entry points for live streams: the voice-activity model scores many windows
in one batch with exactly the ratios it gives one at a time, ``AudioScorer.score`` answers in the
order it was given windows (two streams' windows may start at the same second), and already-scored
windows told to ``Analysis.add_window_scores`` give the same evidence as scoring them anew."""

from __future__ import annotations

import numpy as np
import pytest

from synthwatch.detectors.audio.vad import SileroVAD
from synthwatch.media.items import AudioWindow
from synthwatch.models.store import ModelStore
from synthwatch.pipeline.analyse import Toolkit
from synthwatch.testing.samples import synth_speech

SR = 16_000


@pytest.fixture(scope="module")
def store(model_store: ModelStore) -> ModelStore:
    if not model_store.is_installed("silero-vad"):
        pytest.skip("silero-vad could not be installed here (synthwatch models setup installs it from its wheel)")
    return model_store


def _waves() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    t = np.arange(4 * SR) / SR
    out = [synth_speech(4.0, SR, seed)[0].astype(np.float32) for seed in range(5)]
    out += [(0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), (0.05 * rng.standard_normal(4 * SR)).astype(np.float32),
            synth_speech(2.5, SR, 9)[0].astype(np.float32), np.zeros(SR, np.float32), synth_speech(2.5, SR, 11)[0]]
    return out


def test_batched_speech_ratios_equal_one_at_a_time(store: ModelStore) -> None:
    vad = SileroVAD(store).load()
    waves = _waves()
    single = [vad.speech_ratio(w) for w in waves]
    assert vad.speech_ratios(waves) == single
    assert vad.speech_ratios(waves, batch=3) == single
    assert any(r > 0.5 for r in single) and any(r == 0.0 for r in single)
    probs = vad.speech_prob(waves[0])
    assert probs.shape == (125,)
    assert vad.speech_ratios([]) == []


def test_scores_come_back_in_the_order_given(store: ModelStore) -> None:
    kit = Toolkit(["debug-voice"], store=store)
    scorer = kit.audio_scorer()
    speech = synth_speech(4.0, SR, 1)[0].astype(np.float32)
    t = np.arange(4 * SR) / SR
    fake = (speech + 0.2 * np.sin(2 * np.pi * 5000 * t)).astype(np.float32)
    windows = [AudioWindow(0.0, 4.0, fake), AudioWindow(0.0, 4.0, np.zeros(4 * SR, np.float32)),
               AudioWindow(0.0, 4.0, speech), AudioWindow(2.0, 6.0, fake)]
    out = scorer.score(windows)
    assert [(w.start_s, w.speech) for w in out] == [(0.0, True), (0.0, False), (0.0, True), (2.0, True)]
    assert out[0].scores["debug-voice"] > 0.5 > out[2].scores["debug-voice"]
    assert out[3].scores == out[0].scores
    alone = kit.audio_scorer().score([windows[2]])
    assert alone[0].scores == out[2].scores and alone[0].speech_ratio == out[2].speech_ratio


def test_scored_windows_give_the_evidence_a_fresh_analysis_gives(store: ModelStore) -> None:
    kit = Toolkit(["debug-voice"], store=store)
    x = np.concatenate([synth_speech(6.0, SR, 4)[0], np.zeros(3 * SR), synth_speech(3.0, SR, 5)[0]]).astype(np.float32)
    from synthwatch.pipeline.analyse import windows_of

    windows = list(windows_of(x, sample_rate=SR, window_s=4.0, hop_s=2.0))
    fresh = kit.analysis()
    fresh.add_audio(iter(windows))
    told = kit.analysis()
    told.add_window_scores(kit.audio_scorer().score(windows))
    a, b = fresh.finish(), told.finish()
    assert a.detectors == b.detectors and a.verdict == b.verdict and a.segments == b.segments
    assert (a.n_windows, a.n_speech_windows) == (b.n_windows, b.n_speech_windows)
    silent = kit.analysis()
    silent.add_window_scores(kit.audio_scorer().score([AudioWindow(0.0, 4.0, np.zeros(4 * SR, np.float32))]))
    assert silent.finish().detectors[0].reason == "no speech found (voice activity detector)"
