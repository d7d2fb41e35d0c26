"""The monitor with the real default voice detector, sw-voice (shipped in the package): its window
(4 s, from the detector's input_spec), its calibrated threshold (from its card), and per-window
scores identical to what ``synthwatch scan`` reports for the same audio."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthwatch.detectors.audio.sw_voice import SwVoice
from synthwatch.models.card import packaged_card
from synthwatch.models.store import ModelStore
from synthwatch.pipeline.scan import Scanner
from synthwatch.stream import Monitor

from .conftest import SR, Recorder, feed, speech


def test_the_default_detector_is_sw_voice_with_its_card(make_monitor: Callable[..., Monitor]) -> None:
    mon = make_monitor(detector=None)
    assert mon.detector_name == "sw-voice" and mon.detector_version == SwVoice.info.version
    assert mon.window_s == SwVoice.info.input_spec["samples"] / SwVoice.info.input_spec["sample_rate"] == 4.0
    assert mon.threshold == pytest.approx(float(packaged_card("sw-voice").threshold))
    assert mon.vad_missing is None


def test_sw_voice_scores_live_windows_as_scan_scores_the_file(make_monitor: Callable[..., Monitor],
                                                              vad_store: ModelStore, tmp_wav) -> None:  # type: ignore[no-untyped-def]
    x = np.concatenate([speech(8.0, seed=21), np.zeros(SR, np.float32), speech(3.0, seed=22)])
    path: Path = tmp_wav("talk.wav", x)
    x = sf.read(path, dtype="int16")[0].astype(np.float32) / 32768.0  # what the decoder reads from the file
    mon = make_monitor(detector="sw-voice", first_window_s=4.0, hop_s=4.0)
    rec = Recorder()
    sp = mon.open("room", "p", rec, scores=True)
    feed(sp, x)
    sp.close()
    assert sp.wait(60)
    live = {(e["t_start"], e["t_end"]): e for e in rec.scores()}
    report = Scanner(detectors=["sw-voice"], store=vad_store).scan(path)
    result = report.detector("sw-voice")
    assert result is not None and result.segments
    assert {(s.start_s, round(s.end_s, 3)) for s in result.segments} == {k for k, e in live.items() if e["speech"]}
    for seg in result.segments:
        assert live[(seg.start_s, round(seg.end_s, 3))]["score"] == pytest.approx(seg.score, abs=1e-5)
    assert all(e["threshold"] == mon.threshold for e in rec.scores())
    # the evidence decides against the calibrated threshold: alerts exactly where it is crossed
    crossed = any(e["evidence"] is not None and e["evidence"] >= mon.threshold for e in rec.scores())
    assert bool(rec.alerts) == crossed
