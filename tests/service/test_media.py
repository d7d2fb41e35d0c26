"""Content-addressed media, retention and legal hold, tenant settings."""

from __future__ import annotations

import time
from pathlib import Path

from synthwatch.service.jobs.maintenance import purge_expired

from .conftest import Env


def test_media_stored_once_by_sha256_and_downloadable(env: Env, svc_media: dict[str, Path]) -> None:
    a = env.upload(svc_media["image"]).json()
    b = env.upload(svc_media["image"], tenant="globex").json()
    sha = a["media"]["sha256"]
    assert b["media"]["sha256"] == sha
    stored = list((env.core.blobs.root / "sha256").rglob("*"))
    assert [p.name for p in stored if p.is_file()] == [sha]  # one file for both tenants
    r = env.client.get(f"/v1/scans/{a['id']}/media", headers=env.auth("reviewer"))
    assert r.status_code == 200 and r.content == svc_media["image"].read_bytes()
    assert r.headers["x-content-sha256"] == sha


def test_retention_purges_unless_held(env: Env, svc_media: dict[str, Path]) -> None:
    admin = env.auth("admin")
    assert env.client.patch("/v1/tenant", json={"retention_days": 0.00001}, headers=admin).status_code == 200
    kept = env.upload(svc_media["image"]).json()
    gone = env.upload(svc_media["audio"]).json()
    env.drain()
    hold = env.client.put(f"/v1/media/{kept['media']['sha256']}/legal-hold", json={"reason": "case 12"}, headers=admin)
    assert hold.status_code == 200 and hold.json()["legal_hold"] and hold.json()["hold_reason"] == "case 12"
    time.sleep(1.0)  # both are past their retention now
    assert purge_expired(env.core) == 1
    assert env.core.blobs.exists(kept["media"]["sha256"])
    assert not env.core.blobs.exists(gone["media"]["sha256"])
    r = env.client.get(f"/v1/scans/{gone['id']}/media", headers=admin)
    assert r.status_code == 410 and r.json()["code"] == "media_purged"
    info = env.client.get(f"/v1/media/{gone['media']['sha256']}", headers=env.auth("auditor")).json()
    assert info["purged_at"] is not None and not info["legal_hold"]
    assert env.client.get(f"/v1/scans/{gone['id']}", headers=admin).json()["report"] is not None  # evidence kept
    # released: retention applies again
    env.client.delete(f"/v1/media/{kept['media']['sha256']}/legal-hold", headers=admin)
    # (a file that a review case refers to is kept the case retention period, so look past any period)
    assert purge_expired(env.core, at=time.time() + 400 * 86400) == 1
    assert not env.core.blobs.exists(kept["media"]["sha256"])
    with env.core.db.read() as conn:
        actions = [e["action"] for e in env.core.stores.events.list(conn, None, None, 500)]
    assert {"media.hold_set", "media.hold_released", "media.purged", "tenant.settings_changed"} <= set(actions)


def test_tenant_settings_apply_to_new_scans(env: Env, svc_media: dict[str, Path]) -> None:
    admin = env.auth("admin")
    r = env.client.patch("/v1/tenant", json={"detectors": ["debug-image"], "limits": {"max_pixels": 500},
                                             "rate_limit_per_minute": 999}, headers=admin)
    assert r.status_code == 200
    s = r.json()["settings"]
    assert s["detectors"] == ["debug-image"] and s["limits"] == {"max_pixels": 500} and s["rate_limit_per_minute"] == 999
    scan = env.upload(svc_media["image"]).json()
    assert scan["detectors"] == ["debug-image"] and scan["limits"] == {"max_pixels": 500}
    env.drain()
    assert env.client.get(f"/v1/scans/{scan['id']}", headers=admin).json()["error"]["code"] == "media_too_large"
    bad = env.client.patch("/v1/tenant", json={"detectors": ["nope"]}, headers=admin)
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_detector"
    assert env.client.patch("/v1/tenant", json={"limits": {"max_bytes": -1}}, headers=admin).status_code == 422
    assert env.client.patch("/v1/tenant", json={"callback_url": "http://10.0.0.1/"}, headers=admin).status_code == 422
    cleared = env.client.patch("/v1/tenant", json={"detectors": None}, headers=admin).json()
    assert cleared["settings"]["detectors"] is None
