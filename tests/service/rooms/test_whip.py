"""WHIP (RFC 9725): an aiortc publisher sends a speaker's Opus track to ``POST /v1/rooms/{room}/whip``
on a real uvicorn server on 127.0.0.1, receives the monitor's events on its data channel, and ends
the session with ``DELETE``. ICE runs on 127.0.0.1 only (host candidates on the loopback address,
which aioice otherwise leaves out), so the test needs no network.

Needs the ``[webrtc]`` extra (aiortc); skipped with that reason when it is not installed (``.ci/run``
installs it)."""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from stream.conftest import SR, fake_voice, speech

from ..conftest import wait_for
from .conftest import LiveServer, settle

aiortc = pytest.importorskip("aiortc", reason="WHIP needs the [webrtc] extra (pip install 'synthwatch[webrtc]')")


@pytest.fixture(autouse=True)
def _loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


class Voice(aiortc.MediaStreamTrack):  # type: ignore[misc]
    """An audio track that plays ``samples`` (16 kHz mono) at real-time pace, 20 ms a frame."""

    kind = "audio"

    def __init__(self, samples: np.ndarray) -> None:
        super().__init__()
        self.pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        self.pos = 0
        self.start: float | None = None

    async def recv(self) -> Any:
        import av
        from aiortc.mediastreams import MediaStreamError

        if self.pos >= self.pcm.size:
            self.stop()
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.pos / SR - time.monotonic()))
        chunk = self.pcm[self.pos:self.pos + SR // 50]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
        frame.sample_rate = SR
        frame.pts = self.pos
        frame.time_base = fractions.Fraction(1, SR)
        self.pos += chunk.size
        return frame


async def publish(base: str, key: str, room: str, participant: str, audio: np.ndarray,
                  *, delete: bool = True) -> dict[str, Any]:
    """Publish ``audio``; returns the events received on the data channel, the HTTP exchanges."""
    import httpx2 as httpx

    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    events: list[dict[str, Any]] = []
    channel = pc.createDataChannel("synthwatch-events")
    channel.on("message", lambda m: events.append(json.loads(m)))
    track = Voice(audio)
    pc.addTransceiver(track, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"}
    out: dict[str, Any] = {"events": events}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        r = await http.post(f"/v1/rooms/{room}/whip", params={"participant": participant}, headers=headers,
                            content=pc.localDescription.sdp)
        out["post"] = r
        if r.status_code != 201:
            await pc.close()
            return out
        await pc.setRemoteDescription(aiortc.RTCSessionDescription(sdp=r.text, type="answer"))
        deadline = time.monotonic() + audio.size / SR + 20
        while track.pos < track.pcm.size and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the last packets
        if delete:
            out["delete"] = await http.delete(r.headers["location"], headers={"Authorization": f"Bearer {key}"})
            await asyncio.sleep(0.3)  # the stopped event on the channel
        out["again"] = await http.delete(r.headers["location"], headers={"Authorization": f"Bearer {key}"})
    await pc.close()
    return out


def test_a_whip_publisher_is_monitored(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server()
    env = srv.env
    base = f"http://127.0.0.1:{srv.port}"
    out = asyncio.run(publish(base, env.key("ingest"), "stage", "webrtc-guest", fake_voice(4.0)))
    post = out["post"]
    assert post.status_code == 201, post.text
    assert post.headers["content-type"].startswith("application/sdp") and post.text.startswith("v=0")
    assert post.headers["location"].startswith("/v1/rooms/stage/whip/whip_")
    assert out["delete"].status_code == 200 and out["again"].status_code == 404
    kinds = [e["event"] for e in out["events"]]
    assert kinds[0] == "started" and "alert" in kinds, kinds
    alert = next(e for e in out["events"] if e["event"] == "alert")
    assert alert["participant"] == "webrtc-guest" and alert["t_start"] == 0.0 and alert["case_id"]
    assert kinds[-1] == "stopped"
    settle(env)
    from synthwatch.service.rooms import store

    with env.core.db.read() as conn:
        rows = store.streams_of_room(conn, env.core.tenant_by_name("acme").id, "stage", 0)
    assert rows[0].transport == "whip" and rows[0].close_code == 1000
    assert rows[0].audio_s == pytest.approx(4.0, abs=0.5) and rows[0].alerts == 1
    assert not env.app.state.rooms.whip_sessions and not env.app.state.rooms.all_streams()


def test_whip_refusals(live_server: Callable[..., LiveServer]) -> None:
    import httpx2 as httpx

    srv = live_server(whip_session_timeout_s=1.0)
    env = srv.env
    base = f"http://127.0.0.1:{srv.port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        auth = {"Authorization": f"Bearer {env.key('ingest')}"}
        url = "/v1/rooms/stage/whip?participant=p"
        assert http.post(url, content="v=0", headers={**auth, "Content-Type": "text/plain"}).status_code == 415
        assert http.post(url, content="hello", headers={**auth, "Content-Type": "application/sdp"}).status_code == 400
        video_only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        r = http.post(url, content=video_only, headers={**auth, "Content-Type": "application/sdp"})
        assert r.status_code == 422 and "audio" in r.json()["detail"]
        assert http.post(url, content="v=0" + "x" * 70_000, headers={**auth, "Content-Type": "application/sdp"}
                         ).status_code == 413
        reviewer = {"Authorization": f"Bearer {env.key('reviewer')}", "Content-Type": "application/sdp"}
        assert http.post(url, content="v=0", headers=reviewer).status_code == 403
        assert http.delete("/v1/rooms/stage/whip/whip_nope", headers=auth).status_code == 404
    # a publisher that never connects: the session ends by itself (4408) and leaves nothing behind
    out = asyncio.run(_offer_only(base, env.key("ingest")))
    assert out.status_code == 201
    hub = env.app.state.rooms
    wait_for(lambda: not hub.whip_sessions and not hub.all_streams(), 30, what="the session to time out")
    settle(env)
    from synthwatch.service.rooms import store

    with env.core.db.read() as conn:
        rows = store.streams_of_room(conn, env.core.tenant_by_name("acme").id, "stage", 0)
    assert rows[0].close_code == 4408 and "no WebRTC connection" in (rows[0].close_reason or "")
    # a second publisher for a live participant is refused (409)
    out2 = asyncio.run(_two_publishers(base, env.key("ingest")))
    assert out2 == [201, 409]


async def _offer_only(base: str, key: str) -> Any:
    import httpx2 as httpx

    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    pc.addTransceiver(Voice(speech(1.0)), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()  # it will never answer ICE checks
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        return await http.post("/v1/rooms/stage/whip", params={"participant": "ghost"}, content=pc.localDescription.sdp,
                               headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"})


async def _two_publishers(base: str, key: str) -> list[int]:
    import httpx2 as httpx

    codes = []
    pcs = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _ in range(2):
            pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
            pc.addTransceiver(Voice(speech(1.0)), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            pcs.append(pc)
            r = await http.post("/v1/rooms/stage/whip", params={"participant": "twin"}, content=pc.localDescription.sdp,
                                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"})
            codes.append(r.status_code)
            if r.status_code == 201:
                location = r.headers["location"]
        await http.delete(location, headers={"Authorization": f"Bearer {key}"})
    for pc in pcs:
        await pc.close()
    return codes
