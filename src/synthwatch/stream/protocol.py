"""The ingest protocol of one WebSocket stream, independent of any WebSocket library.

Two modes, told apart by the first message:

**Binary PCM.** A text message ::

    {"event": "start", "encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}

(optional: ``"scores": true`` for per-window ``score`` events, ``"authorization": "Bearer <key>"``
for clients that cannot send headers), then binary messages of raw audio in that format, 10-200 ms
each, and optionally ``{"event": "stop"}`` at the end.

**Twilio Media Streams** (what ``<Connect><Stream>`` / ``<Start><Stream>`` send, so a telephony
bridge works unchanged): ``connected``, then ``start`` with ``start.mediaFormat`` (8 kHz mu-law,
one channel) and ``start.customParameters`` (``participant``, ``authorization`` and ``scores`` may
come from there: Twilio cannot add headers or query strings), then ``media`` messages whose
``media.payload`` is base64 audio (20 ms each) and ``stop``. ``mark`` and ``dtmf`` are ignored.
Only the ``inbound`` track is monitored (``customParameters.track`` chooses another). A jump in
``media.timestamp`` (packets Twilio lost) is filled with silence, so stream time stays call time.

Every violation raises a :class:`~synthwatch.errors.StreamError` whose ``close_code`` the transport
closes with: malformed JSON or base64, a byte count that is not whole samples (1007); audio before
``start``, an unknown event or an unsupported format (1003); a frame over 200 ms or a text message
over :data:`MAX_TEXT_BYTES` (1009); more than ``max_messages_per_s`` messages a second (1008).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import StreamFlood, StreamFormatError, StreamFrameTooLarge
from .formats import MAX_FRAME_S, AudioFormat, StreamDecoder

__all__ = ["Ingest", "Step", "MAX_TEXT_BYTES", "MAX_MESSAGES_PER_S", "CLOSE_CODES"]

#: the largest text message accepted (a 200 ms Twilio media message is about 2.2 kB)
MAX_TEXT_BYTES = 16 * 1024
#: messages a stream may send per second (10 ms frames are 100 a second), averaged over 2 s
MAX_MESSAGES_PER_S = 250

#: every close code the live endpoints use, and what it means (docs/rooms.md)
CLOSE_CODES: dict[int, str] = {
    1000: "normal: the stream ended (stop message or client close) and its last window was scored",
    1001: "going away: the server is shutting down",
    1003: "unsupported data: unsupported format, audio before the start message, unknown message",
    1007: "invalid payload: malformed JSON or base64, partial samples, NaN samples",
    1008: "policy violation: audio faster than real time, or too many messages a second",
    1009: "message too big: a frame longer than 200 ms, or a text message over 16 kB",
    1011: "internal error",
    1013: "try again later: the monitor holds as many streams as it may",
    4401: "unauthorized: no API key, or an unknown or revoked one",
    4403: "forbidden: the key's role may not stream (uploader, ingest or admin may)",
    4408: "timeout: no start message in time, no audio for too long, or no speech for too long",
    4409: "conflict: this participant is already streaming into this room",
}


@dataclass
class Step:
    """What one message did: ``kind`` is ``started``, ``audio``, ``stopped`` or ``ignored``;
    ``samples`` the 16 kHz audio it produced (possibly empty)."""

    kind: str
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


class Ingest:
    """Protocol state of one stream. Feed every received message to :meth:`text` or
    :meth:`binary`; after ``started`` the fields ``mode``, ``fmt``, ``participant``,
    ``authorization`` and ``scores`` are set."""

    def __init__(self, *, max_messages_per_s: int = MAX_MESSAGES_PER_S, max_frame_s: float = MAX_FRAME_S) -> None:
        self.mode: str | None = None  # "pcm" | "twilio"
        self.fmt: AudioFormat | None = None
        self.participant: str | None = None
        self.authorization: str | None = None
        self.scores = False
        self.stream_sid: str | None = None
        self.call_sid: str | None = None
        self.track = "inbound"
        self.custom: dict[str, str] = {}
        self.decoder: StreamDecoder | None = None
        self.stopped = False
        self.messages = 0
        self.gap_s = 0.0  # silence inserted for packets a Twilio stream lost
        self.max_frame_s = max_frame_s
        self._rate_limit = max_messages_per_s
        self._recent: deque[float] = deque()
        self._expected_ms = 0.0
        self._connected = False

    # ------------------------------------------------------------------ guards
    def _count(self) -> None:
        self.messages += 1
        now = time.monotonic()
        self._recent.append(now)
        while self._recent and now - self._recent[0] > 2.0:
            self._recent.popleft()
        if len(self._recent) > 2 * self._rate_limit:
            raise StreamFlood(f"more than {self._rate_limit} messages a second; send frames of 10-200 ms")

    # ------------------------------------------------------------------ messages
    def text(self, raw: str | bytes) -> Step:
        self._count()
        size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
        if size > MAX_TEXT_BYTES:
            raise StreamFrameTooLarge(f"a text message of {size} bytes; at most {MAX_TEXT_BYTES}")
        try:
            msg = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise StreamFormatError(f"a text message is not JSON: {exc}") from exc
        if not isinstance(msg, dict):
            raise StreamFormatError("a text message must be a JSON object")
        event = msg.get("event")
        if self.stopped:
            return Step("ignored")
        if self.mode is None:
            if event == "connected" or (event == "start" and isinstance(msg.get("start"), dict)):
                self.mode = "twilio"
            elif event == "start":
                self.mode = "pcm"
            else:
                raise StreamFormatError(f"the first message must be 'start' (or Twilio's 'connected'), got "
                                        f"{_shown(event)}", close_code=1003)
        if self.mode == "twilio":
            return self._twilio(msg, event)
        return self._pcm_text(msg, event)

    def binary(self, data: bytes) -> Step:
        self._count()
        if self.mode == "twilio":
            raise StreamFormatError("a Twilio Media Stream sends JSON text messages, not binary ones",
                                    close_code=1003)
        if self.decoder is None:
            raise StreamFormatError("send the start message (encoding, sample_rate, channels) before audio",
                                    close_code=1003)
        if self.stopped:
            return Step("ignored")
        return Step("audio", self.decoder.decode(bytes(data)))

    def finish(self) -> np.ndarray:
        """The audio the resampler still holds (call once when the stream ends)."""
        return self.decoder.flush() if self.decoder is not None else np.zeros(0, np.float32)

    # ------------------------------------------------------------------ binary PCM mode
    def _pcm_text(self, msg: dict[str, Any], event: Any) -> Step:
        if event == "start":
            if self.fmt is not None:
                raise StreamFormatError("the stream was already started", close_code=1003)
            self.fmt = AudioFormat.parse(msg.get("encoding"), msg.get("sample_rate"), msg.get("channels", 1))
            self.decoder = StreamDecoder(self.fmt, max_frame_s=self.max_frame_s)
            self.scores = bool(msg.get("scores", False)) is True
            auth = msg.get("authorization")
            self.authorization = auth if isinstance(auth, str) else None
            return Step("started")
        if event == "stop":
            self.stopped = True
            return Step("stopped")
        if event in ("keepalive", "ping"):
            return Step("ignored")
        raise StreamFormatError(f"unknown event {_shown(event)}; binary mode accepts start, stop and keepalive",
                                close_code=1003)

    # ------------------------------------------------------------------ Twilio mode
    def _twilio(self, msg: dict[str, Any], event: Any) -> Step:
        if event == "connected":
            self._connected = True
            return Step("ignored")
        if event == "start":
            if self.fmt is not None:
                raise StreamFormatError("the stream was already started", close_code=1003)
            start = msg.get("start")
            if not isinstance(start, dict):
                raise StreamFormatError("Twilio 'start' without its 'start' object")
            media_format = start.get("mediaFormat") or {}
            if not isinstance(media_format, dict):
                raise StreamFormatError("Twilio 'start.mediaFormat' must be an object")
            self.fmt = AudioFormat.parse(media_format.get("encoding", "audio/x-mulaw"),
                                         media_format.get("sampleRate", 8000), media_format.get("channels", 1))
            self.decoder = StreamDecoder(self.fmt, max_frame_s=self.max_frame_s)
            custom = start.get("customParameters") or {}
            self.custom = {str(k)[:100]: str(v)[:2000] for k, v in custom.items()} if isinstance(custom, dict) else {}
            self.stream_sid = _str(msg.get("streamSid") or start.get("streamSid"))
            self.call_sid = _str(start.get("callSid"))
            self.participant = self.custom.get("participant") or None
            self.authorization = self.custom.get("authorization") or None
            self.scores = self.custom.get("scores", "").lower() in ("1", "true", "yes")
            self.track = self.custom.get("track") or "inbound"
            return Step("started")
        if event == "media":
            if self.decoder is None:
                raise StreamFormatError("Twilio 'media' before 'start'", close_code=1003)
            media = msg.get("media")
            if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
                raise StreamFormatError("Twilio 'media' without 'media.payload'")
            if str(media.get("track") or "inbound") != self.track:
                return Step("ignored")
            payload = media["payload"]
            if len(payload) > 4 * (self.decoder.max_frame_bytes // 3 + 1) + 4:
                raise StreamFrameTooLarge(f"a media payload of {len(payload)} base64 characters holds more than "
                                          f"{self.max_frame_s * 1000:.0f} ms of audio")
            try:
                data = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise StreamFormatError(f"'media.payload' is not base64: {exc}") from exc
            samples = self._gap_fill(media.get("timestamp"), len(data))
            out = self.decoder.to_float(data)
            if samples is not None:
                out = np.concatenate([samples, out])
            return Step("audio", self.decoder.push(out))
        if event == "stop":
            self.stopped = True
            return Step("stopped")
        if event in ("mark", "dtmf"):
            return Step("ignored")
        raise StreamFormatError(f"unknown Twilio event {_shown(event)}", close_code=1003)

    def _gap_fill(self, timestamp: Any, nbytes: int) -> np.ndarray | None:
        """Silence for the milliseconds Twilio says passed but sent no audio for (lost packets)."""
        assert self.fmt is not None
        frame_ms = 1000.0 * self.fmt.duration_s(nbytes)
        try:
            ts = float(timestamp)
        except (TypeError, ValueError):
            self._expected_ms += frame_ms
            return None
        fill = None
        gap_ms = ts - self._expected_ms
        if gap_ms > max(40.0, frame_ms) and gap_ms <= 10_000.0:  # a long jump is a clock reset, not a loss
            n = int(round(gap_ms / 1000.0 * self.fmt.sample_rate))
            fill = np.zeros(n, dtype=np.float32)
            self.gap_s += n / self.fmt.sample_rate
            self._expected_ms += n * 1000.0 / self.fmt.sample_rate
        self._expected_ms += frame_ms
        return fill


def _str(value: Any) -> str | None:
    return str(value)[:100] if value is not None else None


def _shown(value: Any) -> str:
    return repr(str(value)[:40]) if value is not None else "no event"
