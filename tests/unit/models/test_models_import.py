"""``synthwatch models import``: sha256 against the published file, --force recorded, converters."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthwatch.errors import ConfigError, ModelConversionError, ModelIntegrityError
from synthwatch.models import resolvers
from synthwatch.models.card import ModelCard
from synthwatch.models.resolvers import import_file, model_status
from synthwatch.models.runtime import session_from_store
from synthwatch.models.store import ModelStore


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_import_as_is(tmp_path: Path, store: ModelStore, make_card: Callable[..., ModelCard],
                      onnx_bytes: Callable[[float], bytes]) -> None:
    data = onnx_bytes(3.0)
    src = tmp_path / "published.onnx"
    src.write_bytes(data)
    card = make_card(sha256=_sha(data), resolvers=[{"kind": "import", "sha256": _sha(data)}])
    steps: list[str] = []
    inst = import_file(store, card, src, progress=lambda s, i: steps.append(s))
    assert inst.resolver == "import" and inst.origin == str(src.resolve())
    assert src.read_bytes() == data  # the user's file is copied, never moved
    assert steps[0] == "start" and steps[-1] == "done"
    out = session_from_store(store, "tiny").run(None, {"x": np.ones((2, 4), np.float32)})[0]
    assert np.allclose(out, 4.0)
    assert model_status(store, card).state == "installed"


def test_import_mismatch_refused_then_forced(tmp_path: Path, store: ModelStore, make_card: Callable[..., ModelCard],
                                            onnx_bytes: Callable[[float], bytes]) -> None:
    published, other = onnx_bytes(1.0), onnx_bytes(9.0)
    card = make_card(sha256=_sha(published), resolvers=[{"kind": "import", "sha256": _sha(published)}])
    src = tmp_path / "other.onnx"
    src.write_bytes(other)
    with pytest.raises(ModelIntegrityError, match="--force"):
        import_file(store, card, src)
    assert not store.is_installed("tiny")
    assert not [p for p in store.root.iterdir() if p.name.startswith(".") and p.name != ".lock"]  # scratch cleaned up
    inst = import_file(store, card, src, force=True)
    assert inst.forced
    assert inst.meta is not None and inst.meta["expected_sha256"] == _sha(published)
    assert inst.meta["source_sha256"] == _sha(other)
    assert store.verified_bytes("tiny") == other  # loads, with the hash of what was installed
    assert model_status(store, card).state == "forced"


def test_import_missing_file(tmp_path: Path, store: ModelStore, make_card: Callable[..., ModelCard]) -> None:
    with pytest.raises(ConfigError):
        import_file(store, make_card(), tmp_path / "nope.pth")


def _fake_converter(factor: float, onnx_bytes: Callable[[float], bytes]) -> Callable[[Path, Path, ModelCard], dict[str, Path]]:
    def convert(src: Path, workdir: Path, card: ModelCard) -> dict[str, Path]:
        assert src.read_bytes().startswith(b"CKPT")
        out = workdir / card.file
        out.write_bytes(onnx_bytes(factor))
        side = workdir / "labels.json"
        side.write_text('["spoof", "bonafide"]')
        return {card.file: out, "labels.json": side}

    return convert


def test_import_with_converter(tmp_path: Path, store: ModelStore, make_card: Callable[..., ModelCard],
                               onnx_bytes: Callable[[float], bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = b"CKPT fake published checkpoint"
    src = tmp_path / "Model.pth"
    src.write_bytes(ckpt)
    card = make_card(extra_files={"labels.json": None},
                     resolvers=[{"kind": "import", "sha256": _sha(ckpt), "convert": "fake"}])
    seen: list[str] = []

    def get(name: str) -> Any:
        seen.append(name)
        return _fake_converter(5.0, onnx_bytes)

    monkeypatch.setattr(resolvers, "_converter", get)
    inst = import_file(store, card, src)
    assert seen == ["fake"]
    assert inst.meta is not None and inst.meta["converter"] == "fake" and inst.meta["source_sha256"] == _sha(ckpt)
    assert set(inst.files) == {"model.onnx", "labels.json"}
    assert store.verified_bytes("tiny", "labels.json") == b'["spoof", "bonafide"]'
    out = session_from_store(store, "tiny").run(None, {"x": np.zeros((1, 4), np.float32)})[0]
    assert np.allclose(out, 5.0)
    assert src.exists()


def test_converter_failures_are_model_conversion_errors(tmp_path: Path, store: ModelStore,
                                                        make_card: Callable[..., ModelCard],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "Model.pth"
    src.write_bytes(b"CKPT")
    card = make_card(resolvers=[{"kind": "import", "sha256": _sha(b"CKPT"), "convert": "fake"}])

    def broken(src: Path, workdir: Path, card: ModelCard) -> dict[str, Path]:
        raise RuntimeError("shape mismatch in layer 3")

    def garbage(src: Path, workdir: Path, card: ModelCard) -> dict[str, Path]:
        out = workdir / card.file
        out.write_bytes(b"not an onnx model")
        return {card.file: out}

    monkeypatch.setattr(resolvers, "_converter", lambda name: broken)
    with pytest.raises(ModelConversionError, match="shape mismatch"):
        import_file(store, card, src)
    monkeypatch.setattr(resolvers, "_converter", lambda name: garbage)
    with pytest.raises(ModelConversionError, match="unloadable"):
        import_file(store, card, src)
    assert not store.is_installed("tiny")


def test_unknown_converter(tmp_path: Path, store: ModelStore, make_card: Callable[..., ModelCard]) -> None:
    src = tmp_path / "Model.pth"
    src.write_bytes(b"CKPT")
    card = make_card(resolvers=[{"kind": "import", "sha256": _sha(b"CKPT"), "convert": "no-such-converter"}])
    with pytest.raises(ModelConversionError, match="no converter"):
        import_file(store, card, src)


def test_import_packaged_yunet_from_shared(store: ModelStore) -> None:
    src = Path(__file__).resolve().parents[4] / "shared" / "models" / "yunet" / "face_detection_yunet.onnx"
    if not src.is_file():
        pytest.skip(f"{src} is absent (../shared/models is not part of the repository)")
    inst = import_file(store, "yunet", src)
    assert inst.files["face_detection_yunet.onnx"] == store.card("yunet").sha256
    sess = session_from_store(store, "yunet")
    outs = sess.run(None, {"input": np.zeros((1, 3, 64, 96), np.float32)})
    assert len(outs) == 12
