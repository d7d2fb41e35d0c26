"""Fixtures of the evaluation tests (helpers live in ``evalkit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from evalkit import TEST_DETECTORS, audio_manifest, image_set

from synthwatch.detectors import registry


@pytest.fixture
def register_detector() -> Iterator[Callable[[str, str], None]]:
    """``register_detector(name, "module:Class")`` adds a detector to the process-wide registry for
    one test; it is removed afterwards."""
    added: list[str] = []
    reg = registry.default_registry()

    def add(name: str, ref: str) -> None:
        reg.register(name, ref, replace=True)
        added.append(name)

    yield add
    for name in added:
        reg.unregister(name)


@pytest.fixture
def test_detectors(register_detector: Callable[[str, str], None]) -> None:
    """Register the test detectors for one test (and forget them afterwards)."""
    for name, ref in TEST_DETECTORS.items():
        register_detector(name, ref)


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
