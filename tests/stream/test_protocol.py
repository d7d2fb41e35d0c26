"""The ingest protocol: binary PCM mode and Twilio Media Streams, and every way a client can break
it (each a typed error with its close code)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from synthwatch.errors import StreamError, StreamFlood, StreamFormatError, StreamFrameTooLarge
from synthwatch.stream.formats import mulaw_decode, mulaw_encode
from synthwatch.stream.protocol import CLOSE_CODES, MAX_TEXT_BYTES, Ingest

START = json.dumps({"event": "start", "encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1})


def _close(fn, *args) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(StreamError) as err:
        fn(*args)
    assert err.value.close_code in CLOSE_CODES
    return int(err.value.close_code)


def test_pcm_mode() -> None:
    ing = Ingest()
    step = ing.text(json.dumps({"event": "start", "encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1,
                                "scores": True, "authorization": "Bearer swk_x", "unknown": 1}))
    assert step.kind == "started" and ing.mode == "pcm" and ing.scores and ing.authorization == "Bearer swk_x"
    x = (np.arange(320) % 7 - 3).astype("<i2")
    out = ing.binary(x.tobytes())
    np.testing.assert_allclose(out.samples, x / 32768.0)
    assert ing.text('{"event": "keepalive"}').kind == "ignored"
    assert ing.text('{"event": "stop"}').kind == "stopped"
    assert ing.binary(x.tobytes()).kind == "ignored"  # after stop


def test_pcm_mode_violations() -> None:
    assert _close(Ingest().binary, b"\x00\x00") == 1003  # audio before start
    assert _close(Ingest().text, "{not json") == 1007
    assert _close(Ingest().text, "[1, 2]") == 1007
    assert _close(Ingest().text, '{"event": "hello"}') == 1003
    assert _close(Ingest().text, " " * (MAX_TEXT_BYTES + 1)) == 1009
    ing = Ingest()
    ing.text(START)
    assert _close(ing.text, START) == 1003  # started twice
    assert _close(ing.text, '{"event": "media"}') == 1003
    assert _close(ing.binary, b"\x00" * 3) == 1007
    assert _close(ing.binary, b"\x00" * 6402) == 1009
    assert _close(Ingest().text, json.dumps({"event": "start", "encoding": "opus", "sample_rate": 48000})) == 1003


def test_a_message_flood_is_refused() -> None:
    ing = Ingest(max_messages_per_s=50)
    ing.text(START)
    with pytest.raises(StreamFlood) as err:
        for _ in range(500):
            ing.binary(b"\x00\x00" * 16)  # 1 ms frames, as fast as possible
    assert err.value.close_code == 1008


def _twilio(ing: Ingest, x8: np.ndarray, *, track: str = "inbound", start_ms: int = 0, custom: dict | None = None,  # type: ignore[type-arg]
            frame: int = 160) -> np.ndarray:
    out = []
    for k, i in enumerate(range(0, x8.size, frame)):
        msg = {"event": "media", "sequenceNumber": str(k + 3), "streamSid": "MZ1",
               "media": {"track": track, "chunk": str(k + 1), "timestamp": str(start_ms + k * frame // 8),
                         "payload": base64.b64encode(mulaw_encode(x8[i:i + frame])).decode()}}
        out.append(ing.text(json.dumps(msg)).samples)
    return np.concatenate(out + [ing.finish()])


def _twilio_start(ing: Ingest, custom: dict | None = None) -> None:  # type: ignore[type-arg]
    assert ing.text(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})).kind == "ignored"
    step = ing.text(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "accountSid": "AC1", "callSid": "CA1", "tracks": ["inbound", "outbound"],
        "customParameters": custom or {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
    assert step.kind == "started"


def test_twilio_media_streams() -> None:
    ing = Ingest()
    _twilio_start(ing, {"participant": "caller-1", "authorization": "Bearer swk_y", "scores": "true"})
    assert ing.mode == "twilio" and ing.participant == "caller-1" and ing.authorization == "Bearer swk_y"
    assert ing.scores and ing.stream_sid == "MZ1" and ing.call_sid == "CA1"
    t = np.arange(8000) / 8000
    x8 = (0.4 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    y = _twilio(ing, x8)
    assert abs(y.size - 16000) <= 2  # 1 s at 16 kHz
    spectrum = np.abs(np.fft.rfft(y[2000:-2000]))
    assert abs(np.fft.rfftfreq(y[2000:-2000].size, 1 / 16000)[spectrum.argmax()] - 300) < 5
    assert ing.text(json.dumps({"event": "mark", "mark": {"name": "x"}})).kind == "ignored"
    assert ing.text(json.dumps({"event": "stop", "stop": {}})).kind == "stopped"
    assert np.allclose(mulaw_decode(mulaw_encode(x8)), x8, atol=0.02)


def test_twilio_outbound_track_is_ignored_and_lost_packets_are_silence() -> None:
    ing = Ingest()
    _twilio_start(ing)
    x8 = np.full(1600, 0.3, np.float32)
    assert _twilio(ing, x8, track="outbound").size == 0
    ing2 = Ingest()
    _twilio_start(ing2)
    _twilio(ing2, x8[:800])  # 0-100 ms
    _twilio(ing2, x8[:800], start_ms=600)  # the next packet says 600 ms: 500 ms were lost
    assert ing2.gap_s == pytest.approx(0.5, abs=0.01)


def test_twilio_violations() -> None:
    ing = Ingest()
    _twilio_start(ing)
    assert _close(ing.text, json.dumps({"event": "media", "media": {"payload": "***"}})) == 1007
    assert _close(ing.text, json.dumps({"event": "media", "media": {}})) == 1007
    big = base64.b64encode(b"\xff" * 1700).decode()  # 212 ms of 8 kHz mu-law
    with pytest.raises(StreamFrameTooLarge):
        ing.text(json.dumps({"event": "media", "media": {"payload": big}}))
    assert _close(ing.binary, b"\x00\x00") == 1003
    assert _close(Ingest().text, json.dumps({"event": "media", "media": {"payload": ""}})) == 1003  # no start
    ing3 = Ingest()
    ing3.text(json.dumps({"event": "connected"}))
    assert _close(ing3.text, json.dumps({"event": "media", "media": {"payload": ""}})) == 1003  # before start
    with pytest.raises(StreamFormatError):
        Ingest().text(json.dumps({"event": "start", "start": {"mediaFormat": {"encoding": "audio/x-l16",
                                                                               "sampleRate": 8000}}}))
