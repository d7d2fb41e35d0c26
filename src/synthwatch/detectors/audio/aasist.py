"""``aasist`` and ``aasist-l``: the published AASIST / AASIST-L voice anti-spoofing models (clovaai,
MIT; trained on ASVspoof 2019 LA), run as ONNX converted by synthwatch's own port
(:mod:`synthwatch.models.convert.aasist`), which reproduces the upstream reference logits to about
1e-5.

Input: a mono 16 kHz float32 waveform of any length; the first 64,600 samples (about 4.04 s) are
scored, a shorter clip is tiled (the upstream evaluation protocol). Score: ``P(spoof)`` =
``softmax(logits)[0]``, higher = more likely synthetic. The 0.5 threshold is the model's own
decision rule, not calibrated on synthwatch data; these models were trained on one corpus (VCTK
speakers, 2019-era TTS/VC) and are known to flag some genuine recordings from other corpora (e.g.
LJSpeech) as spoofed.
"""

from __future__ import annotations

from ..base import DetectorInfo
from ._common import N_SAMPLES, SAMPLE_RATE, RawWaveformAntiSpoof

__all__ = ["AASIST", "AASISTL"]

_SPEC = {
    "item": "float32 mono waveform at 16 kHz, any length",
    "sample_rate": SAMPLE_RATE,
    "samples": N_SAMPLES,
    "fit": "first 64600 samples; shorter clips tiled end to end",
    "layout": "float32 [64600]",
    "score": "P(spoof) = softmax(logits)[0], higher = more likely synthetic",
}


class AASIST(RawWaveformAntiSpoof):
    info = DetectorInfo(
        name="aasist",
        version="1.0",
        modality="audio",
        model="aasist",
        input_spec=dict(_SPEC),
        default=False,
        description="AASIST (Jung et al., ICASSP 2022): raw-waveform spectro-temporal graph attention "
                    "anti-spoofing, ASVspoof 2019 LA; synthetic / converted speech.",
    )


class AASISTL(RawWaveformAntiSpoof):
    info = DetectorInfo(
        name="aasist-l",
        version="1.0",
        modality="audio",
        model="aasist-l",
        input_spec=dict(_SPEC),
        default=False,  # sw-voice is the default voice detector; AASIST-L joins its ensemble when asked for
        description="AASIST-L, the 85k-parameter AASIST (Jung et al., ICASSP 2022), ASVspoof 2019 LA; "
                    "synthetic / converted speech.",
    )
