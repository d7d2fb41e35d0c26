"""The drawn test face."""

from __future__ import annotations

import numpy as np
import pytest

from synthwatch.testing.faces import draw_face, face_landmarks


def test_draw_is_deterministic_in_place_and_local() -> None:
    a = np.full((360, 640, 3), 100, np.uint8)
    b = a.copy()
    out = draw_face(a, 300, 170, 150)
    assert out is a
    draw_face(b, 300, 170, 150)
    np.testing.assert_array_equal(a, b)
    # pixels far above or beside the head are untouched
    assert np.all(a[:20] == 100) and np.all(a[:, 600:] == 100)
    # skin in the middle of the face, dark pupils at the eyes
    assert a[170, 300].mean() > 120
    (lx, ly), (rx, ry) = face_landmarks(300, 170, 150)[:2]
    assert a[round(ly), round(lx)].max() < 90 and a[round(ry), round(rx)].max() < 90


def test_clipped_at_the_edges_and_tiny_faces() -> None:
    img = np.zeros((100, 100, 3), np.uint8)
    draw_face(img, -10, 50, 80)
    draw_face(img, 95, 98, 80)
    draw_face(img, 50, 50, 3)
    draw_face(img, 500, 500, 40)  # entirely outside: nothing to do
    assert img.dtype == np.uint8


def test_options_change_the_drawing() -> None:
    base = draw_face(np.zeros((200, 200, 3), np.uint8), 100, 90, 100)
    dark = draw_face(np.zeros((200, 200, 3), np.uint8), 100, 90, 100, skin=(90, 56, 37))
    open_mouth = draw_face(np.zeros((200, 200, 3), np.uint8), 100, 90, 100, mouth_open=1.0)
    assert dark[90, 100].mean() < base[90, 100].mean()
    mouth_y = round(90 + 0.47 * 50)
    assert open_mouth[mouth_y, 100].mean() < base[mouth_y, 100].mean()


def test_invalid_input() -> None:
    with pytest.raises(ValueError):
        draw_face(np.zeros((10, 10), np.uint8), 5, 5, 5)
    with pytest.raises(ValueError):
        draw_face(np.zeros((10, 10, 3), np.float32), 5, 5, 5)
    with pytest.raises(ValueError):
        draw_face(np.zeros((10, 10, 3), np.uint8), 5, 5, 0)
