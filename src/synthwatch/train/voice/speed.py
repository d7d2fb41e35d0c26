"""Real-time factor of sw-voice: time spent in ``preprocess`` + ``detect`` per second of audio.

The audio is cut into the 4 s windows the scan pipeline feeds (``sampling.audio_window_s``), each
window is preprocessed (numpy features) and the windows are scored in batches of 16 through the
shipped ONNX (loaded with its sha256 checked). Decoding and voice-activity detection are excluded
(shared by every voice detector). The audio is deterministic synthetic speech-like signal
(:func:`synthwatch.testing.samples.synth_speech`); the cost does not depend on the content.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["measure_rtf"]


def measure_rtf(seconds: float = 120.0, threads: int = 1, repeats: int = 3) -> dict[str, Any]:
    from ...detectors.audio.sw_voice import SwVoice
    from ...models.store import ModelStore
    from ...testing.samples import synth_speech

    sr = 16_000
    x, _ = synth_speech(seconds, sr, seed=7)
    x = np.asarray(x, np.float32)
    win = 4 * sr
    windows = [x[i:i + win] for i in range(0, x.size - win + 1, win)]
    det = SwVoice(threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        det.load(ModelStore(Path(tmp)))  # the store is not used by sw-voice
    det.score(windows[:2])  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        det.score(windows, batch_size=16)
        times.append(time.perf_counter() - t)
    best = min(times)
    return {"rtf": best / seconds, "seconds": round(best, 4), "all_seconds": [round(v, 4) for v in times],
            "audio_s": seconds, "windows": len(windows), "threads": threads, "cpu_count": os.cpu_count(),
            "load_average": [round(v, 2) for v in os.getloadavg()],
            "what": f"preprocess + detect of {len(windows)} 4 s windows ({seconds:g} s of audio), batch 16, "
                    f"ONNX Runtime with {threads} intra-op thread(s), best of {repeats}; decode and VAD excluded",
            "command": f"python -m synthwatch.train.voice rtf --seconds {seconds:g} --threads {threads}"}
