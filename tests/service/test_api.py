"""The HTTP API: submit, status, the report, listing, idempotency, dedupe, errors, limits, health."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import Env, cli_env, synthwatch_cmd

VOLATILE = ("created_at", "timings_s", "source")


def test_upload_scan_report_is_the_cli_report(env: Env, svc_media: dict[str, Path]) -> None:
    r = env.upload(svc_media["image"], detectors="debug-image,debug-face", external_id="post-1")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and body["id"].startswith("scan_")
    assert r.headers["location"] == f"/v1/scans/{body['id']}"
    assert body["media"]["sha256"] and body["source"] == {"type": "upload", "filename": "face.jpg", "url": None}
    got = env.client.get(f"/v1/scans/{body['id']}", headers=env.auth()).json()
    assert got["status"] == "queued" and got["report"] is None
    assert env.drain() == 1
    got = env.client.get(f"/v1/scans/{body['id']}", headers=env.auth()).json()
    assert got["status"] == "done" and got["attempts"] == 1 and got["error"] is None
    report = got["report"]
    assert report["schema"] == "synthwatch.report/1"
    assert got["verdict"] == {"label": report["verdict"]["label"], "score": report["verdict"]["score"]}
    assert got["label_decision"] == report["provenance"]["decision"] and "rule" in got["label_decision"]
    # exactly what `synthwatch scan --json` gives for the same file and detectors
    out = subprocess.run(synthwatch_cmd("scan", "--json", "--detectors", "debug-image,debug-face",
                                        str(svc_media["image"])),
                         env=cli_env(env.home, "sqlite://"), capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stderr
    cli = json.loads(out.stdout)[0]
    assert {k: v for k, v in report.items() if k not in VOLATILE} == {k: v for k, v in cli.items() if k not in VOLATILE}
    assert report["source"] == "face.jpg"


def test_list_filters_and_cursor(env: Env, svc_media: dict[str, Path]) -> None:
    ids = [env.upload(svc_media["image"], external_id=f"e{i}", declared_ai=bool(i % 2)).json()["id"] for i in range(5)]
    env.drain()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = env.client.get("/v1/scans", params=params, headers=env.auth("reviewer")).json()
        assert len(page["data"]) <= 2 and all("report" not in s for s in page["data"])
        seen += [s["id"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))  # newest first, every scan once
    done = env.client.get("/v1/scans", params={"status": "done", "external_id": "e3"}, headers=env.auth()).json()
    assert [s["id"] for s in done["data"]] == [ids[3]]
    verdict = done["data"][0]["verdict"]["label"]
    by_verdict = env.client.get("/v1/scans", params={"verdict": verdict}, headers=env.auth()).json()
    assert ids[3] in [s["id"] for s in by_verdict["data"]]
    future = env.client.get("/v1/scans", params={"created_after": "2999-01-01T00:00:00Z"}, headers=env.auth()).json()
    assert future["data"] == []
    bad = env.client.get("/v1/scans", params={"status": "nope"}, headers=env.auth())
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert env.client.get("/v1/scans", params={"cursor": "%%%"}, headers=env.auth()).status_code == 422


def test_idempotency_key(env: Env, svc_media: dict[str, Path]) -> None:
    a = env.upload(svc_media["image"], idempotency_key="k-1", external_id="x")
    b = env.upload(svc_media["image"], idempotency_key="k-1", external_id="x")
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] == b.json()["id"] and b.headers.get("idempotent-replayed") == "true"
    c = env.upload(svc_media["image2"], idempotency_key="k-1", external_id="x")
    assert c.status_code == 409
    problem = c.json()
    assert problem["code"] == "idempotency_conflict" and problem["scan_id"] == a.json()["id"]
    # keys are per tenant
    other = env.upload(svc_media["image2"], tenant="globex", idempotency_key="k-1")
    assert other.status_code == 202 and other.json()["id"] != a.json()["id"]
    assert env.drain() == 2  # the replay queued nothing


def test_same_file_reuses_the_result_while_detectors_are_unchanged(env: Env, svc_media: dict[str, Path]) -> None:
    first = env.upload(svc_media["image"]).json()
    env.drain()
    again = env.upload(svc_media["image"])
    assert again.status_code == 202
    body = again.json()
    assert body["status"] == "done" and body["reused_from"] == first["id"]  # answered at once
    assert env.drain() == 0  # no second scan
    full = env.client.get(f"/v1/scans/{body['id']}", headers=env.auth()).json()
    orig = env.client.get(f"/v1/scans/{first['id']}", headers=env.auth()).json()
    assert full["report"] == orig["report"]
    # another detector set, another declaration or another tenant: a new scan
    assert env.upload(svc_media["image"], detectors="debug-image").json()["status"] == "queued"
    assert env.upload(svc_media["image"], declared_ai=True).json()["status"] == "queued"
    assert env.upload(svc_media["image"], tenant="globex").json()["status"] == "queued"
    assert env.drain() == 3


def test_detector_versions_change_invalidates_reuse(env: Env, svc_media: dict[str, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from synthwatch.detectors import registry
    from synthwatch.testing.detectors import DebugImage

    env.upload(svc_media["image"], detectors="debug-image")
    env.drain()
    info = registry.detector_class("debug-image").info
    monkeypatch.setattr(DebugImage, "info", type(info)(**{**info.__dict__, "version": info.version + "-next"}))
    env.core._fp_cache.clear()
    assert env.upload(svc_media["image"], detectors="debug-image").json()["status"] == "queued"


def test_problem_documents_never_carry_a_trace(env: Env) -> None:
    cases = [
        env.client.get("/v1/scans/scan_nope", headers=env.auth()),
        env.client.get("/v1/scans"),
        env.client.get("/v1/scans", headers={"Authorization": "Bearer swk_000000000000_nope"}),
        env.client.get("/v1/scans", headers={"Authorization": "Basic abc"}),
        env.client.post("/v1/scans", content=b"hello", headers={**env.auth(), "Content-Type": "text/plain"}),
        env.client.post("/v1/scans", json={"url": "ftp://example.org/x.jpg"}, headers=env.auth()),
        env.client.post("/v1/scans", json={"url": "http://10.0.0.5/x.jpg"}, headers=env.auth()),
        env.client.post("/v1/scans", json={"url": "https://example.org/a.jpg", "nope": 1}, headers=env.auth()),
        env.client.post("/v1/scans", json={"url": "https://example.org/a.jpg", "detectors": ["no-such"]},
                        headers=env.auth()),
        env.client.post("/v1/scans", content=b"{bad json", headers={**env.auth(), "Content-Type": "application/json"}),
        env.client.delete("/v1/scans", headers=env.auth()),
    ]
    expected = [(404, "not_found"), (401, "unauthorized"), (401, "unauthorized"), (401, "unauthorized"),
                (415, "unsupported_media_type"), (422, "url_refused"), (422, "url_refused"),
                (422, "validation_error"), (422, "unknown_detector"), (422, "validation_error"),
                (405, "method_not_allowed")]
    for r, (status, code) in zip(cases, expected, strict=True):
        assert r.status_code == status, (r.request.url, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        p = r.json()
        assert p["code"] == code and p["type"] == f"urn:synthwatch:problem:{code}" and p["status"] == status
        assert "Traceback" not in r.text and 'File "' not in r.text


def test_upload_over_the_cap_is_413_and_leaves_no_file(env_factory, svc_media: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    env = env_factory(max_upload_bytes=4000)
    r = env.upload(svc_media["audio"])
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert env.core.blobs.temp_files() == []
    assert env.client.get("/v1/scans", headers=env.auth()).json()["data"] == []
    small = env.upload(svc_media["image"])  # a separate cap: this one is 4.5 kB
    assert small.status_code in (202, 413)
    assert env.core.blobs.temp_files() == []


def test_rate_limit_answers_429_with_retry_after(env_factory) -> None:  # type: ignore[no-untyped-def]
    env = env_factory(rate_limit_per_minute=60, rate_limit_burst=3)
    codes = [env.client.get("/v1/me", headers=env.auth()).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    r = env.client.get("/v1/me", headers=env.auth())
    assert r.headers["content-type"] == "application/problem+json" and r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 2
    assert env.client.get("/v1/me", headers=env.auth("admin")).status_code == 200  # per key


def test_health_ready_metrics_and_openapi(env: Env, svc_media: dict[str, Path]) -> None:
    assert env.client.get("/healthz").json() == {"status": "ok"}
    from .conftest import wait_for

    ready = wait_for(lambda: (r := env.client.get("/readyz")).json()["checks"]["models"]["state"] != "checking" and r,
                     what="model check")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    mig = checks["migrations"]
    assert checks["database"]["ok"] and mig["ok"] and mig["current"] == mig["head"]
    env.upload(svc_media["image"])
    env.upload(svc_media["audio"])
    env.drain(limit=1)
    env.core.stores.workers.register("w-metrics", "host-a", 1)
    text = env.client.get("/metrics").text
    assert 'synthwatch_queue_jobs{state="queued"} 1.0' in text
    assert 'synthwatch_job_duration_seconds_count{kind="image"} 1.0' in text
    assert 'synthwatch_job_latency_seconds_bucket{kind="image",le="+Inf"} 1.0' in text
    assert "synthwatch_verdicts_total{verdict=" in text
    assert 'synthwatch_worker_heartbeat_age_seconds{host="host-a"' in text
    assert 'synthwatch_http_request_duration_seconds_count{method="POST",route="/v1/scans",status="202"} 2.0' in text
    spec = env.client.get("/openapi.json").json()
    assert "/v1/scans" in spec["paths"] and "multipart/form-data" in \
        spec["paths"]["/v1/scans"]["post"]["requestBody"]["content"]
    assert env.client.get("/docs").status_code == 200


def test_refuses_to_start_on_an_unmigrated_database(tmp_path: Path) -> None:
    from synthwatch.service.app import create_app
    from synthwatch.service.db import NotMigrated
    from synthwatch.service.settings import ServiceSettings

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(NotMigrated, match="synthwatch db upgrade"):
        create_app(ServiceSettings(home=tmp_path, database_url=url))
    out = subprocess.run(synthwatch_cmd("serve", "--workers", "0", "--port", "1"), env=cli_env(tmp_path, url),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "synthwatch db upgrade" in out.stderr


def test_cli_admin_prints_the_key_last_and_it_works(env: Env, tmp_path: Path) -> None:
    url = env.settings.db_url
    e = cli_env(env.home, url)
    assert subprocess.run(synthwatch_cmd("admin", "tenant", "create", "initech"), env=e, capture_output=True,
                          timeout=60).returncode == 0
    out = subprocess.run(synthwatch_cmd("admin", "key", "create", "--tenant", "initech", "--role", "auditor"), env=e,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[-1]
    me = env.client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert me["tenant"]["name"] == "initech" and me["role"] == "auditor"
    bad = subprocess.run(synthwatch_cmd("admin", "key", "create", "--tenant", "initech", "--role", "root"), env=e,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown role" in bad.stderr
