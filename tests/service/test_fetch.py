"""The SSRF guard (URL scans, webhooks), against real servers on 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from synthwatch.service.fetch import FetchError, FetchPolicy, request

from .conftest import Env, LoopbackServer

ALLOW = FetchPolicy(allow=("127.0.0.1/32",), max_bytes=10_000, timeout_s=3.0, max_redirects=2)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/a", "http://localhost:{port}/a", "http://[::1]:{port}/a", "http://10.1.2.3/a",
    "http://192.168.0.1/a", "http://172.16.5.4/a", "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/",
    "http://0.0.0.0:{port}/", "http://[::ffff:127.0.0.1]:{port}/", "http://[fd00::1]/", "http://224.0.0.1/",
])
def test_non_public_addresses_are_refused_without_an_allow_list(http_server: LoopbackServer, url: str) -> None:
    http_server.routes["/a"] = lambda req: (200, {}, b"secret")
    with pytest.raises(FetchError) as err:
        request("GET", url.format(port=http_server.port), FetchPolicy(timeout_s=2))
    assert err.value.code == "url_refused"
    assert http_server.received == []  # refused before connecting


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/", "ftp://example.org/x",
                                 "http://user:pw@example.org/", "http:///nohost", "javascript:alert(1)"])
def test_only_plain_http_urls(url: str) -> None:
    with pytest.raises(FetchError) as err:
        request("GET", url, ALLOW)
    assert err.value.code == "url_refused"


def test_allow_listed_loopback_works_and_redirects_are_rechecked(http_server: LoopbackServer) -> None:
    http_server.routes["/ok"] = lambda req: (200, {"Content-Type": "image/jpeg"}, b"x" * 100)
    http_server.routes["/hop"] = lambda req: (302, {"Location": "/ok"}, b"")
    http_server.routes["/evil"] = lambda req: (302, {"Location": "http://169.254.169.254/latest/"}, b"")
    http_server.routes["/loop"] = lambda req: (301, {"Location": "/loop"}, b"")
    assert request("GET", http_server.url("/hop"), ALLOW).body == b"x" * 100
    with pytest.raises(FetchError) as err:
        request("GET", http_server.url("/evil"), ALLOW)
    assert err.value.code == "url_refused"
    with pytest.raises(FetchError) as err:
        request("GET", http_server.url("/loop"), ALLOW)
    assert err.value.code == "fetch_redirects"


def test_size_and_time_caps(http_server: LoopbackServer) -> None:
    http_server.routes["/big"] = lambda req: (200, {}, b"x" * 20_000)
    http_server.routes["/liar"] = lambda req: (200, {"Content-Length": "50"}, b"")  # announces little

    def slow(req: object) -> tuple[int, dict[str, str], bytes]:
        time.sleep(5)
        return 200, {}, b"late"

    http_server.routes["/slow"] = slow
    with pytest.raises(FetchError) as err:
        request("GET", http_server.url("/big"), ALLOW)
    assert err.value.code == "fetch_too_large"
    chunks: list[bytes] = []
    with pytest.raises(FetchError) as err:
        request("GET", http_server.url("/big"), FetchPolicy(allow=("127.0.0.1",), max_bytes=10_000), sink=chunks.append)
    assert err.value.code == "fetch_too_large" and sum(map(len, chunks)) <= 10_000
    t0 = time.monotonic()
    with pytest.raises(FetchError) as err:
        request("GET", http_server.url("/slow"), FetchPolicy(allow=("127.0.0.1/32",), timeout_s=1.0))
    assert err.value.code == "fetch_timeout" and time.monotonic() - t0 < 4


def test_url_scan_end_to_end(env: Env, http_server: LoopbackServer, svc_media: dict[str, Path]) -> None:
    data = svc_media["image"].read_bytes()
    http_server.routes["/media/face.jpg"] = lambda req: (200, {"Content-Type": "image/jpeg"}, data)
    http_server.routes["/media/redirect"] = lambda req: (302, {"Location": "http://10.0.0.1/x.jpg"}, b"")
    http_server.routes["/media/big"] = lambda req: (200, {}, b"\xff" * 3000)
    ok = env.client.post("/v1/scans", json={"url": http_server.url("/media/face.jpg"), "external_id": "u1"},
                         headers=env.auth())
    bad = env.client.post("/v1/scans", json={"url": http_server.url("/media/redirect")}, headers=env.auth())
    big = env.client.post("/v1/scans", json={"url": http_server.url("/media/big"), "limits": {"max_bytes": 1000}},
                          headers=env.auth())
    gone = env.client.post("/v1/scans", json={"url": http_server.url("/media/missing.jpg")}, headers=env.auth())
    assert ok.status_code == bad.status_code == big.status_code == gone.status_code == 202
    env.drain()
    get = lambda r: env.client.get(f"/v1/scans/{r.json()['id']}", headers=env.auth()).json()  # noqa: E731
    done = get(ok)
    assert done["status"] == "done" and done["media"]["sha256"] and done["report"]["media"]["kind"] == "image"
    assert done["source"] == {"type": "url", "filename": "face.jpg", "url": http_server.url("/media/face.jpg")}
    assert get(bad)["error"]["code"] == "url_refused"
    assert get(big)["error"]["code"] == "fetch_too_large"
    assert get(gone)["error"]["code"] == "fetch_failed" and "404" in get(gone)["error"]["message"]
    assert env.core.blobs.temp_files() == []
    # the same bytes uploaded afterwards reuse the URL scan's result
    again = env.upload(svc_media["image"]).json()
    assert again["status"] == "done" and again["reused_from"] == done["id"]
