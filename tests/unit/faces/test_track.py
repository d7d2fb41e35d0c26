"""Face tracking across sampled frames."""

from __future__ import annotations

import numpy as np
import pytest

from synthwatch.faces import FaceDetection, FaceTracker
from synthwatch.testing.faces import draw_face
from synthwatch.types import FaceTrack


def _box(cx: float, cy: float, size: float, score: float = 0.9) -> FaceDetection:
    return FaceDetection(box=(cx - size * 0.4, cy - size / 2, cx + size * 0.4, cy + size / 2), score=score)


def test_two_moving_faces_keep_their_ids() -> None:
    tr = FaceTracker()
    ids_a, ids_b = set(), set()
    for k in range(8):
        t = float(k)
        a = _box(200 + 70 * k, 300, 150)  # moves right by ~half a face per sample
        b = _box(1100 - 60 * k, 320 + 5 * k, 130)  # moves left
        dets = [b, a] if k % 2 else [a, b]  # detector order must not matter
        out = dict((id(d), tid) for tid, d in tr.update(t, dets))
        ids_a.add(out[id(a)])
        ids_b.add(out[id(b)])
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b
    tracks = tr.tracks()
    assert [len(t) for t in tracks] == [8, 8]
    assert tracks[0].start_s == 0.0 and tracks[0].end_s == 7.0


def test_crossing_faces_follow_overlap_first() -> None:
    tr = FaceTracker()
    first = dict((d.center[0], tid) for tid, d in tr.update(0.0, [_box(400, 300, 200), _box(700, 300, 200)]))
    # both move 60 px towards each other: each still overlaps its own previous box most
    second = dict((d.center[0], tid) for tid, d in tr.update(1.0, [_box(460, 300, 200), _box(640, 300, 200)]))
    assert second[460] == first[400] and second[640] == first[700]


def test_a_gap_starts_a_new_track() -> None:
    tr = FaceTracker(max_gap_s=2.5)
    (tid0, _), = tr.update(0.0, [_box(500, 300, 150)])
    (tid1, _), = tr.update(1.0, [_box(510, 300, 150)])
    assert tid1 == tid0
    assert tr.update(2.0, []) == []
    (tid2, _), = tr.update(3.0, [_box(520, 300, 150)])  # 2 s after the last sighting: same face
    assert tid2 == tid0
    (tid3, _), = tr.update(6.0, [_box(520, 300, 150)])  # 3 s gap: a new track
    assert tid3 != tid0
    assert [t.track_id for t in tr.tracks()] == [tid0, tid3]
    assert [len(t) for t in tr.tracks(min_length=2)] == [3]


def test_far_jump_or_size_change_is_a_different_face() -> None:
    tr = FaceTracker()
    (a, _), = tr.update(0.0, [_box(200, 300, 150)])
    (b, _), = tr.update(1.0, [_box(1000, 300, 150)])  # 5 face sizes away
    assert b != a
    (c, _), = tr.update(2.0, [_box(1010, 300, 600)])  # same place, 4x larger, little overlap
    assert c != b


def test_times_must_not_go_back_and_reset() -> None:
    tr = FaceTracker()
    tr.update(2.0, [_box(100, 100, 50)])
    with pytest.raises(ValueError):
        tr.update(1.0, [])
    tr.reset()
    (tid, _), = tr.update(0.0, [_box(100, 100, 50)])
    assert tid == 1
    with pytest.raises(ValueError):
        FaceTracker(iou_threshold=2.0)


def test_track_to_report_type() -> None:
    tr = FaceTracker()
    for k in range(3):
        tr.update(k * 1.0, [_box(300 + 10 * k, 300, 120, score=0.8 + 0.05 * k)])
    track = tr.tracks()[0]
    assert track.best()[0] == 2.0
    ft = track.to_face_track([{"meso4-df": 0.1}, {"meso4-df": 0.2}, {"meso4-df": 0.3}], {"meso4-df": 0.2})
    assert isinstance(ft, FaceTrack) and ft.track_id == track.track_id
    assert [b.t_s for b in ft.boxes] == [0.0, 1.0, 2.0]
    assert ft.boxes[1].scores == {"meso4-df": 0.2} and ft.scores == {"meso4-df": 0.2}
    assert ft.to_dict()["end_s"] == 2.0
    with pytest.raises(ValueError):
        track.to_face_track([{}])


def test_tracking_drawn_faces_with_the_detector(centerface, canvas) -> None:
    tr = FaceTracker()
    rng = np.random.default_rng(0)
    seen: dict[int, list[float]] = {}
    for k in range(6):
        frame = canvas(1280, 720, seed=100 + k)
        xa, xb = 200 + 60 * k, 1100 - 60 * k  # they approach but never overlap
        draw_face(frame, xa, 330 + rng.normal(0, 5), 220)
        if k != 3:  # face B is missed once (occluded): the track must survive a one-sample gap
            draw_face(frame, xb, 360, 190, skin=(141, 85, 36), hair=(20, 20, 20))
        for tid, det in tr.update(float(k), centerface.detect(frame)):
            seen.setdefault(tid, []).append(det.center[0])
    assert len(seen) == 2, seen
    lengths = sorted(len(v) for v in seen.values())
    assert lengths == [5, 6]
    for xs in seen.values():
        steps = np.diff(xs)
        assert np.all(steps > 0) or np.all(steps < 0)  # each track moves one way only
