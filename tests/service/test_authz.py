"""The authorization matrix: every route x every role, own tenant and another tenant's objects.

The table below is written out by hand (not derived from ``auth.PERMISSIONS``), and the test fails
when the app has a route the table does not list, so every new route must be added here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from synthwatch.service.auth import Role

from .conftest import Env

ROLES = [r.value for r in Role]
PUBLIC = "public"
READ_SCANS = {"uploader", "reviewer", "auditor", "admin"}
MEDIA = {"reviewer", "auditor", "admin"}
ADMIN = {"admin"}
AUDIT_READ = {"auditor", "admin"}

MATRIX: dict[tuple[str, str], Any] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("POST", "/v1/scans"): {"uploader", "admin"},
    ("GET", "/v1/scans"): READ_SCANS,
    ("GET", "/v1/scans/{scan_id}"): READ_SCANS,
    ("GET", "/v1/scans/{scan_id}/media"): MEDIA,
    ("GET", "/v1/media/{sha256}"): MEDIA,
    ("PUT", "/v1/media/{sha256}/legal-hold"): ADMIN,
    ("DELETE", "/v1/media/{sha256}/legal-hold"): ADMIN,
    ("GET", "/v1/me"): set(ROLES),
    ("GET", "/v1/tenant"): AUDIT_READ,
    ("PATCH", "/v1/tenant"): ADMIN,
    ("POST", "/v1/tenant/webhook-secret"): ADMIN,
    ("GET", "/v1/keys"): ADMIN,
    ("POST", "/v1/keys"): ADMIN,
    ("DELETE", "/v1/keys/{key_id}"): ADMIN,
    ("GET", "/v1/webhooks/deliveries"): AUDIT_READ,
    ("GET", "/v1/webhooks/deliveries/{delivery_id}"): AUDIT_READ,
    ("POST", "/v1/webhooks/deliveries/{delivery_id}/retry"): ADMIN,
    ("POST", "/v1/webhooks/test"): ADMIN,
}


def _objects(env: Env, tenant: str, image: Path) -> dict[str, str]:
    scan = env.upload(image, role="uploader", tenant=tenant).json()
    env.drain()
    admin = env.auth("admin", tenant)
    delivery = env.client.post("/v1/webhooks/test", json={"url": "http://127.0.0.1:9/hook"}, headers=admin).json()
    env.core.stores.webhooks.lease_due(time.time() + 1, 30, 10)
    env.core.stores.webhooks.mark_failed(delivery["id"], None, "refused", None)  # dead: retry is allowed
    return {"scan_id": scan["id"], "sha256": scan["media"]["sha256"], "delivery_id": delivery["id"]}


def _call(env: Env, method: str, path: str, ids: dict[str, str], headers: dict[str, str], image: Path,
          tenant: str) -> Any:
    if "{key_id}" in path:  # a fresh key of the tenant that owns the objects
        ids = {**ids, "key_id": env.core.create_key(env.core.tenant_by_name(tenant), "uploader")[0].id}
    url = path.format(**ids)
    if method == "POST" and path == "/v1/scans":
        with open(image, "rb") as fh:
            return env.client.post(url, files={"file": ("x.jpg", fh)}, headers=headers)
    body = {("PATCH", "/v1/tenant"): {"retention_days": 40},
            ("POST", "/v1/keys"): {"role": "uploader"},
            ("PUT", "/v1/media/{sha256}/legal-hold"): {"reason": "case 7"},
            ("POST", "/v1/webhooks/test"): {"url": "http://127.0.0.1:9/hook"}}.get((method, path))
    return env.client.request(method, url, json=body, headers=headers)


@pytest.fixture
def world(env: Env, svc_media: dict[str, Path]) -> dict[str, dict[str, str]]:
    return {"acme": _objects(env, "acme", svc_media["image"]),
            "globex": _objects(env, "globex", svc_media["image2"])}


def test_every_route_is_in_the_matrix(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    routes = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    # routes outside the schema (FastAPI's docs pages)
    routes |= {(m, r.path) for r in env.app.routes if hasattr(r, "path") for m in getattr(r, "methods", set()) - {"HEAD"}}
    assert routes == set(MATRIX), f"routes missing from MATRIX: {routes - set(MATRIX)}; stale: {set(MATRIX) - routes}"


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(env: Env, world: dict[str, dict[str, str]], svc_media: dict[str, Path], role: str) -> None:
    image = svc_media["image"]
    headers = env.auth(role, "acme")
    for (method, path), allowed in MATRIX.items():
        r = _call(env, method, path, world["acme"], headers, image, "acme")
        if allowed == PUBLIC:
            assert r.status_code < 400 or path == "/readyz", (method, path, r.status_code)
            continue
        if role in allowed:
            assert r.status_code < 400, (role, method, path, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, method, path, r.status_code, r.text)
            assert r.json()["code"] == "forbidden"
        if "{" in path:  # another tenant's object: 404 for a role that may use the route, never data
            other = _call(env, method, path, world["globex"], headers, image, "globex")
            expected = 404 if role in allowed else 403
            assert other.status_code == expected, (role, method, path, other.status_code, other.text)
            assert set(other.json()) <= {"type", "title", "status", "code", "detail", "instance"}  # no data


def test_no_key_revoked_key_and_lists_stay_in_their_tenant(env: Env, world: dict[str, dict[str, str]]) -> None:
    for (method, path), allowed in MATRIX.items():
        if allowed != PUBLIC:
            r = env.client.request(method, path.format(**world["acme"], key_id="key_x"))
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (method, path)
    listing = env.client.get("/v1/scans", headers=env.auth("reviewer", "acme")).json()
    assert [s["id"] for s in listing["data"]] == [world["acme"]["scan_id"]]
    hooks = env.client.get("/v1/webhooks/deliveries", headers=env.auth("auditor", "globex")).json()
    assert [d["id"] for d in hooks["data"]] == [world["globex"]["delivery_id"]]
    key = env.client.post("/v1/keys", json={"role": "reviewer"}, headers=env.auth("admin", "acme")).json()
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert env.client.get("/v1/me", headers=headers).status_code == 200
    assert env.client.delete(f"/v1/keys/{key['id']}", headers=env.auth("admin", "acme")).json()["revoked_at"]
    gone = env.client.get("/v1/me", headers=headers)
    assert gone.status_code == 401 and "revoked" in gone.json()["detail"]
    # a key with a valid shape and a real prefix but another secret is refused
    forged = key["key"][:-4] + "AAAA"
    assert env.client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
