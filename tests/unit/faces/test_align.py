"""Face alignment and cropping."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthwatch.faces import FACE_TEMPLATE, FaceDetection, align_face, crop_box, template_points
from synthwatch.testing.faces import draw_face


def _dots_frame(points: np.ndarray, shape: tuple[int, int] = (720, 1280), radius: int = 6) -> np.ndarray:
    """A black frame with a differently coloured disc at each point."""
    frame = np.zeros((*shape, 3), np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    for (x, y), c in zip(points, colours, strict=True):
        cv2.circle(frame, (round(float(x)), round(float(y))), radius, c, -1, cv2.LINE_AA)
    return frame


def _centroids(img: np.ndarray) -> np.ndarray:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    out = []
    for c in colours:
        dist = np.abs(img.astype(int) - np.array(c)).sum(axis=2)
        ys, xs = np.nonzero(dist < 120)
        assert len(xs), f"colour {c} not found"
        out.append((xs.mean(), ys.mean()))
    return np.array(out)


def _similar(points: np.ndarray, angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return points @ r.T + np.array([tx, ty])


def _det(landmarks: np.ndarray | None, box: tuple[float, float, float, float]) -> FaceDetection:
    lms = None if landmarks is None else tuple((float(x), float(y)) for x, y in landmarks)
    return FaceDetection(box=box, score=0.9, landmarks=lms)  # type: ignore[arg-type]


@pytest.mark.parametrize(("angle", "scale", "size"), [(0.0, 300.0, 256), (20.0, 180.0, 256), (-35.0, 500.0, 224),
                                                      (10.0, 90.0, 112), (0.0, 1200.0, 256)])
def test_landmarks_land_on_the_template(angle: float, scale: float, size: int) -> None:
    # a face whose landmarks are the template rotated, scaled and moved: alignment must undo it
    src = _similar(FACE_TEMPLATE - 0.5, angle, scale, 640, 360)
    frame = _dots_frame(src, radius=max(3, round(scale / 60)))
    x0, y0 = src.min(axis=0)
    x1, y1 = src.max(axis=0)
    crop = align_face(frame, _det(src, (x0, y0, x1, y1)), size=size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    found = _centroids(crop)
    expected = template_points(size)
    assert np.abs(found - expected).max() < 0.03 * size + 1.5


def test_margin_shows_more_context() -> None:
    src = _similar(FACE_TEMPLATE - 0.5, 0, 300, 640, 360)
    frame = _dots_frame(src)
    det = _det(src, (500, 200, 800, 500))
    tight = _centroids(align_face(frame, det, margin=0.0))
    loose = _centroids(align_face(frame, det, margin=0.25))
    eye_tight = tight[1, 0] - tight[0, 0]
    eye_loose = loose[1, 0] - loose[0, 0]
    assert eye_loose == pytest.approx(eye_tight / 1.5, rel=0.05)
    np.testing.assert_allclose(loose, template_points(256, 0.25), atol=2.0)


def test_box_fallback_without_landmarks() -> None:
    frame = np.zeros((400, 600, 3), np.uint8)
    frame[100:300, 200:400] = (200, 50, 50)  # the "face" box
    det = _det(None, (200, 100, 400, 300))
    crop = align_face(frame, det, size=130)
    assert crop.shape == (130, 130, 3)
    # the box covers 1 / BOX_CROP_SCALE of the crop, centred
    inner = crop[:, :, 0] > 100
    ys, xs = np.nonzero(inner)
    assert xs.min() == pytest.approx(15, abs=2) and xs.max() == pytest.approx(114, abs=2)
    assert ys.mean() == pytest.approx(64.5, abs=1.5)
    np.testing.assert_array_equal(crop, crop_box(frame, det.box, 130))


def test_degenerate_landmarks_fall_back_to_the_box() -> None:
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[50:150, 50:150] = 255
    same_point = np.full((5, 2), 100.0)
    crop = align_face(frame, _det(same_point, (50, 50, 150, 150)), size=64)
    np.testing.assert_array_equal(crop, crop_box(frame, (50, 50, 150, 150), 64))


def test_face_at_the_frame_edge_replicates_the_border() -> None:
    frame = np.full((300, 300, 3), 128, np.uint8)
    draw_face(frame, 30, 150, 160)
    det = _det(None, (0, 80, 90, 230))
    crop = align_face(frame, det)
    assert crop.shape == (256, 256, 3)
    # the crop reaches 60 px beyond the left edge: it repeats the edge instead of black bars
    assert crop[:, :30].max(axis=2).min() >= 40
    np.testing.assert_array_equal(crop[:, 0], crop[:, 10])


def test_large_faces_are_shrunk_without_aliasing() -> None:
    # a 1-pixel checkerboard must average to grey, not alias into stripes
    frame = ((np.indices((1200, 1200)).sum(axis=0) % 2) * 255).astype(np.uint8)
    frame = np.repeat(frame[..., None], 3, axis=2)
    crop = crop_box(frame, (300, 300, 900, 900), size=128)
    assert abs(float(crop.mean()) - 127.5) < 3
    assert float(crop.std()) < 6


def test_invalid_input() -> None:
    det = _det(None, (0, 0, 10, 10))
    with pytest.raises(ValueError):
        align_face(np.zeros((20, 20), np.uint8), det)
    with pytest.raises(ValueError):
        align_face(np.zeros((20, 20, 3), np.float32), det)
    with pytest.raises(ValueError):
        align_face(np.zeros((20, 20, 3), np.uint8), det, size=4)
    with pytest.raises(ValueError):
        template_points(256, margin=-0.6)


def test_aligned_drawn_face_puts_eyes_at_the_template(centerface, canvas) -> None:
    frame = canvas(1280, 720, seed=11)
    draw_face(frame, 600, 330, 280)
    rot = cv2.getRotationMatrix2D((600, 330), 25, 1.0)
    frame = cv2.warpAffine(frame, rot, (1280, 720), borderMode=cv2.BORDER_REFLECT)
    dets = centerface.detect(frame)
    assert len(dets) == 1
    crop = align_face(frame, dets[0])
    again = centerface.detect(crop)
    assert len(again) == 1 and again[0].landmarks is not None
    eyes = np.array(again[0].landmarks[:2])
    np.testing.assert_allclose(eyes, template_points(256)[:2], atol=0.06 * 256)
    assert abs(eyes[0, 1] - eyes[1, 1]) < 0.04 * 256  # upright after alignment


def test_aligned_mesonet_crops_keep_their_framing(centerface, mesonet_samples, canvas) -> None:
    # re-aligning a published MesoNet training-style crop gives (nearly) the same framing
    for crop in mesonet_samples["real"] + mesonet_samples["deepfake"]:
        frame = canvas(900, 700, seed=1)
        h, w = crop.shape[:2]
        frame[150:150 + h, 250:250 + w] = crop
        det = centerface.detect(frame)[0]
        aligned = align_face(frame, det)
        ref = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_AREA)
        # eye positions in the aligned crop vs in the resized original
        d2 = centerface.detect(aligned)[0]
        d_ref = centerface.detect(ref)[0]
        assert d2.landmarks is not None and d_ref.landmarks is not None
        np.testing.assert_allclose(np.array(d2.landmarks[:2]), np.array(d_ref.landmarks[:2]), atol=0.1 * 256)
