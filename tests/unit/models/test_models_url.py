"""``synthwatch models pull``: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthwatch.errors import ModelDownloadError, ModelIntegrityError
from synthwatch.models import resolvers
from synthwatch.models.card import ModelCard
from synthwatch.models.resolvers import UrlPolicy, download, install_url, pull
from synthwatch.models.runtime import session_from_store
from synthwatch.models.store import ModelStore

pytestmark = pytest.mark.network_local

LOCAL = UrlPolicy(allow_private=True, timeout_s=5)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _url_card(make_card: Callable[..., ModelCard], url: str, data: bytes, **r: Any) -> ModelCard:
    return make_card(resolvers=[{"kind": "url", "url": url, "sha256": _sha(data), **r}])


def _no_scratch(store: ModelStore) -> bool:
    return not store.root.exists() or not [p for p in store.root.iterdir() if p.name.startswith(".") and p.name != ".lock"]


def test_pull_success(http_server: Any, store: ModelStore, make_card: Callable[..., ModelCard],
                      onnx_bytes: Callable[[float], bytes]) -> None:
    data = onnx_bytes(7.0)
    url = http_server.add("/models/tiny.onnx", data)
    card = _url_card(make_card, url, data, size=len(data))
    events: list[tuple[str, dict[str, Any]]] = []
    inst = pull(store, card, policy=LOCAL, progress=lambda s, i: events.append((s, i)))
    assert inst.resolver == "url" and inst.origin == url
    assert ("download", {"name": "tiny", "done": len(data), "total": len(data), "via": "http"}) in events
    out = session_from_store(store, "tiny").run(None, {"x": np.zeros((1, 4), np.float32)})[0]
    assert np.allclose(out, 7.0)
    assert _no_scratch(store)


def test_wrong_sha256(http_server: Any, store: ModelStore, make_card: Callable[..., ModelCard]) -> None:
    url = http_server.add("/m.onnx", b"tampered bytes")
    card = make_card(resolvers=[{"kind": "url", "url": url, "sha256": _sha(b"published bytes")}])
    with pytest.raises(ModelIntegrityError, match="sha256"):
        pull(store, card, policy=LOCAL)
    assert not store.is_installed("tiny")
    assert _no_scratch(store)


def test_http_404(http_server: Any, store: ModelStore, make_card: Callable[..., ModelCard]) -> None:
    card = _url_card(make_card, http_server.url("/missing.onnx"), b"x")
    with pytest.raises(ModelDownloadError, match="404"):
        install_url(store, card, policy=LOCAL)
    assert not store.is_installed("tiny")


def test_same_origin_redirect_is_followed(http_server: Any, store: ModelStore,
                                         make_card: Callable[..., ModelCard], onnx_bytes: Callable[[float], bytes]) -> None:
    data = onnx_bytes(1.0)
    http_server.add("/final.onnx", data)
    url = http_server.add("/latest.onnx", status=302, headers={"Location": "/final.onnx"})
    inst = pull(store, _url_card(make_card, url, data), policy=LOCAL)
    assert inst.origin == url
    assert http_server.hits == ["/latest.onnx", "/final.onnx"]


def test_redirect_to_another_origin_is_refused(http_server: Any, store: ModelStore,
                                              make_card: Callable[..., ModelCard]) -> None:
    data = b"model"
    http_server.add("/final.onnx", data)
    elsewhere = http_server.url("/final.onnx", host="localhost")
    url = http_server.add("/latest.onnx", status=301, headers={"Location": elsewhere})
    with pytest.raises(ModelDownloadError, match="another origin"):
        pull(store, _url_card(make_card, url, data), policy=LOCAL)
    assert http_server.hits == ["/latest.onnx"]


def test_redirect_loop(http_server: Any, tmp_path: Path) -> None:
    url = http_server.add("/a", status=307, headers={"Location": "/a"})
    with pytest.raises(ModelDownloadError, match="redirects"):
        download(url, tmp_path / "x", sha256="0" * 64, policy=UrlPolicy(allow_private=True, max_redirects=3))
    assert len(http_server.hits) == 4
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_address_refused_unless_allowed(http_server: Any, store: ModelStore,
                                                make_card: Callable[..., ModelCard], host: str) -> None:
    data = b"model"
    http_server.add("/m.onnx", data)
    card = _url_card(make_card, http_server.url("/m.onnx", host=host), data)
    with pytest.raises(ModelDownloadError, match="non-public"):
        pull(store, card)  # default policy
    assert http_server.hits == []  # refused before connecting


def test_oversized_by_content_length(http_server: Any, store: ModelStore, make_card: Callable[..., ModelCard]) -> None:
    data = b"x" * 5000
    url = http_server.add("/big.onnx", data)
    with pytest.raises(ModelDownloadError, match="limit"):
        pull(store, _url_card(make_card, url, data), policy=UrlPolicy(allow_private=True, max_bytes=1000))
    assert _no_scratch(store)


def test_oversized_while_streaming(http_server: Any, tmp_path: Path) -> None:
    data = b"y" * (3 << 20)
    url = http_server.add("/stream.onnx", data, content_length=False)
    with pytest.raises(ModelDownloadError, match="more than"):
        download(url, tmp_path / "s", sha256=_sha(data), policy=UrlPolicy(allow_private=True, max_bytes=1 << 20))
    assert not (tmp_path / "s").exists()
    # without the cap the same stream downloads and verifies
    assert download(url, tmp_path / "s", sha256=_sha(data), policy=UrlPolicy(allow_private=True)) == len(data)


def test_pinned_size_mismatch(http_server: Any, tmp_path: Path) -> None:
    url = http_server.add("/m", b"abc")
    with pytest.raises(ModelDownloadError):
        download(url, tmp_path / "m", sha256=_sha(b"abc"), size=2, policy=LOCAL)
    with pytest.raises(ModelIntegrityError):
        download(url, tmp_path / "m", sha256=_sha(b"abc"), size=4, policy=LOCAL)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/m.onnx", "file:///etc/passwd", "http://user:pw@127.0.0.1/m",
                                 "http:///nohost"])
def test_refused_urls(tmp_path: Path, url: str) -> None:
    with pytest.raises(ModelDownloadError, match="refused"):
        download(url, tmp_path / "m", sha256="0" * 64, policy=LOCAL)


def test_connection_refused(tmp_path: Path, http_server: Any) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ModelDownloadError, match="failed"):
        download(f"http://127.0.0.1:{port}/m", tmp_path / "m", sha256="0" * 64, policy=LOCAL)


def test_pull_with_mirror_url_uses_import_pin_and_converter(http_server: Any, store: ModelStore,
                                                           make_card: Callable[..., ModelCard],
                                                           onnx_bytes: Callable[[float], bytes],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = b"CKPT published"
    url = http_server.add("/mirror/Model.pth", ckpt)
    card = make_card(resolvers=[{"kind": "import", "sha256": _sha(ckpt), "convert": "fake"}])

    def convert(src: Path, workdir: Path, c: ModelCard) -> dict[str, Path]:
        assert src.read_bytes() == ckpt
        out = workdir / c.file
        out.write_bytes(onnx_bytes(2.0))
        return {c.file: out}

    monkeypatch.setattr(resolvers, "_converter", lambda name: convert)
    with pytest.raises(ModelDownloadError, match="no pinned download"):
        pull(store, card, policy=LOCAL)
    inst = pull(store, card, url=url, policy=LOCAL)
    assert inst.resolver == "url" and inst.meta is not None and inst.meta["converter"] == "fake"
