"""The live-room monitor on the real voice-activity model with the model-free ``debug-voice``
detector: windows, gating, evidence with hysteresis, alerts, backpressure, flood, and a clean end."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthwatch.errors import ConfigError, StreamFlood, StreamOverloaded
from synthwatch.models.store import ModelStore
from synthwatch.pipeline.scan import Scanner
from synthwatch.stream import Monitor, MonitorConfig

from .conftest import SR, Recorder, fake_voice, feed, music, speech


def _run(monitor: Monitor, x: np.ndarray, *, scores: bool = True, name: str = "p") -> Recorder:
    rec = Recorder()
    sp = monitor.open("room", name, rec, scores=scores)
    feed(sp, x)
    sp.close()
    assert sp.wait(30)
    return rec


def test_windows_follow_the_detector_and_the_hop(make_monitor: Callable[..., Monitor]) -> None:
    mon = make_monitor()
    assert mon.window_s == 4.0 and mon.threshold == 0.5  # debug-voice: no card, its own default
    rec = _run(mon, speech(9.0))
    spans = [(e["t_start"], e["t_end"]) for e in rec.scores()]
    # the first window ends 2 s in (all audio so far), then 4 s windows every 2 s, then the tail
    assert spans == [(0.0, 2.0), (0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (6.0, 9.0)]
    assert all(e["speech"] for e in rec.scores()) and not rec.alerts
    assert rec.summary is not None and rec.summary["speech_windows"] == 5 and rec.summary["alerts"] == 0


def test_a_fake_voice_raises_one_alert_on_its_first_window(make_monitor: Callable[..., Monitor]) -> None:
    mon = make_monitor()
    x = fake_voice(8.0)
    rec = _run(mon, x)
    assert len(rec.alerts) == 1
    alert = rec.alerts[0]
    assert (alert.t_start, alert.t_end) == (0.0, 2.0) and alert.score >= mon.threshold
    assert rec.kinds().index("alert") == rec.kinds().index("score") + 1  # right after the deciding window
    np.testing.assert_array_equal(alert.audio, x[:2 * SR])  # the flagged segment is the audio as received
    assert [w.end_s for w in alert.windows] == [2.0]
    assert rec.kinds()[-1] == "alert_cleared"  # the stream ended while alerting


def test_silence_and_music_are_not_scored_as_speech(make_monitor: Callable[..., Monitor]) -> None:
    mon = make_monitor()
    for x in (np.zeros(6 * SR, np.float32), music(6.0), (music(6.0) + 0.3 * np.sin(
            2 * np.pi * 5000 * np.arange(6 * SR) / SR)).astype(np.float32)):
        rec = _run(mon, x)
        assert rec.scores() and all(not e["speech"] and e["score"] is None for e in rec.scores())
        assert not rec.alerts and rec.summary is not None and rec.summary["speech_s"] == 0.0
    silent = _run(mon, np.zeros(6 * SR, np.float32))
    assert all(e["speech_ratio"] == 0.0 for e in silent.scores())  # digital silence never reaches the VAD


def test_hysteresis_one_alert_per_episode(make_monitor: Callable[..., Monitor]) -> None:
    mon = make_monitor(clear_windows=2)
    # fake, real long enough to clear (two windows below), fake again: two alerts
    x = np.concatenate([fake_voice(6.0, seed=3), speech(12.0, seed=4), fake_voice(6.0, seed=5)])
    rec = _run(mon, x)
    kinds = [k for k in rec.kinds() if k != "score"]
    assert kinds == ["alert", "alert_cleared", "alert", "alert_cleared"]
    # a voice that dips below the threshold for one window does not raise a second alert
    flicker = np.concatenate([fake_voice(6.0, seed=6), speech(2.0, seed=7), fake_voice(6.0, seed=8)])
    assert len(_run(mon, flicker).alerts) == 1


def test_the_monitor_scores_windows_exactly_as_a_scan_does(make_monitor: Callable[..., Monitor],
                                                            vad_store: ModelStore, tmp_wav) -> None:  # type: ignore[no-untyped-def]
    x = np.concatenate([speech(5.0, seed=9), fake_voice(5.3, seed=10), np.zeros(SR, np.float32)])
    path: Path = tmp_wav("mix.wav", x)
    mon = make_monitor(first_window_s=4.0, hop_s=4.0)  # the scan's grid: 4 s windows every 4 s
    decoded = sf.read(path, dtype="int16")[0].astype(np.float32) / 32768.0  # what the decoder reads
    live = {(e["t_start"], e["t_end"]): e for e in _run(mon, decoded).scores()}
    report = Scanner(detectors=["debug-voice"], store=vad_store).scan(path)
    segments = report.detector("debug-voice").segments
    assert len(segments) >= 2
    for seg in segments:
        e = live[(seg.start_s, round(seg.end_s, 3))]
        assert e["speech"] and e["score"] == pytest.approx(seg.score, abs=1e-6)
    scored = {k for k, e in live.items() if e["speech"]}
    assert scored == {(s.start_s, round(s.end_s, 3)) for s in segments}


def test_backpressure_is_told_and_counted(make_monitor: Callable[..., Monitor]) -> None:
    mon = make_monitor(max_batch=1, lag_warn_s=0.001, max_lag_s=0.002)
    rec = Recorder()
    sp = mon.open("room", "p", rec, scores=True)
    sp.feed(speech(40.0))  # 20 windows due at once; one scored at a time: the rest go stale
    sp.close()
    assert sp.wait(30)
    lagging = [e for e in rec.events if e["event"] == "lagging"]
    assert lagging and lagging[-1]["skipped_windows"] > 0
    assert rec.summary is not None
    assert rec.summary["skipped_windows"] > 0 and rec.summary["skipped_audio_s"] > 0
    assert rec.summary["windows_scored"] + rec.summary["skipped_windows"] == 20 + 1 - 1  # 2 s ... 40 s, no tail
    assert mon.totals["windows_skipped"] == rec.summary["skipped_windows"]


def test_faster_than_real_time_is_a_flood(make_monitor: Callable[..., Monitor]) -> None:
    mon = make_monitor(max_ahead_s=1.0)
    sp = mon.open("room", "p", Recorder())
    sp.feed(speech(0.9))
    with pytest.raises(StreamFlood) as err:
        sp.feed(speech(0.5))
    assert err.value.close_code == 1008
    sp.close()


def test_capacity_and_settings(make_monitor: Callable[..., Monitor], vad_store: ModelStore) -> None:
    mon = make_monitor(max_streams=1)
    a = mon.open("room", "a", Recorder())
    with pytest.raises(StreamOverloaded) as err:
        mon.open("room", "b", Recorder())
    assert err.value.close_code == 1013
    a.close()
    assert a.wait(10)
    mon.open("room", "b", Recorder()).close()
    with pytest.raises(ConfigError, match="hop_s"):
        MonitorConfig(hop_s=0)
    with pytest.raises(ConfigError, match="not a voice detector"):
        Monitor(MonitorConfig(detector="debug-image"), store=vad_store)


def test_a_short_stream_scores_its_tail_and_everything_ends(make_monitor: Callable[..., Monitor]) -> None:
    before = {t.name for t in threading.enumerate()}
    mon = make_monitor(threads=2)
    rec = _run(mon, fake_voice(1.3))  # shorter than the first window: scored once, at the end
    assert [(e["t_start"], e["t_end"]) for e in rec.scores()] == [(0.0, 1.3)]
    assert len(rec.alerts) == 1
    rec2 = _run(mon, speech(0.3))  # under half a second: nothing to score
    assert rec2.scores() == [] and rec2.summary is not None
    refs = []
    for k in range(20):
        r = Recorder()
        sp = mon.open("room", f"p{k}", r)
        sp.feed(speech(2.5, seed=k))
        refs.append(weakref.ref(sp))
        sp.close(score_tail=k % 2 == 0)
        del sp
    deadline = time.monotonic() + 20
    while len(mon) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(mon) == 0
    mon.stop()
    gc.collect()
    assert all(r() is None for r in refs)  # no speaker (ring buffer) outlives its stream
    assert {t.name for t in threading.enumerate()} - before == set()
