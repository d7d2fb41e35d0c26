"""Live audio rooms through the API: ``WebSocket /v1/rooms/{room}/live`` in binary PCM and Twilio
modes, alerts as events, cases, signed webhooks and audit events, room state, metrics, every
protocol violation's close code, and a clean end (no stream, task, thread, file or speaker left).

The voice detector is the model-free ``debug-voice`` (share of energy above 3 kHz): the "fake"
speaker is generated speech with a 5 kHz tone mixed in; the voice-activity model is the real
Silero VAD. Streams up to 5 s are sent at once (the flood guard allows 5 s ahead of real time).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import io
import json
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from stream.conftest import SR, fake_voice, speech
from synthwatch.stream.formats import mulaw_encode

from ..conftest import Env, LoopbackServer, wait_for
from .conftest import START, LiveServer, frames, pcm, settle, stream, until_closed, ws_client


def test_a_cloned_voice_raises_an_alert_a_case_a_webhook_and_audit_events(
        rooms: Callable[..., Env], http_server: LoopbackServer) -> None:
    from synthwatch.service.webhooks import deliver_due, verify

    env = rooms()
    http_server.routes["/hook"] = lambda req: (200, {}, b"ok")
    r = env.client.patch("/v1/tenant", json={"callback_url": http_server.url("/hook")}, headers=env.auth("admin"))
    assert r.status_code == 200, r.text
    events, code, _ = stream(env, "town-hall", "mallory", fake_voice(4.5), start={**START, "scores": True})
    assert code == 1000
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "stopped" and "alert" in kinds
    started = events[0]
    assert started["detector"] == "debug-voice" and started["window_s"] == 4.0 and started["hop_s"] == 2.0
    alert = next(e for e in events if e["event"] == "alert")
    assert {"room": "town-hall", "participant": "mallory", "t_start": 0.0, "t_end": 2.0}.items() <= alert.items()
    assert alert["score"] >= alert["threshold"] == 0.5 and alert["stored"] is True
    assert kinds.index("alert") > kinds.index("score")  # after the window that decided it
    settle(env)
    reviewer = env.auth("reviewer")
    # the case holds the segment, the report and (drawn after the alert) the timeline
    case = env.client.get(f"/v1/cases/{alert['case_id']}", headers=reviewer).json()
    assert case["source"] == "live_room" and case["priority"] == "urgent"
    assert {e["kind"] for e in case["evidence"]} == {"audio_segment", "report", "timeline"}
    # the alert and its evidence through the rooms API
    stored = env.client.get(f"/v1/rooms/town-hall/alerts/{alert['alert_id']}", headers=reviewer).json()
    assert stored["case_id"] == alert["case_id"] and stored["verdict"] == "likely_synthetic"
    import soundfile as sf

    audio, rate = sf.read(io.BytesIO(env.client.get(stored["evidence"]["segment.flac"], headers=reviewer).content))
    assert rate == SR and audio.size == 2 * SR
    np.testing.assert_allclose(audio, np.frombuffer(pcm(fake_voice(4.5)[:2 * SR]), "<i2") / 32768.0, atol=1 / 32768)
    report = env.client.get(stored["evidence"]["report.json"], headers=reviewer).json()
    from synthwatch.render.schema import validate_report

    validate_report(report)
    assert report["verdict"]["label"] == "likely_synthetic" and report["source"] == "live-room:town-hall/mallory"
    png = env.client.get(stored["evidence"]["timeline.png"], headers=reviewer)
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert env.client.get(stored["evidence"]["segment.flac"], headers=env.auth("uploader")).status_code == 403
    # the signed webhook
    assert deliver_due(env.core.stores.webhooks, env.core.stores.tenants, env.core.db, env.core.opts) >= 1
    hooks = [r for r in http_server.received if r.headers.get("synthwatch-event") == "room.alert"]
    assert len(hooks) == 1
    with env.core.db.read() as conn:
        secret = env.core.stores.tenants.by_name(conn, "acme").webhook_secret
    assert verify(secret, hooks[0].body, hooks[0].headers["synthwatch-signature"])
    body = json.loads(hooks[0].body)
    assert body["data"]["id"] == alert["alert_id"] and body["data"]["case_id"] == alert["case_id"]
    # room events in the audit log
    with env.core.db.read() as conn:
        actions = [e["action"] for e in env.core.stores.events.list(conn, None, None, 500)]
    assert {"room.stream_started", "room.alert", "room.stream_ended"} <= set(actions)


def test_twilio_media_streams_are_monitored(rooms: Callable[..., Env]) -> None:
    env = rooms()
    x = fake_voice(4.0, tone_hz=3300.0, level=0.12)  # telephone audio ends at 4 kHz
    from synthwatch.stream.simulate import _to_rate

    x8 = _to_rate(x, 8000)
    with env.client.websocket_connect("/v1/rooms/support-line/live", headers=env.auth("ingest")) as ws:
        ws.send_text(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        ws.send_text(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ42", "start": {
            "streamSid": "MZ42", "callSid": "CA42", "tracks": ["inbound"], "customParameters": {"participant": "caller"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
        for k, i in enumerate(range(0, x8.size, 160)):
            ws.send_text(json.dumps({"event": "media", "sequenceNumber": str(k + 2), "streamSid": "MZ42",
                                     "media": {"track": "inbound", "chunk": str(k), "timestamp": str(k * 20),
                                               "payload": base64.b64encode(mulaw_encode(x8[i:i + 160])).decode()}}))
        ws.send_text(json.dumps({"event": "stop", "streamSid": "MZ42", "stop": {}}))
        events, code, _ = until_closed(ws)
    assert code == 1000
    assert events[0]["mode"] == "twilio" and events[0]["participant"] == "caller"
    assert events[0]["format"] == {"encoding": "pcm_mulaw", "sample_rate": 8000, "channels": 1}
    assert [e["participant"] for e in events if e["event"] == "alert"] == ["caller"]
    assert events[-1]["event"] == "stopped" and events[-1]["audio_s"] == pytest.approx(4.0, abs=0.01)
    settle(env)


def test_real_speech_and_silence_raise_nothing(rooms: Callable[..., Env]) -> None:
    env = rooms()
    events, code, _ = stream(env, "r", "alice", speech(4.5))
    assert code == 1000 and not [e for e in events if e["event"] == "alert"]
    events, code, _ = stream(env, "r", "quiet", np.zeros(4 * SR, np.float32))
    assert code == 1000 and events[-1]["event"] == "stopped"
    assert events[-1]["speech_s"] == 0.0 and events[-1]["windows_scored"] == 2 and events[-1]["speech_windows"] == 0
    settle(env)


def test_a_silence_only_stream_is_told_then_closed(rooms: Callable[..., Env]) -> None:
    env = rooms(no_speech_notice_s=1.0, no_speech_timeout_s=3.0)
    with env.client.websocket_connect("/v1/rooms/r/live?participant=muted", headers=env.auth("ingest")) as ws:
        ws.send_text(json.dumps(START))
        quiet = frames(np.zeros(6 * SR, np.float32), ms=200)
        closed = None
        try:
            for f in quiet:
                ws.send_bytes(f)
                time.sleep(0.1)
        except WebSocketDisconnect as exc:  # closed while sending
            closed = exc.code
        events, code, reason = until_closed(ws) if closed is None else ([], closed, "")
    assert code == 4408
    settle(env)
    with env.core.db.read() as conn:
        from synthwatch.service.rooms import store

        rows = store.streams_of_room(conn, env.core.tenant_by_name("acme").id, "r", 0)
    assert rows[0].close_code == 4408 and "no speech" in (rows[0].close_reason or "")


def test_no_speech_notice(rooms: Callable[..., Env]) -> None:
    env = rooms(no_speech_notice_s=1.0, no_speech_timeout_s=0)
    with env.client.websocket_connect("/v1/rooms/r/live?participant=muted", headers=env.auth("ingest")) as ws:
        ws.send_text(json.dumps(START))
        for f in frames(np.zeros(3 * SR, np.float32), ms=200):
            ws.send_bytes(f)
            time.sleep(0.1)
        ws.send_text('{"event": "stop"}')
        events, code, _ = until_closed(ws)
    assert code == 1000
    notice = [e for e in events if e["event"] == "no_speech"]
    assert notice and notice[0]["seconds"] >= 1.0 and "nothing is being scored" in notice[0]["message"]
    settle(env)


def _close_code(env: Env, messages: list[str | bytes], *, participant: str = "p",
                headers: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    with env.client.websocket_connect(f"/v1/rooms/r/live?participant={participant}",
                                      headers=env.auth("ingest") if headers is None else headers) as ws:
        try:
            for m in messages:
                ws.send_text(m) if isinstance(m, str) else ws.send_bytes(m)
        except WebSocketDisconnect as exc:
            return exc.code, []
        events, code, _ = until_closed(ws)
    return code, events


@pytest.mark.parametrize(("name", "messages", "code"), [
    ("audio before start", [b"\x00\x00" * 160], 1003),
    ("unsupported encoding", [json.dumps({**START, "encoding": "aac"})], 1003),
    ("bad JSON", ["{nope"], 1007),
    ("half a sample", [json.dumps(START), b"\x00" * 321], 1007),
    ("a 250 ms frame", [json.dumps(START), b"\x00\x00" * 4000], 1009),
    ("unknown event", [json.dumps(START), '{"event": "pause"}'], 1003),
    ("faster than real time", [json.dumps(START)] + frames(speech(7.0)), 1008),
])
def test_protocol_violations_close_with_their_code(rooms: Callable[..., Env], name: str, messages: list[Any],
                                                   code: int) -> None:
    env = rooms()
    got, events = _close_code(env, messages)
    assert got == code, name
    errors = [e for e in events if e["event"] == "error"]
    assert errors and errors[-1]["close_code"] == code and errors[-1]["message"]
    settle(env)


def test_time_outs_conflicts_and_capacity(rooms: Callable[..., Env]) -> None:
    env = rooms(start_timeout_s=0.3, idle_timeout_s=0.5, max_streams=1)
    assert _close_code(env, [])[0] == 4408  # no start message
    assert _close_code(env, [json.dumps(START)])[0] == 4408  # started, then nothing
    with env.client.websocket_connect("/v1/rooms/r/live?participant=a", headers=env.auth("ingest")) as first:
        first.send_text(json.dumps(START))
        assert first.receive_json()["event"] == "started"
        assert _close_code(env, [json.dumps(START)], participant="a")[0] == 4409  # already live
        assert _close_code(env, [json.dumps(START)], participant="b")[0] == 1013  # the monitor is full
        first.send_text('{"event": "stop"}')
        until_closed(first)
    settle(env)


def test_authentication(rooms: Callable[..., Env]) -> None:
    env = rooms()
    url = "/v1/rooms/r/live?participant=p"
    with pytest.raises(WebSocketDenialResponse) as denied, \
            env.client.websocket_connect(url, headers={"Authorization": "Bearer swk_000000000000_nope"}):
        pass
    assert denied.value.status_code == 401 and denied.value.json()["code"] == "unauthorized"
    with pytest.raises(WebSocketDenialResponse) as forbidden, env.client.websocket_connect(url, headers=env.auth("reviewer")):
        pass
    assert forbidden.value.status_code == 403
    with pytest.raises(WebSocketDenialResponse) as bad_name, \
            env.client.websocket_connect("/v1/rooms/r/live?participant=%01", headers=env.auth("ingest")):
        pass
    assert bad_name.value.status_code == 422
    # a client that cannot send headers sends its key in the start message
    key = env.key("ingest")
    code, events = _close_code(env, [json.dumps({**START, "authorization": f"Bearer {key}"}), '{"event": "stop"}'],
                               headers={})
    assert code == 1000 and events[0]["event"] == "started"
    assert _close_code(env, [json.dumps({**START, "authorization": "Bearer swk_000000000000_x"})], headers={})[0] == 4401
    reviewer = env.key("reviewer")
    assert _close_code(env, [json.dumps({**START, "authorization": f"Bearer {reviewer}"})], headers={})[0] == 4403
    assert _close_code(env, [json.dumps(START)], headers={})[0] == 4401
    settle(env)


def test_disconnects_mid_window_leak_nothing(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server()
    env = srv.env
    hub = env.app.state.rooms
    key = env.key("ingest")
    tid = env.core.tenant_by_name("acme").id
    url = f"{srv.ws_url}/v1/rooms/r/live?participant="
    # a cloned voice that hangs up 1.3 s in, before its first window: the audio it sent is still
    # scored, and its alert still becomes a stored alert and a case (webhook, audit) without a client
    asyncio.run(ws_client(url + "hangup", key, fake_voice(1.3), ending="drop"))
    wait_for(lambda: not hub.all_streams(), 30, what="the stream to end")
    settle(env)
    with env.core.db.read() as conn:
        from synthwatch.service.rooms import store

        alerts = store.alerts_of_room(conn, tid, "r", 10)
        rows = store.streams_of_room(conn, tid, "r", 0)
    assert len(alerts) == 1 and alerts[0].case_id and (alerts[0].t_start, alerts[0].t_end) == (0.0, 1.3)
    # no close frame: the server records "no status" (1005) or "abnormal closure" (1006)
    assert rows[0].ended_at is not None and rows[0].close_code in (1005, 1006) and rows[0].audio_s == pytest.approx(1.3)
    # many streams, ending every way there is, some mid-window: nothing stays behind
    before = {t.name for t in threading.enumerate()}
    refs: list[weakref.ref[Any]] = []

    async def many() -> None:
        endings = ["stop", "close", "drop", "violate"]
        tasks = [asyncio.create_task(ws_client(url + f"p{k}", key, speech(0.3 + 0.4 * k, seed=k),
                                             ending=endings[k % 4])) for k in range(12)]
        while len(refs) < 2 and not all(t.done() for t in tasks):
            live = hub.all_streams()
            if live and live[0].speaker is not None:
                refs.extend([weakref.ref(live[0]), weakref.ref(live[0].speaker)])
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)

    asyncio.run(many())
    settle(env)
    assert len(hub.loaded_monitor) == 0 and not hub.tasks
    gc.collect()
    assert len(refs) == 2 and all(r() is None for r in refs), "a stream or its speaker outlived its connection"
    assert env.core.blobs.temp_files() == []
    with env.core.db.read() as conn:
        rows = store.streams_of_room(conn, tid, "r", 0)
    assert len(rows) == 13 and all(r.ended_at is not None for r in rows)
    codes = {r.close_code for r in rows}
    assert {1000, 1001, 1007} <= codes <= {1000, 1001, 1005, 1006, 1007}
    extra = {t.name for t in threading.enumerate()} - before
    assert not {n for n in extra if not n.startswith(("room-", "asyncio_", "ThreadPoolExecutor"))}, extra
    srv.stop()  # the app's shutdown stops the monitor and its pools
    assert {t.name for t in threading.enumerate() if t.name.startswith("room-")} == set()


def test_room_state_metrics_and_backpressure(rooms: Callable[..., Env]) -> None:
    env = rooms(analysis_threads=1, max_batch=1, lag_warn_s=0.001, max_lag_s=0.002, max_ahead_s=60.0)
    reader = env.auth("reviewer")
    assert env.client.get("/v1/rooms/nowhere", headers=reader).status_code == 404
    with env.client.websocket_connect("/v1/rooms/stage/live?participant=%3Cb%3Ebob%3C%2Fb%3E",
                                      headers=env.auth("ingest")) as ws:
        ws.send_text(json.dumps({**START, "scores": True}))
        assert ws.receive_json()["event"] == "started"
        for f in frames(speech(30.0), ms=200):
            ws.send_bytes(f)  # 15 windows due at once; analysed one at a time: the server falls behind
        state = wait_for(lambda: (s := env.client.get("/v1/rooms/stage", headers=reader).json())["participants"]
                         and s["participants"][0]["audio_s"] >= 30.0 and s, 30, what="the room state")
        p = state["participants"][0]
        assert p["participant"] == "<b>bob</b>" and p["status"] == "live" and p["transport"] == "websocket"
        listing = env.client.get("/v1/rooms", headers=reader).json()["data"]
        assert [r["room"] for r in listing] == ["stage"] and listing[0]["live"] is True
        ws.send_text('{"event": "stop"}')
        events, code, _ = until_closed(ws)
    assert code == 1000
    lagging = [e for e in events if e["event"] == "lagging"]
    assert lagging and lagging[-1]["skipped_windows"] >= 1 and lagging[-1]["behind_s"] > 0
    stopped = events[-1]
    assert stopped["skipped_windows"] >= 1 and stopped["skipped_audio_s"] > 0
    settle(env)
    state = env.client.get("/v1/rooms/stage", headers=reader).json()
    assert state["live"] is False and state["ended"][0]["skipped_windows"] == stopped["skipped_windows"]
    assert state["totals"]["skipped_audio_s"] == pytest.approx(stopped["skipped_audio_s"], abs=1e-3)
    assert env.client.get("/v1/rooms?include_ended=true", headers=reader).json()["data"][0]["live"] is False
    metrics = env.client.get("/metrics").text
    skipped = next(line for line in metrics.splitlines() if line.startswith("synthwatch_room_windows_skipped_total"))
    assert float(skipped.split()[-1]) == stopped["skipped_windows"]
    assert 'synthwatch_room_stream_closes_total{code="1000",transport="websocket"} 1.0' in metrics
    assert "synthwatch_room_audio_skipped_seconds_total" in metrics and "synthwatch_room_lagging_events_total 1.0" in metrics


@pytest.mark.postgres
def test_alerts_cases_and_room_state_on_postgresql(pg_url: str, rooms: Callable[..., Env]) -> None:
    """The rooms' store on PostgreSQL: two alerts of one speaker (one case), the stream's row, the
    room state and the alerts listing. (``pg_url`` first: its database outlives the service.)"""
    env = rooms(db_url=pg_url, max_ahead_s=60.0)
    x = np.concatenate([fake_voice(2.5, seed=7), np.zeros(12 * SR, np.float32), fake_voice(2.5, seed=8)])
    events, code, _ = stream(env, "pg-room", "mallory", x, start={**START, "scores": True})
    assert code == 1000
    alerts = [e for e in events if e["event"] == "alert"]
    assert len(alerts) == 2 and alerts[0]["case_id"] and alerts[1]["case_id"] == alerts[0]["case_id"]
    settle(env)
    reader = env.auth("reviewer")
    state = env.client.get("/v1/rooms/pg-room", headers=reader).json()
    ended = state["ended"][0]
    assert ended["alerts"] == 2 and ended["close_code"] == 1000 and ended["audio_s"] == pytest.approx(x.size / SR)
    listing = env.client.get("/v1/rooms/pg-room/alerts?limit=1", headers=reader).json()
    assert listing["data"][0]["id"] == alerts[1]["alert_id"] and listing["next_cursor"]
    older = env.client.get(f"/v1/rooms/pg-room/alerts?limit=1&cursor={listing['next_cursor']}", headers=reader).json()
    assert older["data"][0]["id"] == alerts[0]["alert_id"] and older["data"][0]["evidence"]["timeline.png"]
    case = env.client.get(f"/v1/cases/{alerts[0]['case_id']}", headers=reader).json()
    assert [e["kind"] for e in case["evidence"]].count("audio_segment") == 2
