"""Fixtures of the evaluation tests (helpers live in ``evalkit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from evalkit import TEST_DETECTORS, audio_manifest, image_set

from synthwatch.detectors import registry


@pytest.fixture
def test_detectors(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register the test detectors for one test (and forget them afterwards)."""
    for name, ref in TEST_DETECTORS.items():
        monkeypatch.setitem(registry.BUILTIN, name, ref)
    yield
    for name in TEST_DETECTORS:
        registry._cache.pop(name, None)


@pytest.fixture
def make_image_set(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "images", n: int = 10, seed: int = 0) -> Path:
        return image_set(tmp_path / name, n, seed)

    return make


@pytest.fixture
def make_audio_manifest(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "speech", n: int = 8, seed: int = 0) -> Path:
        return audio_manifest(tmp_path / name, n, seed)

    return make
