"""Faces: detection (CenterFace by default, YuNet as an option), alignment and cropping, tracking
across sampled frames. (The drawn test face is :mod:`synthwatch.testing.faces`.)

Typical use::

    from synthwatch.faces import FaceTracker, align_face, create_face_detector

    detector = create_face_detector("centerface", store)
    tracker = FaceTracker()
    for t_s, frame in frames:                      # uint8 RGB frames
        for track_id, det in tracker.update(t_s, detector.detect(frame)):
            crop = align_face(frame, det)          # uint8 RGB [256, 256, 3] for face detectors
"""

from __future__ import annotations

from .align import BOX_CROP_SCALE, FACE_TEMPLATE, align_face, crop_box, template_points
from .detection import (
    DEFAULT_FACE_DETECTOR,
    DEFAULT_MAX_SIDE,
    FACE_DETECTORS,
    FaceDetection,
    FaceDetector,
    box_iou,
    create_face_detector,
)
from .track import FaceTracker, Track

__all__ = [
    "BOX_CROP_SCALE",
    "DEFAULT_FACE_DETECTOR",
    "DEFAULT_MAX_SIDE",
    "FACE_DETECTORS",
    "FACE_TEMPLATE",
    "FaceDetection",
    "FaceDetector",
    "FaceTracker",
    "Track",
    "align_face",
    "box_iou",
    "create_face_detector",
    "crop_box",
    "template_points",
]
