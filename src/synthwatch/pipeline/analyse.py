"""The analysis core: decoded media in, detector evidence out. ``scan``, ``eval``, the live-room
monitor and the service's workers all score media through this module, so what ``eval`` measures
and calibrates is exactly what ``scan`` runs.

::

    kit = Toolkit(["sw-voice", "clip-probe", "meso4-df"], store=store)   # loads models once
    analysis = kit.analysis(hook=hook)                                   # one item
    analysis.add_frames(frames, period_s=1.0, end_s=duration)            # (t_s, RGB) pairs, streamed
    analysis.add_audio(windows)                                          # AudioWindow stream
    evidence = analysis.finish()                                         # results + fused verdict

What goes in (already decoded; no file I/O here):

* ``add_picture(image)``: a still image (one frame at t = 0, faces not tracked);
* ``add_frames(frames)``: sampled video frames, in time order: image detectors on each frame, faces
  detected, aligned and tracked across frames, face detectors on each aligned crop;
* ``add_face_crops(crops)``: faces that are already aligned crops (a data set of crops), one track;
* ``add_audio(windows)``: audio windows: voice-activity gating (Silero), then the voice detectors;
  :class:`AudioScorer` does the same per window for a live stream.

What comes out (:class:`Evidence`): one :class:`~synthwatch.types.DetectorResult` per detector with
its segments, the face tracks with per-box scores, warnings, and the verdict. Every rule that turns
segment scores into an item score and item scores into a verdict lives in :mod:`.fusion`.

A detector that fails on an input (:class:`~synthwatch.errors.DetectorError`) ends the analysis
with that error (``scan``: the item's report carries it and the batch goes on); with
``strict=False`` (``eval``) it is reported with status ``error`` and its reason instead, and the
other detectors go on without it.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..detectors.base import Detector, DetectorInfo
from ..detectors.registry import Registry, default_registry
from ..errors import DetectorError, ModelError, ModelNotInstalled, ScanTimeout
from ..media.items import AudioWindow
from ..models.store import ModelStore
from ..types import DetectorResult, DetectorStatus, FaceBox, FaceTrack, Segment, Verdict
from . import fusion

__all__ = ["Hook", "Slot", "Toolkit", "Analysis", "AudioScorer", "WindowScore", "Evidence", "SPEECH_RATIO_MIN",
           "IMAGE_BATCH", "FACE_BATCH", "AUDIO_BATCH", "FACE_CROP", "THUMBNAILS", "THUMB_SIDE", "no_hook", "windows_of"]

Hook = Callable[[str, dict[str, Any]], None]

#: windows whose Silero speech-chunk ratio is below this are skipped as silence
SPEECH_RATIO_MIN = 0.15
IMAGE_BATCH = 8
FACE_BATCH = 16
AUDIO_BATCH = 4
FACE_CROP = 256
THUMBNAILS = 6
THUMB_SIDE = 320


def no_hook(step: str, info: dict[str, Any]) -> None:
    return None


@dataclass
class Slot:
    """A detector the analysis uses, or why it cannot."""

    name: str
    info: DetectorInfo
    detector: Detector | None
    missing_reason: str | None = None
    install_hint: str | None = None

    @property
    def modality(self) -> str:
        return self.info.modality


class Toolkit:
    """The loaded detectors, face detector and voice-activity model that analysis needs.

    Built once (models load on first use, or on :meth:`load`) and shared between threads; each
    :meth:`analysis` call makes the per-item state. A detector whose model is missing becomes a
    slot with the reason and the install hint (reported ``not_applicable``), never an exception."""

    def __init__(self, names: Iterable[str] | None = None, *, store: ModelStore,
                 registry: Registry | None = None, face_detector: str = "centerface",
                 default_names: Iterable[str] | None = None) -> None:
        self.registry = registry or default_registry()
        self.store = store
        self.names = self.registry.resolve(names, default_names)  # UnknownDetector before any work
        self.face_detector_name = face_detector
        self._lock = threading.Lock()
        self._slots: list[Slot] | None = None
        self.face_detector: Any = None
        self.face_missing: str | None = None
        self.vad: Any = None
        self.vad_missing: str | None = None

    # ------------------------------------------------------------------ loading
    def load(self) -> list[Slot]:
        """Load every model now (idempotent); the slots, in the order the detectors were named."""
        with self._lock:
            if self._slots is not None:
                return self._slots
            slots: list[Slot] = []
            for name in self.names:
                det = self.registry.create(name)
                info = det.info
                try:
                    det.load(self.store)
                    slots.append(Slot(name, info, det))
                except ModelNotInstalled as exc:
                    slots.append(Slot(name, info, None, f"model {info.model!r} is not installed",
                                      exc.hint or self.store.install_hint(info.model or name)))
                except ModelError as exc:
                    slots.append(Slot(name, info, None, f"model could not be loaded: {exc}",
                                      self.store.install_hint(info.model or name)))
            if any(s.detector is not None and s.modality == "face" for s in slots):
                from ..faces import create_face_detector

                try:
                    self.face_detector = create_face_detector(self.face_detector_name, self.store)
                except ModelError as exc:
                    self.face_missing = f"face detector {self.face_detector_name!r} unavailable: {exc}"
            if any(s.detector is not None and s.modality == "audio" for s in slots):
                from ..detectors.audio.vad import SileroVAD

                try:
                    vad = SileroVAD(self.store)
                    vad.load()
                    self.vad = vad
                except ModelError as exc:
                    self.vad_missing = f"voice-activity model unavailable ({exc}); every window was scored"
            self._slots = slots
            return slots

    @property
    def slots(self) -> list[Slot]:
        return self.load()

    def ready(self, modality: str) -> list[Slot]:
        """The loaded detectors of ``modality``."""
        return [s for s in self.slots if s.detector is not None and s.modality == modality]

    def analysis(self, *, hook: Hook | None = None, token_merging: int = 0, strict: bool = True,
                 deadline: float | None = None) -> Analysis:
        """The state for analysing one item. ``token_merging``: how image detectors that can trade
        exactness for speed score *video frames* (see ``Sampling.frame_token_merging``); ``strict``:
        a detector error ends the analysis (else that detector is reported failed); ``deadline`` (a
        :func:`time.monotonic` value): past it, the next batch raises
        :class:`~synthwatch.errors.ScanTimeout`."""
        return Analysis(self, hook or no_hook, token_merging, strict, deadline)

    def audio_scorer(self, *, vad: bool = True) -> AudioScorer:
        """Per-window voice scoring for a live stream (the same gating and detectors as files)."""
        return AudioScorer(self, vad=vad)


# ---------------------------------------------------------------------------------------- evidence
@dataclass(frozen=True)
class Evidence:
    """What the analysis of one item concluded (see the module doc)."""

    detectors: tuple[DetectorResult, ...]
    segments: tuple[Segment, ...]
    faces: tuple[FaceTrack, ...]
    warnings: tuple[str, ...]
    verdict: Verdict
    #: seconds each detector spent in preprocessing and inference (speed figures of ``eval``)
    compute_s: dict[str, float] = field(default_factory=dict)
    #: inputs each detector scored (windows, frames, face crops)
    n_inputs: dict[str, int] = field(default_factory=dict)
    n_frames: int = 0
    n_windows: int = 0
    n_speech_windows: int = 0

    def result(self, name: str) -> DetectorResult | None:
        return next((d for d in self.detectors if d.name == name), None)


class _Timing:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)
        self.inputs: dict[str, int] = defaultdict(int)

    def add(self, name: str, seconds: float, n: int) -> None:
        with self._lock:
            self.seconds[name] += seconds
            self.inputs[name] += n


def _run(slot: Slot, fn: Callable[[], np.ndarray], n: int, timing: _Timing) -> np.ndarray:
    """Call a detector; check it returned ``n`` finite scores (else :class:`DetectorError`)."""
    t0 = time.perf_counter()
    try:
        raw = fn()
    finally:
        timing.add(slot.name, time.perf_counter() - t0, 0)
    scores = np.asarray(raw, dtype=np.float64).reshape(-1)
    if scores.shape != (n,) or not np.all(np.isfinite(scores)):
        raise DetectorError(f"{slot.name} returned {scores.size} scores (finite: {bool(np.all(np.isfinite(scores)))}) "
                            f"for {n} inputs")
    timing.add(slot.name, 0.0, n)
    return np.clip(scores, 0.0, 1.0)


def _score_items(slot: Slot, items: Sequence[np.ndarray], timing: _Timing) -> np.ndarray:
    det = slot.detector
    assert det is not None
    return _run(slot, lambda: det.detect(np.stack([det.preprocess(x) for x in items])), len(items), timing)


# ---------------------------------------------------------------------------------------- audio
@dataclass(frozen=True)
class WindowScore:
    """One audio window: whether it held speech and, if so, each voice detector's score."""

    start_s: float
    end_s: float
    speech: bool
    speech_ratio: float | None  # None: no voice-activity model (every window scored)
    scores: dict[str, float]  # detector -> score (empty when not speech or the detector failed)
    errors: dict[str, str] = field(default_factory=dict)  # detector -> error message


class AudioScorer:
    """Voice-activity gating and voice detectors on batches of windows (thread-safe per instance
    only when each thread has its own scorer). A window without audible sound (``AudioWindow.silent``,
    from the peak the decoder measured) is not speech and costs nothing: a long file of digital
    silence is cheap to scan whatever duration it claims."""

    def __init__(self, kit: Toolkit, *, vad: bool = True) -> None:
        self.kit = kit
        self.slots = kit.ready("audio")
        self.use_vad = vad and kit.vad is not None
        self.timing = _Timing()
        self.failed: dict[str, DetectorError] = {}  # detector -> its first error (it is not called again)

    def score(self, windows: Sequence[AudioWindow]) -> list[WindowScore]:
        """Gate and score ``windows`` (any number, of one stream or of many; batched for the models):
        one result per window, in the order given."""
        windows = list(windows)
        ratios: list[float | None] = [0.0] * len(windows)  # silent: no audible sound, no model sees it
        audible = [i for i, w in enumerate(windows) if not w.silent]
        if audible and self.use_vad:
            # the voice-activity model sees the audible windows together (one batch per window
            # length; the same ratios as one window at a time)
            measured = self.kit.vad.speech_ratios([windows[i].samples for i in audible])
            for i, r in zip(audible, measured, strict=True):
                ratios[i] = float(r)
        else:
            for i in audible:
                ratios[i] = None
        speech = [i for i in audible if ratios[i] is None or ratios[i] >= SPEECH_RATIO_MIN]  # type: ignore[operator]
        per_det: dict[str, np.ndarray] = {}
        errors: dict[str, str] = {}
        for slot in self.slots:
            if slot.name in self.failed or not speech:
                continue
            try:
                per_det[slot.name] = np.concatenate([
                    _score_items(slot, [windows[i].samples for i in speech[k:k + AUDIO_BATCH]], self.timing)
                    for k in range(0, len(speech), AUDIO_BATCH)])
            except DetectorError as exc:
                self.failed[slot.name] = exc
                errors[slot.name] = str(exc)
        position = {i: k for k, i in enumerate(speech)}
        out: list[WindowScore] = []
        for i, w in enumerate(windows):
            k = position.get(i)
            if k is None:
                out.append(WindowScore(w.start_s, w.end_s, False, ratios[i], {}))
            else:
                out.append(WindowScore(w.start_s, w.end_s, True, ratios[i],
                                       {n: float(sc[k]) for n, sc in per_det.items()}, dict(errors)))
        return out


# ---------------------------------------------------------------------------------------- one item
class Analysis:
    """The evidence of one item, fed with decoded media (see the module doc). Pictures and audio
    may be fed from two threads at once (a video's frames and its soundtrack)."""

    def __init__(self, kit: Toolkit, hook: Hook, token_merging: int = 0, strict: bool = True,
                 deadline: float | None = None) -> None:
        self.kit = kit
        self.hook = hook
        self.token_merging = token_merging
        self.strict = strict
        self.deadline = deadline
        self.slots = kit.slots
        self.timing = _Timing()
        self._lock = threading.Lock()
        self.segments: dict[str, list[Segment]] = defaultdict(list)
        self.face_boxes: dict[int, list[tuple[float, tuple[float, float, float, float], float]]] = {}
        self.face_box_scores: dict[int, list[dict[str, float]]] = {}
        self.warnings: list[str] = []
        self.na: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.variants: dict[str, str] = {}
        self.n_frames = 0
        self.n_windows = 0
        self.n_speech_windows = 0
        self._tracker: Any = None
        self._next_track = 1

    # ------------------------------------------------------------------ bookkeeping
    def mark_not_applicable(self, modality: str, reason: str) -> None:
        """Every detector of ``modality`` does not apply, for ``reason`` (the first reason wins)."""
        with self._lock:
            for s in self.slots:
                if s.detector is not None and s.modality == modality:
                    self.na.setdefault(s.name, reason)

    def warn(self, text: str) -> None:
        with self._lock:
            if text not in self.warnings:
                self.warnings.append(text)

    def _fail(self, slot: Slot, exc: DetectorError) -> None:
        if self.strict:
            raise exc
        with self._lock:
            self.errors.setdefault(slot.name, str(exc))

    def _in_time(self, what: str) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise ScanTimeout(f"the scan ran past its time limit while {what}")

    def _live(self, modality: str) -> list[Slot]:
        return [s for s in self.kit.ready(modality) if s.name not in self.errors]

    # ------------------------------------------------------------------ pictures
    def add_picture(self, image: np.ndarray, *, aligned_face: bool = False) -> None:
        """A still image: image detectors on the whole picture; faces found, aligned and scored.
        ``aligned_face``: the picture *is* an aligned face crop (a data set of crops): the face
        detectors score it whole instead of looking for faces in it."""
        self.n_frames += 1
        self._frames_batch([(0.0, image)], period_s=0.0, end_s=None, thumbs=True, first_index=0, exact=True,
                           track=False, find_faces=not aligned_face)
        if aligned_face:
            self.add_face_crops([(0.0, image)])

    def add_frames(self, frames: Iterable[tuple[float, np.ndarray]], *, period_s: float, end_s: float | None,
                   expected: int | None = None) -> None:
        """Sampled video frames ``(t_s, uint8 RGB)`` in time order, streamed in batches. A frame
        stands for the span until the next sample (``period_s``, capped at ``end_s``)."""
        thumb_every = max(1, (expected or THUMBNAILS) // THUMBNAILS)
        batch: list[tuple[float, np.ndarray]] = []
        for t, img in frames:
            batch.append((float(t), img))
            self.n_frames += 1
            if len(batch) >= IMAGE_BATCH:
                self._frames_batch(batch, period_s=period_s, end_s=end_s, thumbs=thumb_every,
                                   first_index=self.n_frames - len(batch), exact=False, track=True)
                batch = []
                self.hook("frames", {"done": self.n_frames, "total": expected})
        if batch:
            self._frames_batch(batch, period_s=period_s, end_s=end_s, thumbs=thumb_every,
                               first_index=self.n_frames - len(batch), exact=False, track=True)
        self.hook("frames", {"done": self.n_frames, "total": self.n_frames})
        if self.n_frames == 0:
            self.warn("no video frames could be sampled")

    def add_face_crops(self, crops: Sequence[tuple[float, np.ndarray]]) -> None:
        """Faces that are already aligned crops ``(t_s, uint8 RGB)``: one track, scored by the face
        detectors (no face detection). For data sets of aligned crops."""
        if not crops:
            return
        tid = self._new_track_id()
        owners: list[tuple[int, int]] = []
        with self._lock:
            for t, crop in crops:
                h, w = crop.shape[:2]
                self.face_boxes.setdefault(tid, []).append((float(t), (0.0, 0.0, float(w), float(h)), 1.0))
                self.face_box_scores.setdefault(tid, []).append({})
                owners.append((tid, len(self.face_boxes[tid]) - 1))
        self._score_faces([c for _, c in crops], owners)

    def _new_track_id(self) -> int:
        with self._lock:
            tid = self._next_track
            self._next_track += 1
            return tid

    def _frames_batch(self, batch: list[tuple[float, np.ndarray]], *, period_s: float, end_s: float | None,
                      thumbs: bool | int, first_index: int, exact: bool, track: bool,
                      find_faces: bool = True) -> None:
        self._in_time("analysing pictures")
        spans = [(t, t if period_s <= 0 else min(t + period_s, end_s) if end_s else t + period_s) for t, _ in batch]
        for slot in self._live("image"):
            det = slot.detector
            assert det is not None
            if not exact and det.info.frames:  # a pictures-only detector on video frames (DetectorInfo.frames)
                with self._lock:
                    self.na.setdefault(slot.name, det.info.frames)
                continue
            images = [img for _, img in batch]
            try:
                if exact:
                    scores = _score_items(slot, images, self.timing)
                else:
                    def frames(d: Detector = det, im: list[np.ndarray] = images) -> np.ndarray:
                        return d.detect_frames(im, token_merging=self.token_merging)

                    scores = _run(slot, frames, len(images), self.timing)
            except DetectorError as exc:
                self._fail(slot, exc)
                continue
            variant = None if exact else det.frame_variant(self.token_merging)
            with self._lock:
                if variant:
                    self.variants[slot.name] = variant
                self.segments[slot.name].extend(Segment(s, e, float(sc), slot.name, "image")
                                                for (s, e), sc in zip(spans, scores, strict=True))
        face_slots = self._live("face") if find_faces else []
        if face_slots and self.kit.face_detector is None:
            for fs in face_slots:
                self.na.setdefault(fs.name, self.kit.face_missing or "no face detector")
        face_detector = self.kit.face_detector if face_slots else None
        from ..faces import FaceTracker, align_face

        if track and self._tracker is None:
            self._tracker = FaceTracker()
        crops: list[np.ndarray] = []
        owners: list[tuple[int, int]] = []
        for idx, (t, img) in enumerate(batch):
            dets = face_detector.detect(img) if face_detector is not None else []
            assigned = self._tracker.update(t, dets) if track else [(self._new_track_id(), d) for d in dets]
            frame_faces = []
            with self._lock:
                for tid, d in assigned:
                    box = tuple(float(v) for v in d.box)
                    self.face_boxes.setdefault(tid, []).append((t, box, float(d.score)))  # type: ignore[arg-type]
                    self.face_box_scores.setdefault(tid, []).append({})
                    owners.append((tid, len(self.face_boxes[tid]) - 1))
                    frame_faces.append({"track_id": tid, "box": box, "score": float(d.score)})
            crops.extend(align_face(img, d, size=FACE_CROP) for _, d in assigned)
            want_thumb = thumbs is True or (isinstance(thumbs, int) and not isinstance(thumbs, bool)
                                            and (first_index + idx) % thumbs == 0)
            if want_thumb:
                self.hook("frame", {"t_s": t, "image": _thumbnail(img), "scale": THUMB_SIDE / max(img.shape[:2]),
                                    "faces": frame_faces})
        if crops:
            self._score_faces(crops, owners)

    def _score_faces(self, crops: list[np.ndarray], owners: list[tuple[int, int]]) -> None:
        for slot in self._live("face"):
            try:
                scores = np.concatenate([_score_items(slot, crops[i:i + FACE_BATCH], self.timing)
                                         for i in range(0, len(crops), FACE_BATCH)])
            except DetectorError as exc:
                self._fail(slot, exc)
                continue
            with self._lock:
                for (tid, bi), sc in zip(owners, scores, strict=True):
                    self.face_box_scores[tid][bi][slot.name] = float(sc)

    # ------------------------------------------------------------------ audio
    def add_audio(self, windows: Iterable[AudioWindow], *, expected: int | None = None,
                  stop: threading.Event | None = None, vad: bool = True) -> None:
        """Audio windows (16 kHz mono) in time order, streamed. Windows without speech (Silero VAD)
        are skipped; ``vad=False`` scores every window. ``stop`` ends the pass early."""
        voice = self._live("audio")
        if not voice:
            return
        if vad and self.kit.vad_missing:
            self.warn(self.kit.vad_missing)
        scorer = AudioScorer(self.kit, vad=vad)
        scorer.slots = voice
        scorer.timing = self.timing
        pending: list[AudioWindow] = []

        def flush() -> None:
            self._in_time("analysing audio")
            for ws in scorer.score(pending):
                if ws.speech:
                    self.n_speech_windows += 1
                for name, sc in ws.scores.items():
                    with self._lock:
                        self.segments[name].append(Segment(ws.start_s, ws.end_s, sc, name, "audio"))
            for name, exc in scorer.failed.items():
                self._fail(next(s for s in voice if s.name == name), exc)
            pending.clear()

        for win in windows:
            if stop is not None and stop.is_set():
                return
            self.n_windows += 1
            pending.append(win)
            if len(pending) >= AUDIO_BATCH:
                flush()
                self.hook("audio", {"done": self.n_windows, "total": expected})
        if pending:
            flush()
        self.hook("audio", {"done": self.n_windows, "total": self.n_windows})
        if self.n_speech_windows == 0:
            reason = "no audio could be decoded" if self.n_windows == 0 else "no speech found (voice activity detector)"
            for s in voice:
                self.na.setdefault(s.name, reason)

    def add_window_scores(self, scored: Iterable[WindowScore]) -> None:
        """Audio windows that an :class:`AudioScorer` already gated and scored (a live stream's
        windows, told again as the evidence of one item): recorded exactly as :meth:`add_audio`
        records the windows it scores, without running any model again."""
        voice = {s.name for s in self._live("audio")}
        for ws in scored:
            self.n_windows += 1
            if ws.speech:
                self.n_speech_windows += 1
            with self._lock:
                for name, sc in ws.scores.items():
                    if name in voice:
                        self.segments[name].append(Segment(ws.start_s, ws.end_s, sc, name, "audio"))
        if self.n_speech_windows == 0:
            for name in voice:
                self.na.setdefault(name, "no speech found (voice activity detector)")

    # ------------------------------------------------------------------ results
    def finish(self) -> Evidence:
        """Per-detector results, face tracks and the fused verdict (rules: :mod:`.fusion`)."""
        tracks: list[FaceTrack] = []
        for tid in sorted(self.face_boxes):
            per_box = self.face_box_scores[tid]
            boxes = tuple(FaceBox(t, box, conf, per_box[i]) for i, (t, box, conf) in enumerate(self.face_boxes[tid]))
            names = sorted({n for d in per_box for n in d})
            track_scores = {n: fusion.track_score([d[n] for d in per_box if n in d]) for n in names}
            tracks.append(FaceTrack(tid, boxes, track_scores))
        results: list[DetectorResult] = []
        all_segments: list[Segment] = []
        for slot in self.slots:
            det = slot.detector
            if det is None:
                results.append(DetectorResult(slot.info.name, slot.info.version, slot.modality,
                                              DetectorStatus.NOT_APPLICABLE, reason=slot.missing_reason,
                                              install_hint=slot.install_hint))
                continue
            thr = det.threshold
            decides = det.decides_verdict
            if slot.name in self.errors:
                results.append(DetectorResult(det.info.name, det.info.version, slot.modality, DetectorStatus.ERROR,
                                              threshold=thr, reason=f"detector failed: {self.errors[slot.name]}",
                                              decides_verdict=decides))
                continue
            if slot.modality == "face":
                per_track = [t.scores[slot.name] for t in tracks if slot.name in t.scores]
                if not per_track:
                    reason = self.na.get(slot.name) or ("no face found" if self.n_frames else "no frames")
                    results.append(DetectorResult(det.info.name, det.info.version, "face",
                                                  DetectorStatus.NOT_APPLICABLE, threshold=thr, reason=reason,
                                                  decides_verdict=decides))
                    continue
                score = fusion.face_detector_score(per_track)
                n = sum(1 for t in tracks for b in t.boxes if slot.name in b.scores)
                results.append(DetectorResult(det.info.name, det.info.version, "face", DetectorStatus.OK,
                                              score=score, threshold=thr,
                                              label=fusion.label_for(fusion.normalise(score, thr)), n_inputs=n,
                                              decides_verdict=decides))
                continue
            segs = sorted(self.segments.get(slot.name, []), key=lambda s: s.start_s)
            if not segs:
                results.append(DetectorResult(det.info.name, det.info.version, slot.modality,
                                              DetectorStatus.NOT_APPLICABLE, threshold=thr,
                                              reason=self.na.get(slot.name, "nothing to score"),
                                              decides_verdict=decides))
                continue
            score = fusion.item_score([s.score for s in segs])
            results.append(DetectorResult(det.info.name, det.info.version, slot.modality, DetectorStatus.OK,
                                          score=score, threshold=thr,
                                          label=fusion.label_for(fusion.normalise(score, thr)),
                                          n_inputs=len(segs), segments=tuple(segs),
                                          variant=self.variants.get(slot.name), decides_verdict=decides))
            all_segments.extend(segs)
        verdict = fusion.fuse(results)
        warnings = list(self.warnings)
        if self.n_windows and self.n_speech_windows < self.n_windows:
            warnings.append(f"{self.n_windows - self.n_speech_windows} of {self.n_windows} audio windows "
                            "had no speech and were skipped")
        for name, msg in self.errors.items():
            warnings.append(f"detector {name} failed and took no part in the verdict: {msg}")
        all_segments.sort(key=lambda s: (s.start_s, s.detector))
        return Evidence(tuple(results), tuple(all_segments), tuple(tracks), tuple(warnings), verdict,
                        dict(self.timing.seconds), dict(self.timing.inputs), self.n_frames, self.n_windows,
                        self.n_speech_windows)


def _thumbnail(img: np.ndarray) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    scale = THUMB_SIDE / max(h, w)
    if scale >= 1:
        return img.copy()
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def windows_of(samples: np.ndarray, *, sample_rate: int, window_s: float, hop_s: float,
               min_last_s: float = 0.5) -> Iterator[AudioWindow]:
    """Cut a decoded waveform into exactly the windows the media layer streams from a file
    (:func:`synthwatch.media.iter_audio`): one every ``hop_s`` lasting ``window_s`` while a whole
    window fits, then the remainder when it lasts at least ``min_last_s`` and holds audio no earlier
    window covered."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    win = max(1, int(round(window_s * sample_rate)))
    hop = max(1, int(round(hop_s * sample_rate)))
    min_last = max(1, int(round(min_last_s * sample_rate)))
    total = x.size
    start = last_end = 0
    while start + win <= total:
        yield AudioWindow(start / sample_rate, (start + win) / sample_rate, x[start:start + win], sample_rate)
        last_end = start + win
        start += hop
    if total - start >= min_last and total > last_end:
        yield AudioWindow(start / sample_rate, total / sample_rate, x[start:total], sample_rate)
