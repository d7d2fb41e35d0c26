"""The console's live-rooms page (``/console/rooms``): rooms and speakers with their current score
and alerts, hostile names inert, who may see it; and, in Debian's headless Chromium, the page
updating without a reload while a cloned voice speaks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from stream.conftest import fake_voice
from synthwatch.render.text import printable

from ..conftest import Env, wait_for
from ..test_console import login
from .conftest import START, LiveServer, frames, settle, until_closed

HOSTILE_ROOM = "<img src=x onerror=alert(1)>\u202egpj.exe"
HOSTILE_SPEAKER = "<script>alert(2)</script>"


def test_the_page_shows_live_speakers_scores_and_alerts(rooms: Callable[..., Env]) -> None:
    env = rooms()
    reviewer = login(env, "reviewer")
    empty = reviewer.get("/console/rooms")
    assert empty.status_code == 200 and "No one is streaming into a room right now." in empty.text
    assert "script-src 'self'" in empty.headers["content-security-policy"]
    assert '<script src="/console/static/rooms.js"></script>' in empty.text
    url = f"/v1/rooms/{quote(HOSTILE_ROOM, safe='')}/live?participant={quote(HOSTILE_SPEAKER, safe='')}"
    with env.client.websocket_connect(url, headers=env.auth("ingest")) as ws:
        ws.send_text(json.dumps(START))
        assert ws.receive_json()["event"] == "started"
        for f in frames(fake_voice(2.5)):
            ws.send_bytes(f)
        while (event := ws.receive_json())["event"] != "alert":
            pass
        # while the speaker is live: the room, the speaker alerting, the alert with its case
        state = wait_for(lambda: (s := reviewer.get("/console/rooms/state.json").json())["alerts"] and s, 30,
                         what="the alert in the page's state")
        room = state["rooms"][0]
        assert room["room"] == HOSTILE_ROOM and room["room_shown"] == printable(HOSTILE_ROOM) != HOSTILE_ROOM
        sp = room["speakers"][0]
        assert sp["participant"] == HOSTILE_SPEAKER and sp["state"] == "alerting" and sp["alerts"] == 1
        assert sp["score"] >= sp["threshold"] == 0.5 and sp["transport"] == "websocket"
        assert state["alerts"][0]["id"] == event["alert_id"] and state["alerts"][0]["case_id"] == event["case_id"]
        assert state["live_speakers"] == 1 and state["alerting"] == 1
        html = reviewer.get("/console/rooms").text
        assert "<img src=x" not in html and "<script>alert" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html and "\u202e" not in html and "&lt;script&gt;alert(2)" in html
        assert f'href="/console/cases/{event["case_id"]}"' in html and "sla-overdue" in html
        ws.send_text('{"event": "stop"}')
        _, code, _ = until_closed(ws)
    assert code == 1000
    settle(env)
    after = reviewer.get("/console/rooms/state.json").json()
    assert after["rooms"] == [] and after["alerts"][0]["id"] == event["alert_id"]  # the alert stays listed


def test_who_may_see_live_rooms(rooms: Callable[..., Env]) -> None:
    from synthwatch.service.auth import Role

    env = rooms()
    for role in (r.value for r in Role):
        user = login(env, role)
        if not user.cookies.get("sw_console"):  # a role that may not log in to the console at all
            assert role not in {"reviewer", "auditor", "admin"}, role
            r = user.get("/console/rooms/state.json", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/console/login"), role
            continue
        if role == "regulator":  # its console is the inbox of filed reports (issue 16): no live rooms
            assert (user.get("/console/rooms").status_code, user.get("/console/rooms/state.json").status_code) == \
                (403, 403), role
            continue
        # every platform console role holds rooms:read (the page answers 403 to a role without it)
        assert (user.get("/console/rooms").status_code, user.get("/console/rooms/state.json").status_code) == \
            (200, 200), role
        assert 'href="/console/rooms"' in user.get("/console/dashboard").text, role
    # no session: the login page, never the state
    r = env.client.get("/console/rooms/state.json", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


@pytest.mark.browser
@pytest.mark.network_local
def test_the_page_updates_without_reload_in_chromium(live_server: Callable[..., LiveServer], tmp_path: Any) -> None:
    from ..test_browser import CHROMIUM, FLAGS, _login_with_keyboard

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install '.[dev]')")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    srv = live_server()
    base = f"http://127.0.0.1:{srv.port}"
    seen = threading.Event()  # the page showed the alert: the speaker may stop
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "404" not in m.text else None)
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            _login_with_keyboard(page, base, srv.env.key("reviewer"))
            page.get_by_role("link", name="Live rooms").click()
            page.wait_for_url(f"{base}/console/rooms")
            assert "No one is streaming" in page.inner_text("#rooms-live-list")
            page.evaluate("window.__same_page = true")  # gone if the page reloads
            got: list[dict[str, Any]] = []
            url = f"{srv.ws_url}/v1/rooms/{quote(HOSTILE_ROOM, safe='')}/live?participant=mallory"
            audio = fake_voice(3.0, seed=4)  # alerting on its first window, 2 s in
            client = threading.Thread(target=lambda: asyncio.run(_speak(url, srv.env.key("ingest"), audio, seen, got)),
                                      daemon=True)
            client.start()
            page.wait_for_selector("#rooms-live-list td.name", timeout=30_000)
            assert page.inner_text("#rooms-live-list h2") == f"Room {printable(HOSTILE_ROOM)}"
            page.wait_for_selector("#rooms-live-list .sla-overdue", timeout=30_000)  # the speaker is alerting
            page.wait_for_selector("#rooms-alerts a", timeout=30_000)  # the alert, linked to its case
            page.screenshot(path=str(tmp_path / "rooms.png"), full_page=True)
            assert page.inner_text("#rooms-alerting") == "1" and page.evaluate("window.__same_page") is True
            seen.set()
            client.join(60)
            alert = next(e for e in got if e["event"] == "alert")
            assert page.get_attribute("#rooms-alerts a", "href") == f"/console/cases/{alert['case_id']}"
            page.wait_for_selector("text=No one is streaming", timeout=30_000)  # the speaker left
            assert page.evaluate("window.__same_page") is True and not problems, problems
        finally:
            seen.set()
            browser.close()
    settle(srv.env)


async def _speak(url: str, key: str, audio: np.ndarray, seen: threading.Event, got: list[dict[str, Any]]) -> None:
    """A speaker who stays connected until ``seen`` (then stops): the page must catch them live."""
    from websockets.asyncio.client import connect

    async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}, proxy=None) as ws:
        await ws.send(json.dumps(START))
        for f in frames(audio):
            await ws.send(f)
        while not seen.is_set():
            with contextlib.suppress(TimeoutError):
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 0.2)))
        await ws.send('{"event": "stop"}')
        async for message in ws:
            got.append(json.loads(message))
