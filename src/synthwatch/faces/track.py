"""Following faces across sampled video frames.

Frames are sampled sparsely (1 fps by default), so a face can move far between two samples:
a detection continues a track when it overlaps the track's last box (IoU) *or* its centre lies
within ``max_center_dist`` face sizes of the last centre and the two boxes have similar sizes.
Pairs are matched greedily, best affinity first, each track and detection used once. A track not
seen for more than ``max_gap_s`` seconds is closed; a face that reappears later gets a new id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..types import FaceBox, FaceTrack
from .detection import FaceDetection

__all__ = ["Track", "FaceTracker"]


@dataclass
class Track:
    """One face followed over time: ``items`` holds ``(t_s, detection)`` in time order."""

    track_id: int
    items: list[tuple[float, FaceDetection]] = field(default_factory=list)

    @property
    def start_s(self) -> float:
        return self.items[0][0]

    @property
    def end_s(self) -> float:
        return self.items[-1][0]

    @property
    def last(self) -> FaceDetection:
        return self.items[-1][1]

    def __len__(self) -> int:
        return len(self.items)

    def best(self) -> tuple[float, FaceDetection]:
        """The item with the most confident, then largest, detection."""
        return max(self.items, key=lambda it: (it[1].score, it[1].area))

    def to_face_track(self, box_scores: list[dict[str, float]] | None = None,
                      scores: dict[str, float] | None = None) -> FaceTrack:
        """The report type; ``box_scores`` (one dict per item) and ``scores`` (aggregated) are the
        face-forgery detector scores."""
        if box_scores is not None and len(box_scores) != len(self.items):
            raise ValueError(f"{len(box_scores)} score dicts for {len(self.items)} boxes")
        boxes: list[FaceBox] = [
            det.to_face_box(t, box_scores[i] if box_scores is not None else None)
            for i, (t, det) in enumerate(self.items)
        ]
        return FaceTrack(track_id=self.track_id, boxes=tuple(boxes), scores=dict(scores or {}))


class FaceTracker:
    """Greedy IoU + centre-distance tracker over sampled frames.

    ``update(t_s, detections)`` must be called with non-decreasing times; it returns
    ``(track_id, detection)`` for every detection, in the order given.
    """

    def __init__(self, *, iou_threshold: float = 0.2, max_center_dist: float = 1.0,
                 max_size_ratio: float = 2.0, max_gap_s: float = 2.5) -> None:
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
        if max_center_dist < 0 or max_size_ratio < 1.0 or max_gap_s < 0:
            raise ValueError("max_center_dist >= 0, max_size_ratio >= 1 and max_gap_s >= 0 are required")
        self.iou_threshold = float(iou_threshold)
        self.max_center_dist = float(max_center_dist)
        self.max_size_ratio = float(max_size_ratio)
        self.max_gap_s = float(max_gap_s)
        self._tracks: list[Track] = []
        self._next_id = 1
        self._last_t: float | None = None

    def _affinity(self, track: Track, det: FaceDetection) -> float | None:
        """Match quality in (0, 2], or None when the pair cannot match."""
        prev = track.last
        iou = prev.iou(det)
        s_prev, s_det = max(prev.size, 1e-6), max(det.size, 1e-6)
        ratio = max(s_prev, s_det) / min(s_prev, s_det)
        (px, py), (dx, dy) = prev.center, det.center
        dist = math.hypot(px - dx, py - dy) / max(s_prev, s_det)
        if iou >= self.iou_threshold:
            return 1.0 + iou
        if ratio <= self.max_size_ratio and dist <= self.max_center_dist:
            return 1.0 - dist / (self.max_center_dist + 1e-9) * 0.999
        return None

    def update(self, t_s: float, detections: list[FaceDetection]) -> list[tuple[int, FaceDetection]]:
        t = float(t_s)
        if self._last_t is not None and t < self._last_t:
            raise ValueError(f"tracker times must not decrease: {t} after {self._last_t}")
        self._last_t = t
        active = [tr for tr in self._tracks if t - tr.end_s <= self.max_gap_s and tr.end_s < t]
        pairs: list[tuple[float, int, int]] = []
        for ti, tr in enumerate(active):
            for di, det in enumerate(detections):
                a = self._affinity(tr, det)
                if a is not None:
                    pairs.append((a, ti, di))
        pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
        assigned: dict[int, Track] = {}
        used_tracks: set[int] = set()
        for _a, ti, di in pairs:
            if ti in used_tracks or di in assigned:
                continue
            used_tracks.add(ti)
            assigned[di] = active[ti]
        out: list[tuple[int, FaceDetection]] = []
        for di, det in enumerate(detections):
            found = assigned.get(di)
            if found is None:
                tr = Track(track_id=self._next_id)
                self._next_id += 1
                self._tracks.append(tr)
            else:
                tr = found
            tr.items.append((t, det))
            out.append((tr.track_id, det))
        return out

    def tracks(self, min_length: int = 1) -> list[Track]:
        """Every track so far (open and closed), by id, with at least ``min_length`` boxes."""
        return [tr for tr in self._tracks if len(tr) >= min_length]

    def reset(self) -> None:
        self._tracks.clear()
        self._next_id = 1
        self._last_t = None
