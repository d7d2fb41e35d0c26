"""Raw-body uploads (``Content-Type: application/octet-stream``, the name in ``Content-Disposition``,
the other fields in the query): the same scan as a multipart upload, the same checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .conftest import Env

VOLATILE = ("created_at", "timings_s")


def raw_upload(env: Env, path: Path | None = None, *, content: Any = None, name: str | None = None,
               disposition: str | None = None, role: str = "uploader", tenant: str = "acme",
               idempotency_key: str | None = None, **fields: Any) -> Any:
    headers = {**env.auth(role, tenant), "Content-Type": "application/octet-stream"}
    if disposition is None and (name or path) is not None:
        disposition = f"attachment; filename*=UTF-8''{quote(name if name is not None else path.name)}"  # type: ignore[union-attr]
    if disposition is not None:
        headers["Content-Disposition"] = disposition
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    params = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
    body = content if content is not None else path.read_bytes()  # type: ignore[union-attr]
    return env.client.post("/v1/scans", content=body, params=params, headers=headers)


def _scan(env: Env, scan_id: str, tenant: str = "acme") -> dict[str, Any]:
    r = env.client.get(f"/v1/scans/{scan_id}", headers=env.auth(tenant=tenant))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_raw_upload_is_the_same_scan_as_a_multipart_upload(env: Env, svc_media: dict[str, Path]) -> None:
    image = svc_media["image"]
    fields = {"detectors": "debug-image,debug-face", "external_id": "post-9", "declared_ai": True}
    form = env.upload(image, **fields)
    raw = raw_upload(env, image, tenant="globex", **fields)
    assert form.status_code == raw.status_code == 202, (form.text, raw.text)
    a, b = form.json(), raw.json()
    assert b["status"] == "queued" and raw.headers["location"] == f"/v1/scans/{b['id']}"
    same = ("source", "media", "detectors", "declared_ai", "limits", "external_id", "status")
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    assert b["source"] == {"type": "upload", "filename": "face.jpg", "url": None}
    assert env.drain() == 2
    ra, rb = _scan(env, a["id"])["report"], _scan(env, b["id"], "globex")["report"]
    assert ra["source"] == rb["source"] == "face.jpg"
    assert {k: v for k, v in ra.items() if k not in VOLATILE} == {k: v for k, v in rb.items() if k not in VOLATILE}
    # the same request either way: the raw bytes are answered from the multipart scan's result ...
    again = raw_upload(env, image, **fields)
    assert again.status_code == 202 and again.json()["reused_from"] == a["id"]
    # ... and one Idempotency-Key covers both forms of the same request (another request: 409)
    first = env.upload(svc_media["image2"], idempotency_key="k-raw", external_id="x")
    replay = raw_upload(env, svc_media["image2"], idempotency_key="k-raw", external_id="x")
    assert replay.status_code == 202 and replay.json()["id"] == first.json()["id"]
    assert replay.headers.get("idempotent-replayed") == "true"
    other = raw_upload(env, svc_media["image2"], idempotency_key="k-raw", external_id="y")
    assert other.status_code == 409 and other.json()["scan_id"] == first.json()["id"]


@pytest.mark.parametrize("name", [
    "../../etc/passwd",
    "<img src=x onerror=alert(1)>.jpg",
    "$(rm -rf ~); `id`.jpg",
    'quo"te;semi,comma.jpg',
    "\u200fgpj.exe\u202e.jpg",
    "ctrl\x1b[31m\x07.jpg",
    "名前 ünïcödé.jpg",
])
def test_hostile_names_are_kept_as_data(env: Env, svc_media: dict[str, Path], name: str) -> None:
    r = raw_upload(env, svc_media["image"], name=name, detectors="debug-image")
    assert r.status_code == 202, r.text
    scan = r.json()
    assert scan["source"]["filename"] == name
    assert env.drain() == 1
    assert _scan(env, scan["id"])["report"]["source"] == name
    # the name chose nothing on disk: the media is stored by its sha256 only
    stored = sorted(p.relative_to(env.core.blobs.root).as_posix() for p in env.core.blobs.root.rglob("*") if p.is_file())
    sha = scan["media"]["sha256"]
    assert stored == [f"sha256/{sha[:2]}/{sha}"]


def test_quoted_names_nul_and_length(env: Env, svc_media: dict[str, Path]) -> None:
    plain = raw_upload(env, svc_media["image"], disposition='attachment; filename="a \\"quoted\\" name.jpg"')
    assert plain.json()["source"]["filename"] == 'a "quoted" name.jpg'
    nul = raw_upload(env, svc_media["image"], disposition="attachment; filename*=UTF-8''a%00b.jpg")
    assert nul.json()["source"]["filename"] == "ab.jpg"
    long = raw_upload(env, svc_media["image"], name="x" * 1000 + ".jpg")
    assert long.json()["source"]["filename"] == "x" * 300


def test_raw_upload_over_the_cap_is_413_and_leaves_nothing(env_factory, svc_media: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    env = env_factory(max_upload_bytes=4000)
    audio = svc_media["audio"].read_bytes()
    assert len(audio) > 4000
    declared = raw_upload(env, svc_media["audio"])  # refused from Content-Length
    assert declared.status_code == 413 and declared.json()["code"] == "payload_too_large"

    def chunks() -> Any:  # no Content-Length: refused while streaming
        for i in range(0, len(audio), 1000):
            yield audio[i:i + 1000]

    streamed = raw_upload(env, content=chunks(), name="speech.wav")
    assert streamed.status_code == 413 and streamed.json()["code"] == "payload_too_large"
    assert env.core.blobs.temp_files() == []
    assert env.client.get("/v1/scans", headers=env.auth()).json()["data"] == []
    exact = raw_upload(env, content=audio[:4000], name="cut.wav")  # at the cap: accepted (and fails as media)
    assert exact.status_code == 202 and exact.json()["media"]["size"] == 4000
    assert env.core.blobs.temp_files() == []


def test_raw_upload_without_its_name_or_with_bad_fields_is_refused(env: Env, svc_media: dict[str, Path]) -> None:
    cases = [
        (raw_upload(env, content=b"\xff\xd8\xff"), 422, "validation_error"),  # no Content-Disposition
        (raw_upload(env, svc_media["image"], disposition="attachment"), 422, "validation_error"),
        (raw_upload(env, svc_media["image"], disposition='attachment; filename=""'), 422, "validation_error"),
        (raw_upload(env, svc_media["image"], colour="red"), 422, "validation_error"),
        (raw_upload(env, svc_media["image"], declared_ai="perhaps"), 422, "validation_error"),
        (raw_upload(env, svc_media["image"], limits="[1]"), 422, "validation_error"),
        (raw_upload(env, svc_media["image"], external_id="e" * 201), 422, "validation_error"),
        (raw_upload(env, svc_media["image"], detectors="no-such"), 422, "unknown_detector"),
        (raw_upload(env, svc_media["image"], callback_url="http://10.1.2.3/hook"), 422, "url_refused"),
        (raw_upload(env, svc_media["image"], role="reviewer"), 403, "forbidden"),
    ]
    for r, status, code in cases:
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == "application/problem+json" and r.json()["code"] == code
    twice = env.client.post("/v1/scans?external_id=a&external_id=b", content=svc_media["image"].read_bytes(),
                            headers={**env.auth(), "Content-Type": "application/octet-stream",
                                     "Content-Disposition": 'attachment; filename="a.jpg"'})
    assert twice.status_code == 400 and twice.json()["code"] == "bad_request"
    typed = env.client.post("/v1/scans", content=svc_media["image"].read_bytes(),
                            headers={**env.auth(), "Content-Type": "image/jpeg",
                                     "Content-Disposition": 'attachment; filename="a.jpg"'})
    assert typed.status_code == 415 and "application/octet-stream" in typed.json()["detail"]
    assert env.core.blobs.temp_files() == []
    assert env.client.get("/v1/scans", headers=env.auth()).json()["data"] == []


def test_the_api_checkpoints_the_sqlite_wal_outside_its_commits(env: Env, svc_media: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    import shutil
    import sqlite3

    from fastapi.testclient import TestClient

    ids = []
    with TestClient(env.app) as client:  # with its lifespan, as `synthwatch serve` runs the API
        with env.core.db.read() as conn:  # its commits leave the WAL to the checkpoint thread
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        for i in range(3):
            r = client.post("/v1/scans", content=svc_media["image"].read_bytes() + bytes([i]),
                            params={"detectors": "debug-image"},
                            headers={**env.auth(), "Content-Type": "application/octet-stream",
                                     "Content-Disposition": f'attachment; filename="f{i}.jpg"'})
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    # once the API stopped, the scans are in the database file itself, not only in its WAL
    db_file = Path(str(env.core.db.engine.url.database))
    copy = tmp_path / "main-file-only.sqlite"
    shutil.copyfile(db_file, copy)
    with sqlite3.connect(copy) as conn:
        found = {row[0] for row in conn.execute("SELECT id FROM scans")}
    assert found == set(ids)


def test_submissions_arriving_together_keep_their_order_and_their_own_outcomes(env: Env) -> None:
    import hashlib

    from synthwatch.errors import SynthwatchError
    from synthwatch.service.auth import Principal, Role
    from synthwatch.service.core import IdempotencyConflict, ScanRequest

    env.key("uploader")
    tenant = env.core.tenant_by_name("acme")
    who = Principal(key_id="key_test", tenant_id=tenant.id, tenant_name="acme", role=Role.UPLOADER)

    def req(i: int, **kw: Any) -> ScanRequest:
        sha = hashlib.sha256(f"item {i}".encode()).hexdigest()
        return ScanRequest(sha256=sha, size=10, filename=f"f{i}.jpg", **kw)

    first = env.core.submit(who, req(0), "k-1")
    with env.core.db._write_lock:  # the writer is busy: these pile up and are written together
        futures = [env.core.submit_later(who, req(i), None) for i in range(1, 6)]
        conflict = env.core.submit_later(who, req(99), "k-1")  # the key of another request
        unknown = env.core.submit_later(who, req(98, detectors=["no-such"]), None)
        replay = env.core.submit_later(who, req(0), "k-1")
        more = [env.core.submit_later(who, req(i), None) for i in range(6, 9)]
    done = [f.result(timeout=60) for f in futures + more]
    with pytest.raises(IdempotencyConflict):
        conflict.result(timeout=60)
    with pytest.raises(SynthwatchError):
        unknown.result(timeout=60)
    assert replay.result(timeout=60).replayed and replay.result().scan.id == first.scan.id
    # every other submission is its own queued scan, written in the order it arrived
    assert [d.scan.filename for d in done] == [f"f{i}.jpg" for i in range(1, 9)]
    assert all(d.scan.status == "queued" and not d.replayed for d in done)
    created = [d.scan.created_at for d in done]
    assert created == sorted(created)
    listed = env.client.get("/v1/scans", params={"limit": 50}, headers=env.auth()).json()["data"]
    assert sorted(s["source"]["filename"] for s in listed) == sorted(f"f{i}.jpg" for i in range(9))
