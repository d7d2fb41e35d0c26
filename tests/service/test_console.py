"""The reviewers' console over HTTP: login and session cookie, CSRF on every form, roles, hostile
strings rendered inert, media served with their recorded types and strict headers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from synthwatch.service.review import cases as rc

from .conftest import Env

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "synthwatch" / "service" / "console" / "templates"
HOSTILE = '<img src=x onerror=alert(1)>"\'&\u202etxt.exe'


def login(env: Env, role: str, tenant: str = "acme") -> Any:
    """A TestClient session logged in with a ``role`` key; returns the client."""
    from fastapi.testclient import TestClient

    client = TestClient(env.app, base_url="http://testserver", raise_server_exceptions=False)
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/console/login", data={"api_key": env.key(role, tenant), "csrf_token": token,
                                            "next": "/console/queue"}, follow_redirects=False)
    client.last_login = r  # type: ignore[attr-defined]
    return client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_templates_never_mark_data_safe() -> None:
    for t in TEMPLATES.glob("*.html"):
        text = t.read_text()
        assert "|safe" not in text.replace(" ", "") and "Markup(" not in text and "autoescape false" not in text, t


def test_login_session_cookie_csrf_and_logout(env: Env) -> None:
    c = env.client
    assert c.get("/console/queue", follow_redirects=False).headers["location"].startswith("/console/login")
    # no CSRF token, or another one: refused
    r = c.post("/console/login", data={"api_key": env.key("reviewer"), "csrf_token": "x"}, follow_redirects=False)
    assert r.status_code == 403
    rev = login(env, "reviewer")
    r = rev.last_login
    assert r.status_code == 303 and r.headers["location"] == "/console/queue"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/console" in cookie
    assert env.key("reviewer") not in cookie
    page = rev.get("/console/queue")
    assert page.status_code == 200 and "Review queue" in page.text
    for h, v in (("content-security-policy", "script-src"), ("x-frame-options", "DENY")):
        assert h in page.headers and (v in page.headers[h] or h == "content-security-policy")
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script at all
    assert "<script" not in page.text
    # a form without the session's CSRF token is refused
    assert rev.post("/console/logout", data={}, follow_redirects=False).status_code == 403
    assert rev.post("/console/logout", data={"csrf_token": "wrong"}, follow_redirects=False).status_code == 403
    # a cross-site form is refused even with the token
    assert rev.post("/console/logout", data={"csrf_token": csrf_of(page.text)},
                    headers={"Origin": "https://evil.example"}, follow_redirects=False).status_code == 403
    out = rev.post("/console/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert rev.get("/console/queue", follow_redirects=False).status_code == 303  # the session is over
    bad = login(env, "reviewer")
    assert bad.last_login.status_code == 303
    # wrong keys and roles without console access
    r = login(env, "uploader").last_login
    assert r.status_code == 401 and "no access" in r.text
    # the regulator's console is its inbox (tests/service/test_assess_console.py)
    assert login(env, "regulator", "cac").last_login.status_code == 303
    from fastapi.testclient import TestClient

    anon = TestClient(env.app, raise_server_exceptions=False)
    token = csrf_of(anon.get("/console/login").text)
    r = anon.post("/console/login", data={"api_key": "swk_000000000000_nope", "csrf_token": token})
    assert r.status_code == 401 and "unknown API key" in r.text


def test_revoked_key_ends_the_session(env: Env) -> None:
    rev = login(env, "reviewer")
    assert rev.get("/console/queue").status_code == 200
    with env.core.db.read() as conn:
        keys = env.core.stores.keys.list(conn, env.core.tenant_by_name("acme").id)
    key_id = next(k.id for k in keys if k.role == "reviewer")
    env.core.revoke_key(env.core.tenant_by_name("acme").id, key_id)
    assert rev.get("/console/queue", follow_redirects=False).status_code == 303


def _hostile_case(env: Env) -> rc.CaseRecord:
    env.key("admin")
    case, _ = rc.open_case(env.core, "acme", source="manual", priority="high", title=HOSTILE,
                           external_id=HOSTILE[:40],
                           reasons=[{"trigger": "user_report", "basis": HOSTILE}],
                           evidence=[rc.Evidence("report", data=b"<html><script>alert(1)</script></html>",
                                                 content_type="text/html", filename=HOSTILE)])
    rc.submit_report(env.core, case.tenant_id, rc.Actor(), reason="other", text=HOSTILE + "\nsecond line",
                     external_id=HOSTILE[:40])
    return case


def test_untrusted_strings_are_inert(env: Env) -> None:
    case = _hostile_case(env)
    rev = login(env, "reviewer")
    for url in ("/console/queue", f"/console/cases/{case.id}"):
        html = rev.get(url).text
        assert "<img src=x" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert "\u202e" not in html and "\\u202e" in html  # the bidi override is shown, not obeyed
    ev = rev.get(f"/console/cases/{case.id}").text
    evidence_id = re.search(rf"/console/cases/{case.id}/evidence/(evd_\w+)", ev).group(1)  # type: ignore[union-attr]
    r = rev.get(f"/console/cases/{case.id}/evidence/{evidence_id}")
    # an HTML file stored as evidence is never served as HTML
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment") and r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]


def test_roles_in_the_console(env: Env) -> None:
    case = _hostile_case(env)
    url = f"/console/cases/{case.id}"
    rev, aud, adm = login(env, "reviewer"), login(env, "auditor"), login(env, "admin")
    page = aud.get(url).text
    assert "Record decision" not in page and "Download the evidence export" in page
    assert aud.post(f"{url}/decision", data={"csrf_token": csrf_of(page), "action": "dismiss",
                                             "reason_code": "authentic"}).status_code == 403
    assert aud.get("/console/audit").status_code == 200
    rpage = rev.get(url).text
    assert "Record decision" in rpage and "Place a legal hold" not in rpage and "evidence export" not in rpage
    assert rev.get("/console/audit").status_code == 403
    assert rev.get(f"{url}/export").status_code == 403
    assert "Place a legal hold" in adm.get(url).text
    # another tenant's case is not found, whatever the role
    other, _ = rc.open_case(env.core, env.core.create_tenant("globex"), source="manual", priority="low")
    assert rev.get(f"/console/cases/{other.id}").status_code == 404
    assert rev.post(f"/console/cases/{other.id}/assign", data={"csrf_token": csrf_of(rpage)}).status_code == 404
    # the reviewer decides through the form; a stale form is refused
    r = rev.post(f"{url}/assign", data={"csrf_token": csrf_of(rpage), "version": str(case.version)},
                 follow_redirects=False)
    assert r.status_code == 303
    r = rev.post(f"{url}/decision", data={"csrf_token": csrf_of(rpage), "version": str(case.version),
                                          "action": "dismiss", "reason_code": "authentic"})
    assert r.status_code == 409 and "reload" in r.text
    fresh = rev.get(url).text
    version = re.search(r'name="version" value="(\d+)"', fresh).group(1)  # type: ignore[union-attr]
    r = rev.post(f"{url}/decision", data={"csrf_token": csrf_of(fresh), "version": version, "action": "dismiss",
                                          "reason_code": "authentic", "note": HOSTILE}, follow_redirects=True)
    assert r.status_code == 200 and "The decision is recorded." in r.text and "&lt;img src=x" in r.text
    dash = rev.get("/console/dashboard")
    assert dash.status_code == 200 and "review latency p95" in dash.text and "<svg" in dash.text
    audit = aud.get("/console/audit").text
    assert "Chain verified" in audit and "case.decided" in audit


def test_media_types_and_timeline(env: Env, svc_media: dict[str, Path]) -> None:
    scan = env.upload(svc_media["video"], declared_ai=True).json()
    env.drain()
    case, _ = rc.open_case(env.core, "acme", source="manual", priority="normal", scan_id=scan["id"])
    rev = login(env, "reviewer")
    html = rev.get(f"/console/cases/{case.id}").text
    assert "<video" in html and "timeline.png" in html
    src = re.search(r'<video class="media" controls preload="metadata" src="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    r = rev.get(src)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4" and r.content == svc_media["video"].read_bytes()
    part = rev.get(src, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100  # the player can seek
    png = rev.get(f"/console/cases/{case.id}/timeline.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("path", ["/console/queue?state=bogus", "/console/queue?cursor=%%%"])
def test_bad_filters_are_clear_errors(env: Env, path: str) -> None:
    r = login(env, "reviewer").get(path)
    assert r.status_code == 422 and "Invalid filter" in r.text
