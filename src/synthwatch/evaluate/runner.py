"""Run detectors over an evaluation set, under every condition, and compute the metrics.

What is scored, per detector modality and item kind (the kind comes from the file's bytes, via
:func:`synthwatch.media.sniff`, never from its name):

* ``audio`` detectors: audio files and the audio track of videos, decoded with
  :func:`synthwatch.media.read_audio` at 16 kHz mono. ``audio_windows="first"`` (default) gives the
  whole clip to the detector, whose ``preprocess`` takes its own first window (AASIST: the first
  64,600 samples, a shorter clip tiled: the upstream evaluation protocol, so the numbers compare
  with published ones). ``audio_windows="all"`` cuts consecutive windows of ``window_s`` (the last,
  shorter one kept when it holds at least 0.5 s) and averages their scores.
* ``image`` detectors: still images (:func:`synthwatch.media.load_image`) and sampled video frames.
* ``face`` detectors: with ``faces="detect"`` faces are found in each image / frame with the face
  detector (``centerface`` by default), aligned to 256 x 256 and scored; a picture's score is the
  highest over its (at most 4 most confident) faces, and a picture without a face is not scored. With
  ``faces="aligned"`` the inputs are already aligned face crops and are scored whole.
* Videos: frames are sampled at ``fps`` (:func:`synthwatch.media.iter_frames`), at most
  ``max_frames`` spread over the whole duration; the item's score aggregates the frame scores
  (``frame_agg``, default the mean).

Groups: after item scores, items sharing an explicit ``group`` id (from the dataset, never from
file names) are aggregated (``group_agg``) into group-level metrics, reported beside the item-level
ones whenever some group holds more than one item.

Perturbations (:mod:`synthwatch.evaluate.perturb`) are applied on the fly to the decoded media;
a condition that does not apply to a stream (an audio codec on pictures) is skipped for it.

Calibration: with ``calibrate_on=SPLIT``, items of that split are scored (clean condition) only to
fit each detector's threshold (``calibrate_method``: ``eer`` or ``fpr:0.01``); every metric is
reported on the other items. Without it, metrics are reported on all items at the card threshold.

Speed is measured in the same run: the time spent in each detector's ``preprocess`` + ``detect``
on the clean condition gives items/s and the real-time factor (seconds of compute per second of
media scored; for ``audio_windows="first"`` the media scored is ``min(duration, detector window)``).
Decoding time is shared between detectors and reported separately.

Failures (a file that does not decode, a detector that refuses an input) are recorded per item,
detector and condition with the error code and message, counted and listed; nothing is dropped
silently.
"""

from __future__ import annotations

import logging
import math
import os
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._hashing import sha256_file
from ..config import FRAME_TOKEN_MERGING, Limits
from ..detectors import registry
from ..detectors.base import Detector
from ..errors import ConfigError, DetectorError, MediaError, ModelError, ModelNotInstalled
from ..models.store import ModelStore
from . import metrics as M
from .data import Dataset, EvalItem
from .perturb import CLEAN, Condition, reencode_h264, rng_for

__all__ = ["EvalConfig", "ItemScore", "EvalRun", "run_eval", "load_asv_scores", "RESULTS_SCHEMA", "Hook"]

log = logging.getLogger(__name__)

RESULTS_SCHEMA = "synthwatch.eval/1"
FACE_CROP = 256
MAX_FACES = 4
MIN_LAST_WINDOW_S = 0.5
MAX_LISTED_FAILURES = 200

Hook = Callable[[str, dict[str, Any]], None]


def _noop(step: str, info: dict[str, Any]) -> None:
    return None


@dataclass
class EvalConfig:
    """How a run scores and reports (see the module docstring)."""

    detectors: list[str]
    conditions: list[Condition] = field(default_factory=lambda: [CLEAN])
    calibrate_on: str | None = None
    calibrate_method: str = "eer"
    splits: tuple[str, ...] | None = None  # report only items of these splits (None: every split)
    audio_windows: str = "first"  # first | all
    window_s: float = 4.0
    sample_rate: int = 16_000
    fps: float = 1.0
    max_frames: int | None = 32
    frame_agg: str = "mean"
    group_agg: str = "mean"
    #: video frames are scored as ``synthwatch scan`` scores them: detectors that support it
    #: (clip-probe) merge this many token pairs per block on frames; 0 = exactly like pictures
    frame_token_merging: int = FRAME_TOKEN_MERGING
    faces: str = "detect"  # detect | aligned
    face_detector: str = "centerface"
    batch_size: int = 16
    n_boot: int = 1000
    breakdown_boot: int | None = None  # replicates for per-family/source intervals (None: n_boot)
    dedupe: bool = True  # drop repeated files (same sha256); a file under both labels is dropped entirely
    seed: int = 0
    limit: int | None = None
    asv_error_rates: tuple[float, float, float] | None = None  # (Pfa, Pmiss, Pmiss_spoof) for min t-DCF
    asv_scores_file: str | None = None
    limits: Limits = field(default_factory=Limits)

    def validate(self) -> None:
        if not self.detectors:
            raise ConfigError("name at least one detector")
        if self.audio_windows not in ("first", "all"):
            raise ConfigError("audio windows must be 'first' or 'all'")
        if self.faces not in ("detect", "aligned"):
            raise ConfigError("faces must be 'detect' or 'aligned'")
        for what, how in (("frame", self.frame_agg), ("group", self.group_agg)):
            if how not in M.AGGREGATIONS:
                raise ConfigError(f"{what} aggregation {how!r}: use one of {', '.join(M.AGGREGATIONS)}")
        if self.breakdown_boot is not None and self.breakdown_boot < 0:
            raise ConfigError("bootstrap count >= 0")
        if not (self.fps > 0 and self.window_s > 0 and self.batch_size >= 1 and self.n_boot >= 0):
            raise ConfigError("fps, window length and batch size must be positive, bootstrap count >= 0")
        if self.max_frames is not None and self.max_frames < 1:
            raise ConfigError("max frames must be at least 1")
        if self.limit is not None and self.limit < 2:
            raise ConfigError("limit must be at least 2")
        if not self.conditions or not self.conditions[0].clean:
            raise ConfigError("the clean condition comes first")
        if self.calibrate_on is not None:
            M.parse_method(self.calibrate_method)
            if self.splits is not None and self.calibrate_on in self.splits:
                raise ConfigError(f"split {self.calibrate_on!r} cannot be both calibrated on and reported")

    @property
    def n_breakdown_boot(self) -> int:
        return self.n_boot if self.breakdown_boot is None else self.breakdown_boot

    def to_dict(self) -> dict[str, Any]:
        return {
            "detectors": list(self.detectors),
            "conditions": [c.name for c in self.conditions],
            "calibrate_on": self.calibrate_on,
            "calibrate_method": self.calibrate_method if self.calibrate_on else None,
            "splits": list(self.splits) if self.splits is not None else None,
            "audio_windows": self.audio_windows,
            "window_s": self.window_s,
            "sample_rate": self.sample_rate,
            "fps": self.fps,
            "max_frames": self.max_frames,
            "frame_agg": self.frame_agg,
            "group_agg": self.group_agg,
            "faces": self.faces,
            "face_detector": self.face_detector,
            "batch_size": self.batch_size,
            "bootstrap": self.n_boot,
            "breakdown_bootstrap": self.n_breakdown_boot,
            "dedupe": self.dedupe,
            "seed": self.seed,
            "limit": self.limit,
            "asv_scores": self.asv_scores_file,
        }


@dataclass(frozen=True)
class ItemScore:
    """One detector's result on one item under one condition."""

    item: EvalItem
    detector: str
    condition: str
    score: float | None
    status: str  # ok | failed | not_applicable
    reason: str = ""
    code: str = ""
    n_inputs: int = 0

    def row(self) -> dict[str, Any]:
        it = self.item
        return {"id": it.id, "path": str(it.path), "label": it.label, "group": it.group, "family": it.family,
                "source": it.source, "split": it.split, "detector": self.detector, "condition": self.condition,
                "score": "" if self.score is None else repr(float(self.score)), "status": self.status,
                "code": self.code, "reason": self.reason, "n_inputs": self.n_inputs}


@dataclass
class EvalRun:
    """Everything a run produced: the results document and the per-item scores."""

    results: dict[str, Any]
    scores: list[ItemScore]


def load_asv_scores(path: str | Path) -> tuple[float, float, float]:
    """ASV error rates ``(Pfa, Pmiss, Pmiss_spoof)`` at the ASV EER threshold from an ASVspoof 2019
    ASV score file (``ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt``: lines
    ``SOURCE KEY SCORE`` with KEY ``target`` / ``nontarget`` / ``spoof``)."""
    p = Path(path)
    tar: list[float] = []
    non: list[float] = []
    spf: list[float] = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read ASV scores {p}: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 3:
            raise ConfigError(f"{p} line {n}: expected 'SOURCE KEY SCORE'")
        key = parts[-2]
        try:
            val = float(parts[-1])
        except ValueError as exc:
            raise ConfigError(f"{p} line {n}: {parts[-1]!r} is not a score") from exc
        if key == "target":
            tar.append(val)
        elif key == "nontarget":
            non.append(val)
        elif key == "spoof":
            spf.append(val)
        else:
            raise ConfigError(f"{p} line {n}: key {key!r} is not target, nontarget or spoof")
    return M.asv_error_rates(tar, non, spf)


# ---------------------------------------------------------------------------------------- slots
@dataclass
class _Slot:
    name: str
    detector: Detector | None
    modality: str
    version: str
    model: str | None
    status: str = "ok"
    reason: str = ""
    install_hint: str = ""
    threshold: float = 0.5
    threshold_source: str = ""
    # timing (per condition name)
    infer_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    n_inputs: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _load_slots(names: list[str], store: ModelStore) -> list[_Slot]:
    slots = []
    seen = set()
    for name in names:
        cls = registry.detector_class(name)  # UnknownDetector -> usage error, before any work
        if cls.info.name in seen:
            continue
        seen.add(cls.info.name)
        det = cls()
        slot = _Slot(cls.info.name, det, cls.info.modality, cls.info.version, cls.info.model)
        try:
            det.load(store)
        except ModelNotInstalled as exc:
            slot.detector, slot.status = None, "unavailable"
            slot.reason = str(exc)
            slot.install_hint = exc.hint or store.install_hint(cls.info.model or name)
        except ModelError as exc:
            slot.detector, slot.status = None, "unavailable"
            slot.reason = f"model could not be loaded: {exc}"
            slot.install_hint = store.install_hint(cls.info.model or name)
        if slot.detector is not None:
            slot.threshold = float(slot.detector.threshold)
            card = slot.detector.card
            slot.threshold_source = card.threshold_source if card is not None else "no model card: default 0.5"
        slots.append(slot)
    return slots


# ---------------------------------------------------------------------------------------- scoring
Key = tuple[int, str]  # (item index, condition name)


class _Batcher:
    """Pools preprocessed inputs of one detector across items and conditions; scores in batches."""

    def __init__(self, slot: _Slot, batch_size: int) -> None:
        self.slot = slot
        self.batch_size = batch_size
        self.pending: list[tuple[Key, int, int, np.ndarray]] = []  # key, picture/window index, face index
        self.pending_frames: list[tuple[Key, int, int, np.ndarray]] = []  # raw video frames (detect_frames)
        self.token_merging = 0
        self.out: dict[Key, list[tuple[int, int, float]]] = defaultdict(list)
        self.errors: dict[Key, tuple[str, str]] = {}

    def submit_frame(self, key: Key, sub: int, raw: np.ndarray) -> None:
        """A raw video frame, scored the way the scanner scores frames (``detect_frames``)."""
        if key in self.errors:
            return
        self.pending_frames.append((key, sub, 0, raw))
        if len(self.pending_frames) >= self.batch_size:
            batch, self.pending_frames = self.pending_frames, []
            self._detect(batch, frames=True)

    def submit(self, key: Key, sub: int, face: int, raw: np.ndarray) -> None:
        det = self.slot.detector
        assert det is not None
        if key in self.errors:
            return
        t0 = time.perf_counter()
        try:
            x = det.preprocess(raw)
        except DetectorError as exc:
            self.errors[key] = (exc.code, str(exc))
            return
        finally:
            self.slot.infer_s[key[1]] += time.perf_counter() - t0
        self.pending.append((key, sub, face, x))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def _detect(self, batch: list[tuple[Key, int, int, np.ndarray]], frames: bool = False) -> None:
        det = self.slot.detector
        assert det is not None
        t0 = time.perf_counter()
        try:
            if frames:
                raw = det.detect_frames([b[3] for b in batch], token_merging=self.token_merging)
            else:
                raw = det.detect(np.stack([b[3] for b in batch]))
            scores = np.asarray(raw, dtype=np.float64)
            if scores.shape != (len(batch),) or not np.all(np.isfinite(scores)):
                raise DetectorError(f"{self.slot.name} returned scores of shape {scores.shape} "
                                    f"(finite: {bool(np.all(np.isfinite(scores)))}) for {len(batch)} inputs")
        except DetectorError as exc:
            dt = time.perf_counter() - t0
            for b in batch:
                self.slot.infer_s[b[0][1]] += dt / len(batch)
            if len(batch) == 1:
                self.errors[batch[0][0]] = (exc.code, str(exc))
                return
            for b in batch:  # isolate the input(s) the detector refuses
                self._detect([b], frames)
            return
        dt = time.perf_counter() - t0
        for b, s in zip(batch, scores, strict=True):
            self.slot.infer_s[b[0][1]] += dt / len(batch)
            self.slot.n_inputs[b[0][1]] += 1
            self.out[b[0]].append((b[1], b[2], float(s)))

    def flush(self) -> None:
        if self.pending:
            batch, self.pending = self.pending, []
            self._detect(batch)
        if self.pending_frames:
            batch, self.pending_frames = self.pending_frames, []
            self._detect(batch, frames=True)


@dataclass
class _ItemState:
    """What decoding found for one item (shared by the detectors)."""

    kind: str = ""  # image | audio | video
    error: tuple[str, str] | None = None  # the file could not be read at all
    stream_errors: dict[str, tuple[str, str]] = field(default_factory=dict)  # "frames" / "audio" -> (code, msg)
    na: dict[str, str] = field(default_factory=dict)  # "audio"/"frames"/"faces:<cond>" -> reason
    duration_s: float | None = None
    frames_scored: dict[str, int] = field(default_factory=dict)  # condition -> sampled frames
    audio_s: dict[str, float] = field(default_factory=dict)  # condition -> seconds of audio given


class _Scorer:
    def __init__(self, cfg: EvalConfig, slots: list[_Slot], store: ModelStore, tmp: Path, hook: Hook) -> None:
        self.cfg = cfg
        self.slots = [s for s in slots if s.detector is not None]
        self.batchers = {s.name: _Batcher(s, cfg.batch_size) for s in self.slots}
        for s in self.slots:  # frames as the scanner scores them, where the detector differs on frames
            if s.detector is not None and s.detector.frame_variant(cfg.frame_token_merging):
                self.batchers[s.name].token_merging = cfg.frame_token_merging
        self.tmp = tmp
        self.hook = hook
        self.decode_s: dict[str, float] = defaultdict(float)
        self.perturb_s = 0.0
        self.face_s = 0.0
        self.face_detector: Any = None
        self.face_missing = ""
        if cfg.faces == "detect" and any(s.modality == "face" for s in self.slots):
            from ..faces.detection import create_face_detector

            try:
                self.face_detector = create_face_detector(cfg.face_detector, store)
            except ModelError as exc:
                self.face_missing = f"face detector {cfg.face_detector!r} unavailable: {exc}"

    def _by_modality(self, modality: str) -> list[_Slot]:
        return [s for s in self.slots if s.modality == modality]

    # ---------------------------------------------------------------- pictures
    def _picture(self, key: Key, sub: int, img: np.ndarray, state: _ItemState, frame: bool = False) -> None:
        for slot in self._by_modality("image"):
            batcher = self.batchers[slot.name]
            if frame and batcher.token_merging > 0:
                batcher.submit_frame(key, sub, img)
            else:
                batcher.submit(key, sub, 0, img)
        faces = self._by_modality("face")
        if not faces:
            return
        if self.cfg.faces == "aligned":
            for slot in faces:
                self.batchers[slot.name].submit(key, sub, 0, img)
            return
        if self.face_detector is None:
            state.na[f"faces:{key[1]}"] = self.face_missing or "no face detector"
            return
        from ..faces.align import align_face

        t0 = time.perf_counter()
        dets = self.face_detector.detect(img)[:MAX_FACES]
        crops = [align_face(img, d, size=FACE_CROP) for d in dets]
        self.face_s += time.perf_counter() - t0
        for fi, crop in enumerate(crops):
            for slot in faces:
                self.batchers[slot.name].submit(key, sub, fi, crop)

    # ---------------------------------------------------------------- audio
    def _windows(self, x: np.ndarray) -> list[np.ndarray]:
        if self.cfg.audio_windows == "first":
            return [x]
        n = int(round(self.cfg.window_s * self.cfg.sample_rate))
        min_last = int(MIN_LAST_WINDOW_S * self.cfg.sample_rate)
        out = [x[i:i + n] for i in range(0, max(x.size - n, 0) + 1, n)]
        covered = len(out) * n
        if x.size - covered >= min_last and covered < x.size:
            out.append(x[covered:])
        return out or [x]

    def _audio(self, idx: int, item: EvalItem, x: np.ndarray, state: _ItemState,
               conditions: list[Condition]) -> None:
        voice = self._by_modality("audio")
        if not voice:
            return
        if x.size == 0:
            state.na["audio"] = "no audio track" if state.kind == "video" else "no audio could be decoded"
            return
        sr = self.cfg.sample_rate
        for cond in conditions:
            if not cond.applies_to("audio"):
                continue
            t0 = time.perf_counter()
            try:
                y = cond.apply_audio(x, sr, rng_for(self.cfg.seed, cond.name, item.id))
            except MediaError as exc:
                for slot in voice:
                    self.batchers[slot.name].errors[(idx, cond.name)] = (exc.code, str(exc))
                continue
            finally:
                self.perturb_s += time.perf_counter() - t0
            state.audio_s[cond.name] = y.size / sr
            for wi, w in enumerate(self._windows(y)):
                for slot in voice:
                    self.batchers[slot.name].submit((idx, cond.name), wi, 0, w)

    # ---------------------------------------------------------------- items
    def score_item(self, idx: int, item: EvalItem, conditions: list[Condition]) -> _ItemState:
        """Decode ``item`` once, perturb it per condition and submit its inputs to the detectors.
        A file that cannot be read fails for every detector; a video whose frames or audio track
        cannot be decoded fails only for the detectors of that stream."""
        from ..media import probe, sniff

        state = _ItemState()
        pictures = bool(self._by_modality("image") or self._by_modality("face"))
        voice = bool(self._by_modality("audio"))
        try:
            kind = sniff(item.path).kind.value
            state.kind = kind
            if kind == "image":
                state.na["audio"] = "an image has no audio"
                if pictures:
                    self._image(idx, item, state, conditions)
            elif kind == "audio":
                state.na["frames"] = "audio has no pictures"
                if voice:
                    self._audio_file(idx, item, state, conditions)
            else:
                info = probe(item.path, self.cfg.limits)
                state.duration_s = info.duration_s
                if not info.has_video:
                    state.na["frames"] = "no video stream"
                elif pictures:
                    try:
                        self._video_frames(idx, item, info, state, conditions)
                    except MediaError as exc:
                        state.stream_errors["frames"] = (exc.code, str(exc))
                if not info.has_audio:
                    state.na["audio"] = "no audio track"
                elif voice:
                    try:
                        self._audio_file(idx, item, state, conditions)
                    except MediaError as exc:
                        state.stream_errors["audio"] = (exc.code, str(exc))
        except MediaError as exc:
            state.error = (exc.code, str(exc))
        return state

    def _image(self, idx: int, item: EvalItem, state: _ItemState, conditions: list[Condition]) -> None:
        from ..media import load_image

        t0 = time.perf_counter()
        img = load_image(item.path, self.cfg.limits)
        self.decode_s["image"] += time.perf_counter() - t0
        for cond in conditions:
            if cond.applies_to("image"):
                t1 = time.perf_counter()
                pimg = cond.apply_picture(img)
                self.perturb_s += time.perf_counter() - t1
                self._picture((idx, cond.name), 0, pimg, state)

    def _audio_file(self, idx: int, item: EvalItem, state: _ItemState, conditions: list[Condition]) -> None:
        from ..media import read_audio

        t0 = time.perf_counter()
        x = read_audio(item.path, self.cfg.limits, sample_rate=self.cfg.sample_rate)
        self.decode_s[state.kind] += time.perf_counter() - t0
        if state.kind == "audio":
            state.duration_s = x.size / self.cfg.sample_rate
        self._audio(idx, item, x, state, conditions)

    def _sample_fps(self, info: Any) -> float:
        fps = self.cfg.fps
        if self.cfg.max_frames and info.duration_s and info.duration_s * fps > self.cfg.max_frames:
            fps = self.cfg.max_frames / info.duration_s  # spread max_frames over the whole video
        return fps

    def _video_frames(self, idx: int, item: EvalItem, info: Any, state: _ItemState,
                      conditions: list[Condition]) -> None:
        from ..media import iter_frames

        limits = self.cfg.limits
        fps = self._sample_fps(info)
        plain = [c for c in conditions if c.applies_to("frames") and not c.reencodes_video]
        encoded = [c for c in conditions if c.applies_to("frames") and c.reencodes_video]
        # one pass over the original for every condition without a re-encode
        t0 = time.perf_counter()
        n = 0
        frames = iter_frames(item.path, limits, fps=fps)
        try:
            for frame in frames:
                self.decode_s["video"] += time.perf_counter() - t0
                for cond in plain:
                    t1 = time.perf_counter()
                    img = cond.apply_picture(frame.image)
                    self.perturb_s += time.perf_counter() - t1
                    self._picture((idx, cond.name), n, img, state, frame=True)
                n += 1
                if self.cfg.max_frames and n >= self.cfg.max_frames:
                    break
                t0 = time.perf_counter()
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()
        for cond in plain:
            state.frames_scored[cond.name] = n
        for cond in encoded:
            self._reencoded(idx, item, info, cond, fps, state)

    def _reencoded(self, idx: int, item: EvalItem, info: Any, cond: Condition, fps: float,
                   state: _ItemState) -> None:
        from ..media import iter_frames

        before, op, after = cond.split_video()
        assert op is not None
        limits = self.cfg.limits
        native = float(info.fps or 25.0)
        dst = self.tmp / f"reencode-{idx}.mp4"
        t0 = time.perf_counter()
        try:
            reencode_h264((f.image for f in iter_frames(item.path, limits, fps=native)), native, dst,
                          int(op.value), before=before)
            self.perturb_s += time.perf_counter() - t0
            n = 0
            frames = iter_frames(dst, limits, fps=fps)
            try:
                for frame in frames:
                    img = cond.apply_picture(frame.image, ops=after)
                    self._picture((idx, cond.name), n, img, state, frame=True)
                    n += 1
                    if self.cfg.max_frames and n >= self.cfg.max_frames:
                        break
            finally:
                close = getattr(frames, "close", None)
                if close is not None:
                    close()
            state.frames_scored[cond.name] = n
        except MediaError as exc:
            for slot in self._by_modality("image") + self._by_modality("face"):
                self.batchers[slot.name].errors[(idx, cond.name)] = (exc.code, str(exc))
        finally:
            dst.unlink(missing_ok=True)

    def flush(self) -> None:
        for b in self.batchers.values():
            b.flush()


def _applicable_stream(modality: str, kind: str) -> str | None:
    """Which stream of an item of ``kind`` a detector of ``modality`` scores (None: none)."""
    if modality == "audio":
        return "audio" if kind in ("audio", "video") else None
    if kind == "image":
        return "image"
    if kind == "video":
        return "frames"
    return None


def _finish_item(slot: _Slot, batcher: _Batcher, idx: int, item: EvalItem, state: _ItemState,
                 cond: Condition, cfg: EvalConfig) -> ItemScore:
    name = slot.name

    def na(reason: str, code: str = "not_applicable") -> ItemScore:
        return ItemScore(item, name, cond.name, None, "not_applicable", reason, code)

    if state.error is not None:
        return ItemScore(item, name, cond.name, None, "failed", state.error[1], state.error[0])
    stream = _applicable_stream(slot.modality, state.kind)
    if stream is None:
        return na(f"{slot.modality} detectors do not apply to {state.kind or 'unknown'} items")
    if stream == "audio" and "audio" in state.na:
        return na(state.na["audio"])
    if stream != "audio" and "frames" in state.na:
        return na(state.na["frames"])
    if not cond.applies_to(stream):
        return na(f"condition {cond.name} does not apply to {stream}", "condition_not_applicable")
    err = state.stream_errors.get("audio" if stream == "audio" else "frames")
    if err is not None:
        return ItemScore(item, name, cond.name, None, "failed", err[1], err[0])
    key = (idx, cond.name)
    if key in batcher.errors:
        code, msg = batcher.errors[key]
        return ItemScore(item, name, cond.name, None, "failed", msg, code)
    got = batcher.out.get(key, [])
    if not got:
        if slot.modality == "face" and state.na.get(f"faces:{cond.name}"):
            return na(state.na[f"faces:{cond.name}"], "no_face_detector")
        if slot.modality == "face" and cfg.faces == "detect":
            return na("no face found", "no_face")
        return na("no frames could be sampled" if stream == "frames" else "nothing to score", "no_input")
    per_sub: dict[int, list[float]] = defaultdict(list)
    for sub, _face, s in got:
        per_sub[sub].append(s)
    # a picture's score: its best face (face detectors) or its only input; then aggregate
    sub_scores = [max(v) for _, v in sorted(per_sub.items())]
    if stream == "audio":
        score = float(np.mean(sub_scores))  # windows: mean (one window in "first" mode)
    elif stream == "frames":
        score = M.aggregate(sub_scores, cfg.frame_agg)
    else:
        score = sub_scores[0]
    return ItemScore(item, name, cond.name, score, "ok", n_inputs=len(got))


# ---------------------------------------------------------------------------------------- metrics
def _select(items: list[EvalItem], cfg: EvalConfig) -> list[EvalItem]:
    keep = [i for i in items if cfg.splits is None or i.split in cfg.splits or i.split == cfg.calibrate_on]
    if cfg.limit is not None and len(keep) > cfg.limit:
        rng = random.Random(cfg.seed)
        chosen: set[int] = set()
        n_fake = sum(i.label for i in keep)
        quota = {1: round(cfg.limit * n_fake / len(keep)), 0: 0}
        if 0 < n_fake < len(keep) and cfg.limit >= 2:  # keep both classes, or no metric is defined
            quota[1] = min(max(quota[1], 1), cfg.limit - 1)
        quota[0] = cfg.limit - quota[1]
        for label in (0, 1):
            idx = [k for k, i in enumerate(keep) if i.label == label]
            chosen.update(rng.sample(idx, min(quota[label], len(idx))))
        keep = [i for k, i in enumerate(keep) if k in chosen]
    return keep


def _dedupe(items: list[EvalItem]) -> tuple[list[EvalItem], dict[str, Any]]:
    """Drop repeated files by content hash, before scoring.

    The same recording often sits in several upstream sets (LJSpeech / VCTK ground truth in many
    vocoder demos): counted twice it narrows the intervals it should not, and a file that is both
    real and fake makes every metric wrong. Copies under one label: the first is kept. A file under
    both labels: every copy is dropped. Returns the kept items and the record for results.json.
    """
    by_hash: dict[str, list[int]] = {}
    for k, it in enumerate(items):
        try:
            digest = sha256_file(it.path)
        except OSError:
            continue  # unreadable: the scorer reports it
        by_hash.setdefault(digest, []).append(k)
    drop: set[int] = set()
    repeats: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    for digest, ks in by_hash.items():
        if len(ks) < 2:
            continue
        if len({items[k].label for k in ks}) > 1:
            drop.update(ks)
            conflicts.append({"sha256": digest, "dropped": [items[k].id for k in ks]})
        else:
            drop.update(ks[1:])
            repeats.append({"sha256": digest, "kept": items[ks[0]].id, "dropped": [items[k].id for k in ks[1:]]})
    kept = [it for k, it in enumerate(items) if k not in drop]
    record = {"n_duplicates_dropped": sum(len(r["dropped"]) for r in repeats),
              "n_conflicting_dropped": sum(len(c["dropped"]) for c in conflicts),
              "duplicates": repeats[:MAX_LISTED_FAILURES], "conflicting": conflicts[:MAX_LISTED_FAILURES]}
    return kept, record


def _flat(summary: dict[str, Any] | None) -> dict[str, float]:
    """The scalar metrics of a summary, flattened (``at_threshold.card.accuracy`` ...)."""
    out: dict[str, float] = {}
    if not summary:
        return out
    for k in ("auc", "eer", "ap", "ece", "min_dcf", "min_tdcf"):
        if isinstance(summary.get(k), dict):
            out[k] = summary[k]["value"]
    for t, d in (summary.get("tpr_at_fpr") or {}).items():
        out[f"tpr_at_fpr.{t}"] = d["value"]
    for name, d in (summary.get("at_threshold") or {}).items():
        for m in ("accuracy", "balanced_accuracy", "precision", "recall", "fpr"):
            out[f"at_threshold.{name}.{m}"] = d[m]
    return out


def _delta(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, float] | None:
    if not a or not b:
        return None
    fa, fb = _flat(a), _flat(b)
    return {k: fb[k] - fa[k] for k in fa if k in fb and _finite(fa[k]) and _finite(fb[k])}


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def _summary(y: np.ndarray, s: np.ndarray, thresholds: dict[str, float], cfg: EvalConfig, modality: str,
             n_boot: int) -> dict[str, Any] | None:
    if y.size == 0:
        return None
    dcf = M.ASVSPOOF5_DCF_COST_MODEL if modality == "audio" else None
    tdcf = cfg.asv_error_rates if modality == "audio" else None
    return M.summary(y, s, thresholds=thresholds, n_boot=n_boot, seed=cfg.seed, dcf=dcf, tdcf_asv=tdcf)


def _breakdown(rows: list[ItemScore], key: str, thresholds: dict[str, float], cfg: EvalConfig,
               modality: str) -> list[dict[str, Any]]:
    values = sorted({getattr(r.item, key) for r in rows if getattr(r.item, key)})
    if len(values) < 2:
        return []
    reals = [r for r in rows if r.item.label == 0]
    out = []
    for v in values:
        sub = [r for r in rows if getattr(r.item, key) == v]
        has_real = any(r.item.label == 0 for r in sub)
        has_fake = any(r.item.label == 1 for r in sub)
        if has_real and has_fake:
            basis, use = "subset", sub
        elif has_fake and reals:
            basis, use = "fakes_vs_all_reals", [r for r in sub] + reals
        elif has_fake:
            basis, use = "fakes_only", sub
        else:
            basis, use = "reals_only", sub
        y = np.array([r.item.label for r in use], np.int8)
        s = np.array([r.score for r in use], np.float64)
        entry: dict[str, Any] = {"value": v, "basis": basis,
                                 "n_real": int(sum(1 for r in sub if r.item.label == 0)),
                                 "n_fake": int(sum(1 for r in sub if r.item.label == 1))}
        if basis in ("subset", "fakes_vs_all_reals"):
            entry["metrics"] = _summary(y, s, thresholds, cfg, modality, cfg.n_breakdown_boot)
        else:
            ops = {n: M.at_threshold(y, s, t).to_dict() for n, t in thresholds.items()}
            entry["metrics"] = {"n_real": int(np.sum(y == 0)), "n_fake": int(np.sum(y == 1)), "at_threshold": ops,
                                "score_mean": float(s.mean())}
        out.append(entry)
    return out


def _condition_block(slot: _Slot, cond: Condition, rows: list[ItemScore], thresholds: dict[str, float],
                     cfg: EvalConfig) -> dict[str, Any]:
    ok = [r for r in rows if r.status == "ok"]
    failed = [r for r in rows if r.status == "failed"]
    na = [r for r in rows if r.status == "not_applicable"]
    y = np.array([r.item.label for r in ok], np.int8)
    s = np.array([r.score for r in ok], np.float64)
    block: dict[str, Any] = {
        "condition": cond.name,
        "ops": cond.to_dict()["ops"],
        "counts": {"items": len(rows), "scored": len(ok), "failed": len(failed),
                   "not_applicable": len(na), "real": int(np.sum(y == 0)), "fake": int(np.sum(y == 1))},
        "not_applicable_reasons": dict(sorted(_count(r.reason for r in na).items())),
        "item_level": _summary(y, s, thresholds, cfg, slot.modality, cfg.n_boot),
        "group_level": None,
        "breakdown": {},
    }
    if ok:
        groups = [r.item.group for r in ok]
        if len(set(groups)) < len(groups):
            ids, gy, gs, sizes = M.aggregate_groups(groups, y, s, cfg.group_agg)
            gl = _summary(gy, gs, thresholds, cfg, slot.modality, cfg.n_boot)
            if gl is not None:
                gl["n_groups"] = len(ids)
                gl["mean_items_per_group"] = float(np.mean(sizes))
                gl["aggregation"] = cfg.group_agg
            block["group_level"] = gl
        for key in ("family", "source", "split"):
            b = _breakdown(ok, key, thresholds, cfg, slot.modality)
            if b:
                block["breakdown"][key] = b
    return block


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[str(v)] += 1
    return dict(out)


def _media_seconds(slot: _Slot, states: dict[int, _ItemState], ok_rows: list[ItemScore], idx_of: dict[str, int],
                   cfg: EvalConfig) -> float | None:
    if slot.modality == "audio":
        total = 0.0
        spec = slot.detector.info.input_spec if slot.detector is not None else {}
        win = None
        if cfg.audio_windows == "first" and spec.get("samples") and spec.get("sample_rate"):
            win = float(spec["samples"]) / float(spec["sample_rate"])
        for r in ok_rows:
            dur = states[idx_of[r.item.id]].audio_s.get("clean", 0.0)
            total += min(dur, win) if win else dur
        return total
    # videos: the sampled frames are spread over the whole clip, which is what was analysed
    videos = [states[idx_of[r.item.id]] for r in ok_rows if states[idx_of[r.item.id]].kind == "video"]
    return sum(st.duration_s or 0.0 for st in videos) if videos else None


# ---------------------------------------------------------------------------------------- run
def run_eval(dataset: Dataset, cfg: EvalConfig, *, store: ModelStore, hook: Hook | None = None,
             command: str = "") -> EvalRun:
    """Score ``dataset`` with every detector of ``cfg`` under every condition and build the
    results document (schema :data:`RESULTS_SCHEMA`, documented in ``docs/eval-schema.md``)."""
    hook = hook or _noop
    cfg.validate()
    t_start = time.perf_counter()
    items = _select(dataset.items, cfg)
    dedupe_record: dict[str, Any] = {}
    if cfg.dedupe:
        items, dedupe_record = _dedupe(items)
        if dedupe_record["n_duplicates_dropped"] or dedupe_record["n_conflicting_dropped"]:
            hook("dedupe", dict(dedupe_record))
    if not items:
        raise ConfigError("no items to evaluate (check the SPEC and --split)")
    # checked before any scoring, so a bad manifest costs nothing (metrics.py checks again)
    group_labels: dict[str, set[int]] = {}
    for it in items:
        if it.group:
            group_labels.setdefault(str(it.group), set()).add(int(it.label))
    mixed = sorted(g for g, labs in group_labels.items() if len(labs) > 1)
    if mixed:
        raise ConfigError(f"{len(mixed)} group(s) mix real and fake items (a group must be all real or all "
                          f"fake), e.g. {', '.join(repr(g) for g in mixed[:3])}")
    if cfg.calibrate_on is not None:
        cal = [i for i in items if i.split == cfg.calibrate_on]
        if not cal:
            have = sorted({i.split for i in items})
            raise ConfigError(f"no item has split {cfg.calibrate_on!r} (splits present: {have})")
        if len({i.label for i in cal}) < 2:
            raise ConfigError(f"calibration split {cfg.calibrate_on!r} needs both real and fake items")
        if len(cal) == len(items):
            raise ConfigError(f"every item is in the calibration split {cfg.calibrate_on!r}; nothing is left to report")
    slots = _load_slots(cfg.detectors, store)
    hook("detectors", {"loaded": [s.name for s in slots if s.detector is not None],
                       "unavailable": [s.name for s in slots if s.detector is None]})
    states: dict[int, _ItemState] = {}
    with tempfile.TemporaryDirectory(prefix="synthwatch-eval-") as tmp:
        scorer = _Scorer(cfg, slots, store, Path(tmp), hook)
        if scorer.slots:
            for idx, item in enumerate(items):
                # calibration items are scored on the clean condition only
                st = _score_one(scorer, idx, item, cfg)
                states[idx] = st
                hook("item", {"done": idx + 1, "total": len(items), "id": item.id,
                              "error": st.error[0] if st.error else None})
            scorer.flush()
    wall_s = time.perf_counter() - t_start

    idx_of = {it.id: k for k, it in enumerate(items)}
    all_scores: list[ItemScore] = []
    det_blocks: list[dict[str, Any]] = []
    for slot in slots:
        block: dict[str, Any] = {
            "name": slot.name, "version": slot.version, "modality": slot.modality, "model": slot.model,
            "status": slot.status, "reason": slot.reason or None, "install_hint": slot.install_hint or None,
            "card": {"threshold": slot.threshold if slot.detector is not None else None,
                     "threshold_source": slot.threshold_source or None},
            "calibration": None, "speed": None, "conditions": [], "failures": [], "n_failures": 0,
            "frame_variant": slot.detector.frame_variant(cfg.frame_token_merging) if slot.detector is not None
            else None,
        }
        det_blocks.append(block)
        if slot.detector is None:
            continue
        batcher = scorer.batchers[slot.name]
        rows_by_cond: dict[str, list[ItemScore]] = {}
        for cond in cfg.conditions:
            rows = []
            for idx, item in enumerate(items):
                if cfg.calibrate_on is not None and item.split == cfg.calibrate_on and not cond.clean:
                    continue
                rows.append(_finish_item(slot, batcher, idx, item, states[idx], cond, cfg))
            rows_by_cond[cond.name] = rows
            all_scores.extend(rows)
        thresholds = {"card": slot.threshold}
        clean_rows = rows_by_cond[CLEAN.name]
        if cfg.calibrate_on is not None:
            cal_ok = [r for r in clean_rows if r.item.split == cfg.calibrate_on and r.status == "ok"]
            cal_block: dict[str, Any] = {"split": cfg.calibrate_on, "method": cfg.calibrate_method,
                                         "n_items": sum(1 for r in clean_rows if r.item.split == cfg.calibrate_on),
                                         "n_scored": len(cal_ok)}
            try:
                fitted = M.fit_threshold([r.item.label for r in cal_ok], [r.score for r in cal_ok],
                                         cfg.calibrate_method)
                cal_block.update(fitted.to_dict())
                thresholds["fitted"] = fitted.threshold
            except ConfigError as exc:
                cal_block["error"] = str(exc)
            block["calibration"] = cal_block
        clean_block = None
        for cond in cfg.conditions:
            rows = rows_by_cond[cond.name]
            if cfg.calibrate_on is not None:
                rows = [r for r in rows if r.item.split != cfg.calibrate_on]
            if not cond.clean and all(r.code in ("not_applicable", "condition_not_applicable") for r in rows):
                continue  # the condition does not apply to anything this detector scores
            cb = _condition_block(slot, cond, rows, thresholds, cfg)
            if cond.clean:
                clean_block = cb
            else:
                cb["delta_vs_clean"] = {
                    "item_level": _delta(clean_block["item_level"] if clean_block else None, cb["item_level"]),
                    "group_level": _delta(clean_block["group_level"] if clean_block else None, cb["group_level"]),
                }
            block["conditions"].append(cb)
        failures = [r for rows in rows_by_cond.values() for r in rows if r.status == "failed"]
        block["n_failures"] = len(failures)
        block["failures"] = [{"id": r.item.id, "path": str(r.item.path), "condition": r.condition, "code": r.code,
                              "message": r.reason} for r in failures[:MAX_LISTED_FAILURES]]
        ok_clean = [r for r in clean_rows if r.status == "ok"]
        infer = slot.infer_s.get(CLEAN.name, 0.0)
        media_s = _media_seconds(slot, states, ok_clean, idx_of, cfg)
        block["speed"] = {
            "condition": CLEAN.name,
            "items": len(ok_clean),
            "inputs": slot.n_inputs.get(CLEAN.name, 0),
            "inference_s": infer,
            "items_per_s": len(ok_clean) / infer if infer > 0 else None,
            "inputs_per_s": slot.n_inputs.get(CLEAN.name, 0) / infer if infer > 0 else None,
            "media_s": media_s,
            "rtf": infer / media_s if media_s else None,
            "batch_size": cfg.batch_size,
        }
    n_item_errors = sum(1 for st in states.values() if st.error)
    results = {
        "schema": RESULTS_SCHEMA,
        "synthwatch_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "config": cfg.to_dict(),
        "dataset": {**dataset.summary(), "n_evaluated": len(items),
                    "n_calibration": sum(1 for i in items if cfg.calibrate_on and i.split == cfg.calibrate_on),
                    "n_unreadable": n_item_errors, **dedupe_record,
                    "unreadable": [{"id": items[k].id, "path": str(items[k].path), "code": st.error[0],
                                    "message": st.error[1]}
                                   for k, st in sorted(states.items()) if st.error][:MAX_LISTED_FAILURES]},
        "environment": {"cpu_count": os.cpu_count(), "wall_s": wall_s,
                        "decode_s": dict(scorer.decode_s) if scorer.slots else {},
                        "perturb_s": scorer.perturb_s if scorer.slots else 0.0,
                        "face_detection_s": scorer.face_s if scorer.slots else 0.0},
        "detectors": det_blocks,
        "files": {},
    }
    return EvalRun(results=results, scores=all_scores)


def _score_one(scorer: _Scorer, idx: int, item: EvalItem, cfg: EvalConfig) -> _ItemState:
    """Calibration items are scored on the clean condition only."""
    if cfg.calibrate_on is not None and item.split == cfg.calibrate_on:
        return scorer.score_item(idx, item, [CLEAN])
    return scorer.score_item(idx, item, cfg.conditions)
