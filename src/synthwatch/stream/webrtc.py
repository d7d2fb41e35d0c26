"""WHIP (WebRTC-HTTP Ingestion Protocol, RFC 9725) sessions on aiortc: an Opus track in, 16 kHz
mono samples out. Needs the ``[webrtc]`` extra (``pip install 'synthwatch[webrtc]'``).

A publisher POSTs an SDP offer; :meth:`WhipSession.answer` checks that it offers audio with Opus,
answers it (receive-only, no ICE servers: candidates are gathered before the answer is returned,
so no trickle ICE is needed), and, once the track arrives, a task reads its decoded frames
(aiortc decodes Opus to 48 kHz PCM), mixes them to mono and resamples them to 16 kHz for the
monitor (``on_audio``). ``on_end(reason, code)`` is called once, when the track ends, the peer
connection fails or closes, or no connection is made in time. If the publisher opened a data
channel, :meth:`send` puts the monitor's events (alerts, scores) on it (those sent before it opens
wait for it).

Nothing here knows about HTTP: ``synthwatch.service.rooms.whip`` is the endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import StreamFormatError
from .formats import AudioFormat, StreamDecoder

__all__ = ["available", "WhipSession", "check_offer", "MISSING"]

log = logging.getLogger("synthwatch.stream")

MISSING = "WHIP needs the optional aiortc package: pip install 'synthwatch[webrtc]'"
#: events kept for a data channel that is not open yet
_HELD = 256
_MAX_SDP = 64 * 1024


def available() -> bool:
    try:
        import aiortc  # noqa: F401
    except ImportError:
        return False
    return True


def check_offer(sdp: str) -> None:
    """Raise :class:`~synthwatch.errors.StreamFormatError` unless ``sdp`` is an offer with an
    audio section that offers Opus."""
    if len(sdp) > _MAX_SDP:
        raise StreamFormatError(f"the SDP offer is larger than {_MAX_SDP} bytes")
    if not sdp.startswith("v=0"):
        raise StreamFormatError("the body is not an SDP offer (it must start with v=0)")
    sections = re.split(r"\r?\n(?=m=)", sdp)
    audio = [s for s in sections if s.startswith("m=audio")]
    if not audio:
        raise StreamFormatError("the offer has no audio section (m=audio)", close_code=1003)
    if not any(re.search(r"^a=rtpmap:\d+ opus/48000", s, re.MULTILINE | re.IGNORECASE) for s in audio):
        raise StreamFormatError("the offer's audio is not Opus (a=rtpmap:<pt> opus/48000/2)", close_code=1003)


class WhipSession:
    def __init__(self, on_audio: Callable[[np.ndarray], None], on_end: Callable[[str, int], None], *,
                 connect_timeout_s: float = 30.0) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection

        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.on_audio = on_audio
        self.on_end = on_end
        self.connect_timeout_s = connect_timeout_s
        self.channel: Any = None
        self.decoder: StreamDecoder | None = None
        self.frames = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ended = False
        self._connected = asyncio.Event()
        self._held: list[str] = []

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio" and not any(t.get_name() == "whip-audio" for t in self._tasks):
                self._spawn(self._read(track), "whip-audio")

        @self.pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            self.channel = channel

            @channel.on("open")
            def on_open() -> None:
                self._flush()

            if channel.readyState == "open":
                self._flush()

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            state = self.pc.connectionState
            if state == "connected":
                self._connected.set()
            elif state in ("failed", "closed"):
                await self._end(f"the WebRTC connection is {state}", 1000 if state == "closed" else 1011)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, offer_sdp: str) -> str:
        """The SDP answer to a publisher's offer (ICE candidates included)."""
        from aiortc import RTCSessionDescription

        check_offer(offer_sdp)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except (ValueError, KeyError, IndexError) as exc:
            raise StreamFormatError(f"the SDP offer could not be used: {exc}") from exc
        self._spawn(self._watch_connect(), "whip-connect")
        return str(self.pc.localDescription.sdp)

    async def _watch_connect(self) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), self.connect_timeout_s)
        except TimeoutError:
            await self._end(f"no WebRTC connection within {self.connect_timeout_s:g} s", 4408)

    async def _read(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                frame = await track.recv()
                self.frames += 1
                x = frame.to_ndarray()
                channels = len(frame.layout.channels)
                x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
                if frame.format.is_planar:
                    mono = x.reshape(channels, -1).mean(axis=0)
                else:
                    mono = x.reshape(-1, channels).mean(axis=1)
                if self.decoder is None or self.decoder.fmt.sample_rate != frame.sample_rate:
                    self.decoder = StreamDecoder(AudioFormat.parse("pcm_f32le", frame.sample_rate, 1))
                out = self.decoder.push(mono.astype(np.float32))
                if out.size:
                    self.on_audio(out)
        except MediaStreamError:
            await self._end("the publisher's track ended", 1000)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as the session's end
            log.warning("WHIP audio failed: %s", exc)
            await self._end(f"the audio could not be read: {exc}", 1011 if not hasattr(exc, "close_code")
                            else int(exc.close_code))

    def flush(self) -> np.ndarray:
        return self.decoder.flush() if self.decoder is not None else np.zeros(0, np.float32)

    def send(self, event: dict[str, Any]) -> None:
        """An event on the publisher's data channel, if it opens one (events before it opens wait,
        at most :data:`_HELD` of them)."""
        if len(self._held) < _HELD:
            self._held.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        self._flush()

    def _flush(self) -> None:
        ch = self.channel
        if ch is None or ch.readyState != "open":
            return
        while self._held:
            with contextlib.suppress(Exception):
                ch.send(self._held.pop(0))

    async def _end(self, reason: str, code: int) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            self.on_end(reason, code)
        except Exception:  # noqa: BLE001
            log.exception("WHIP end handler failed")

    async def close(self, reason: str = "session deleted", code: int = 1000) -> None:
        """Close the peer connection and every task (idempotent)."""
        await self._end(reason, code)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        with contextlib.suppress(Exception):
            await self.pc.close()
        pending = [t for t in self._tasks if t is not current]
        if pending:
            await asyncio.wait(pending, timeout=5.0)
