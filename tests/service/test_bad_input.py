"""Bad uploads end as failed scans with the scanner's own typed error code; the rest of the queue
is unaffected; no temporary file or child process is left behind."""

from __future__ import annotations

import os
from pathlib import Path

from synthwatch import Scanner
from synthwatch.service.jobs.worker import _stop_sandboxes

from .conftest import DEBUG_DETECTORS, Env, children_of


def _bad_files(d: Path, image: Path) -> dict[str, Path]:
    data = image.read_bytes()
    files = {
        "empty.jpg": b"",
        "noise.jpg": os.urandom(5000),
        "truncated.jpg": data[: len(data) // 3],
        "text-named.mp4": b"this is not a video\n" * 50,
        "zip-bomb-ish.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 4000,
        "html.wav": b"<html><script>alert(1)</script></html>",
    }
    out = {}
    for name, content in files.items():
        p = d / name
        p.write_bytes(content)
        out[name] = p
    return out


def test_bad_uploads_fail_with_the_scanners_code(env: Env, svc_media: dict[str, Path], tmp_path: Path) -> None:
    bad = _bad_files(tmp_path, svc_media["image"])
    good_before = env.upload(svc_media["image"]).json()["id"]
    ids = {name: env.upload(p).json()["id"] for name, p in bad.items()}
    tiny = env.upload(svc_media["image2"], limits='{"max_pixels": 1000}').json()["id"]
    good_after = env.upload(svc_media["audio"]).json()["id"]
    assert env.drain() == len(bad) + 3
    scanner = Scanner(env.core.core, detectors=DEBUG_DETECTORS)
    for name, sid in ids.items():
        got = env.client.get(f"/v1/scans/{sid}", headers=env.auth()).json()
        expected = scanner.scan(bad[name], name=name).error
        assert expected is not None, name
        assert got["status"] == "failed", (name, got)
        assert got["error"]["code"] == expected.code, (name, got["error"])
        assert got["report"]["error"]["code"] == expected.code and got["verdict"] is None
    too_big = env.client.get(f"/v1/scans/{tiny}", headers=env.auth()).json()
    assert too_big["status"] == "failed" and too_big["error"]["code"] == "media_too_large"
    assert too_big["limits"] == {"max_pixels": 1000}
    for sid in (good_before, good_after):
        assert env.client.get(f"/v1/scans/{sid}", headers=env.auth()).json()["status"] == "done"
    failed = env.client.get("/v1/scans", params={"status": "failed"}, headers=env.auth()).json()["data"]
    assert len(failed) == len(bad) + 1
    assert env.core.blobs.temp_files() == []
    _stop_sandboxes()
    assert children_of(os.getpid()) == []


def test_malformed_multipart_bodies_are_4xx_and_leave_nothing(env: Env) -> None:
    h = env.auth()
    cases = [
        (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\nabc",  # no end
         "multipart/form-data; boundary=xyz"),
        (b"garbage", "multipart/form-data"),  # no boundary
        (b"--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n1\r\n--xyz--\r\n",
         "multipart/form-data; boundary=xyz"),  # no file part
        (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n1\r\n"
         b"--xyz\r\nContent-Disposition: form-data; name=\"surprise\"\r\n\r\n1\r\n--xyz--\r\n",
         "multipart/form-data; boundary=xyz"),  # unknown field
    ]
    for body, ctype in cases:
        r = env.client.post("/v1/scans", content=body, headers={**h, "Content-Type": ctype})
        assert 400 <= r.status_code < 500 and r.headers["content-type"] == "application/problem+json", r.text
    assert env.client.get("/v1/scans", headers=h).json()["data"] == []
    assert env.core.blobs.temp_files() == []
