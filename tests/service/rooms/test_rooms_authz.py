"""Who may do what with live rooms, role by role (the rows of ``tests/service/test_authz.py`` marked
ROOMS), and tenants apart: a room name is a tenant's own, another tenant's alert is not found."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import WebSocketDenialResponse

from stream.conftest import fake_voice, speech
from synthwatch.service.auth import Role

from ..conftest import Env
from .conftest import START, settle, stream

ROLES = [r.value for r in Role]
STREAM = {"uploader", "ingest", "admin"}
READ = {"uploader", "reviewer", "auditor", "admin"}
EVIDENCE = {"reviewer", "auditor", "admin"}

ROUTES: dict[tuple[str, str], set[str]] = {
    ("GET", "/v1/rooms"): READ,
    ("GET", "/v1/rooms/{room}"): READ,
    ("GET", "/v1/rooms/{room}/alerts"): READ,
    ("GET", "/v1/rooms/{room}/alerts/{alert_id}"): READ,
    ("GET", "/v1/rooms/{room}/alerts/{alert_id}/evidence/{name}"): EVIDENCE,
    ("POST", "/v1/rooms/{room}/whip"): STREAM,
    ("DELETE", "/v1/rooms/{room}/whip/{session_id}"): STREAM,
}


def test_the_routes_are_the_ones_the_app_has(rooms: Callable[..., Env]) -> None:
    from .. import test_authz

    assert {k for k, v in test_authz.MATRIX.items() if v == test_authz.ROOMS} == set(ROUTES)


@pytest.fixture
def world(rooms: Callable[..., Env]) -> tuple[Env, dict[str, dict[str, str]]]:
    env = rooms()
    ids = {}
    for tenant, voice in (("acme", fake_voice(2.5)), ("globex", fake_voice(2.5, seed=5))):
        headers = env.auth("ingest", tenant)
        events, code, _ = stream(env, "hall", f"speaker-of-{tenant}", voice, headers=headers)
        assert code == 1000
        alert = next(e for e in events if e["event"] == "alert")
        ids[tenant] = {"room": "hall", "alert_id": alert["alert_id"], "name": "segment.flac", "session_id": "whip_x"}
    settle(env)
    return env, ids


def _call(env: Env, method: str, path: str, ids: dict[str, str], headers: dict[str, str]) -> Any:
    url = path.format(**ids)
    if method == "POST":  # not an SDP offer: refused after the permission check
        return env.client.post(url, params={"participant": "p"}, content=b"not sdp",
                               headers={**headers, "Content-Type": "text/plain"})
    return env.client.request(method, url, headers=headers)


def test_role_matrix(world: tuple[Env, dict[str, dict[str, str]]]) -> None:
    env, ids = world
    for role in ROLES:
        _check_role(env, ids, role)
    for (method, path) in ROUTES:
        assert env.client.request(method, path.format(**ids["acme"])).status_code == 401


def _check_role(env: Env, ids: dict[str, dict[str, str]], role: str) -> None:
    headers = env.auth(role, "acme")
    for (method, path), allowed in ROUTES.items():
        r = _call(env, method, path, ids["acme"], headers)
        if role not in allowed:
            assert r.status_code == 403 and r.json()["code"] == "forbidden", (role, method, path, r.status_code)
            continue
        if method == "POST":
            assert r.status_code in (415, 501), (role, path, r.status_code, r.text)  # 501: aiortc absent
        elif method == "DELETE":
            assert r.status_code == 404, (role, path, r.status_code)  # no such session
        else:
            assert r.status_code == 200, (role, method, path, r.status_code, r.text)
        if "{alert_id}" in path:  # another tenant's alert, in a room of the same name: not found
            other = _call(env, method, path, ids["globex"], headers)
            assert other.status_code == 404 and set(other.json()) <= {"type", "title", "status", "code", "detail",
                                                                       "instance"}
    if role in READ:
        state = env.client.get("/v1/rooms/hall", headers=headers).json()
        assert [p["participant"] for p in state["ended"]] == ["speaker-of-acme"]  # never globex's speaker
        assert [a["id"] for a in state["alerts"]] == [ids["acme"]["alert_id"]]


def test_who_may_stream(rooms: Callable[..., Env]) -> None:
    from .conftest import until_closed

    env = rooms()
    for role in ROLES:
        url = f"/v1/rooms/r/live?participant=p-{role}"
        if role in STREAM:
            events, code, _ = stream(env, "r", f"p-{role}", speech(0.6), headers=env.auth(role))
            assert code == 1000 and events[0]["event"] == "started", role
        else:
            with pytest.raises(WebSocketDenialResponse) as denied, env.client.websocket_connect(
                    url, headers=env.auth(role)):
                pass
            assert denied.value.status_code == 403, role
            with env.client.websocket_connect(url, headers={}) as ws:  # the key in the start message: 4403
                ws.send_text(json.dumps({**START, "authorization": f"Bearer {env.key(role)}"}))
                assert until_closed(ws)[1] == 4403, role
    settle(env)
