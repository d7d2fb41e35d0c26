"""The live rooms of one API process: the monitor, who is streaming where, room state, figures.

One :class:`RoomHub` per app (``app.state.rooms``). It loads the monitor (the voice detector and
the voice-activity model) on the first stream, keeps the live streams by tenant, room and
participant (a participant streams once per room at a time), answers the room state, hands each
alert to :mod:`.alerts` on its own threads, and exposes its figures to ``/metrics``.

Room state lives in this process's memory: run one API process per set of rooms (``synthwatch
serve`` runs one), or route a room's streams to one process.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from ...errors import ConfigError
from ...stream.monitor import Alert, Monitor, MonitorConfig, Speaker
from ..auth import Principal
from ..ids import new_id
from .settings import RoomOptions

if TYPE_CHECKING:
    from ..core import ServiceCore

__all__ = ["RoomHub", "LiveStream", "RoomCollector", "LATENCY_BUCKETS", "install"]

log = logging.getLogger("synthwatch.service.rooms")

#: buckets (seconds) of the alert processing histogram: last sample of the deciding window in,
#: alert out to the client
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class LiveStream:
    """One speaker stream on one connection: the :class:`~synthwatch.stream.monitor.Sink` of its
    speaker. Events from analysis threads are queued for the connection's sender on its event
    loop; ``score`` events are dropped (and counted) when the client reads too slowly, never alerts."""

    def __init__(self, hub: RoomHub, loop: asyncio.AbstractEventLoop, principal: Principal, room: str,
                 participant: str, transport: str, fmt: dict[str, Any]) -> None:
        self.hub = hub
        self.loop = loop
        self.principal = principal
        self.room = room
        self.participant = participant
        self.transport = transport
        self.format = fmt
        self.id = new_id("rst")
        self.started_at = time.time()
        self.speaker: Speaker | None = None
        self.outbound: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.dropped_events = 0
        self.stopped: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.pending_alerts = 0
        self._alerts_done = threading.Condition()
        self.close_code: int | None = None
        self.close_reason = ""
        self.summary: dict[str, Any] | None = None
        self.persisted = threading.Event()  # the stream's row is closed
        self._persisting = False
        self.no_speech_noticed_at: float | None = None

    # ------------------------------------------------------------------ Sink (analysis threads)
    def on_event(self, speaker: Speaker, event: dict[str, Any]) -> None:
        self._post(event, droppable=event.get("event") == "score")

    def on_alert(self, speaker: Speaker, alert: Alert) -> None:
        with self._alerts_done:
            self.pending_alerts += 1
        try:
            self.hub.alert_pool.submit(self.hub.handle_alert, self, alert)
        except RuntimeError:  # the pool is shut down (the service is stopping): still tell the client
            self.alert_handled(alert.event(None), alert)

    def on_stopped(self, speaker: Speaker, summary: dict[str, Any]) -> None:
        def done() -> None:
            if not self.stopped.done():
                self.stopped.set_result(summary)

        self.summary = summary
        self._call(done)
        self._maybe_persist()

    def _maybe_persist(self) -> None:
        """Once the speaker has left the monitor and every alert is stored, close the stream's row
        (on the hub's database thread: it does not depend on the connection still being served)."""
        with self._alerts_done:
            if self.summary is None or self.pending_alerts > 0 or self._persisting:
                return
            self._persisting = True
        self.hub.persist_end(self)

    # ------------------------------------------------------------------ helpers
    def _call(self, fn: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the connection is gone
            self.loop.call_soon_threadsafe(fn)

    def _post(self, event: dict[str, Any], *, droppable: bool) -> None:
        def put() -> None:
            if droppable and self.outbound.qsize() >= self.hub.opts.max_outbound_events:
                self.dropped_events += 1
                self.hub.count("events_dropped")
                return
            self.outbound.put_nowait(event)

        self._call(put)

    def send(self, event: dict[str, Any]) -> None:
        """Queue an event for the client (from the event loop)."""
        self.outbound.put_nowait(event)

    def alert_handled(self, event: dict[str, Any], alert: Alert) -> None:
        """An alert is stored (and its case opened): send it, count its processing time."""
        self._post(event, droppable=False)
        self.hub.observe_alert(time.monotonic() - alert.due_at)
        with self._alerts_done:
            self.pending_alerts -= 1
            self._alerts_done.notify_all()
        self._maybe_persist()

    def wait_alerts(self, timeout: float) -> bool:
        """Wait (in a thread) until every alert of this stream was handled."""
        with self._alerts_done:
            return self._alerts_done.wait_for(lambda: self.pending_alerts <= 0, timeout)

    def state(self) -> dict[str, Any]:
        snap: dict[str, Any] = (self.speaker.snapshot() if self.speaker is not None
                                else {"participant": self.participant, "status": "starting"})
        snap.update(stream_id=self.id, transport=self.transport, format=self.format,
                    started_at=self.started_at, dropped_events=self.dropped_events)
        return snap


def _lower_thread_priority(niceness: int = 10) -> None:
    """Lower the calling thread's CPU priority (Linux: a thread has its own nice value); elsewhere
    nothing."""
    import os

    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + niceness)


class RoomHub:
    def __init__(self, core: ServiceCore, opts: RoomOptions) -> None:
        self.core = core
        self.opts = opts
        self._monitor: Monitor | None = None
        self._monitor_error: Exception | None = None
        self._monitor_lock = threading.Lock()
        self._lock = threading.Lock()
        self._live: dict[str, dict[str, dict[str, LiveStream]]] = {}
        self.alert_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="room-alert")
        # timeline pictures are drawn at a lower CPU priority: scoring and alerts come first
        self.picture_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="room-picture",
                                               initializer=_lower_thread_priority)
        self.db_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="room-db")
        self._counts: dict[str, float] = collections.defaultdict(float)
        self._closes: dict[tuple[str, int], int] = collections.defaultdict(int)
        self._streams: dict[str, int] = collections.defaultdict(int)
        self._lat_buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self._lat_sum = 0.0
        self.tasks: set[asyncio.Task[Any]] = set()  # the WebSocket streams' tasks (cancelled at shutdown)
        self.whip_sessions: dict[str, Any] = {}  # session id -> service.rooms.whip.WhipLive
        self.closed = False

    # ------------------------------------------------------------------ the monitor
    def monitor_config(self) -> MonitorConfig:
        o = self.opts
        detector = o.detector
        if detector is None:
            from ...detectors import registry

            for name in self.core.core.detectors or []:  # the service's detector list, if it names a voice one
                if registry.detector_class(name).info.modality == "audio":
                    detector = name
                    break
        return MonitorConfig(detector=detector, window_s=o.window_s, hop_s=o.hop_s, first_window_s=o.first_window_s,
                             smooth_windows=o.smooth_windows, clear_below=o.clear_below,
                             clear_windows=o.clear_windows, run_gap_s=o.run_gap_s, threshold=o.threshold,
                             lag_warn_s=o.lag_warn_s, max_lag_s=max(o.max_lag_s, o.lag_warn_s),
                             max_ahead_s=o.max_ahead_s, max_streams=o.max_streams, max_batch=o.max_batch,
                             threads=o.analysis_threads, streaming_vad=o.streaming_vad, vad_tick_s=o.vad_tick_s,
                             blas_threads=o.blas_threads or None)

    def _load_monitor(self) -> Monitor:
        with self._monitor_lock:
            if self._monitor is not None:
                return self._monitor
            if self.closed:
                raise ConfigError("the service is stopping")
            from ...models.runtime import set_thread_cap
            from ...models.store import ModelStore

            if self.core.core.threads:
                set_thread_cap(self.core.core.threads)
            monitor = Monitor(self.monitor_config(), store=ModelStore(self.core.core.model_dir)).start()
            # what the first alert would otherwise pay for: the fusion rules' card and the evidence writers
            from ...pipeline import fusion
            from ...stream import evidence  # noqa: F401

            fusion.load_ensemble()
            self._monitor = monitor
            return monitor

    async def monitor(self) -> Monitor:
        """The monitor, loaded on first use (in a thread: loading models takes a moment)."""
        if self._monitor is not None:
            return self._monitor
        return await asyncio.to_thread(self._load_monitor)

    @property
    def loaded_monitor(self) -> Monitor | None:
        return self._monitor

    # ------------------------------------------------------------------ who is live
    def claim(self, stream: LiveStream) -> bool:
        """Register a stream; False when its participant is already live in that room."""
        with self._lock:
            room = self._live.setdefault(stream.principal.tenant_id, {}).setdefault(stream.room, {})
            if stream.participant in room:
                return False
            room[stream.participant] = stream
            self._streams[stream.transport] += 1
            return True

    def release(self, stream: LiveStream) -> None:
        with self._lock:
            rooms = self._live.get(stream.principal.tenant_id, {})
            room = rooms.get(stream.room, {})
            if room.get(stream.participant) is stream:
                del room[stream.participant]
            if not room:
                rooms.pop(stream.room, None)
            if not rooms:
                self._live.pop(stream.principal.tenant_id, None)

    def live_streams(self, tenant_id: str, room: str | None = None) -> list[LiveStream]:
        with self._lock:
            rooms = self._live.get(tenant_id, {})
            return [s for name, r in rooms.items() if room is None or name == room for s in r.values()]

    def live_rooms(self, tenant_id: str) -> dict[str, list[LiveStream]]:
        with self._lock:
            return {name: list(r.values()) for name, r in self._live.get(tenant_id, {}).items()}

    def all_streams(self) -> list[LiveStream]:
        with self._lock:
            return [s for rooms in self._live.values() for r in rooms.values() for s in r.values()]

    # ------------------------------------------------------------------ rows
    def persist_end(self, stream: LiveStream) -> None:
        def run() -> None:
            from .records import end_stream

            try:
                if stream.speaker is not None:
                    end_stream(self.core, stream, stream.summary or {})
            except Exception:  # noqa: BLE001 - logged; the stream is over either way
                log.exception("stream %s: its row could not be closed", stream.id)
            finally:
                stream.persisted.set()

        try:
            self.db_pool.submit(run)
        except RuntimeError:  # the pool is shut down: write it here
            run()

    # ------------------------------------------------------------------ alerts
    def handle_alert(self, stream: LiveStream, alert: Alert) -> None:
        from .alerts import handle_alert

        handle_alert(self, stream, alert)

    # ------------------------------------------------------------------ figures
    def count(self, name: str, value: float = 1.0) -> None:
        with self._lock:
            self._counts[name] += value

    def closed_with(self, transport: str, code: int) -> None:
        with self._lock:
            self._closes[(transport, code)] += 1

    def observe_alert(self, seconds: float) -> None:
        with self._lock:
            i = next((k for k, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))
            self._lat_buckets[i] += 1
            self._lat_sum += seconds
            self._counts["alerts_sent"] += 1

    def figures(self) -> dict[str, Any]:
        mon = self._monitor
        with self._lock:
            out: dict[str, Any] = {"counts": dict(self._counts), "closes": dict(self._closes),
                                   "streams_by_transport": dict(self._streams),
                                   "latency": (list(self._lat_buckets), self._lat_sum),
                                   "live_rooms": sum(len(r) for r in self._live.values())}
        out["monitor"] = mon.figures() if mon is not None else None
        out["live"] = [(s.speaker.audio_s, s.speaker.skipped_samples / 16_000.0) for s in self.all_streams()
                       if s.speaker is not None]
        return out

    # ------------------------------------------------------------------ shutdown
    async def shutdown(self) -> None:
        """Close every live connection (1001, going away), stop the monitor and the pools."""
        self.closed = True
        for stream in self.all_streams():
            stream.close_code = stream.close_code or 1001
            stream.close_reason = stream.close_reason or "the server is shutting down"
        for live in list(self.whip_sessions.values()):
            live.end("the server is shutting down", 1001)
        tasks = [t for t in self.tasks if not t.done()]
        for task in tasks:
            task.cancel()
        waiting = tasks + [live.finished for live in self.whip_sessions.values()]
        if waiting:
            await asyncio.wait(waiting, timeout=15.0)
        await asyncio.to_thread(self._stop_threads)

    def _stop_threads(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()
        self.alert_pool.shutdown(wait=True, cancel_futures=False)
        self.picture_pool.shutdown(wait=True, cancel_futures=False)
        self.db_pool.shutdown(wait=True, cancel_futures=False)


class RoomCollector(Collector):
    """The hub's figures for ``/metrics`` (this API process's streams)."""

    def __init__(self, hub: RoomHub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        f = self.hub.figures()
        mon = f["monitor"] or {"streams": 0, "rooms": 0, "queued_windows": 0, "max_lag_s": 0.0, "lagging_streams": 0,
                               "totals": {}}
        totals = mon["totals"]
        live_audio = sum(a for a, _ in f["live"])
        live_skipped = sum(s for _, s in f["live"])
        gauges = [("synthwatch_room_streams", "live speaker streams", mon["streams"]),
                  ("synthwatch_rooms_live", "rooms with a live stream", f["live_rooms"]),
                  ("synthwatch_room_queued_windows", "windows waiting for analysis", mon["queued_windows"]),
                  ("synthwatch_room_lag_seconds", "longest wait of a queued window", mon["max_lag_s"]),
                  ("synthwatch_room_lagging_streams", "streams told they are lagging", mon["lagging_streams"])]
        for name, doc, value in gauges:
            g = GaugeMetricFamily(name, doc)
            g.add_metric([], float(value))
            yield g
        counters = [
            ("synthwatch_room_audio_seconds", "audio received from speakers, seconds",
             totals.get("audio_seconds", 0.0) + live_audio),
            ("synthwatch_room_windows_scored", "windows scored", totals.get("windows_scored", 0.0)),
            ("synthwatch_room_speech_windows", "windows that held speech", totals.get("speech_windows", 0.0)),
            ("synthwatch_room_windows_skipped", "windows skipped because analysis fell behind",
             totals.get("windows_skipped", 0.0)),
            ("synthwatch_room_audio_skipped_seconds", "audio no scored window covered because analysis fell behind",
             totals.get("audio_skipped_seconds", 0.0) + live_skipped),
            ("synthwatch_room_lagging_events", "times a stream started lagging", totals.get("lagging_events", 0.0)),
            ("synthwatch_room_analysis_seconds", "time the analysis threads spent scoring",
             totals.get("analysis_seconds", 0.0)),
            ("synthwatch_room_alerts", "alerts raised", f["counts"].get("alerts", 0.0)),
            ("synthwatch_room_events_dropped", "score events dropped for slow clients",
             f["counts"].get("events_dropped", 0.0)),
        ]
        for name, doc, value in counters:
            c = CounterMetricFamily(name, doc)
            c.add_metric([], float(value))
            yield c
        streams = CounterMetricFamily("synthwatch_room_streams_opened", "speaker streams accepted, by transport",
                                      labels=["transport"])
        for transport, n in sorted(f["streams_by_transport"].items()):
            streams.add_metric([transport], n)
        yield streams
        closes = CounterMetricFamily("synthwatch_room_stream_closes", "speaker streams ended, by transport and "
                                     "close code", labels=["transport", "code"])
        for (transport, code), n in sorted(f["closes"].items()):
            closes.add_metric([transport, str(code)], n)
        yield closes
        buckets, total = f["latency"]
        cum = 0
        points = []
        for b, n in zip([*map(str, LATENCY_BUCKETS), "+Inf"], buckets, strict=True):
            cum += n
            points.append((b, cum))
        h = HistogramMetricFamily("synthwatch_room_alert_processing_seconds",
                                  "from the last sample of the deciding window to the alert sent")
        h.add_metric([], points, total)
        yield h


def alert_json(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def install(app: Any) -> RoomHub:
    """Give ``app`` its live rooms: ``app.state.rooms``, the console's live-rooms page, the figures
    in ``/metrics``, and the monitor stopped (every live stream closed, 1001) when the app shuts down."""
    from contextlib import asynccontextmanager

    from .console import router as console_router

    core = app.state.core
    hub = RoomHub(core, core.settings.rooms)
    app.state.rooms = hub
    app.include_router(console_router)  # the console's live-rooms page
    app.state.metrics_registry.register(RoomCollector(hub))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> Any:
        async with inner(a) as state:
            try:
                yield state
            finally:
                await hub.shutdown()

    app.router.lifespan_context = lifespan
    return hub
