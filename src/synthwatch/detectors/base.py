"""The detector contract.

A detector scores already-decoded, already-preprocessed input; it never reads files. Lifecycle:
``det = DetectorClass(); det.load(store)`` (raises :class:`ModelNotInstalled` when its model is
missing), then ``det.detect(np.stack([det.preprocess(x) for x in items]))`` returns one score per
item in [0, 1], higher = more likely synthetic. ``examples()`` returns raw items (before
``preprocess``) so one contract test runs every registered detector.

Raw item types by modality:
  ``audio``  float32 mono waveform at ``info.input_spec["sample_rate"]`` (16 kHz), any length
  ``image``  uint8 RGB array [H, W, 3], any size (a whole frame or an image)
  ``face``   uint8 RGB array [H, W, 3]: an aligned face crop produced by :mod:`synthwatch.faces`
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import UnknownModel
from ..models.card import ModelCard, packaged_card
from ..models.packaged import is_packaged
from ..models.store import ModelStore

__all__ = ["DetectorInfo", "Detector"]


@dataclass(frozen=True)
class DetectorInfo:
    name: str
    version: str
    modality: str  # "audio" | "image" | "face"
    model: str | None  # store name of the model it needs (None: needs none)
    input_spec: dict[str, Any] = field(default_factory=dict)
    default: bool = False  # used when the caller names no detectors
    description: str = ""
    requires: tuple[str, ...] = ()  # other store models it loads beside ``model`` (e.g. a shared encoder)
    #: left out of listings and of ``all`` (the model-free debug detectors); selected only by name
    hidden: bool = False
    #: empty: it scores sampled video frames as it scores pictures; otherwise it scores still pictures
    #: only, and this says why (a video's report shows it as ``not_applicable`` with this reason)
    frames: str = ""


class Detector(ABC):
    """Base class for every detector. Subclasses set ``info`` and implement the abstract methods.

    ``detect`` must be safe to call from several threads at once after ``load``.
    """

    info: ClassVar[DetectorInfo]

    def __init__(self) -> None:
        self._card: ModelCard | None = None
        self._release_card: ModelCard | None = None  # this synthwatch release's card of the model, if any
        self._loaded = False
        self._load_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def card(self) -> ModelCard | None:
        if self._card is None and self.info.model:
            self._card = packaged_card(self.info.model)
        return self._card

    @property
    def threshold(self) -> float:
        card = self.card
        return float(card.threshold) if card is not None else 0.5

    @property
    def decides_verdict(self) -> bool:
        """Whether this detector's score takes part in the fused verdict: False when its card says
        ``decides_verdict: false`` (measured at chance on sources it never saw; ``decides_verdict_basis``
        says on what). Its score is still reported as a signal.

        The release's packaged card rules when there is one: whether a detector decides is the verdict
        policy of this synthwatch version, not of the copy in the store, which may have been installed
        by an older version."""
        card = self._release_card or self.card
        return bool(card.extra.get("decides_verdict", True)) if card is not None else True

    def load(self, store: ModelStore) -> None:
        """Load the model from ``store`` (sha256-checked), or from the package for a model that ships
        inside synthwatch (its packaged card). Idempotent and thread-safe."""
        with self._load_lock:
            if self._loaded:
                return
            if self.info.model:
                try:
                    shipped: ModelCard | None = packaged_card(self.info.model)
                except UnknownModel:  # a plugin's model with a card only in the store
                    shipped = None
                self._release_card = shipped
                self._card = shipped if shipped is not None and is_packaged(shipped) \
                    else store.installed(self.info.model).card
            self._load(store)
            self._loaded = True

    @abstractmethod
    def _load(self, store: ModelStore) -> None: ...

    # ------------------------------------------------------------------ inference
    @abstractmethod
    def preprocess(self, item: np.ndarray) -> np.ndarray:
        """Turn one raw item into one model input (no batch axis). Pure, no I/O."""

    @abstractmethod
    def detect(self, batch: np.ndarray) -> np.ndarray:
        """Score a stacked batch of preprocessed inputs; returns float array [N] in [0, 1]."""

    def detect_frames(self, frames: list[np.ndarray], *, token_merging: int = 0) -> np.ndarray:
        """Score raw sampled *video frames* (preprocessing included). The same as :meth:`score`
        unless the detector can trade exactness for speed on frames (``token_merging`` > 0: a
        transformer encoder merges that many token pairs per block); it then says how in
        :meth:`frame_variant`."""
        return self.score(frames, batch_size=max(1, len(frames)))

    def frame_variant(self, token_merging: int = 0) -> str | None:
        """How :meth:`detect_frames` differs from :meth:`detect` with these options (None: it does not)."""
        return None

    def score(self, items: list[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Convenience: preprocess, batch and detect raw items."""
        out: list[np.ndarray] = []
        for i in range(0, len(items), batch_size):
            chunk = items[i:i + batch_size]
            out.append(self.detect(np.stack([self.preprocess(x) for x in chunk])))
        return np.concatenate(out) if out else np.zeros((0,), dtype=np.float32)

    @abstractmethod
    def examples(self) -> list[np.ndarray]:
        """Raw items of the right kind and shape for the contract test."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.info.name} v{self.info.version}>"
