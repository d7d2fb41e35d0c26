"""Live-room test fixtures: speech-like audio the tests generate (a "fake" voice is speech with a
loud 5 kHz tone mixed in, which the model-free ``debug-voice`` detector scores high), music and
silence, and a monitor on the real Silero voice-activity model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthwatch.models.store import ModelStore
from synthwatch.stream import Monitor, MonitorConfig
from synthwatch.testing.samples import synth_speech

SR = 16_000


def speech(seconds: float, seed: int = 1) -> np.ndarray:
    x, _ = synth_speech(seconds, SR, seed)
    return x.astype(np.float32)


def fake_voice(seconds: float, seed: int = 2, tone_hz: float = 5000.0, level: float = 0.2) -> np.ndarray:
    """Speech with a 5 kHz tone mixed in: still speech to the VAD, high to debug-voice. For 8 kHz
    mu-law telephone audio, a softer tone under 4 kHz (3.3 kHz at 0.12) does the same."""
    x = speech(seconds, seed)
    t = np.arange(x.size) / SR
    return (x + level * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)


def music(seconds: float) -> np.ndarray:
    """A C major chord with a slow tremolo: audible, not speech."""
    t = np.arange(int(seconds * SR)) / SR
    chord = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0, 523.2))
    return (chord * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)


class Recorder:
    """A Sink that keeps everything."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.alerts: list[Any] = []
        self.summary: dict[str, Any] | None = None

    def on_event(self, speaker: Any, event: dict[str, Any]) -> None:
        self.events.append(event)

    def on_alert(self, speaker: Any, alert: Any) -> None:
        self.alerts.append(alert)
        self.events.append(alert.event())

    def on_stopped(self, speaker: Any, summary: dict[str, Any]) -> None:
        self.summary = summary

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events]

    def scores(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == "score"]


@pytest.fixture
def vad_store(model_store: ModelStore) -> ModelStore:
    if not model_store.is_installed("silero-vad"):
        pytest.skip("silero-vad could not be installed here (synthwatch models setup installs it from its wheel)")
    return model_store


@pytest.fixture
def make_monitor(vad_store: ModelStore) -> Iterator[Callable[..., Monitor]]:
    made: list[Monitor] = []

    def make(**cfg: Any) -> Monitor:
        cfg.setdefault("detector", "debug-voice")
        cfg.setdefault("threads", 1)
        cfg.setdefault("max_ahead_s", 3600.0)  # tests feed audio faster than real time
        mon = Monitor(MonitorConfig(**cfg), store=vad_store).start()
        made.append(mon)
        return mon

    yield make
    for mon in made:
        mon.stop()


def feed(speaker: Any, x: np.ndarray, chunk_s: float = 0.1) -> None:
    step = int(chunk_s * SR)
    for i in range(0, x.size, step):
        speaker.feed(x[i:i + step])


@pytest.fixture
def tmp_wav(tmp_path: Path) -> Callable[[str, np.ndarray], Path]:
    import soundfile as sf

    def write(name: str, x: np.ndarray) -> Path:
        p = tmp_path / name
        sf.write(p, x, SR, subtype="PCM_16")
        return p

    return write
