"""Live audio rooms: watch each speaker's stream for cloned and synthetic voices as they speak.

::

    from synthwatch.stream import Monitor, MonitorConfig

    monitor = Monitor(MonitorConfig(), store=store).start()   # loads sw-voice and the VAD once
    speaker = monitor.open("room-1", "alice", sink)            # sink.on_event / on_alert / on_stopped
    speaker.feed(samples_16k)                                  # as audio arrives
    speaker.close()                                            # scores the tail, then on_stopped

* :mod:`.monitor`: per-speaker ring buffers, sliding windows scored through the analysis core
  (voice-activity gating and the voice detector, as a file scan scores them), evidence with
  hysteresis, alerts, backpressure (``lagging``, skipped windows counted).
* :mod:`.formats`: declared formats (PCM s16/f32, G.711 mu-law/A-law, 8-48 kHz) and their
  streaming decoding to 16 kHz mono.
* :mod:`.protocol`: the WebSocket ingest protocol (binary PCM and Twilio Media Streams), without
  any WebSocket library; violations are typed errors carrying their close code.
* :mod:`.evidence`: an alert's FLAC segment, report and timeline picture.
* :mod:`.webrtc`: WHIP (RFC 9725) sessions on aiortc (extra ``[webrtc]``).
* :mod:`.simulate`: the ``synthwatch rooms simulate`` client.

The HTTP and WebSocket endpoints, room state, storage and cases are in
``synthwatch.service.rooms``; nothing here imports the service.
"""

from __future__ import annotations

from .formats import ANALYSIS_RATE, AudioFormat, StreamDecoder
from .monitor import Alert, Monitor, MonitorConfig, Sink, Speaker, default_voice_detector
from .protocol import CLOSE_CODES, Ingest, Step

__all__ = ["ANALYSIS_RATE", "AudioFormat", "StreamDecoder", "Alert", "Monitor", "MonitorConfig", "Sink", "Speaker",
           "default_voice_detector", "CLOSE_CODES", "Ingest", "Step"]
