"""The live-room monitor: many speakers' audio in, per-window scores and alerts out.

Each participant of a room is one :class:`Speaker` (one stream, as SFUs expose tracks). A transport
feeds it mono 16 kHz samples as they arrive (:meth:`Speaker.feed`); the :class:`Monitor` cuts
sliding windows from each speaker's ring buffer, and analysis threads score the windows that are
due, from every speaker at once, through the analysis core
(:meth:`synthwatch.pipeline.analyse.Toolkit.audio_scorer`): voice-activity gating (Silero; windows
without audible sound never reach a model, windows of music, noise or silence are not speech) and
the voice detector, exactly as a file scan scores its windows.

Windows (:class:`MonitorConfig`): ``window_s`` long (default: the detector's own input, 4 s for
sw-voice), one every ``hop_s`` (default 2 s) of the speaker's audio; the first ends
``first_window_s`` (2 s) after the stream starts, so a speaker who joins and speaks is first scored
2 s in; until a whole window has arrived the window holds all audio so far (the detector tiles a
short window, as it does a short file). When the stream ends, the rest is scored as a last window,
from where the next window would have started, when that holds at least 0.5 s and audio no window
covered (the media layer's rule for a file's tail).

Evidence and alerts, per speaker: the evidence is the mean of the detector's scores over the last
``smooth_windows`` speech windows of the current speech run (a run ends after ``run_gap_s`` without
a speech window). An **alert** opens when the evidence reaches the detector's calibrated threshold
(``detector.threshold``, from its card) and stays open (no second alert) until the evidence falls
below ``clear_below`` on the common scale where the threshold sits at 0.5
(:func:`synthwatch.pipeline.fusion.normalise`) for ``clear_windows`` speech windows in a row, or the
run ends: hysteresis, so a voice hovering at the threshold raises one alert, not one per window.

Backpressure is never silent. A window waits in its speaker's queue from the moment its last
sample arrived; when the oldest waits longer than ``lag_warn_s`` the speaker is told
(``lagging``), and when it waits longer than ``max_lag_s`` the speaker's older queued windows are
skipped (the newest is kept, so monitoring goes on) and counted: skipped windows, and audio seconds
that no scored window covered. A client that sends audio faster than real time (more than
``max_ahead_s`` ahead of the wall clock) is refused with :class:`~synthwatch.errors.StreamFlood`.

Nothing here knows about WebSockets, HTTP or databases: transports (``synthwatch.service.rooms``,
the WebSocket, Twilio and WHIP endpoints) call :meth:`Monitor.open` and receive events through a
:class:`Sink`.
"""

from __future__ import annotations

import collections
import functools
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..detectors.registry import Registry, default_registry
from ..errors import ConfigError, DetectorError, StreamFlood, StreamOverloaded
from ..media.items import SILENCE_PEAK, AudioWindow
from ..models.store import ModelStore
from ..pipeline import fusion
from ..pipeline.analyse import SPEECH_RATIO_MIN, AudioScorer, Toolkit, WindowScore
from .activity import CHUNK, Row, WindowVAD
from .formats import ANALYSIS_RATE

__all__ = ["MonitorConfig", "Monitor", "Speaker", "Sink", "Alert", "default_voice_detector", "new_alert_id",
           "MIN_TAIL_S"]

log = logging.getLogger("synthwatch.stream")

#: a stream's last, shorter window is scored when it holds at least this much audio no window covered
MIN_TAIL_S = 0.5
#: scored windows each speaker keeps for the evidence of an alert
_HISTORY = 64
_LAG_EVENT_EVERY_S = 2.0


class _BlasLimit:
    """The process's BLAS thread limit while monitors run: the first monitor to start sets it, the
    last to stop puts back what was there (BLAS threads are the process's, so this is too).
    Products are computed by the same kernel whatever the thread count, so features are the same
    bits (a unit test compares)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limits: Any = None

    def acquire(self, threads: int) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1:
                try:
                    from threadpoolctl import threadpool_limits

                    self._limits = threadpool_limits(limits=threads, user_api="blas")
                except Exception as exc:  # noqa: BLE001 - an unknown BLAS: run with its own threads
                    log.warning("could not limit the BLAS threads (%s); running with its own", exc)
                    self._limits = None

    def release(self) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users == 0 and self._limits is not None:
                self._limits.restore_original_limits()
                self._limits = None


_blas = _BlasLimit()


def default_voice_detector(registry: Registry | None = None) -> str:
    """The registry's default voice detector (``sw-voice``)."""
    reg = registry or default_registry()
    voice = [n for n in reg.default_names() if reg.detector_class(n).info.modality == "audio"]
    if not voice:
        raise ConfigError("no default voice detector is registered; name one (rooms detector setting)")
    return voice[0]


def new_alert_id() -> str:
    """``alr_`` + 26 characters, time-ordered (the service's id layout)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(alphabet[value & 31])
        value >>= 5
    return "alr_" + "".join(reversed(chars))


@dataclass(frozen=True)
class MonitorConfig:
    """How windows are cut, scored and turned into alerts (see the module doc)."""

    #: the voice detector (None: the registry's default voice detector, sw-voice)
    detector: str | None = None
    #: window length in seconds (None: the detector's own input length from its input_spec, else 4 s)
    window_s: float | None = None
    hop_s: float = 2.0
    first_window_s: float = 2.0
    smooth_windows: int = 2
    #: an alert closes when the evidence, on the scale where the threshold is 0.5, stays below this
    clear_below: float = 0.4
    clear_windows: int = 2
    #: a speech run (and its evidence) ends after this long without a speech window
    run_gap_s: float = 10.0
    #: the threshold the evidence is compared with (None: the detector's calibrated threshold)
    threshold: float | None = None
    lag_warn_s: float = 1.5
    max_lag_s: float = 6.0
    #: how far ahead of the wall clock a stream's audio may run (bursts after a network stall)
    max_ahead_s: float = 5.0
    max_streams: int = 1000
    #: windows scored in one call of the analysis core (from any speakers)
    max_batch: int = 32
    #: analysis threads (each with its own scorer; ONNX Runtime and numpy release the GIL)
    threads: int = 2
    #: audio kept before the first evidence window in an alert's clip
    evidence_context_s: float = 2.0
    #: run the voice-activity model on each open window as its audio arrives, all speakers' windows
    #: in one batch (:mod:`.activity`; the same ratios as scoring each window whole, less CPU and
    #: less wait when a window is due); False: each due window is run whole by the analysis core
    streaming_vad: bool = True
    #: how often the open windows' voice activity is run on (seconds)
    vad_tick_s: float = 0.25
    #: BLAS threads of this process while the monitor runs (None: leave them). The voice features'
    #: small matrix products gain nothing from a second BLAS thread, and OpenBLAS's idle threads
    #: spin: at 40 streams they burnt about as much CPU as all the analysis (see _BlasLimit)
    blas_threads: int | None = 1

    def __post_init__(self) -> None:
        checks = {"hop_s": self.hop_s > 0, "first_window_s": self.first_window_s > 0,
                  "smooth_windows": self.smooth_windows >= 1, "clear_windows": self.clear_windows >= 1,
                  "clear_below": 0 <= self.clear_below <= 0.5, "run_gap_s": self.run_gap_s > 0,
                  "lag_warn_s": self.lag_warn_s > 0, "max_lag_s": self.max_lag_s >= self.lag_warn_s,
                  "max_ahead_s": self.max_ahead_s > 0, "max_streams": self.max_streams >= 1,
                  "max_batch": self.max_batch >= 1, "threads": self.threads >= 1,
                  "evidence_context_s": self.evidence_context_s >= 0, "vad_tick_s": self.vad_tick_s > 0,
                  "blas_threads": self.blas_threads is None or self.blas_threads >= 1,
                  "window_s": self.window_s is None or self.window_s > 0,
                  "threshold": self.threshold is None or 0 < self.threshold < 1}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"invalid live-room monitor settings: {', '.join(bad)}")


@dataclass
class Alert:
    """One alert: the speaker's evidence crossed the threshold. ``audio`` is the flagged segment
    (16 kHz mono, starting at ``clip_start_s`` of the speaker's stream); ``windows`` are the scored
    windows of the run up to the alert (their times in the stream's seconds)."""

    alert_id: str
    room: str
    participant: str
    t_start: float
    t_end: float
    score: float
    threshold: float
    detector: str
    detector_version: str
    windows: tuple[WindowScore, ...]
    audio: np.ndarray
    clip_start_s: float
    due_at: float  # time.monotonic() when the last sample of the deciding window arrived
    emitted_at: float  # time.monotonic() when the monitor raised it
    at: float = field(default_factory=time.time)  # wall clock
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def normalised(self) -> float:
        return fusion.normalise(self.score, self.threshold)

    def event(self, case_id: str | None = None) -> dict[str, Any]:
        """The ``alert`` message clients receive (``case_id`` set by the service)."""
        return {"event": "alert", "alert_id": self.alert_id, "room": self.room, "participant": self.participant,
                "t_start": round(self.t_start, 3), "t_end": round(self.t_end, 3), "score": round(self.score, 6),
                "threshold": self.threshold, "normalised_score": round(self.normalised, 6),
                "detector": self.detector, "detector_version": self.detector_version, "case_id": case_id,
                "processing_s": round(self.emitted_at - self.due_at, 3)}


class Sink(Protocol):
    """Where a speaker's events go. Called from analysis threads (and from the caller of
    :meth:`Speaker.close`), never while the monitor holds its lock; must not block for long."""

    def on_event(self, speaker: Speaker, event: dict[str, Any]) -> None: ...

    def on_alert(self, speaker: Speaker, alert: Alert) -> None: ...

    def on_stopped(self, speaker: Speaker, summary: dict[str, Any]) -> None: ...


@dataclass
class _Pending:
    start: int  # sample index (stream time)
    end: int
    due_at: float


class Speaker:
    """One participant's stream. Create with :meth:`Monitor.open`; feed with :meth:`feed`; end with
    :meth:`close`. Thread-safe."""

    def __init__(self, monitor: Monitor, room: str, participant: str, sink: Sink, *, scores: bool,
                 meta: dict[str, Any] | None) -> None:
        self.monitor = monitor
        self.id = secrets.token_hex(8)
        self.room = room
        self.participant = participant
        self.sink = sink
        self.want_scores = scores
        self.meta = dict(meta or {})
        self.opened_at = time.time()
        self.opened_mono = time.monotonic()
        self.first_audio_mono: float | None = None
        cfg = monitor.config
        self._win = monitor.window_samples
        self._hop = max(1, int(round(cfg.hop_s * ANALYSIS_RATE)))
        self._first = min(self._win, max(1, int(round(cfg.first_window_s * ANALYSIS_RATE))))
        ring_s = monitor.window_s + cfg.max_lag_s + cfg.hop_s * 2 + cfg.evidence_context_s \
            + cfg.hop_s * max(0, cfg.smooth_windows - 1) + 1.0
        self._ring = np.zeros(int(math.ceil(ring_s * ANALYSIS_RATE)), dtype=np.float32)
        self.total = 0  # samples received (the stream's audio clock, at 16 kHz)
        self._next_end = self._first
        self._last_end = 0  # end of the last window scheduled
        self.pending: collections.deque[_Pending] = collections.deque()
        self._vad_rows: dict[int, Row] = {}  # window end -> its voice activity so far (streaming VAD)
        self._last_audible = -1  # index of the last sample above SILENCE_PEAK (-1: none yet)
        self.in_flight = False
        self.closing = False
        self.done = threading.Event()
        # figures
        self.windows_scored = 0
        self.speech_windows = 0
        self.skipped_windows = 0
        self.skipped_samples = 0
        self._covered_until = 0
        self._speech_until = 0
        self.speech_samples = 0
        self.lag_s = 0.0
        self.max_lag_s = 0.0
        self._lag_event_at = -math.inf
        self.lagging = False
        self.last: WindowScore | None = None
        self.last_score: float | None = None
        self.evidence: float | None = None
        self.peak_score: float | None = None
        self.state = "listening"  # listening | alerting
        self.alerts: list[dict[str, Any]] = []
        self.errors: list[str] = []
        # evidence and hysteresis
        self._run: collections.deque[WindowScore] = collections.deque(maxlen=cfg.smooth_windows)
        self._run_history: collections.deque[WindowScore] = collections.deque(maxlen=_HISTORY)
        self._last_speech_end: int | None = None
        self._below = 0
        self._episode: dict[str, Any] | None = None

    # ------------------------------------------------------------------ transport side
    @property
    def audio_s(self) -> float:
        return self.total / ANALYSIS_RATE

    @property
    def no_speech_s(self) -> float:
        """Seconds of this stream's audio since the last window that held speech ended (all of it
        when none did)."""
        return max(0.0, (self.total - self._speech_until) / ANALYSIS_RATE)

    def feed(self, samples: np.ndarray) -> None:
        """Append mono float32 samples at 16 kHz (as they arrive). Raises
        :class:`~synthwatch.errors.StreamFlood` when the stream runs more than ``max_ahead_s``
        ahead of real time."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if x.size == 0:
            return
        mon = self.monitor
        now = time.monotonic()
        with mon._cond:
            if self.closing:
                return
            if self.first_audio_mono is None:
                self.first_audio_mono = now
            ahead = (self.total + x.size) / ANALYSIS_RATE - (now - self.first_audio_mono)
            if ahead > mon.config.max_ahead_s:
                raise StreamFlood(f"the stream sent {ahead:.1f} s more audio than real time allows "
                                  f"(at most {mon.config.max_ahead_s:g} s ahead of the wall clock)")
            loud = np.abs(x) > SILENCE_PEAK
            if loud.any():
                self._last_audible = self.total + x.size - 1 - int(np.argmax(loud[::-1]))
            self._write(x)
            due = False
            while self._next_end <= self.total:
                end = self._next_end
                self.pending.append(_Pending(max(0, end - self._win), end, now))
                self._last_end = end
                self._next_end = end + self._hop
                due = True
            if due:
                mon._cond.notify()

    def _write(self, x: np.ndarray) -> None:
        n = self._ring.size
        after = self.total + x.size
        if x.size > n:  # only the newest ring-full is kept
            x = x[-n:]
        pos = (after - x.size) % n
        first = min(x.size, n - pos)
        self._ring[pos:pos + first] = x[:first]
        if first < x.size:
            self._ring[:x.size - first] = x[first:]
        self.total = after

    def _read(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) of the stream (must still be in the ring)."""
        n = self._ring.size
        start = max(start, self.total - n, 0)
        length = max(0, end - start)
        out = np.empty(length, dtype=np.float32)
        pos = start % n
        first = min(length, n - pos)
        out[:first] = self._ring[pos:pos + first]
        if first < length:
            out[first:] = self._ring[:length - first]
        return out

    def close(self, *, score_tail: bool = True) -> None:
        """End the stream: the audio not yet in a window is scored as a last window (when at least
        :data:`MIN_TAIL_S`), queued windows are scored, then the sink's ``on_stopped`` is called
        and the speaker leaves the monitor. Idempotent."""
        mon = self.monitor
        with mon._cond:
            if self.closing:
                return
            self.closing = True
            # the rest, as the media layer cuts a file's tail: from where the next window would have
            # started to the end, when that holds at least MIN_TAIL_S and audio no window covered
            start = max(0, self._next_end - self._win)
            if score_tail and self.total > self._last_end and self.total - start >= int(MIN_TAIL_S * ANALYSIS_RATE):
                row = self._vad_rows.pop(self._next_end, None)  # the window that would have come next
                if row is not None and row.start == start:
                    self._vad_rows[self.total] = row
                self.pending.append(_Pending(start, self.total, time.monotonic()))
                self._last_end = self.total
            if not score_tail and self.pending:  # not scored: counted as skipped
                self.skipped_windows += len(self.pending)
                mon.totals["windows_skipped"] += len(self.pending)
                self.pending.clear()
            finish = not self.pending and not self.in_flight
            mon._cond.notify()
        if finish:
            mon._finish(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the speaker has left the monitor (after :meth:`close`)."""
        return self.done.wait(timeout)

    # ------------------------------------------------------------------ figures
    def snapshot(self) -> dict[str, Any]:
        """The live state of this speaker (``GET /v1/rooms/{room}``)."""
        with self.monitor._cond:
            last = self.last
            return {
                "participant": self.participant,
                "status": "ended" if self.done.is_set() else ("closing" if self.closing else "live"),
                "state": self.state,
                "audio_s": round(self.audio_s, 3),
                "speech_s": round(self.speech_samples / ANALYSIS_RATE, 3),
                "windows_scored": self.windows_scored,
                "speech_windows": self.speech_windows,
                "queued_windows": len(self.pending),
                "last_window": None if last is None else {
                    "t_start": round(last.start_s, 3), "t_end": round(last.end_s, 3), "speech": last.speech,
                    "speech_ratio": last.speech_ratio, "score": self.last_score},
                "score": self.last_score,
                "evidence": self.evidence,
                "peak_score": self.peak_score,
                "threshold": self.monitor.threshold,
                "alerts": len(self.alerts),
                "last_alert": self.alerts[-1] if self.alerts else None,
                "lagging": self.lagging,
                "lag_s": round(self.lag_s, 3),
                "max_lag_s": round(self.max_lag_s, 3),
                "skipped_windows": self.skipped_windows,
                "skipped_audio_s": round(self.skipped_samples / ANALYSIS_RATE, 3),
                "errors": list(self.errors[-5:]),
            }

    def summary(self) -> dict[str, Any]:
        snap = self.snapshot()
        snap.pop("last_window", None)
        snap.pop("queued_windows", None)
        return snap

    # ------------------------------------------------------------------ results (analysis thread, lock held)
    def _scored(self, p: _Pending, ws: WindowScore, det: str, now: float, out: list[Callable[[], None]]) -> None:
        cfg = self.monitor.config
        self.windows_scored += 1
        if p.start > self._covered_until:
            self.skipped_samples += p.start - self._covered_until
        self._covered_until = max(self._covered_until, p.end)
        self.last = ws
        score = ws.scores.get(det) if ws.speech else None
        if ws.speech:
            self.speech_windows += 1
            self.speech_samples += max(0, p.end - max(p.start, self._speech_until))
            self._speech_until = max(self._speech_until, p.end)
        if ws.speech and det in ws.errors:
            self.errors.append(f"{det}: {ws.errors[det]}")
        thr = self.monitor.threshold
        changes: list[Callable[[], None]] = []  # alert and alert_cleared follow this window's score event
        if score is not None:
            gap = (p.start - self._last_speech_end) / ANALYSIS_RATE if self._last_speech_end is not None else 0.0
            if gap >= cfg.run_gap_s:
                self._end_run(changes)
            self._last_speech_end = p.end
            self._run.append(ws)
            self._run_history.append(ws)
            self.last_score = float(score)
            self.peak_score = float(score) if self.peak_score is None else max(self.peak_score, float(score))
            self.evidence = float(np.mean([w.scores[det] for w in self._run]))
            if self.state == "listening" and self.evidence >= thr:
                self._open_alert(p, det, now, changes)
            elif self.state == "alerting":
                assert self._episode is not None
                self._episode["t_end"] = ws.end_s
                self._episode["peak"] = max(self._episode["peak"], self.evidence)
                if fusion.normalise(self.evidence, thr) < cfg.clear_below:
                    self._below += 1
                    if self._below >= cfg.clear_windows:
                        self._close_alert(changes)
                else:
                    self._below = 0
        elif self._last_speech_end is not None and (p.end - self._last_speech_end) / ANALYSIS_RATE >= cfg.run_gap_s:
            self._end_run(changes)
        if self.want_scores:
            ev = {"event": "score", "room": self.room, "participant": self.participant,
                  "t_start": round(ws.start_s, 3), "t_end": round(ws.end_s, 3), "speech": ws.speech,
                  "speech_ratio": None if ws.speech_ratio is None else round(ws.speech_ratio, 4),
                  "score": None if score is None else round(float(score), 6),
                  "evidence": None if self.evidence is None or score is None else round(self.evidence, 6),
                  "threshold": thr, "state": self.state}
            out.append(functools.partial(self.sink.on_event, self, ev))
        out.extend(changes)

    def _open_alert(self, p: _Pending, det: str, now: float, out: list[Callable[[], None]]) -> None:
        mon = self.monitor
        cfg = mon.config
        run = list(self._run)
        t_start = min(w.start_s for w in run)
        t_end = run[-1].end_s
        # the clip: the speech run so far (as much of it as the ring still holds), at least
        # evidence_context_s before the deciding windows
        ring_start = max(0, self.total - self._ring.size) / ANALYSIS_RATE
        first = min([w.start_s for w in self._run_history] + [t_start - cfg.evidence_context_s])
        clip_start = max(0.0, first, ring_start)
        end_i = int(round(t_end * ANALYSIS_RATE))
        audio = self._read(int(round(clip_start * ANALYSIS_RATE)), end_i)
        clip_start = (end_i - audio.size) / ANALYSIS_RATE
        windows = tuple(w for w in self._run_history if w.start_s >= clip_start - 1e-9)
        alert = Alert(new_alert_id(), self.room, self.participant, t_start, t_end, float(self.evidence or 0.0),
                      mon.threshold, det, mon.detector_version, windows, audio, clip_start,
                      p.due_at, now, meta=dict(self.meta))
        self.state = "alerting"
        self._below = 0
        self._episode = {"alert_id": alert.alert_id, "t_start": t_start, "t_end": t_end, "peak": alert.score}
        self.alerts.append({"alert_id": alert.alert_id, "t_start": round(t_start, 3), "t_end": round(t_end, 3),
                            "score": round(alert.score, 6), "at": alert.at, "case_id": None})
        out.append(lambda: self.sink.on_alert(self, alert))

    def _close_alert(self, out: list[Callable[[], None]]) -> None:
        ep = self._episode
        self.state = "listening"
        self._episode = None
        self._below = 0
        if ep is None:
            return
        ev = {"event": "alert_cleared", "room": self.room, "participant": self.participant,
              "alert_id": ep["alert_id"], "t_start": round(ep["t_start"], 3), "t_end": round(ep["t_end"], 3),
              "peak_score": round(ep["peak"], 6)}
        out.append(lambda: self.sink.on_event(self, ev))

    def _end_run(self, out: list[Callable[[], None]]) -> None:
        self._run.clear()
        self._last_speech_end = None
        self._run_history.clear()
        self.evidence = None
        if self.state == "alerting":
            self._close_alert(out)

    def set_case(self, alert_id: str, case_id: str | None) -> None:
        """Record the review case opened for an alert (shown in the live state)."""
        with self.monitor._cond:
            for a in self.alerts:
                if a["alert_id"] == alert_id:
                    a["case_id"] = case_id


class Monitor:
    """Scores every open speaker's due windows in analysis threads (see the module doc).

    ``Monitor(config, store=store)`` loads the detector and the voice-activity model (once);
    :meth:`start` starts the threads, :meth:`open` adds a speaker, :meth:`stop` ends everything."""

    def __init__(self, config: MonitorConfig | None = None, *, store: ModelStore, registry: Registry | None = None,
                 toolkit: Toolkit | None = None) -> None:
        self.config = config or MonitorConfig()
        reg = registry or (toolkit.registry if toolkit is not None else default_registry())
        name = self.config.detector or default_voice_detector(reg)
        self.kit = toolkit or Toolkit([name], store=store, registry=reg)
        slots = self.kit.load()
        slot = next((s for s in slots if s.info.name == reg.detector_class(name).info.name), None)
        if slot is None or slot.modality != "audio":
            raise ConfigError(f"{name!r} is not a voice detector")
        if slot.detector is None:
            raise ConfigError(f"the voice detector {name!r} cannot run: {slot.missing_reason}"
                              + (f" ({slot.install_hint})" if slot.install_hint else ""))
        self.detector = slot.detector
        self.detector_name = slot.info.name
        self.detector_version = slot.info.version
        self.threshold = float(self.config.threshold if self.config.threshold is not None else self.detector.threshold)
        spec = slot.info.input_spec or {}
        if self.config.window_s is not None:
            self.window_s = float(self.config.window_s)
        elif spec.get("samples") and spec.get("sample_rate"):
            self.window_s = float(spec["samples"]) / float(spec["sample_rate"])
        else:
            from ..config import Sampling

            self.window_s = Sampling().audio_window_s
        self.window_samples = max(1, int(round(self.window_s * ANALYSIS_RATE)))
        self.vad_missing = self.kit.vad_missing
        self.window_vad = WindowVAD(self.kit.vad) if self.config.streaming_vad and self.kit.vad is not None else None
        self._vad_stop = threading.Event()
        self._blas_held = False
        self._cond = threading.Condition()
        self._speakers: dict[str, Speaker] = {}
        self._threads: list[threading.Thread] = []
        self._running = False
        # totals over the monitor's life (metrics)
        self.totals: dict[str, float] = collections.defaultdict(float)
        self.batch_seconds: collections.deque[tuple[int, float]] = collections.deque(maxlen=256)
        self._notes: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ life cycle
    def start(self) -> Monitor:
        with self._cond:
            if self._running:
                return self
            self._running = True
            self._vad_stop.clear()
            if self.config.blas_threads is not None:
                _blas.acquire(self.config.blas_threads)
                self._blas_held = True
            for i in range(self.config.threads):
                t = threading.Thread(target=self._loop, name=f"room-monitor-{i}", daemon=True)
                self._threads.append(t)
                t.start()
            if self.window_vad is not None:
                t = threading.Thread(target=self._vad_loop, name="room-monitor-vad", daemon=True)
                self._threads.append(t)
                t.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads; every open speaker is ended without scoring what is queued."""
        with self._cond:
            speakers = list(self._speakers.values())
        for sp in speakers:
            sp.close(score_tail=False)
        with self._cond:
            self._running = False
            self._vad_stop.set()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        for sp in speakers:
            if not sp.done.is_set():
                self._finish(sp)
        with self._cond:
            held, self._blas_held = self._blas_held, False
        if held:
            _blas.release()

    @property
    def running(self) -> bool:
        return self._running

    def open(self, room: str, participant: str, sink: Sink, *, scores: bool = False,
             meta: dict[str, Any] | None = None) -> Speaker:
        """A new speaker. Raises :class:`~synthwatch.errors.StreamOverloaded` at ``max_streams``."""
        with self._cond:
            if not self._running:
                raise StreamOverloaded("the live-room monitor is not running")
            if len(self._speakers) >= self.config.max_streams:
                raise StreamOverloaded(f"the monitor holds {len(self._speakers)} streams, its limit "
                                       f"(rooms max_streams); try again later")
            sp = Speaker(self, room, participant, sink, scores=scores, meta=meta)
            self._speakers[sp.id] = sp
            self.totals["streams_opened"] += 1
        return sp

    def speakers(self, room: str | None = None) -> list[Speaker]:
        with self._cond:
            return [s for s in self._speakers.values() if room is None or s.room == room]

    def __len__(self) -> int:
        with self._cond:
            return len(self._speakers)

    def _finish(self, sp: Speaker) -> None:
        with self._cond:
            if sp.done.is_set():
                return
            self._speakers.pop(sp.id, None)
            sp._vad_rows.clear()
            uncovered = max(0, sp._last_end - sp._covered_until) if sp.skipped_windows else 0
            sp.skipped_samples += uncovered
            sp._covered_until = max(sp._covered_until, sp._last_end)
            self.totals["audio_skipped_seconds"] += sp.skipped_samples / ANALYSIS_RATE
            self.totals["audio_seconds"] += sp.audio_s
            out: list[Callable[[], None]] = []
            if sp.state == "alerting":
                sp._close_alert(out)
            sp.done.set()
            self.totals["streams_closed"] += 1
            summary = sp.summary()
        for fn in out:
            _safe(fn)
        _safe(lambda: sp.sink.on_stopped(sp, summary))

    # ------------------------------------------------------------------ analysis
    def _take(self) -> list[tuple[Speaker, list[_Pending]]]:
        """Due windows, oldest first across speakers, at most ``max_batch``; each speaker's
        windows in order and one batch per speaker at a time (lock held)."""
        cfg = self.config
        now = time.monotonic()
        ready = [s for s in self._speakers.values() if s.pending and not s.in_flight]
        ready.sort(key=lambda s: s.pending[0].due_at)
        work: list[tuple[Speaker, list[_Pending]]] = []
        budget = cfg.max_batch
        notes: list[Callable[[], None]] = []
        for sp in ready:
            if budget <= 0:
                break
            lag = now - sp.pending[0].due_at
            sp.lag_s = lag
            sp.max_lag_s = max(sp.max_lag_s, lag)
            skipped = 0
            if lag > cfg.max_lag_s and len(sp.pending) > 1:
                while len(sp.pending) > 1 and now - sp.pending[0].due_at > cfg.max_lag_s:
                    sp.pending.popleft()
                    skipped += 1
                sp.skipped_windows += skipped
                self.totals["windows_skipped"] += skipped
            if lag > cfg.lag_warn_s:
                if not sp.lagging:
                    self.totals["lagging_events"] += 1
                sp.lagging = True
                if skipped or now - sp._lag_event_at >= _LAG_EVENT_EVERY_S:
                    sp._lag_event_at = now
                    ev = {"event": "lagging", "room": sp.room, "participant": sp.participant,
                          "behind_s": round(lag, 3), "queued_windows": len(sp.pending),
                          "skipped_windows": sp.skipped_windows,
                          "skipped_audio_s": round((sp.skipped_samples + _uncovered(sp)) / ANALYSIS_RATE, 3)}
                    notes.append(functools.partial(sp.sink.on_event, sp, ev))
            elif sp.lagging and lag < cfg.lag_warn_s / 2:
                sp.lagging = False
            take = [sp.pending.popleft() for _ in range(min(budget, len(sp.pending)))]
            budget -= len(take)
            sp.in_flight = True
            work.append((sp, take))
        self._notes = notes
        return work

    def _scorer(self) -> AudioScorer:
        # with the streaming VAD the monitor gives the analysis core only the speech windows
        return self.kit.audio_scorer(vad=self.window_vad is None)

    def _loop(self) -> None:
        scorer = self._scorer()
        while True:
            with self._cond:
                while self._running:
                    work = self._take()
                    if work or self._notes:
                        break
                    self._cond.wait(0.25)
                if not self._running:
                    return
                notes, self._notes = self._notes, []
                windows: list[AudioWindow] = []
                rows: list[Row | None] = []
                for sp, items in work:
                    for p in items:
                        x = sp._read(p.start, p.end)
                        windows.append(AudioWindow(p.start / ANALYSIS_RATE, p.end / ANALYSIS_RATE, x, ANALYSIS_RATE))
                        row = sp._vad_rows.pop(p.end, None)
                        # a row is of this window only when the ring still held the window's start
                        rows.append(row if row is not None and row.start == p.start and x.size == p.end - p.start
                                    else None)
            for fn in notes:
                _safe(fn)
            if not work:
                continue
            t0 = time.perf_counter()
            try:
                results = self._score(scorer, windows, rows)
                failed = dict(scorer.failed)
            except DetectorError as exc:  # the voice-activity model failed on this batch
                log.warning("live-room analysis failed on a batch of %d windows: %s", len(windows), exc)
                results = [WindowScore(w.start_s, w.end_s, False, None, {}, {"vad": str(exc)}) for w in windows]
                failed = {"vad": exc}
            if failed:  # a detector that failed once is not called again by that scorer: start afresh
                scorer = self._scorer()
            elapsed = time.perf_counter() - t0
            now = time.monotonic()
            out: list[Callable[[], None]] = []
            finished: list[Speaker] = []
            with self._cond:
                self.batch_seconds.append((len(windows), elapsed))
                self.totals["windows_scored"] += len(windows)
                self.totals["analysis_seconds"] += elapsed
                k = 0
                for sp, items in work:
                    for p in items:
                        ws = results[k]
                        k += 1
                        if ws.speech:
                            self.totals["speech_windows"] += 1
                        if not ws.speech and ws.errors:
                            sp.errors.append("; ".join(f"{n}: {m}" for n, m in ws.errors.items()))
                        sp._scored(p, ws, self.detector_name, now, out)
                    sp.in_flight = False
                    if sp.closing and not sp.pending:
                        finished.append(sp)
                if any(s.pending for s, _ in work):
                    self._cond.notify()
            for fn in out:
                _safe(fn)
            for sp in finished:
                self._finish(sp)

    def _score(self, scorer: AudioScorer, windows: list[AudioWindow], rows: list[Row | None]) -> list[WindowScore]:
        """The windows' scores: the analysis core's voice-activity gating and detectors
        (:meth:`AudioScorer.score`), with the streaming VAD's ratios in place of running the VAD on
        each window whole (the same ratios, so the same speech decisions; see :mod:`.activity`)."""
        if self.window_vad is None:
            return scorer.score(windows)
        ratios = [0.0] * len(windows)  # silent: no audible sound, no model sees it (AudioScorer's rule)
        audible = [i for i, w in enumerate(windows) if not w.silent]
        if audible:
            measured = self.window_vad.finish([rows[i] for i in audible], [windows[i].samples for i in audible])
            for i, r in zip(audible, measured, strict=True):
                ratios[i] = r
        speech = [i for i in audible if ratios[i] >= SPEECH_RATIO_MIN]
        scored = scorer.score([windows[i] for i in speech])  # no VAD in this scorer: all of them speech
        out = [WindowScore(w.start_s, w.end_s, False, ratios[i], {}) for i, w in enumerate(windows)]
        for i, ws in zip(speech, scored, strict=True):
            out[i] = WindowScore(ws.start_s, ws.end_s, True, ratios[i], ws.scores, ws.errors)
        return out

    def _vad_work(self) -> list[tuple[Row, int, np.ndarray]]:
        """The whole chunks that arrived for every open window (lock held): rows of windows that
        hold audible sound so far, with the samples after their chunks done."""
        work: list[tuple[Row, int, np.ndarray]] = []
        win = self.window_samples
        for sp in self._speakers.values():
            rows = sp._vad_rows
            ends = [p.end for p in sp.pending]
            if not sp.closing:
                end = sp._next_end
                while end - win < sp.total:
                    ends.append(end)
                    end += sp._hop
            for gone in set(rows) - set(ends):  # skipped windows
                del rows[gone]
            oldest = sp.total - sp._ring.size
            for end in ends:
                start = max(0, end - win)
                if sp._last_audible < start:  # nothing audible in it yet: it may stay silent (no VAD)
                    continue
                row = rows.get(end)
                if row is None:
                    row = rows[end] = Row(start)
                whole = (min(sp.total, end) - start) // CHUNK - row.done
                if whole <= 0:
                    continue
                at = start + row.done * CHUNK
                if at < oldest:  # the ring no longer holds it: the window's own samples decide
                    del rows[end]
                    continue
                work.append((row, row.done, sp._read(at, at + whole * CHUNK)))
        return work

    def _vad_loop(self) -> None:
        wv = self.window_vad
        assert wv is not None
        tick = self.config.vad_tick_s
        while not self._vad_stop.wait(tick):
            with self._cond:
                if not self._running:
                    return
                work = self._vad_work()
            if not work:
                continue
            try:
                wv.advance(work)
            except DetectorError as exc:  # the rows stay as they were: finish() runs them from there
                log.warning("live-room voice activity failed on %d windows: %s", len(work), exc)

    # ------------------------------------------------------------------ figures
    def figures(self) -> dict[str, Any]:
        """Totals and the current state, for metrics."""
        with self._cond:
            speakers = list(self._speakers.values())
            totals = dict(self.totals)
            live_skipped = sum(s.skipped_samples for s in speakers) / ANALYSIS_RATE
            return {
                "streams": len(speakers),
                "rooms": len({(s.meta.get("tenant"), s.room) for s in speakers}),
                "queued_windows": sum(len(s.pending) for s in speakers),
                "max_lag_s": max((s.lag_s for s in speakers if s.pending), default=0.0),
                "lagging_streams": sum(1 for s in speakers if s.lagging),
                "totals": totals,
                "live_skipped_audio_s": live_skipped,
            }


def _uncovered(sp: Speaker) -> int:
    """Samples of the queue's head that no window will cover (lock held)."""
    return max(0, sp.pending[0].start - sp._covered_until) if sp.pending else 0


def _safe(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - a failing sink must not stop the analysis of other streams
        log.exception("a live-room event handler failed")
