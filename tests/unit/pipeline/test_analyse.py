"""The analysis core on decoded media: windowing like the media layer, silence costs nothing,
detector failures (strict for scan, per detector for eval), aligned face crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthwatch.detectors.base import DetectorInfo
from synthwatch.detectors.registry import Registry, default_registry
from synthwatch.errors import DetectorError
from synthwatch.media import iter_audio, read_audio
from synthwatch.media.items import AudioWindow
from synthwatch.models.store import ModelStore
from synthwatch.pipeline.analyse import Toolkit, windows_of
from synthwatch.testing.detectors import DebugImage, DebugVoice


@pytest.mark.parametrize(("seconds", "window", "hop"), [(9.0, 4.0, 4.0), (4.3, 4.0, 4.0), (10.0, 4.0, 2.0),
                                                        (3.0, 4.0, 4.0), (8.6, 2.0, 3.0)])
def test_windows_of_a_waveform_are_the_windows_the_decoder_streams(tmp_path: Path, seconds: float, window: float,
                                                                   hop: float) -> None:
    import soundfile as sf

    rng = np.random.default_rng(1)
    path = tmp_path / "x.wav"
    sf.write(path, (0.2 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000, subtype="FLOAT")
    streamed = list(iter_audio(path, window_s=window, hop_s=hop))
    cut = list(windows_of(read_audio(path), sample_rate=16000, window_s=window, hop_s=hop))
    assert [(w.start_s, w.end_s) for w in cut] == [(w.start_s, w.end_s) for w in streamed]
    for a, b in zip(cut, streamed, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)


class _NoVad:
    def speech_ratio(self, samples: np.ndarray) -> float:
        raise AssertionError("the voice-activity model saw a silent window")


def test_silent_windows_never_reach_a_model(tmp_path: Path) -> None:
    kit = Toolkit(["debug-voice"], store=ModelStore(tmp_path))
    kit.load()
    kit.vad = _NoVad()
    scorer = kit.audio_scorer()
    out = scorer.score([AudioWindow(0.0, 4.0, np.zeros(64000, np.float32)),
                        AudioWindow(4.0, 8.0, np.full(64000, 1e-6, np.float32))])
    assert [w.speech for w in out] == [False, False] and all(not w.scores for w in out)


class _Broken(DebugImage):
    info = DetectorInfo(name="broken", version="1", modality="image", model=None, input_spec={"item": "RGB"})

    def detect(self, batch: np.ndarray) -> np.ndarray:
        raise DetectorError("broken on purpose")

    def detect_frames(self, frames: list[np.ndarray], *, token_merging: int = 0) -> np.ndarray:
        raise DetectorError("broken on purpose")


def test_a_class_is_registered_under_its_own_name() -> None:
    from synthwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="calls itself"):
        Registry(entry_points=False).register("other-name", DebugVoice)


def _kit(tmp_path: Path) -> Toolkit:
    reg = Registry(entry_points=False)
    reg.register("broken", _Broken)
    reg.register("debug-voice", DebugVoice)
    return Toolkit(["broken", "debug-voice"], store=ModelStore(tmp_path), registry=reg)


def test_a_failing_detector_ends_a_strict_analysis_and_is_reported_otherwise(tmp_path: Path) -> None:
    kit = _kit(tmp_path)
    picture = np.full((32, 32, 3), 200, np.uint8)
    with pytest.raises(DetectorError, match="on purpose"):
        kit.analysis().add_picture(picture)
    lenient = kit.analysis(strict=False)
    lenient.add_picture(picture)
    t = np.arange(32000, dtype=np.float32) / 16000
    lenient.add_audio([AudioWindow(0.0, 2.0, (0.3 * np.sin(2 * np.pi * 5000 * t)).astype(np.float32))], vad=False)
    ev = lenient.finish()
    broken = ev.result("broken")
    assert broken is not None and broken.status.value == "error" and "on purpose" in (broken.reason or "")
    voice = ev.result("debug-voice")
    assert voice is not None and voice.status.value == "ok" and voice.score is not None and voice.score > 0.9
    assert ev.verdict.label.value == "likely_synthetic"  # decided by the detector that worked
    assert any("broken" in w for w in ev.warnings)


def test_aligned_face_crops_are_scored_whole(tmp_path: Path) -> None:
    kit = Toolkit(["debug-face"], store=ModelStore(tmp_path), registry=default_registry())
    a = kit.analysis()
    a.add_picture(np.full((64, 64, 3), 255, np.uint8), aligned_face=True)
    ev = a.finish()
    res = ev.result("debug-face")
    assert res is not None and res.score == pytest.approx(1.0) and len(ev.faces) == 1
