"""The evidence of one live-room alert: the flagged audio segment as FLAC, its report (a
``synthwatch.report/1`` document, built by the analysis core from the windows the monitor scored)
and its timeline picture (the per-window scores over the clip with the calibrated threshold, drawn
as ``synthwatch scan --timeline`` draws a file's).

No model runs again: the report is the monitor's own window scores, told to
:meth:`synthwatch.pipeline.analyse.Analysis.add_window_scores`, so its per-detector score and
verdict follow the same fusion rules as a scan of a file (``pipeline.fusion``). Times in the report
are seconds from the start of the clip; ``clip_start_s`` says where the clip sits in the speaker's
stream.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .. import __version__
from ..media.items import AudioWindow
from ..pipeline.analyse import Toolkit, WindowScore
from ..types import MediaInfo, MediaKind, Report
from .formats import ANALYSIS_RATE
from .monitor import Alert

__all__ = ["AlertEvidence", "alert_flac", "alert_report", "timeline_png", "build_evidence", "AudioWindow"]

_draw_lock = threading.Lock()  # matplotlib's pyplot state is not thread-safe


@dataclass(frozen=True)
class AlertEvidence:
    """What a review case holds for one alert."""

    flac: bytes
    flac_sha256: str
    report: dict[str, Any]
    timeline_png: bytes | None
    clip_start_s: float
    clip_end_s: float

    def files(self) -> dict[str, tuple[str, bytes]]:
        """name -> (content type, bytes), for storing as case evidence."""
        out = {"segment.flac": ("audio/flac", self.flac),
               "report.json": ("application/json", _json_bytes(self.report))}
        if self.timeline_png is not None:
            out["timeline.png"] = ("image/png", self.timeline_png)
        return out


def _json_bytes(doc: dict[str, Any]) -> bytes:
    import json

    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


def alert_flac(alert: Alert) -> bytes:
    """The flagged segment as 16-bit FLAC, 16 kHz mono."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(alert.audio, -1.0, 1.0), ANALYSIS_RATE, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def alert_report(alert: Alert, kit: Toolkit, *, flac: bytes | None = None) -> Report:
    """The report of the flagged segment, from the monitor's window scores (times relative to the
    clip)."""
    flac = flac if flac is not None else alert_flac(alert)
    shift = alert.clip_start_s
    windows = [WindowScore(w.start_s - shift, w.end_s - shift, w.speech, w.speech_ratio, dict(w.scores),
                           dict(w.errors)) for w in alert.windows]
    analysis = kit.analysis()
    analysis.add_window_scores(windows)
    evidence = analysis.finish()
    duration = alert.audio.size / ANALYSIS_RATE
    media = MediaInfo(kind=MediaKind.AUDIO, format="flac", mime="audio/flac", size_bytes=len(flac),
                      sha256=hashlib.sha256(flac).hexdigest(), duration_s=round(duration, 6), audio_codec="flac",
                      sample_rate=ANALYSIS_RATE, channels=1, has_audio=True)
    warnings = [f"live room: seconds {alert.clip_start_s:.3f} to {alert.clip_start_s + duration:.3f} of the "
                f"participant's stream; the alert's evidence (mean of the last speech windows) was "
                f"{alert.score:.4f} against the threshold {alert.threshold:g} at {alert.t_end:.3f} s",
                *evidence.warnings]
    source = f"live-room:{alert.room}/{alert.participant}"
    return Report(source=source, media=media, verdict=evidence.verdict, detectors=evidence.detectors,
                  segments=evidence.segments, faces=(), warnings=tuple(warnings),
                  created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                  synthwatch_version=__version__)


def timeline_png(report: Report) -> bytes:
    """The report's timeline picture as PNG bytes (drawn one at a time: pyplot is not thread-safe).
    The room's and participant's names in its title are the client's text: drawn as plain text
    (never mathtext), characters the font lacks shown as boxes."""
    import warnings

    import matplotlib

    from ..render.timeline import draw_timeline

    shown = replace(report, source=_plain(report.source))
    with _draw_lock, tempfile.TemporaryDirectory(prefix="sw-alert-") as tmp, \
            matplotlib.rc_context({"text.parse_math": False}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)
        out = Path(tmp) / "timeline.png"
        draw_timeline(shown, out)
        return out.read_bytes()


def _plain(text: str, limit: int = 90) -> str:
    """Untrusted text for the picture's title: no path separator (the title shows a file name's
    last part), no control characters, at most ``limit`` characters."""
    out = "".join(ch if ch.isprintable() else "?" for ch in text).replace("/", "\u2215")
    return out if len(out) <= limit else out[:limit - 1] + "\u2026"


def build_evidence(alert: Alert, kit: Toolkit, *, picture: bool = True) -> AlertEvidence:
    """FLAC, report and (``picture``) timeline of ``alert``."""
    flac = alert_flac(alert)
    report = alert_report(alert, kit, flac=flac)
    png = timeline_png(report) if picture else None
    return AlertEvidence(flac, hashlib.sha256(flac).hexdigest(), report.to_dict(), png, alert.clip_start_s,
                         alert.clip_start_s + alert.audio.size / ANALYSIS_RATE)
