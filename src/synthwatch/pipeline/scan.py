"""Scan orchestration: source -> probe -> route by kind -> detectors -> fusion -> Report.

:class:`Scanner` loads models once and is safe to share between threads; each call to
:meth:`Scanner.scan` works on its own state. Progress is reported through a hook
``hook(step: str, info: dict)`` (the CLI drives Rich bars with it; the service can drive job
status with the same hook). Steps: ``probe``, ``frames`` (``done``, ``total``), ``audio``
(``done``, ``total``), ``frame`` (a thumbnail artefact: ``t_s``, ``image``, ``faces``), ``done``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .. import __version__
from ..config import Limits, Sampling, Settings, get_settings
from ..context import ScanContext
from ..detectors.registry import Registry
from ..errors import DecodeTimeout, ScanTimeout, SynthwatchError
from ..models.store import ModelStore
from ..types import MediaInfo, MediaKind, Report, ReportError, Verdict, VerdictLabel
from .analyse import IMAGE_BATCH, Analysis, Hook, Toolkit, no_hook

__all__ = ["Hook", "Scanner", "scan", "iter_scan"]

log = logging.getLogger(__name__)

Source = str | Path | bytes | bytearray | BinaryIO

#: decoded video frames held ahead of the detectors (so decoding overlaps scoring), in bytes
PREFETCH_BYTES = 96 * 1024 * 1024


class Scanner:
    """Loads the chosen detectors once and scans many items. Thread-safe.

    Analysis goes through :class:`~synthwatch.pipeline.analyse.Toolkit` (the core that ``eval`` and
    the live-room monitor share); this class adds reading the source, probing, routing by kind,
    provenance and the report."""

    def __init__(self, settings: Settings | None = None, *, detectors: Iterable[str] | None = None,
                 store: ModelStore | None = None, face_detector: str = "centerface",
                 registry: Registry | None = None) -> None:
        self.settings = settings or get_settings()
        self.store = store or ModelStore(self.settings.model_dir)
        if self.settings.threads:
            from ..models.runtime import set_thread_cap

            set_thread_cap(self.settings.threads)
        # raises UnknownDetector early
        self.toolkit = Toolkit(detectors, store=self.store, registry=registry, face_detector=face_detector,
                               default_names=self.settings.detectors)
        self.registry = self.toolkit.registry
        self._trust_pem = self.settings.c2pa_trust_anchors_pem()  # read once (ConfigError now, not per scan)
        self._rules: dict[str, Any] | None = None
        if self.settings.provenance_rules is not None:
            from ..provenance import load_rules

            self._rules = load_rules(self.settings.provenance_rules)

    # ------------------------------------------------------------------ model loading
    @property
    def detector_names(self) -> list[str]:
        return list(self.toolkit.names)

    def load(self) -> None:
        """Load every model now (otherwise it happens on the first scan)."""
        self.toolkit.load()

    # ------------------------------------------------------------------ scanning
    def scan(self, source: Source, *, hook: Hook | None = None, name: str | None = None,
             limits: Limits | None = None, sampling: Sampling | None = None,
             declared_ai: bool = False) -> Report:
        """Scan one item. Media errors come back inside the Report (``report.error``); they are
        not raised, so a batch can go on. ``declared_ai``: the uploader declared the item
        AI-generated (an input to the labelling decision in ``report.provenance``).

        ``hook(step, info)`` reports progress; for a video the ``audio`` steps come from a second
        thread, interleaved with the ``frames`` steps, so a hook must be thread-safe."""
        from ..media import open_source, probe, sniff

        hook = hook or no_hook
        ctx = ScanContext.start(self.settings, limits=limits, sampling=sampling)
        limits, sampling = ctx.limits, ctx.sampling
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        display = name or (str(source) if isinstance(source, str | Path) else "<bytes>")
        info: MediaInfo | None = None
        try:
            with open_source(source, limits=limits, name=name) as src:
                display = src.name
                hook("probe", {"source": display})
                sniffed = sniff(src.path)  # the file's type, read once from its bytes for every step below
                info = probe(src.path, limits, deadline=ctx.deadline, sniffed=sniffed)
                timings["probe"] = time.perf_counter() - t0
                t1 = time.perf_counter()
                analysis = self.toolkit.analysis(hook=hook, token_merging=sampling.frame_token_merging,
                                                 deadline=ctx.deadline)
                ctx = replace(ctx, sniffed=sniffed)
                if info.kind == MediaKind.IMAGE:
                    self._scan_image(src.path, ctx, analysis)
                elif info.kind == MediaKind.AUDIO:
                    self._scan_audio(src.path, info, ctx, analysis)
                else:
                    self._scan_video(src.path, info, ctx, analysis)
                evidence = analysis.finish()
                timings["analyse"] = time.perf_counter() - t1
                report = Report(source=display, media=info, verdict=evidence.verdict, detectors=evidence.detectors,
                                segments=evidence.segments, faces=evidence.faces, warnings=evidence.warnings,
                                created_at=_now(), synthwatch_version=__version__)
                t2 = time.perf_counter()
                hook("provenance", {"source": display})
                ctx.check("reading provenance")
                report = _with(report, provenance=self._provenance(src.path, report, declared_ai, ctx))
                timings["provenance"] = time.perf_counter() - t2
                ctx.check("reading provenance")  # a provenance read cut at the deadline is not a result
        except SynthwatchError as exc:
            if isinstance(exc, DecodeTimeout) and not isinstance(exc, ScanTimeout) and ctx.expired():
                exc = ScanTimeout(ctx.timeout_message("decoding"))  # a decoder stopped at the scan's deadline
            elif isinstance(exc, ScanTimeout) and ctx.limits.scan_timeout_s:
                exc = ScanTimeout(ctx.timeout_message(str(exc).rsplit(" while ", 1)[-1]))
            timings["total"] = time.perf_counter() - t0
            hook("done", {"source": display, "error": exc.code})
            return Report(source=display, media=info,
                          verdict=Verdict(VerdictLabel.NOT_APPLICABLE, None, None, f"scan failed: {exc.code}"),
                          error=ReportError(exc.code, str(exc)), timings_s=timings,
                          created_at=_now(), synthwatch_version=__version__)
        timings["total"] = time.perf_counter() - t0
        hook("done", {"source": display, "verdict": str(report.verdict.label)})
        return _with(report, timings_s=timings)

    def _provenance(self, path: Path, report: Report, declared_ai: bool, ctx: ScanContext) -> dict[str, Any]:
        """Labels, C2PA, IPTC, generator traces and watermarks, and the upload labelling decision, under
        this scan's limits, deadline, trust anchors and rule table."""
        from ..provenance import inspect
        from ..provenance.scope import ProvenanceScope, use

        scope = ProvenanceScope(limits=ctx.limits, deadline=ctx.deadline, trust_anchors=self._trust_pem,
                                shipped_trust=self.settings.c2pa_shipped_trust, rules=self._rules)
        try:
            with use(scope):
                return inspect(path, declared_ai=declared_ai, verdict=report.verdict, detectors=report.detectors,
                               sniffed=ctx.sniffed)
        except (SynthwatchError, OSError) as exc:
            return {"error": {"code": getattr(exc, "code", "os_error"), "message": str(exc)}}

    # ---- routing by kind: decode, then hand the decoded media to the analysis core
    def _scan_image(self, path: Path, ctx: ScanContext, analysis: Analysis) -> None:
        from ..media import load_image

        analysis.add_picture(load_image(path, ctx.limits, deadline=ctx.deadline, sniffed=ctx.sniffed))
        analysis.mark_not_applicable("audio", "an image has no audio")

    def _scan_audio(self, path: Path, info: MediaInfo, ctx: ScanContext, analysis: Analysis) -> None:
        self._audio_track(path, info, ctx, analysis)
        analysis.mark_not_applicable("image", "audio has no pictures")
        analysis.mark_not_applicable("face", "audio has no pictures")

    def _scan_video(self, path: Path, info: MediaInfo, ctx: ScanContext, analysis: Analysis) -> None:
        kit = self.toolkit
        visual = bool(kit.ready("image") or kit.ready("face"))
        voice = bool(kit.ready("audio"))
        # the audio track is analysed in a second thread while frames are: each side waits on its
        # own decoder process and the two sets of models leave each other idle cores
        audio_job: _Background | None = None
        if info.has_audio and voice and info.has_video and visual:
            audio_job = _Background(lambda stop: self._audio_track(path, info, ctx, analysis, stop=stop))
        try:
            self._video_frames(path, info, ctx, analysis, visual)
        except BaseException:
            if audio_job is not None:
                audio_job.cancel()
            raise
        if audio_job is not None:
            audio_job.join()  # re-raises what the audio thread raised
        elif info.has_audio:
            self._audio_track(path, info, ctx, analysis)
        else:
            analysis.mark_not_applicable("audio", "no audio track")

    def _video_frames(self, path: Path, info: MediaInfo, ctx: ScanContext, analysis: Analysis,
                      visual: bool) -> None:
        from ..media import iter_frames

        sampling = ctx.sampling
        if info.has_video and visual:
            frame_bytes = max(1, (info.width or 1920) * (info.height or 1080) * 3)
            depth = max(2, min(IMAGE_BATCH + 2, PREFETCH_BYTES // frame_bytes))
            frames = iter_frames(path, ctx.limits, fps=sampling.fps, keyframes_only=sampling.keyframes_only,
                                 deadline=ctx.deadline, sniffed=ctx.sniffed)
            analysis.add_frames(((f.t_s, f.image) for f in _prefetch(frames, depth)), period_s=1.0 / sampling.fps,
                                end_s=info.duration_s, expected=_expected_frames(info, sampling))
        elif not info.has_video:
            analysis.mark_not_applicable("image", "no video stream")
            analysis.mark_not_applicable("face", "no video stream")

    def _audio_track(self, path: Path, info: MediaInfo, ctx: ScanContext, analysis: Analysis,
                     stop: threading.Event | None = None) -> None:
        from ..media import iter_audio

        if not self.toolkit.ready("audio"):
            return
        sampling = ctx.sampling
        windows = iter_audio(path, ctx.limits, sample_rate=sampling.audio_sample_rate,
                             window_s=sampling.audio_window_s, hop_s=sampling.audio_hop_s, deadline=ctx.deadline,
                             sniffed=ctx.sniffed)
        expected = int(np.ceil((info.duration_s or 0) / sampling.audio_hop_s)) or None
        try:
            analysis.add_audio(windows, expected=expected, stop=stop)
        finally:
            close = getattr(windows, "close", None)
            if close is not None:
                close()


# ---------------------------------------------------------------------- helpers
def _prefetch(items: Iterator[Any], depth: int) -> Iterator[Any]:
    """Iterate ``items`` in a helper thread, keeping up to ``depth`` of them ready.

    The source iterator is advanced and closed only by the helper thread. Errors are re-raised here
    in order; when the consumer stops early (an exception or ``close()``) the helper is told to stop
    and closes the source (which stops the decoder process).
    """
    import queue

    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for x in items:
                if not put(("item", x)):
                    break
            else:
                put(("done", None))
        except BaseException as exc:  # handed to the consumer
            put(("error", exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=run, name="synthwatch-frame-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        worker.join()


class _Background:
    """Run ``fn(stop_event)`` in a daemon thread; :meth:`join` re-raises what it raised."""

    def __init__(self, fn: Callable[[threading.Event], None]) -> None:
        self._stop = threading.Event()
        self._exc: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name="synthwatch-audio-track", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[threading.Event], None]) -> None:
        try:
            fn(self._stop)
        except BaseException as exc:  # handed to the joining thread
            self._exc = exc

    def join(self) -> None:
        self._thread.join()
        if self._exc is not None:
            raise self._exc

    def cancel(self) -> None:
        """Ask the thread to stop at its next window and wait for it (its error, if any, is dropped:
        the caller is already raising)."""
        self._stop.set()
        self._thread.join()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _with(r: Report, **changes: Any) -> Report:
    import dataclasses

    return dataclasses.replace(r, **changes)


def _expected_frames(info: MediaInfo, sampling: Sampling) -> int | None:
    if not info.duration_s or sampling.keyframes_only:
        return None
    return max(1, int(np.ceil(info.duration_s * sampling.fps)))


_default_lock = threading.Lock()
_default: Scanner | None = None


def scan(source: Source, **kwargs: Any) -> Report:
    """Scan one item with a process-wide default :class:`Scanner` (created on first use).

    Keyword arguments go to :meth:`Scanner.scan` (``hook``, ``name``, ``limits``, ``sampling``).
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = Scanner()
    return _default.scan(source, **kwargs)


def iter_scan(scanner: Scanner, sources: Iterable[Source], hook: Hook | None = None) -> Iterator[Report]:
    for s in sources:
        yield scanner.scan(s, hook=hook)
