"""``WebSocket /v1/rooms/{room}/live?participant={id}``: one speaker's stream.

The protocol (binary PCM or Twilio Media Streams) is :mod:`synthwatch.stream.protocol`; this module
runs it on a Starlette WebSocket: authentication (``Authorization: Bearer`` on the handshake, or
``authorization`` in the start message for clients that cannot send headers), the live registry
(one stream per participant and room), the monitor, the events back to the client, time-outs, the
stream's row and audit events, and a clean end in every case: every task it starts ends, the
speaker leaves the monitor, the stream's row is closed with its close code.

Server -> client messages (JSON text): ``started``, ``score`` (when asked for), ``alert``,
``alert_cleared``, ``lagging``, ``no_speech``, ``error`` (before an abnormal close) and ``stopped``
(the stream's figures, after its last window was scored, just before a normal close).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketState

from ...errors import StreamError
from ...stream.protocol import Ingest
from ..auth import Principal, Role, hash_key, same_hash, split_key
from ..problems import problem_response
from .hub import LiveStream, RoomHub
from .records import open_stream

if TYPE_CHECKING:
    from ..core import ServiceCore

__all__ = ["run_live", "authenticate_key", "AuthFailure", "check_name", "STREAM_ROLES", "stream_permission"]

log = logging.getLogger("synthwatch.service.rooms")

#: the permission a key needs to stream audio into a room
stream_permission = "rooms:stream"
STREAM_ROLES = ("uploader", "ingest", "admin")
_NAME_MAX = 200


class AuthFailure(Exception):
    def __init__(self, status: int, code: str, detail: str, close_code: int) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.close_code = close_code


def authenticate_key(core: ServiceCore, limiter: Any, authorization: str | None, client: str | None,
                     permission: str = stream_permission) -> Principal:
    """The principal of ``Authorization: Bearer <key>`` with ``permission``, or :class:`AuthFailure`
    (the same checks as the HTTP API: well-formed, known, not revoked, rate limit)."""
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise AuthFailure(401, "unauthorized", "send the API key as 'Authorization: Bearer <key>' (or as "
                          "'authorization' in the start message)", 4401)
    prefix = split_key(key)
    if prefix is None:
        raise AuthFailure(401, "unauthorized", "the API key is malformed", 4401)
    with core.db.read() as conn:
        row = core.stores.keys.by_prefix(conn, prefix)
        tenant = core.stores.tenants.get(conn, row.tenant_id) if row else None
    if row is None or tenant is None or not same_hash(row.hash, hash_key(key)):
        raise AuthFailure(401, "unauthorized", "unknown API key", 4401)
    if row.revoked_at is not None:
        raise AuthFailure(401, "unauthorized", "this API key was revoked", 4401)
    ok, _retry, _remaining, limit = limiter.take(row.id, tenant.settings.get("rate_limit_per_minute"))
    if not ok:
        raise AuthFailure(429, "rate_limited", f"this key may make {limit} requests a minute", 1013)
    principal = Principal(key_id=row.id, tenant_id=tenant.id, tenant_name=tenant.name, role=Role(row.role),
                          source_ip=client)
    if not principal.can(permission):
        raise AuthFailure(403, "forbidden", f"the {principal.role.value} role may not stream audio into rooms "
                          f"({permission})", 4403)
    return principal


def check_name(value: str | None, what: str) -> str:
    """A room or participant name: 1-200 characters, no control characters (it is data, shown escaped)."""
    if value is None or not value.strip():
        raise ValueError(f"{what} is required")
    if len(value) > _NAME_MAX:
        raise ValueError(f"{what} is longer than {_NAME_MAX} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"{what} holds control characters")
    return value


async def _deny(ws: WebSocket, status: int, code: str, detail: str, close_code: int) -> None:
    """Refuse the handshake with an HTTP problem document (or, where the server cannot, accept and
    close with ``close_code``)."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(problem_response(status, code, detail, instance=ws.url.path))
        return
    await ws.accept()
    await _close(ws, close_code, detail, code)


async def _close(ws: WebSocket, code: int, reason: str, error_code: str | None = None) -> None:
    """Send an ``error`` event (when the close is abnormal), then close with ``code``."""
    if ws.application_state != WebSocketState.CONNECTED or ws.client_state != WebSocketState.CONNECTED:
        return
    with contextlib.suppress(Exception):
        if error_code is not None:
            await ws.send_text(json.dumps({"event": "error", "code": error_code, "close_code": code,
                                           "message": reason}, ensure_ascii=False))
        await ws.close(code, _reason(reason))


def _reason(text: str) -> str:
    """A close reason fits in 123 bytes of UTF-8."""
    out = text.encode("utf-8")[:123].decode("utf-8", "ignore")
    return out


async def _receive(ws: WebSocket, timeout: float) -> Any:
    return await asyncio.wait_for(ws.receive(), timeout)


async def run_live(ws: WebSocket, hub: RoomHub, room: str, participant: str | None) -> None:
    """Serve one WebSocket stream from handshake to close."""
    core = hub.core
    client = ws.client.host if ws.client else None
    try:
        check_name(room, "room")
        if participant is not None:
            check_name(participant, "participant")
    except ValueError as exc:
        await _deny(ws, 422, "validation_error", str(exc), 1008)
        return
    principal: Principal | None = None
    header = ws.headers.get("authorization")
    if header is not None:
        try:
            principal = await asyncio.to_thread(authenticate_key, core, ws.app.state.limiter, header, client)
        except AuthFailure as exc:
            await _deny(ws, exc.status, exc.code, exc.detail, exc.close_code)
            return
    if hub.closed:
        await _deny(ws, 503, "unavailable", "the server is shutting down", 1001)
        return
    await ws.accept()
    task = asyncio.current_task()
    if task is not None:
        hub.tasks.add(task)
    try:
        await _serve(ws, hub, room, participant, principal, client)
    finally:
        if task is not None:
            hub.tasks.discard(task)


async def _serve(ws: WebSocket, hub: RoomHub, room: str, participant: str | None, principal: Principal | None,
                 client: str | None) -> None:
    core = hub.core
    opts = hub.opts
    transport_name = "websocket"
    ingest = Ingest(max_messages_per_s=opts.max_messages_per_s)
    stream: LiveStream | None = None
    sender: asyncio.Task[None] | None = None
    close_code, close_reason, error_code = 1000, "stream ended", None
    claimed = False
    cancelled = False
    try:
        # ---- the start message (and who the speaker is)
        step = None
        deadline = time.monotonic() + opts.start_timeout_s
        while step is None or step.kind != "started":
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            msg = await _receive(ws, left)
            if msg["type"] == "websocket.disconnect":
                return
            step = ingest.text(msg["text"]) if msg.get("text") is not None else ingest.binary(msg.get("bytes") or b"")
        transport_name = "twilio" if ingest.mode == "twilio" else "websocket"
        if principal is None:
            try:
                principal = await asyncio.to_thread(authenticate_key, core, ws.app.state.limiter,
                                                    ingest.authorization, client)
            except AuthFailure as exc:
                close_code, close_reason, error_code = exc.close_code, exc.detail, exc.code
                return
        who = participant or ingest.participant or ingest.stream_sid
        try:
            who = check_name(who, "participant")
        except ValueError as exc:
            close_code, close_reason, error_code = 1008, f"{exc} (?participant=…)", "validation_error"
            return
        assert ingest.fmt is not None
        stream = LiveStream(hub, asyncio.get_running_loop(), principal, room, who, transport_name,
                            ingest.fmt.to_dict())
        if not hub.claim(stream):
            close_code, close_reason, error_code = 4409, "this participant is already streaming into this room", \
                "conflict"
            stream = None
            return
        claimed = True
        try:
            monitor = await hub.monitor()
        except Exception as exc:  # noqa: BLE001 - a model that cannot load: the client is told
            log.exception("the live-room monitor could not start")
            close_code, close_reason, error_code = 1011, f"the monitor could not start: {exc}"[:200], "internal_error"
            return
        speaker = monitor.open(room, who, stream, scores=ingest.scores,
                               meta={"tenant": principal.tenant_id, "stream_id": stream.id})
        stream.speaker = speaker
        await asyncio.to_thread(open_stream, core, stream, monitor.detector_name)
        sender = asyncio.create_task(_send_loop(ws, stream))
        stream.send({"event": "started", "room": room, "participant": who, "stream_id": stream.id,
                     "mode": ingest.mode, "format": stream.format, "detector": monitor.detector_name,
                     "detector_version": monitor.detector_version, "threshold": monitor.threshold,
                     "window_s": monitor.window_s, "hop_s": monitor.config.hop_s,
                     "first_window_s": monitor.config.first_window_s, "scores": ingest.scores})
        # ---- audio until stop, disconnect or a violation
        close_code, close_reason, error_code = await _audio_loop(ws, hub, stream, ingest)
    except TimeoutError:
        close_code, close_reason, error_code = 4408, f"no start message within {opts.start_timeout_s:g} s", "timeout"
    except StreamError as exc:
        close_code, close_reason, error_code = exc.close_code, str(exc), exc.code
    except asyncio.CancelledError:  # the server is shutting down
        cancelled = True
        close_code, close_reason, error_code = 1001, "the server is shutting down", "going_away"
    except Exception:  # noqa: BLE001 - never a leaked task or an open stream
        log.exception("live stream failed")
        close_code, close_reason, error_code = 1011, "internal error (logged)", "internal_error"
    finally:
        await _finish(ws, hub, stream, ingest, sender, close_code, close_reason, error_code, claimed)
    if cancelled:
        raise asyncio.CancelledError


async def _audio_loop(ws: WebSocket, hub: RoomHub, stream: LiveStream, ingest: Ingest) -> tuple[int, str, str | None]:
    opts = hub.opts
    speaker = stream.speaker
    assert speaker is not None
    last_speech_check = 0.0
    while True:
        try:
            msg = await _receive(ws, opts.idle_timeout_s)
        except TimeoutError:
            return 4408, f"no audio for {opts.idle_timeout_s:g} s", "timeout"
        if msg["type"] == "websocket.disconnect":
            return int(msg.get("code") or 1005), "client disconnected", None
        text = msg.get("text")
        step = ingest.text(text) if text is not None else ingest.binary(msg.get("bytes") or b"")
        if step.samples.size:
            speaker.feed(step.samples)
        if step.kind == "stopped":
            rest = ingest.finish()
            if rest.size:
                speaker.feed(rest)
            return 1000, "stream ended", None
        if speaker.audio_s - last_speech_check >= 1.0:  # once a second of audio
            last_speech_check = speaker.audio_s
            result = _speech_watch(hub, stream)
            if result is not None:
                return result


def _speech_watch(hub: RoomHub, stream: LiveStream) -> tuple[int, str, str | None] | None:
    """Tell a client whose stream has carried no speech for a while (again every 5 minutes of
    audio); close it after ``no_speech_timeout_s``."""
    sp = stream.speaker
    assert sp is not None
    opts = hub.opts
    silent_for = sp.no_speech_s
    if opts.no_speech_timeout_s and silent_for >= opts.no_speech_timeout_s:
        return 4408, f"no speech for {opts.no_speech_timeout_s:g} s of audio", "no_speech"
    if silent_for < opts.no_speech_notice_s:
        stream.no_speech_noticed_at = None
        return None
    last = stream.no_speech_noticed_at
    if last is None or sp.audio_s - last >= max(opts.no_speech_notice_s, 300.0):
        stream.no_speech_noticed_at = sp.audio_s
        stream.send({"event": "no_speech", "room": stream.room, "participant": stream.participant,
                     "seconds": round(silent_for, 1), "audio_s": round(sp.audio_s, 1),
                     "message": "no speech in this stream's audio for a while: nothing is being scored (muted, "
                                "silence or music?)"})
    return None


async def _send_loop(ws: WebSocket, stream: LiveStream) -> None:
    while True:
        event = await stream.outbound.get()
        if event is None:
            return
        try:
            await ws.send_text(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        except Exception:  # noqa: BLE001 - the client went away; the stream ends through the receive side
            return


async def _finish(ws: WebSocket, hub: RoomHub, stream: LiveStream | None, ingest: Ingest,
                  sender: asyncio.Task[None] | None, close_code: int, close_reason: str, error_code: str | None,
                  claimed: bool) -> None:
    """End the stream: the speaker's last window is scored (its alert still raised and stored), the
    stream's row is closed, the ``stopped`` event is sent on a normal end, then the connection is
    closed with its code. Whatever happens, the stream leaves the live registry."""
    code, reason = close_code, close_reason
    try:
        if stream is not None:
            stream.close_code = stream.close_code or close_code
            stream.close_reason = stream.close_reason or close_reason
            code, reason = stream.close_code, stream.close_reason
            if stream.speaker is not None:
                # also after a flood or a protocol violation: what was received is scored (evidence is evidence)
                stream.speaker.close(score_tail=True)
                try:
                    summary = await asyncio.wait_for(asyncio.shield(stream.stopped), 30.0)
                except TimeoutError:
                    log.warning("stream %s: the last windows were not scored within 30 s", stream.id)
                    summary = stream.speaker.summary()
                await asyncio.to_thread(stream.wait_alerts, 30.0)  # its alerts go out before "stopped"
                if code == 1000:
                    stream.send({"event": "stopped", "room": stream.room, "participant": stream.participant,
                                 "stream_id": stream.id, **{k: v for k, v in summary.items() if k != "participant"},
                                 "dropped_events": stream.dropped_events, "twilio_gap_s": round(ingest.gap_s, 3)})
            stream.outbound.put_nowait(None)
            if sender is not None:
                try:
                    await asyncio.wait_for(sender, 10.0)
                except (TimeoutError, asyncio.CancelledError):
                    sender.cancel()
            hub.closed_with(stream.transport, code)
        if code not in (1005, 1006):  # not the client's own disconnect
            await _close(ws, code, reason, error_code if code != 1000 else None)
    finally:
        if sender is not None and not sender.done():
            sender.cancel()
        if stream is not None and claimed:
            hub.release(stream)
