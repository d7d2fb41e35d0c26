"""An alert's evidence: the flagged segment as FLAC (the audio as received), its report (a valid
synthwatch.report/1 document built by the analysis core from the live window scores) and its
timeline picture, whatever the room and participant are called."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import soundfile as sf

from synthwatch.render.schema import validate_report
from synthwatch.stream import Monitor
from synthwatch.stream.evidence import build_evidence

from .conftest import SR, Recorder, fake_voice, feed, speech


@pytest.mark.parametrize(("room", "participant"), [
    ("town-hall", "mallory"),
    ("$\\frac{1}{0}$ room", "a/b/../c"),
    ("\x1b[31mred\x1b[0m", "<script>alert(1)</script>\u202e" + "x" * 300),
])
def test_evidence_of_an_alert(make_monitor: Callable[..., Monitor], room: str, participant: str) -> None:
    mon = make_monitor()
    rec = Recorder()
    x = np.concatenate([speech(3.0, seed=12), fake_voice(5.0, seed=13)])
    sp = mon.open(room, participant, rec)
    feed(sp, x)
    sp.close()
    assert sp.wait(30) and rec.alerts
    alert = rec.alerts[0]
    ev = build_evidence(alert, mon.kit)
    audio, rate = sf.read(io.BytesIO(ev.flac), dtype="float32")
    assert rate == SR and audio.size == alert.audio.size
    assert np.abs(audio - alert.audio).max() <= 1 / 32768 + 1e-7  # 16-bit FLAC of the received audio
    start = int(round(ev.clip_start_s * SR))
    np.testing.assert_allclose(alert.audio, x[start:start + alert.audio.size])
    assert ev.clip_start_s <= alert.t_start - 2.0 + 1e-9 or ev.clip_start_s == 0.0  # context before the evidence
    validate_report(ev.report)
    assert ev.report["source"] == f"live-room:{room}/{participant}"
    assert ev.report["media"]["sha256"] == ev.flac_sha256 and ev.report["media"]["duration_s"] == audio.size / SR
    det = ev.report["detectors"][0]
    assert det["name"] == "debug-voice" and det["status"] == "ok"
    # segment times are seconds of the clip; the windows that decided lie inside it
    assert all(0.0 <= s["start_s"] < s["end_s"] <= ev.clip_end_s - ev.clip_start_s + 1e-9 for s in det["segments"])
    assert ev.report["verdict"]["label"] == "likely_synthetic"
    assert ev.timeline_png is not None and ev.timeline_png[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(ev.files()) == {"segment.flac", "report.json", "timeline.png"}
