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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._hashing import sha256_file
from ..config import Limits, Sampling
from ..detectors.base import Detector
from ..detectors.registry import Registry
from ..errors import ConfigError, DetectorError, MediaError
from ..media.items import AudioWindow
from ..models.store import ModelStore
from ..pipeline.analyse import Analysis, Evidence, Toolkit, windows_of
from ..types import DetectorStatus
from . import metrics as M
from .data import Dataset, EvalItem
from .perturb import CLEAN, Condition, reencode_h264, rng_for

__all__ = ["EvalConfig", "ItemScore", "EvalRun", "run_eval", "score_files", "load_asv_scores", "RESULTS_SCHEMA",
           "Hook"]

log = logging.getLogger(__name__)

RESULTS_SCHEMA = "synthwatch.eval/1"
MIN_LAST_WINDOW_S = 0.5  # the media layer's rule for the last, shorter audio window
MAX_LISTED_FAILURES = 200

Hook = Callable[[str, dict[str, Any]], None]


def _noop(step: str, info: dict[str, Any]) -> None:
    return None


@dataclass
class EvalConfig:
    """How a run scores and reports (see the module docstring).

    Items are scored exactly as ``synthwatch scan`` scores them with the same ``sampling`` (video
    frames per second, audio windows, token merging on frames), ``limits``, detectors and face
    detector. Two protocols differ on purpose and say so in the results: ``audio_windows="first"``
    (each clip whole to the detector, no voice-activity gating: the upstream protocol of the
    ASVspoof baselines, for comparing with published numbers) and ``faces="aligned"`` (the inputs are
    already aligned face crops)."""

    detectors: list[str]
    conditions: list[Condition] = field(default_factory=lambda: [CLEAN])
    calibrate_on: str | None = None
    calibrate_method: str = "eer"
    splits: tuple[str, ...] | None = None  # report only items of these splits (None: every split)
    audio_windows: str = "scan"  # scan | first
    sampling: Sampling = field(default_factory=Sampling)
    group_agg: str = "mean"
    faces: str = "detect"  # detect | aligned
    face_detector: str = "centerface"
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
        if self.audio_windows not in ("scan", "first"):
            raise ConfigError("audio windows must be 'scan' or 'first'")
        if self.faces not in ("detect", "aligned"):
            raise ConfigError("faces must be 'detect' or 'aligned'")
        if self.group_agg not in M.AGGREGATIONS:
            raise ConfigError(f"group aggregation {self.group_agg!r}: use one of {', '.join(M.AGGREGATIONS)}")
        if self.breakdown_boot is not None and self.breakdown_boot < 0:
            raise ConfigError("bootstrap count >= 0")
        if self.n_boot < 0:
            raise ConfigError("bootstrap count >= 0")
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

    @property
    def protocol(self) -> str:
        """``scan`` when every item is scored as ``synthwatch scan`` scores it, else what differs."""
        diff = [x for x, on in (("audio=first-window", self.audio_windows == "first"),
                                ("faces=aligned", self.faces == "aligned")) if on]
        return "scan" if not diff else "upstream: " + ", ".join(diff)

    def to_dict(self) -> dict[str, Any]:
        samp = self.sampling
        return {
            "detectors": list(self.detectors),
            "protocol": self.protocol,
            "conditions": [c.name for c in self.conditions],
            "calibrate_on": self.calibrate_on,
            "calibrate_method": self.calibrate_method if self.calibrate_on else None,
            "splits": list(self.splits) if self.splits is not None else None,
            "audio_windows": self.audio_windows,
            "window_s": samp.audio_window_s,
            "hop_s": samp.audio_hop_s,
            "sample_rate": samp.audio_sample_rate,
            "fps": samp.fps,
            "keyframes_only": samp.keyframes_only,
            "frame_token_merging": samp.frame_token_merging,
            "max_frames": self.limits.max_frames,
            "frame_agg": "topq",
            "group_agg": self.group_agg,
            "faces": self.faces,
            "face_detector": self.face_detector,
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
    """A detector of the run with its card threshold and the compute it used per condition."""

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


def _slots_of(kit: Toolkit) -> list[_Slot]:
    out = []
    for s in kit.load():
        slot = _Slot(s.name, s.detector, s.modality, s.info.version, s.info.model)
        if s.detector is None:
            slot.status = "unavailable"
            slot.reason = s.missing_reason or ""
            slot.install_hint = s.install_hint or ""
        else:
            slot.threshold = float(s.detector.threshold)
            card = s.detector.card
            slot.threshold_source = card.threshold_source if card is not None else "no model card: default 0.5"
        out.append(slot)
    return out


# ---------------------------------------------------------------------------------------- scoring
@dataclass
class _ItemState:
    """What the analysis core found for one item, per condition."""

    kind: str = ""  # image | audio | video
    error: tuple[str, str] | None = None  # the file could not be read at all
    duration_s: float | None = None
    evidence: dict[str, Evidence] = field(default_factory=dict)  # condition -> evidence
    stream_errors: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (cond, stream) -> error
    audio_s: dict[str, float] = field(default_factory=dict)  # condition -> seconds of audio analysed


class _Scorer:
    """Decodes each item, perturbs it per condition and hands it to the analysis core: the per-item
    scores are exactly what ``synthwatch scan`` reports for the same detectors and sampling."""

    def __init__(self, cfg: EvalConfig, kit: Toolkit, tmp: Path) -> None:
        self.cfg = cfg
        self.kit = kit
        self.tmp = tmp
        self.decode_s: dict[str, float] = defaultdict(float)
        self.perturb_s = 0.0
        self.pictures = bool(kit.ready("image") or kit.ready("face"))
        self.voice = bool(kit.ready("audio"))

    def _analysis(self) -> Analysis:
        return self.kit.analysis(token_merging=self.cfg.sampling.frame_token_merging, strict=False)

    def score_item(self, item: EvalItem, conditions: list[Condition]) -> _ItemState:
        """A file that cannot be read fails for every detector; a video whose frames or audio track
        cannot be decoded fails only for the detectors of that stream."""
        from ..media import probe, sniff

        st = _ItemState()
        try:
            st.kind = sniff(item.path).kind.value
            if st.kind == "image":
                if self.pictures:
                    self._image(item, st, conditions)
            elif st.kind == "audio":
                audio = self._read_audio(item, st) if self.voice else None
                for cond in conditions:
                    a = self._analysis()
                    a.mark_not_applicable("image", "audio has no pictures")
                    a.mark_not_applicable("face", "audio has no pictures")
                    if audio is not None:
                        self._audio(item, audio, cond, a, st)
                    st.evidence[cond.name] = a.finish()
            else:
                info = probe(item.path, self.cfg.limits)
                st.duration_s = info.duration_s
                audio = None
                if info.has_audio and self.voice:
                    try:
                        audio = self._read_audio(item, st)
                    except MediaError as exc:
                        for cond in conditions:
                            st.stream_errors[(cond.name, "audio")] = (exc.code, str(exc))
                for cond in conditions:
                    a = self._analysis()
                    if not info.has_video:
                        a.mark_not_applicable("image", "no video stream")
                        a.mark_not_applicable("face", "no video stream")
                    elif self.pictures and cond.applies_to("frames"):
                        try:
                            self._frames(item, info, cond, a)
                        except MediaError as exc:
                            st.stream_errors[(cond.name, "frames")] = (exc.code, str(exc))
                    if not info.has_audio:
                        a.mark_not_applicable("audio", "no audio track")
                    elif audio is not None:
                        self._audio(item, audio, cond, a, st)
                    st.evidence[cond.name] = a.finish()
        except MediaError as exc:
            st.error = (exc.code, str(exc))
        return st

    # ---------------------------------------------------------------- pictures
    def _image(self, item: EvalItem, st: _ItemState, conditions: list[Condition]) -> None:
        from ..media import load_image

        t0 = time.perf_counter()
        img = load_image(item.path, self.cfg.limits)
        self.decode_s["image"] += time.perf_counter() - t0
        for cond in conditions:
            a = self._analysis()
            a.mark_not_applicable("audio", "an image has no audio")
            if cond.applies_to("image"):
                t1 = time.perf_counter()
                pic = cond.apply_picture(img)
                self.perturb_s += time.perf_counter() - t1
                a.add_picture(pic, aligned_face=self.cfg.faces == "aligned")
            st.evidence[cond.name] = a.finish()

    def _frames(self, item: EvalItem, info: Any, cond: Condition, a: Analysis) -> None:
        """Sample the video (or its re-encoded copy for an H.264 condition) the way ``scan`` does
        and feed the perturbed frames to the core."""
        from ..media import iter_frames

        samp = self.cfg.sampling
        source = item.path
        after: tuple[Any, ...] | None = None
        reencoded: Path | None = None
        if cond.reencodes_video:
            before, op, after = cond.split_video()
            assert op is not None
            native = float(info.fps or 25.0)
            reencoded = self.tmp / "reencode.mp4"
            t0 = time.perf_counter()
            reencode_h264((f.image for f in iter_frames(item.path, self.cfg.limits, fps=native)), native, reencoded,
                          int(op.value), before=before)
            self.perturb_s += time.perf_counter() - t0
            source = reencoded
        frames = iter_frames(source, self.cfg.limits, fps=samp.fps, keyframes_only=samp.keyframes_only)

        def perturbed() -> Iterator[tuple[float, np.ndarray]]:
            t0 = time.perf_counter()
            for f in frames:
                self.decode_s["video"] += time.perf_counter() - t0
                t1 = time.perf_counter()
                img = cond.apply_picture(f.image, ops=after) if after is not None else cond.apply_picture(f.image)
                self.perturb_s += time.perf_counter() - t1
                yield f.t_s, img
                t0 = time.perf_counter()

        try:
            expected = int(np.ceil(info.duration_s * samp.fps)) if info.duration_s else None
            a.add_frames(perturbed(), period_s=1.0 / samp.fps, end_s=info.duration_s, expected=expected)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()
            if reencoded is not None:
                reencoded.unlink(missing_ok=True)

    # ---------------------------------------------------------------- audio
    def _read_audio(self, item: EvalItem, st: _ItemState) -> np.ndarray:
        from ..media import read_audio

        t0 = time.perf_counter()
        x = read_audio(item.path, self.cfg.limits, sample_rate=self.cfg.sampling.audio_sample_rate)
        self.decode_s[st.kind] += time.perf_counter() - t0
        if st.kind == "audio":
            st.duration_s = x.size / self.cfg.sampling.audio_sample_rate
        return x

    def _audio(self, item: EvalItem, x: np.ndarray, cond: Condition, a: Analysis, st: _ItemState) -> None:
        samp = self.cfg.sampling
        sr = samp.audio_sample_rate
        if x.size == 0:
            a.mark_not_applicable("audio", "no audio track" if st.kind == "video" else "no audio could be decoded")
            return
        if not cond.applies_to("audio"):
            return
        t0 = time.perf_counter()
        try:
            y = cond.apply_audio(x, sr, rng_for(self.cfg.seed, cond.name, item.id))
        except MediaError as exc:
            st.stream_errors[(cond.name, "audio")] = (exc.code, str(exc))
            return
        finally:
            self.perturb_s += time.perf_counter() - t0
        st.audio_s[cond.name] = y.size / sr
        if self.cfg.audio_windows == "first":  # the detector's own first window, every clip scored
            a.add_audio([AudioWindow(0.0, y.size / sr, y, sr)], vad=False)
        else:
            a.add_audio(windows_of(y, sample_rate=sr, window_s=samp.audio_window_s, hop_s=samp.audio_hop_s,
                                   min_last_s=MIN_LAST_WINDOW_S))


def _applicable_stream(modality: str, kind: str) -> str | None:
    """Which stream of an item of ``kind`` a detector of ``modality`` scores (None: none)."""
    if modality == "audio":
        return "audio" if kind in ("audio", "video") else None
    if kind == "image":
        return "image"
    if kind == "video":
        return "frames"
    return None


def _na_code(reason: str) -> str:
    if reason.startswith("no face found"):
        return "no_face"
    if reason.startswith("face detector") or reason == "no face detector":
        return "no_face_detector"
    if reason.startswith(("no speech", "no video frames", "nothing to score", "no frames")):
        return "no_input"
    return "not_applicable"


def _finish_item(slot: _Slot, item: EvalItem, state: _ItemState, cond: Condition) -> ItemScore:
    name = slot.name

    def na(reason: str, code: str = "not_applicable") -> ItemScore:
        return ItemScore(item, name, cond.name, None, "not_applicable", reason, code)

    if state.error is not None:
        return ItemScore(item, name, cond.name, None, "failed", state.error[1], state.error[0])
    stream = _applicable_stream(slot.modality, state.kind)
    if stream is None:
        return na(f"{slot.modality} detectors do not apply to {state.kind or 'unknown'} items")
    if not cond.applies_to(stream):
        return na(f"condition {cond.name} does not apply to {stream}", "condition_not_applicable")
    err = state.stream_errors.get((cond.name, "audio" if stream == "audio" else "frames"))
    if err is not None:
        return ItemScore(item, name, cond.name, None, "failed", err[1], err[0])
    ev = state.evidence.get(cond.name)
    res = ev.result(name) if ev is not None else None
    if res is None:
        return na("not scored")
    if res.status == DetectorStatus.OK and res.score is not None:
        return ItemScore(item, name, cond.name, float(res.score), "ok", n_inputs=res.n_inputs)
    if res.status == DetectorStatus.ERROR:
        return ItemScore(item, name, cond.name, None, "failed", res.reason or "detector failed", DetectorError.code)
    reason = res.reason or "not applicable"
    return na(reason, _na_code(reason))


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
             command: str = "", registry: Registry | None = None) -> EvalRun:
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
    kit = Toolkit(cfg.detectors, store=store, registry=registry, face_detector=cfg.face_detector)
    slots = _slots_of(kit)
    hook("detectors", {"loaded": [s.name for s in slots if s.detector is not None],
                       "unavailable": [s.name for s in slots if s.detector is None]})
    states: dict[int, _ItemState] = {}
    with tempfile.TemporaryDirectory(prefix="synthwatch-eval-") as tmp:
        scorer = _Scorer(cfg, kit, Path(tmp))
        if any(sl.detector is not None for sl in slots):
            for idx, item in enumerate(items):
                # calibration items are scored on the clean condition only
                calibration = cfg.calibrate_on is not None and item.split == cfg.calibrate_on
                st = scorer.score_item(item, [CLEAN] if calibration else cfg.conditions)
                states[idx] = st
                for cond_name, ev in st.evidence.items():
                    for sl in slots:
                        sl.infer_s[cond_name] += ev.compute_s.get(sl.name, 0.0)
                        sl.n_inputs[cond_name] += ev.n_inputs.get(sl.name, 0)
                hook("item", {"done": idx + 1, "total": len(items), "id": item.id,
                              "error": st.error[0] if st.error else None})
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
            "frame_variant": slot.detector.frame_variant(cfg.sampling.frame_token_merging) if slot.detector is not None
            else None,
        }
        det_blocks.append(block)
        if slot.detector is None:
            continue
        rows_by_cond: dict[str, list[ItemScore]] = {}
        for cond in cfg.conditions:
            rows = []
            for idx, item in enumerate(items):
                if cfg.calibrate_on is not None and item.split == cfg.calibrate_on and not cond.clean:
                    continue
                rows.append(_finish_item(slot, item, states[idx], cond))
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
                        "decode_s": dict(scorer.decode_s),
                        "perturb_s": scorer.perturb_s},
        "detectors": det_blocks,
        "files": {},
    }
    return EvalRun(results=results, scores=all_scores)


def score_files(paths: list[str | Path], detectors: list[str], *, store: ModelStore,
                registry: Registry | None = None, sampling: Sampling | None = None, limits: Limits | None = None,
                face_detector: str = "centerface") -> list[dict[str, float | None]]:
    """Each file's item score per detector, exactly as ``synthwatch scan`` computes it (decoding,
    sampling, voice-activity gating and aggregation included); None where a detector did not apply
    (no speech, no face) or the file could not be read. For calibrating a model the way the scanner
    will run it (``python -m synthwatch.train.voice`` uses it)."""
    cfg = EvalConfig(detectors=list(detectors), sampling=sampling or Sampling(), limits=limits or Limits(),
                     face_detector=face_detector)
    kit = Toolkit(detectors, store=store, registry=registry, face_detector=face_detector)
    out: list[dict[str, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="synthwatch-score-") as tmp:
        scorer = _Scorer(cfg, kit, Path(tmp))
        for p in paths:
            st = scorer.score_item(EvalItem(id=str(p), path=Path(p), label=0, group=str(p)), [CLEAN])
            ev = st.evidence.get(CLEAN.name)
            row: dict[str, float | None] = {}
            for name in kit.names:
                res = ev.result(name) if ev is not None else None
                row[name] = float(res.score) if res is not None and res.score is not None \
                    and res.status == DetectorStatus.OK else None
            out.append(row)
    return out
