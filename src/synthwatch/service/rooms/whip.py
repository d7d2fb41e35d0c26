"""``POST /v1/rooms/{room}/whip`` and ``DELETE`` on its session URL (WHIP, RFC 9725).

A publisher (a browser, OBS, an SFU's egress) sends its SDP offer with ``Content-Type:
application/sdp``; the answer comes back as ``201 Created`` with ``Location`` (the session URL)
and ``Content-Type: application/sdp``. The Opus track is then monitored like a WebSocket stream:
its alerts become cases, webhooks and audit events, and are sent on the publisher's data channel if
it opened one. ``DELETE`` on the session URL ends it (its last window is scored). Trickle ICE
(``PATCH``) is not supported (405): candidates are in the answer. Errors: 415 (not SDP), 413 (an
offer over 64 kB), 400/422 (not an offer with Opus audio), 409 (the participant is already
streaming), 501 (aiortc not installed), 503 (the monitor is full).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from ...errors import StreamError, StreamFormatError, StreamOverloaded
from ...stream import webrtc
from ..auth import Principal
from ..ids import new_id
from ..problems import Problem
from .hub import LiveStream, RoomHub
from .live import check_name
from .records import open_stream

__all__ = ["publish", "terminate", "WhipLive"]

log = logging.getLogger("synthwatch.service.rooms")

_MAX_OFFER = 64 * 1024


class WhipLive:
    """One WHIP session: its stream, its peer connection, and the task that ends it."""

    def __init__(self, hub: RoomHub, stream: LiveStream, room: str) -> None:
        self.id = new_id("whip")
        self.hub = hub
        self.stream = stream
        self.room = room
        self.session: webrtc.WhipSession | None = None
        self.sender: asyncio.Task[None] | None = None
        self.finished: asyncio.Future[None] = stream.loop.create_future()
        self._finishing = False

    def feed(self, samples: Any) -> None:
        sp = self.stream.speaker
        if sp is None or self._finishing:
            return
        try:
            sp.feed(samples)
        except StreamError as exc:
            self.end(str(exc), exc.close_code)

    def end(self, reason: str, code: int) -> None:
        """Called once by the session when it ends (track ended, connection closed or failed,
        timeout, DELETE, flood): finish the stream on the event loop."""
        if self._finishing:
            return
        self._finishing = True
        self.stream.close_code = self.stream.close_code or code
        self.stream.close_reason = self.stream.close_reason or reason
        self.stream.loop.create_task(self._finish(), name=f"whip-finish-{self.id}")

    async def _finish(self) -> None:
        stream = self.stream
        try:
            summary: dict[str, Any] = {}
            if self.session is not None:
                rest = self.session.flush()
                if rest.size and stream.speaker is not None:
                    with contextlib.suppress(StreamError):
                        stream.speaker.feed(rest)
            if stream.speaker is not None:
                stream.speaker.close(score_tail=True)
                try:
                    summary = await asyncio.wait_for(asyncio.shield(stream.stopped), 30.0)
                except TimeoutError:
                    summary = stream.speaker.summary()
                await asyncio.to_thread(stream.wait_alerts, 30.0)
                stream.send({"event": "stopped", "room": stream.room, "participant": stream.participant,
                             "stream_id": stream.id, **{k: v for k, v in summary.items() if k != "participant"}})
            stream.outbound.put_nowait(None)
            if self.sender is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(self.sender, 5.0)
            if self.session is not None:
                await self.session.close(stream.close_reason, stream.close_code or 1000)
            self.hub.closed_with("whip", stream.close_code or 1000)
        except Exception:  # noqa: BLE001
            log.exception("WHIP session %s did not end cleanly", self.id)
        finally:
            if self.sender is not None and not self.sender.done():
                self.sender.cancel()
            self.hub.release(stream)
            self.hub.whip_sessions.pop(self.id, None)
            if not self.finished.done():
                self.finished.set_result(None)

    async def _send_loop(self) -> None:
        while True:
            event = await self.stream.outbound.get()
            if event is None:
                return
            if self.session is not None:
                self.session.send(event)


async def publish(request: Request, hub: RoomHub, principal: Principal, room: str, participant: str) -> Response:
    if not webrtc.available():
        raise Problem(501, "not_implemented", webrtc.MISSING)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/sdp":
        raise Problem(415, "unsupported_media_type", "send the SDP offer with Content-Type: application/sdp")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_OFFER:
            raise Problem(413, "payload_too_large", f"an SDP offer may be at most {_MAX_OFFER} bytes")
    try:
        check_name(participant, "participant")
        offer = body.decode("utf-8")
        webrtc.check_offer(offer)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "bad_request", f"not a usable SDP offer: {exc}") from None
    except StreamFormatError as exc:
        raise Problem(422 if exc.close_code == 1003 else 400, "bad_request", str(exc)) from None
    if hub.closed:
        raise Problem(503, "unavailable", "the server is shutting down")
    loop = asyncio.get_running_loop()
    stream = LiveStream(hub, loop, principal, room, participant, "whip",
                        {"encoding": "opus", "sample_rate": 48000, "channels": 2})
    if not hub.claim(stream):
        raise Problem(409, "conflict", "this participant is already streaming into this room")
    live = WhipLive(hub, stream, room)
    hub.whip_sessions[live.id] = live
    try:
        try:
            monitor = await hub.monitor()
            scores = request.query_params.get("scores", "").lower() in ("1", "true", "yes")
            stream.speaker = monitor.open(room, participant, stream, scores=scores,
                                          meta={"tenant": principal.tenant_id, "stream_id": stream.id})
        except StreamOverloaded as exc:
            raise Problem(503, "unavailable", str(exc)) from None
        live.session = webrtc.WhipSession(live.feed, live.end, connect_timeout_s=hub.opts.whip_session_timeout_s)
        try:
            answer = await live.session.answer(offer)
        except StreamFormatError as exc:
            raise Problem(422, "bad_request", str(exc)) from None
        await asyncio.to_thread(open_stream, hub.core, stream, monitor.detector_name)
        live.sender = loop.create_task(live._send_loop(), name=f"whip-send-{live.id}")
        stream.send({"event": "started", "room": room, "participant": participant, "stream_id": stream.id,
                     "mode": "whip", "detector": monitor.detector_name, "threshold": monitor.threshold,
                     "window_s": monitor.window_s, "hop_s": monitor.config.hop_s, "at": time.time()})
    except BaseException:
        hub.whip_sessions.pop(live.id, None)
        if stream.speaker is not None:
            stream.speaker.close(score_tail=False)
        if live.session is not None:
            with contextlib.suppress(Exception):
                await live.session.close("the session could not start", 1011)
        hub.release(stream)
        raise
    location = f"/v1/rooms/{quote(room, safe='')}/whip/{live.id}"
    return Response(answer, status_code=201, media_type="application/sdp",
                    headers={"Location": location, "ETag": f'"{live.id}"', "X-Synthwatch-Stream": stream.id})


async def terminate(hub: RoomHub, principal: Principal, room: str, session_id: str) -> Response:
    live = hub.whip_sessions.get(session_id)
    if live is None or live.stream.principal.tenant_id != principal.tenant_id or live.room != room:
        raise Problem(404, "not_found", "no such WHIP session")
    live.end("session deleted", 1000)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(live.finished), 40.0)
    return Response(status_code=200)
