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
CASES = {"reviewer", "auditor", "admin"}
DECIDE = {"reviewer", "admin"}
CONSOLE = "console"  # session-cookie pages: tests/service/test_console.py checks them role by role
ROOMS = "rooms"  # live rooms (alerts, WHIP sessions): tests/service/rooms/test_rooms_authz.py, role by role
ASSESS = "assess"  # self-assessments (admin only): tests/service/test_assess.py checks every route role by role

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
    # review queue, user reports, audit log (issue 14)
    ("GET", "/v1/cases"): CASES,
    ("GET", "/v1/cases/{case_id}"): CASES,
    ("POST", "/v1/cases/{case_id}/assign"): DECIDE,
    ("POST", "/v1/cases/{case_id}/decision"): DECIDE,
    ("POST", "/v1/cases/{case_id}/appeal"): DECIDE,
    ("POST", "/v1/cases/{case_id}/close"): DECIDE,
    ("PUT", "/v1/cases/{case_id}/legal-hold"): ADMIN,
    ("DELETE", "/v1/cases/{case_id}/legal-hold"): ADMIN,
    ("GET", "/v1/cases/{case_id}/evidence/{evidence_id}"): CASES,
    ("GET", "/v1/cases/{case_id}/timeline.png"): CASES,
    ("GET", "/v1/cases/{case_id}/export"): AUDIT_READ,
    ("GET", "/v1/review/policy"): CASES,
    ("PUT", "/v1/review/policy"): ADMIN,
    ("GET", "/v1/review/stats"): CASES,
    ("POST", "/v1/reports"): {"uploader", "reviewer", "admin"},
    ("GET", "/v1/reports"): CASES,
    ("GET", "/v1/reports/{report_id}"): READ_SCANS,
    ("GET", "/v1/audit"): AUDIT_READ,
    ("GET", "/v1/audit/verify"): AUDIT_READ,
    ("GET", "/v1/audit/checkpoints"): AUDIT_READ,
    ("POST", "/v1/audit/checkpoints"): AUDIT_READ,
    ("GET", "/v1/audit/public-key"): AUDIT_READ,
    **{(m, p): CONSOLE for m, p in [
        ("GET", "/console"), ("GET", "/console/"), ("GET", "/console/login"), ("POST", "/console/login"),
        ("POST", "/console/logout"), ("GET", "/console/queue"), ("GET", "/console/cases/{case_id}"),
        ("POST", "/console/cases/{case_id}/assign"), ("POST", "/console/cases/{case_id}/decision"),
        ("POST", "/console/cases/{case_id}/appeal"), ("POST", "/console/cases/{case_id}/close"),
        ("POST", "/console/cases/{case_id}/hold"), ("GET", "/console/cases/{case_id}/evidence/{evidence_id}"),
        ("GET", "/console/cases/{case_id}/timeline.png"), ("GET", "/console/cases/{case_id}/export"),
        ("GET", "/console/audit"), ("POST", "/console/audit/checkpoint"), ("GET", "/console/dashboard"),
        # the live-rooms page: tests/service/rooms/test_console_rooms.py checks it role by role (issue 15)
        ("GET", "/console/rooms"), ("GET", "/console/rooms/state.json"),
        # self-assessments and the regulator's inbox: tests/service/test_assess_console.py (issue 16)
        ("GET", "/console/assessments"), ("POST", "/console/assessments"),
        ("GET", "/console/assessments/{assessment_id}"), ("POST", "/console/assessments/{assessment_id}/facts"),
        ("POST", "/console/assessments/{assessment_id}/collect"),
        ("POST", "/console/assessments/{assessment_id}/findings/{finding_id}/remediation"),
        ("POST", "/console/assessments/{assessment_id}/finalise"),
        ("POST", "/console/assessments/{assessment_id}/filing"),
        ("POST", "/console/assessments/{assessment_id}/resubmit"),
        ("GET", "/console/assessments/{assessment_id}/{name}"), ("GET", "/console/inbox"),
        ("GET", "/console/inbox/{filing_id}"), ("GET", "/console/inbox/{filing_id}/{name}"),
        ("POST", "/console/inbox/{filing_id}/acknowledge"), ("POST", "/console/inbox/{filing_id}/rectification"),
        ("POST", "/console/inbox/{filing_id}/accept")]},
    **{(m, p): ROOMS for m, p in [
        ("GET", "/v1/rooms"), ("GET", "/v1/rooms/{room}"), ("GET", "/v1/rooms/{room}/alerts"),
        ("GET", "/v1/rooms/{room}/alerts/{alert_id}"), ("GET", "/v1/rooms/{room}/alerts/{alert_id}/evidence/{name}"),
        ("POST", "/v1/rooms/{room}/whip"), ("DELETE", "/v1/rooms/{room}/whip/{session_id}")]},
    **{(m, p): ASSESS for m, p in [
        ("POST", "/v1/assessments"), ("GET", "/v1/assessments"), ("GET", "/v1/assessments/{assessment_id}"),
        ("PUT", "/v1/assessments/{assessment_id}/facts"), ("POST", "/v1/assessments/{assessment_id}/collect"),
        ("POST", "/v1/assessments/{assessment_id}/findings/{finding_id}/remediation"),
        ("POST", "/v1/assessments/{assessment_id}/finalise"), ("GET", "/v1/assessments/{assessment_id}/{name}"),
        ("POST", "/v1/assessments/{assessment_id}/filing"), ("GET", "/v1/filings"), ("GET", "/v1/filings/{filing_id}"),
        ("POST", "/v1/filings/{filing_id}/resubmit"),
        # the regulator's inbox (role regulator)
        ("GET", "/v1/inbox"), ("GET", "/v1/inbox/{filing_id}"), ("GET", "/v1/inbox/{filing_id}/{name}"),
        ("POST", "/v1/inbox/{filing_id}/acknowledge"), ("POST", "/v1/inbox/{filing_id}/rectification"),
        ("POST", "/v1/inbox/{filing_id}/accept")]},
}


def _objects(env: Env, tenant: str, image: Path) -> dict[str, str]:
    scan = env.upload(image, role="uploader", tenant=tenant).json()
    env.drain()
    admin = env.auth("admin", tenant)
    delivery = env.client.post("/v1/webhooks/test", json={"url": "http://127.0.0.1:9/hook"}, headers=admin).json()
    env.core.stores.webhooks.lease_due(time.time() + 1, 30, 10)
    env.core.stores.webhooks.mark_failed(delivery["id"], None, "refused", None)  # dead: retry is allowed
    case, evidence_id, report_id = _case(env, tenant, scan["id"])
    return {"scan_id": scan["id"], "sha256": scan["media"]["sha256"], "delivery_id": delivery["id"],
            "case_id": case, "evidence_id": evidence_id, "report_id": report_id,
            "decided_case_id": _case(env, tenant, scan["id"], decided=True)[0],
            "decided_case2_id": _case(env, tenant, scan["id"], decided=True)[0]}


def _png(seed: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (seed, 80, 120)).save(buf, format="PNG")
    return buf.getvalue()


def _case(env: Env, tenant: str, scan_id: str, decided: bool = False) -> tuple[str, str, str]:
    """A case of ``tenant`` with a media file and a timeline picture (decided when asked), and a
    user report on the scan."""
    from synthwatch.service.review import cases as rc

    case, _ = rc.open_case(env.core, tenant, source="manual", priority="normal", join_key=None,
                           evidence=[rc.Evidence("media", data=_png(1), filename="x.png"),
                                     rc.Evidence("timeline", data=_png(2), content_type="image/png")])
    if decided:
        rc.decide(env.core, case.tenant_id, case.id, rc.Actor("key_admin", "admin"), action="dismiss",
                  reason_code="authentic")
    detail = env.client.get(f"/v1/cases/{case.id}", headers=env.auth("admin", tenant)).json()
    report, _ = rc.submit_report(env.core, case.tenant_id, rc.Actor(), reason="other", scan_id=scan_id)
    return case.id, detail["evidence"][0]["id"], report.id


def _policy_text() -> str:
    from synthwatch.service.review.policy import default_policy_text

    return default_policy_text()


def _call(env: Env, method: str, path: str, ids: dict[str, str], headers: dict[str, str], image: Path,
          tenant: str) -> Any:
    if "{key_id}" in path:  # a fresh key of the tenant that owns the objects
        ids = {**ids, "key_id": env.core.create_key(env.core.tenant_by_name(tenant), "uploader")[0].id}
    if method == "POST" and path.endswith(("/appeal", "/close")):  # these need a decided case (one each)
        ids = {**ids, "case_id": ids["decided_case_id" if path.endswith("/appeal") else "decided_case2_id"]}
    url = path.format(**ids)
    if method == "POST" and path == "/v1/scans":
        with open(image, "rb") as fh:
            return env.client.post(url, files={"file": ("x.jpg", fh)}, headers=headers)
    body = {("PATCH", "/v1/tenant"): {"retention_days": 40},
            ("POST", "/v1/keys"): {"role": "uploader"},
            ("PUT", "/v1/media/{sha256}/legal-hold"): {"reason": "case 7"},
            ("POST", "/v1/webhooks/test"): {"url": "http://127.0.0.1:9/hook"},
            ("POST", "/v1/cases/{case_id}/assign"): {},
            ("POST", "/v1/cases/{case_id}/decision"): {"action": "escalate", "reason_code": "needs_specialist"},
            ("POST", "/v1/cases/{case_id}/appeal"): {"text": "it is authentic"},
            ("PUT", "/v1/cases/{case_id}/legal-hold"): {"reason": "court order 12"},
            ("PUT", "/v1/review/policy"): {"text": _policy_text()},
            ("POST", "/v1/reports"): {"reason": "other", "scan_id": ids.get("scan_id")}}.get((method, path))
    return env.client.request(method, url, json=body, headers=headers)


@pytest.fixture
def world(env: Env, svc_media: dict[str, Path]) -> dict[str, dict[str, str]]:
    return {"acme": _objects(env, "acme", svc_media["image"]),
            "globex": _objects(env, "globex", svc_media["image2"])}


def _walk(routes: list[Any]) -> Any:
    """Every route, inside included routers too (FastAPI keeps an included router as one entry)."""
    for r in routes:
        if hasattr(r, "original_router"):
            yield from _walk(r.original_router.routes)
        else:
            yield r


def test_every_route_is_in_the_matrix(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    routes = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    # routes outside the schema (FastAPI's docs pages)
    routes |= {(m, r.path) for r in _walk(env.app.routes) if hasattr(r, "path")
               for m in getattr(r, "methods", set()) - {"HEAD"}}
    assert routes == set(MATRIX), f"routes missing from MATRIX: {routes - set(MATRIX)}; stale: {set(MATRIX) - routes}"


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(env: Env, world: dict[str, dict[str, str]], svc_media: dict[str, Path], role: str) -> None:
    image = svc_media["image"]
    headers = env.auth(role, "acme")
    for (method, path), allowed in MATRIX.items():
        if allowed in (CONSOLE, ROOMS, ASSESS):
            continue
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
        if allowed not in (PUBLIC, CONSOLE, ROOMS, ASSESS):
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
