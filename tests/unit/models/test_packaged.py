"""Models that ship inside the package (resolver kind ``package``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synthwatch.errors import ConfigError, ModelIntegrityError, ModelNotInstalled
from synthwatch.models import packaged
from synthwatch.models.card import ModelCard, packaged_card, packaged_card_names
from synthwatch.models.resolvers import model_status, setup
from synthwatch.models.store import ModelStore

PACKAGED = [n for n in packaged_card_names() if packaged.is_packaged(packaged_card(n))]


def _card(**over: object) -> dict[str, object]:
    d: dict[str, object] = {"name": "m", "version": "1", "task": "t", "modality": "audio", "format": "onnx",
                            "file": "m.onnx", "licence": "x", "source": "y", "sha256": "a" * 64,
                            "resolvers": [{"kind": "package"}]}
    d.update(over)
    return d


def test_a_packaged_card_must_pin_every_file() -> None:
    ModelCard.from_dict(_card())
    with pytest.raises(ConfigError, match="unpinned"):
        ModelCard.from_dict(_card(sha256=None))
    with pytest.raises(ConfigError, match="unpinned: x.json"):
        ModelCard.from_dict(_card(extra_files={"x.json": None}))
    with pytest.raises(ConfigError, match="unsafe"):
        ModelCard.from_dict(_card(resolvers=[{"kind": "package", "member": "../../etc"}]))


def test_install_command_of_a_packaged_model_reinstalls_synthwatch() -> None:
    assert "synthwatch" in ModelCard.from_dict(_card()).install_command()


@pytest.mark.parametrize("name", PACKAGED)
def test_shipped_models_verify_and_count_as_installed_without_the_store(name: str, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "empty")
    card = packaged_card(name)
    assert packaged.verify_packaged(card) == {}
    st = model_status(store, name)
    assert st.state == "installed" and st.ok and st.source.startswith("package: synthwatch/")
    assert st.to_dict()["resolver"] == "package" and st.to_dict()["install_command"] is None
    out = {o.name: o for o in setup(store, names=[name])}
    assert out[name].action == "skipped" and "ships inside synthwatch" in out[name].detail
    assert not store.is_installed(name)  # nothing copied into the store


@pytest.mark.parametrize("name", PACKAGED)
def test_a_damaged_or_missing_shipped_file_is_refused(name: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    card = packaged_card(name)
    copy = tmp_path / name
    shutil.copytree(Path(str(packaged.packaged_dir(card))), copy)
    monkeypatch.setattr(packaged, "packaged_dir", lambda c: copy)
    data = bytearray((copy / card.file).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / card.file).write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        packaged.read_packaged(card, card.file)
    st = model_status(ModelStore(tmp_path / "s"), card)
    assert st.state == "damaged" and card.file in st.problems
    out = {o.name: o for o in setup(ModelStore(tmp_path / "s"), names=[name])}
    assert out[name].action == "failed"
    (copy / card.file).unlink()
    with pytest.raises(ModelNotInstalled, match="reinstall"):
        packaged.read_packaged(card, card.file)
    with pytest.raises(ModelIntegrityError, match="pins no sha256"):
        packaged.read_packaged(card, "not-pinned.bin")
