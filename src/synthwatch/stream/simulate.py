"""Stream audio files into a live room as if people were speaking (``synthwatch rooms simulate``).

Each speaker is one WebSocket to ``/v1/rooms/{room}/live?participant={name}``: the file is decoded
(the media layer's sandboxed decoder), then sent at real-time pace, ``frame_ms`` per message, in
the binary PCM mode (16 kHz ``pcm_s16le``) or, with ``twilio=True``, as a Twilio Media Stream
(``connected`` / ``start`` / ``media`` with base64 8 kHz mu-law / ``stop``). Frames are paced
against the clock from the stream's start (no drift). A speaker may join later (``join_at_s``).
At the end of the file the client sends ``stop``, waits for the server's ``stopped`` event (its
last window scored) and closes.

Every message the server sends, and a final ``closed`` record with the close code, is passed to
``on_event`` with ``received_at``: seconds since that speaker's stream started (its first audio
frame), so an alert's ``received_at`` minus the audio time where synthetic speech begins is the
latency a client sees.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .formats import mulaw_encode

__all__ = ["SimSpeaker", "SimResult", "simulate", "load_speaker_audio", "live_url"]


@dataclass
class SimSpeaker:
    name: str
    path: Path | None = None
    join_at_s: float = 0.0
    audio: np.ndarray | None = None  # 16 kHz mono float32 (decoded from ``path`` when None)


@dataclass
class SimResult:
    name: str
    close_code: int | None = None
    close_reason: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    sent_s: float = 0.0
    started_at: float | None = None  # time.time() of the first audio frame

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == "alert"]

    @property
    def ok(self) -> bool:
        return self.error is None and self.close_code == 1000


def live_url(base: str, room: str, participant: str) -> str:
    """``ws[s]://host[:port][/prefix]`` + ``/v1/rooms/{room}/live?participant={name}`` (names quoted)."""
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("ws", "wss"):
        raise ConfigError(f"--url must start with ws:// or wss://, got {base[:60]!r}")
    prefix = parts.path.rstrip("/")
    path = f"{prefix}/v1/rooms/{urllib.parse.quote(room, safe='')}/live"
    query = urllib.parse.urlencode({"participant": participant})
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def load_speaker_audio(path: Path, sample_rate: int = 16_000) -> np.ndarray:
    from ..media import read_audio

    return read_audio(path, sample_rate=sample_rate)


async def _speaker(url: str, key: str, sp: SimSpeaker, *, twilio: bool, scores: bool, frame_ms: int,
                   on_event: Callable[[dict[str, Any]], None], t0: float, stop_wait_s: float) -> SimResult:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

    res = SimResult(sp.name)
    audio = sp.audio if sp.audio is not None else load_speaker_audio(sp.path) if sp.path else np.zeros(0, np.float32)
    await asyncio.sleep(max(0.0, t0 + sp.join_at_s - time.monotonic()))
    started: dict[str, float | None] = {"mono": None}

    def emit(doc: dict[str, Any]) -> None:
        at = started["mono"]
        rec = {"received_at": None if at is None else round(time.monotonic() - at, 4), "speaker": sp.name, **doc}
        res.events.append(rec)
        on_event(rec)

    try:
        async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}, compression=None,
                           proxy=None, max_size=1 << 20, open_timeout=20, close_timeout=10) as ws:
            async def reader() -> None:
                async for message in ws:
                    try:
                        doc = json.loads(message)
                    except (ValueError, TypeError):
                        doc = {"event": "unparsed", "data": str(message)[:200]}
                    emit(doc if isinstance(doc, dict) else {"event": "unparsed", "data": doc})

            read_task = asyncio.create_task(reader())
            if twilio:
                x8 = _to_rate(audio, 8000)
                step = 8 * frame_ms
                frames = [mulaw_encode(x8[i:i + step]) for i in range(0, x8.size, step)]
                await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
                sid = "MZ" + hashlib.sha256(sp.name.encode("utf-8", "surrogatepass")).hexdigest()[:32]
                custom: dict[str, str] = {"participant": sp.name}
                if scores:
                    custom["scores"] = "true"
                await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": sid, "start": {
                    "streamSid": sid, "accountSid": "ACsimulated", "callSid": "CAsimulated", "tracks": ["inbound"],
                    "customParameters": custom,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
            else:
                pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
                step = 16 * frame_ms
                frames = [pcm[i:i + step].tobytes() for i in range(0, pcm.size, step)]
                start: dict[str, Any] = {"event": "start", "encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}
                if scores:
                    start["scores"] = True
                await ws.send(json.dumps(start))
            begin = time.monotonic()
            started["mono"] = begin
            res.started_at = time.time()
            sent = 0.0
            for i, frame in enumerate(frames):
                await asyncio.sleep(max(0.0, begin + sent - time.monotonic()))
                if read_task.done():
                    break
                if twilio:
                    await ws.send(json.dumps({"event": "media", "sequenceNumber": str(i + 2), "streamSid": sid,
                                              "media": {"track": "inbound", "chunk": str(i + 1),
                                                        "timestamp": str(int(round(sent * 1000))),
                                                        "payload": base64.b64encode(frame).decode("ascii")}}))
                    sent += len(frame) / 8000.0
                else:
                    await ws.send(frame)
                    sent += len(frame) / 2 / 16000.0
            res.sent_s = sent
            if not read_task.done():
                if twilio:
                    await ws.send(json.dumps({"event": "stop", "sequenceNumber": str(len(frames) + 2),
                                              "streamSid": sid, "stop": {"callSid": "CAsimulated"}}))
                else:
                    await ws.send(json.dumps({"event": "stop"}))
            try:
                await asyncio.wait_for(asyncio.shield(read_task), stop_wait_s)
            except TimeoutError:
                read_task.cancel()
                await ws.close()
            res.close_code = ws.close_code
            res.close_reason = ws.close_reason or ""
    except InvalidStatus as exc:
        res.error = f"the server refused the connection: HTTP {exc.response.status_code}"
        body = bytes(exc.response.body or b"")[:500].decode("utf-8", "replace")
        emit({"event": "refused", "status": exc.response.status_code, "body": body})
        return res
    except (OSError, WebSocketException, ConnectionClosed, TimeoutError) as exc:
        res.error = f"{type(exc).__name__}: {exc}"
    emit({"event": "closed", "code": res.close_code, "reason": res.close_reason, "sent_s": round(res.sent_s, 3),
          **({"error": res.error} if res.error else {})})
    return res


def _to_rate(x: np.ndarray, rate: int) -> np.ndarray:
    """16 kHz mono -> ``rate`` (libswresample, the whole signal at once)."""
    if rate == 16_000 or x.size == 0:
        return x
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.asarray(x, np.float32)[None, :]), format="flt",
                                       layout="mono")
    frame.sample_rate = 16_000
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


async def simulate(url: str, key: str, room: str, speakers: list[SimSpeaker], *, twilio: bool = False,
                   scores: bool = False, frame_ms: int = 20,
                   on_event: Callable[[dict[str, Any]], None] | None = None,
                   stop_wait_s: float = 30.0) -> list[SimResult]:
    """Stream every speaker at once (see the module doc); one :class:`SimResult` each, in order."""
    if not 10 <= frame_ms <= 200:
        raise ConfigError("frame_ms must be 10-200 (the protocol's frame sizes)")
    names = [s.name for s in speakers]
    if len(set(names)) != len(names):
        raise ConfigError("each speaker needs its own name")
    t0 = time.monotonic()
    sink = on_event or (lambda doc: None)
    return list(await asyncio.gather(*[
        _speaker(live_url(url, room, sp.name), key, sp, twilio=twilio, scores=scores, frame_ms=frame_ms,
                 on_event=sink, t0=t0, stop_wait_s=stop_wait_s) for sp in speakers]))
