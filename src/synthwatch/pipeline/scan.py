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
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .. import __version__
from ..config import Limits, Sampling, Settings, get_settings
from ..detectors.base import Detector
from ..detectors.registry import Registry, default_registry
from ..errors import ModelError, ModelNotInstalled, SynthwatchError
from ..models.store import ModelStore
from ..types import (
    DetectorResult,
    DetectorStatus,
    FaceBox,
    FaceTrack,
    MediaInfo,
    MediaKind,
    Report,
    ReportError,
    Segment,
    Verdict,
    VerdictLabel,
)
from . import fusion

__all__ = ["Hook", "Scanner", "scan"]

log = logging.getLogger(__name__)

Hook = Callable[[str, dict[str, Any]], None]
Source = str | Path | bytes | bytearray | BinaryIO

#: windows whose Silero speech probability ratio is below this are skipped as silence
SPEECH_RATIO_MIN = 0.15
IMAGE_BATCH = 8
FACE_BATCH = 16
AUDIO_BATCH = 4
#: decoded video frames held ahead of the detectors (so decoding overlaps scoring), in bytes
PREFETCH_BYTES = 96 * 1024 * 1024
FACE_CROP = 256
THUMBNAILS = 6
THUMB_SIDE = 320


def _noop(step: str, info: dict[str, Any]) -> None:
    return None


@dataclass
class _Slot:
    """A detector the scanner will use, or why it cannot."""

    name: str
    detector: Detector | None
    missing_reason: str | None = None
    install_hint: str | None = None


@dataclass
class _Acc:
    """Evidence collected for one item while it is scanned."""

    segments: dict[str, list[Segment]] = field(default_factory=lambda: defaultdict(list))
    face_scores: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    face_boxes: dict[int, list[tuple[float, tuple[float, float, float, float], float]]] = field(default_factory=dict)
    face_box_scores: dict[int, list[dict[str, float]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    na: dict[str, str] = field(default_factory=dict)  # detector -> not-applicable reason
    variants: dict[str, str] = field(default_factory=dict)  # detector -> how it ran when not as for pictures
    n_frames: int = 0
    n_windows: int = 0
    n_speech_windows: int = 0


class Scanner:
    """Loads the chosen detectors once and scans many items. Thread-safe."""

    def __init__(self, settings: Settings | None = None, *, detectors: Iterable[str] | None = None,
                 store: ModelStore | None = None, face_detector: str = "centerface",
                 registry: Registry | None = None) -> None:
        self.settings = settings or get_settings()
        self.store = store or ModelStore(self.settings.model_dir)
        self.registry = registry or default_registry()
        # raises UnknownDetector early
        self._names = self.registry.resolve(detectors, self.settings.detectors)
        self._face_detector_name = face_detector
        self._lock = threading.Lock()
        self._slots: list[_Slot] | None = None
        self._face_detector: Any = None
        self._face_missing: str | None = None
        self._vad: Any = None
        self._vad_missing: str | None = None

    # ------------------------------------------------------------------ model loading
    @property
    def detector_names(self) -> list[str]:
        return list(self._names)

    def load(self) -> None:
        """Load every model now (otherwise it happens on the first scan)."""
        self._ensure_loaded()

    def _ensure_loaded(self) -> list[_Slot]:
        with self._lock:
            if self._slots is not None:
                return self._slots
            slots: list[_Slot] = []
            for name in self._names:
                det = self.registry.create(name)
                try:
                    det.load(self.store)
                    slots.append(_Slot(name, det))
                except ModelNotInstalled as exc:
                    slots.append(_Slot(name, None, f"model {det.info.model!r} is not installed",
                                       exc.hint or self.store.install_hint(det.info.model or name)))
                except ModelError as exc:
                    slots.append(_Slot(name, None, f"model could not be loaded: {exc}",
                                       self.store.install_hint(det.info.model or name)))
            needs_faces = any(s.detector is not None and s.detector.info.modality == "face" for s in slots)
            if needs_faces:
                from ..faces import create_face_detector

                try:
                    self._face_detector = create_face_detector(self._face_detector_name, self.store)
                except ModelError as exc:
                    self._face_missing = f"face detector {self._face_detector_name!r} unavailable: {exc}"
            needs_vad = any(s.detector is not None and s.detector.info.modality == "audio" for s in slots)
            if needs_vad:
                from ..detectors.audio.vad import SileroVAD

                try:
                    vad = SileroVAD(self.store)
                    vad.load()
                    self._vad = vad
                except ModelError as exc:
                    self._vad_missing = f"voice-activity model unavailable ({exc}); every window was scored"
            self._slots = slots
            return slots

    # ------------------------------------------------------------------ scanning
    def scan(self, source: Source, *, hook: Hook | None = None, name: str | None = None,
             limits: Limits | None = None, sampling: Sampling | None = None,
             declared_ai: bool = False) -> Report:
        """Scan one item. Media errors come back inside the Report (``report.error``); they are
        not raised, so a batch can go on. ``declared_ai``: the uploader declared the item
        AI-generated (an input to the labelling decision in ``report.provenance``).

        ``hook(step, info)`` reports progress; for a video the ``audio`` steps come from a second
        thread, interleaved with the ``frames`` steps, so a hook must be thread-safe."""
        from ..media import open_source, probe

        hook = hook or _noop
        limits = limits or self.settings.limits
        sampling = sampling or self.settings.sampling
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        display = name or (str(source) if isinstance(source, str | Path) else "<bytes>")
        info: MediaInfo | None = None
        try:
            with open_source(source, limits=limits, name=name) as src:
                display = src.name
                hook("probe", {"source": display})
                info = probe(src.path, limits)
                timings["probe"] = time.perf_counter() - t0
                slots = self._ensure_loaded()
                acc = _Acc()
                t1 = time.perf_counter()
                if info.kind == MediaKind.IMAGE:
                    self._scan_image(src.path, info, limits, slots, acc, hook)
                elif info.kind == MediaKind.AUDIO:
                    self._scan_audio(src.path, info, limits, sampling, slots, acc, hook)
                else:
                    self._scan_video(src.path, info, limits, sampling, slots, acc, hook)
                timings["analyse"] = time.perf_counter() - t1
                report = self._build_report(display, info, slots, acc)
                t2 = time.perf_counter()
                hook("provenance", {"source": display})
                report = _with(report, provenance=self._provenance(src.path, report, declared_ai))
                timings["provenance"] = time.perf_counter() - t2
        except SynthwatchError as exc:
            timings["total"] = time.perf_counter() - t0
            hook("done", {"source": display, "error": exc.code})
            return Report(source=display, media=info,
                          verdict=Verdict(VerdictLabel.NOT_APPLICABLE, None, None, f"scan failed: {exc.code}"),
                          error=ReportError(exc.code, str(exc)), timings_s=timings,
                          created_at=_now(), synthwatch_version=__version__)
        timings["total"] = time.perf_counter() - t0
        hook("done", {"source": display, "verdict": str(report.verdict.label)})
        return _with(report, timings_s=timings)

    def _provenance(self, path: Path, report: Report, declared_ai: bool) -> dict[str, Any]:
        """Labels, C2PA, IPTC, generator traces and watermarks, and the upload labelling decision."""
        from ..provenance import inspect

        try:
            return inspect(path, declared_ai=declared_ai, verdict=report.verdict, detectors=report.detectors,
                           trust_anchors=self.settings.c2pa_trust_anchors_pem())
        except (SynthwatchError, OSError) as exc:
            return {"error": {"code": getattr(exc, "code", "os_error"), "message": str(exc)}}

    # ---- image
    def _scan_image(self, path: Path, info: MediaInfo, limits: Limits, slots: list[_Slot], acc: _Acc,
                    hook: Hook) -> None:
        from ..media import load_image

        image = load_image(path, limits)
        acc.n_frames = 1
        self._frames_batch([(0.0, image)], slots, acc, hook, tracker=None, period=0.0, end_s=None, thumbs=True)
        self._mark_modality_na(slots, acc, "audio", "an image has no audio")

    # ---- audio
    def _scan_audio(self, path: Path, info: MediaInfo, limits: Limits, sampling: Sampling, slots: list[_Slot],
                    acc: _Acc, hook: Hook) -> None:
        self._audio_track(path, info, limits, sampling, slots, acc, hook)
        self._mark_modality_na(slots, acc, "image", "audio has no pictures")
        self._mark_modality_na(slots, acc, "face", "audio has no pictures")

    # ---- video
    def _scan_video(self, path: Path, info: MediaInfo, limits: Limits, sampling: Sampling, slots: list[_Slot],
                    acc: _Acc, hook: Hook) -> None:
        visual = [s for s in slots if s.detector is not None and s.detector.info.modality in ("image", "face")]
        voice = [s for s in slots if s.detector is not None and s.detector.info.modality == "audio"]
        # the audio track is analysed in a second thread while frames are: each side waits on its
        # own decoder process and the two sets of models leave each other idle cores
        audio_job: _Background | None = None
        if info.has_audio and voice and info.has_video and visual:
            audio_job = _Background(lambda stop: self._audio_track(path, info, limits, sampling, slots, acc, hook,
                                                                   stop=stop))
        try:
            self._video_frames(path, info, limits, sampling, slots, acc, hook, visual)
        except BaseException:
            if audio_job is not None:
                audio_job.cancel()
            raise
        if audio_job is not None:
            audio_job.join()  # re-raises what the audio thread raised
        elif info.has_audio:
            self._audio_track(path, info, limits, sampling, slots, acc, hook)
        else:
            self._mark_modality_na(slots, acc, "audio", "no audio track")

    def _video_frames(self, path: Path, info: MediaInfo, limits: Limits, sampling: Sampling, slots: list[_Slot],
                      acc: _Acc, hook: Hook, visual: list[_Slot]) -> None:
        from ..faces import FaceTracker
        from ..media import iter_frames

        if info.has_video and visual:
            total = _expected_frames(info, sampling)
            tracker = FaceTracker()
            period = 1.0 / sampling.fps
            batch: list[tuple[float, np.ndarray]] = []
            thumb_every = max(1, (total or THUMBNAILS) // THUMBNAILS)
            frame_bytes = max(1, (info.width or 1920) * (info.height or 1080) * 3)
            depth = max(2, min(IMAGE_BATCH + 2, PREFETCH_BYTES // frame_bytes))
            frames = iter_frames(path, limits, fps=sampling.fps, keyframes_only=sampling.keyframes_only)
            for frame in _prefetch(frames, depth):
                batch.append((frame.t_s, frame.image))
                acc.n_frames += 1
                if len(batch) >= IMAGE_BATCH:
                    self._frames_batch(batch, slots, acc, hook, tracker=tracker, period=period,
                                       end_s=info.duration_s, thumbs=thumb_every,
                                       first_index=acc.n_frames - len(batch),
                                       token_merging=sampling.frame_token_merging)
                    batch = []
                    hook("frames", {"done": acc.n_frames, "total": total})
            if batch:
                self._frames_batch(batch, slots, acc, hook, tracker=tracker, period=period,
                                   end_s=info.duration_s, thumbs=thumb_every, first_index=acc.n_frames - len(batch),
                                   token_merging=sampling.frame_token_merging)
            hook("frames", {"done": acc.n_frames, "total": acc.n_frames})
            if acc.n_frames == 0:
                acc.warnings.append("no video frames could be sampled")
        elif not info.has_video:
            self._mark_modality_na(slots, acc, "image", "no video stream")
            self._mark_modality_na(slots, acc, "face", "no video stream")

    # ------------------------------------------------------------------ evidence collection
    def _frames_batch(self, batch: list[tuple[float, np.ndarray]], slots: list[_Slot], acc: _Acc, hook: Hook, *,
                      tracker: Any, period: float, end_s: float | None, thumbs: bool | int,
                      first_index: int = 0, token_merging: int = 0) -> None:
        # a sampled frame stands for the span until the next sample (capped at the clip's end)
        spans = [(t, t if period <= 0 else min(t + period, end_s) if end_s else t + period) for t, _ in batch]
        for slot in slots:
            det = slot.detector
            if det is None or det.info.modality != "image":
                continue
            scores = det.detect_frames([img for _, img in batch], token_merging=token_merging)
            variant = det.frame_variant(token_merging)
            if variant:
                acc.variants[det.info.name] = variant
            for (s, e), sc in zip(spans, scores, strict=True):
                acc.segments[det.info.name].append(Segment(s, e, float(sc), det.info.name, "image"))
        face_slots = [s for s in slots if s.detector is not None and s.detector.info.modality == "face"]
        if face_slots and self._face_detector is None:
            for fs in face_slots:
                acc.na[fs.name] = self._face_missing or "no face detector"
        face_detector = self._face_detector if face_slots else None
        from ..faces import align_face

        crops: list[np.ndarray] = []
        owners: list[tuple[int, int]] = []  # (track id, index into that track's boxes)
        for idx, (t, img) in enumerate(batch):
            dets = face_detector.detect(img) if face_detector is not None else []
            assigned = tracker.update(t, dets) if tracker is not None else list(enumerate(dets, start=1))
            frame_faces = []
            for tid, d in assigned:
                box = tuple(float(v) for v in d.box)
                acc.face_boxes.setdefault(tid, []).append((t, box, float(d.score)))  # type: ignore[arg-type]
                acc.face_box_scores.setdefault(tid, []).append({})
                crops.append(align_face(img, d, size=FACE_CROP))
                owners.append((tid, len(acc.face_boxes[tid]) - 1))
                frame_faces.append({"track_id": tid, "box": box, "score": float(d.score)})
            want_thumb = thumbs is True or (isinstance(thumbs, int) and not isinstance(thumbs, bool)
                                            and (first_index + idx) % thumbs == 0)
            if want_thumb:
                hook("frame", {"t_s": t, "image": _thumbnail(img), "scale": THUMB_SIDE / max(img.shape[:2]),
                               "faces": frame_faces})
        if not crops:
            return
        for slot in face_slots:
            det = slot.detector
            assert det is not None
            scores = np.concatenate([det.detect(np.stack([det.preprocess(c) for c in crops[i:i + FACE_BATCH]]))
                                     for i in range(0, len(crops), FACE_BATCH)])
            for (tid, bi), sc in zip(owners, scores, strict=True):
                acc.face_box_scores[tid][bi][det.info.name] = float(sc)
                acc.face_scores.setdefault(tid, {}).setdefault(det.info.name, []).append(float(sc))

    def _audio_track(self, path: Path, info: MediaInfo, limits: Limits, sampling: Sampling, slots: list[_Slot],
                     acc: _Acc, hook: Hook, stop: threading.Event | None = None) -> None:
        from ..media import iter_audio

        voice = [s for s in slots if s.detector is not None and s.detector.info.modality == "audio"]
        if not voice:
            return
        if self._vad_missing:
            acc.warnings.append(self._vad_missing)
        total = int(np.ceil((info.duration_s or 0) / sampling.audio_hop_s)) or None
        pending: list[tuple[float, float, np.ndarray]] = []

        def flush() -> None:
            for slot in voice:
                det = slot.detector
                assert det is not None
                scores = det.detect(np.stack([det.preprocess(w) for _, _, w in pending]))
                for (s, e, _), sc in zip(pending, scores, strict=True):
                    acc.segments[det.info.name].append(Segment(s, e, float(sc), det.info.name, "audio"))
            pending.clear()

        for win in iter_audio(path, limits, sample_rate=sampling.audio_sample_rate,
                              window_s=sampling.audio_window_s, hop_s=sampling.audio_hop_s):
            if stop is not None and stop.is_set():
                return
            acc.n_windows += 1
            if self._vad is not None and self._vad.speech_ratio(win.samples) < SPEECH_RATIO_MIN:
                continue
            acc.n_speech_windows += 1
            pending.append((win.start_s, win.end_s, win.samples))
            if len(pending) >= AUDIO_BATCH:
                flush()
            hook("audio", {"done": acc.n_windows, "total": total})
        if pending:
            flush()
        hook("audio", {"done": acc.n_windows, "total": acc.n_windows})
        if acc.n_speech_windows == 0:
            reason = "no audio could be decoded" if acc.n_windows == 0 else "no speech found (voice activity detector)"
            for s in voice:
                acc.na[s.name] = reason

    def _mark_modality_na(self, slots: list[_Slot], acc: _Acc, modality: str, reason: str) -> None:
        for s in slots:
            if s.detector is not None and s.detector.info.modality == modality:
                acc.na.setdefault(s.name, reason)

    # ------------------------------------------------------------------ report
    def _build_report(self, source: str, info: MediaInfo | None, slots: list[_Slot], acc: _Acc) -> Report:
        tracks: list[FaceTrack] = []
        for tid in sorted(acc.face_boxes):
            boxes = tuple(FaceBox(t, box, conf, acc.face_box_scores[tid][i])
                          for i, (t, box, conf) in enumerate(acc.face_boxes[tid]))
            track_scores = {d: float(np.mean(v)) for d, v in acc.face_scores.get(tid, {}).items()}
            tracks.append(FaceTrack(tid, boxes, track_scores))
        results: list[DetectorResult] = []
        all_segments: list[Segment] = []
        for slot in slots:
            det = slot.detector
            cls_info = self.registry.detector_class(slot.name).info
            if det is None:
                results.append(DetectorResult(cls_info.name, cls_info.version, cls_info.modality,
                                              DetectorStatus.NOT_APPLICABLE, reason=slot.missing_reason,
                                              install_hint=slot.install_hint))
                continue
            thr = det.threshold
            if det.info.modality == "face":
                per_track = [t.scores[det.info.name] for t in tracks if det.info.name in t.scores]
                if not per_track:
                    reason = acc.na.get(slot.name) or ("no face found" if acc.n_frames else "no frames")
                    results.append(DetectorResult(det.info.name, det.info.version, "face",
                                                  DetectorStatus.NOT_APPLICABLE, threshold=thr, reason=reason))
                    continue
                score = float(max(per_track))
                n = sum(len(acc.face_scores[tid].get(det.info.name, [])) for tid in acc.face_scores)
                results.append(DetectorResult(det.info.name, det.info.version, "face", DetectorStatus.OK,
                                              score=score, threshold=thr,
                                              label=fusion.label_for(fusion.normalise(score, thr)), n_inputs=n))
                continue
            segs = acc.segments.get(det.info.name, [])
            if not segs:
                results.append(DetectorResult(det.info.name, det.info.version, det.info.modality,
                                              DetectorStatus.NOT_APPLICABLE, threshold=thr,
                                              reason=acc.na.get(slot.name, "nothing to score")))
                continue
            score = fusion.top_quarter_mean([s.score for s in segs])
            results.append(DetectorResult(det.info.name, det.info.version, det.info.modality, DetectorStatus.OK,
                                          score=score, threshold=thr,
                                          label=fusion.label_for(fusion.normalise(score, thr)),
                                          n_inputs=len(segs), segments=tuple(segs),
                                          variant=acc.variants.get(det.info.name)))
            all_segments.extend(segs)
        verdict = fusion.fuse(results)
        warnings = list(acc.warnings)
        if acc.n_windows and acc.n_speech_windows < acc.n_windows:
            warnings.append(f"{acc.n_windows - acc.n_speech_windows} of {acc.n_windows} audio windows "
                            "had no speech and were skipped")
        all_segments.sort(key=lambda s: (s.start_s, s.detector))
        return Report(source=source, media=info, verdict=verdict, detectors=tuple(results),
                      segments=tuple(all_segments), faces=tuple(tracks),
                      warnings=tuple(warnings), created_at=_now(), synthwatch_version=__version__)


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


def _thumbnail(img: np.ndarray) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    scale = THUMB_SIDE / max(h, w)
    if scale >= 1:
        return img.copy()
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


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
