"""``rawgat-st``: the published RawGAT-ST (multiplicative fusion) voice anti-spoofing model
(EURECOM, MIT; trained on ASVspoof 2019 LA), run as ONNX converted by synthwatch's own port
(:mod:`synthwatch.models.convert.rawgat`).

Input: a mono 16 kHz float32 waveform of any length; the first 64,600 samples are scored, a
shorter clip is tiled (the upstream evaluation protocol). Score: ``P(spoof)`` =
``softmax(logits)[0]``, higher = more likely synthetic; the 0.5 threshold is the model's own
decision rule, not calibrated on synthwatch data. No upstream reference scores exist for this
port; its behaviour was checked on real and synthetic speech (see the model card).
"""

from __future__ import annotations

from ..base import DetectorInfo
from ._common import N_SAMPLES, SAMPLE_RATE, RawWaveformAntiSpoof

__all__ = ["RawGATST"]


class RawGATST(RawWaveformAntiSpoof):
    info = DetectorInfo(
        name="rawgat-st",
        version="1.0",
        modality="audio",
        model="rawgat-st",
        input_spec={
            "item": "float32 mono waveform at 16 kHz, any length",
            "sample_rate": SAMPLE_RATE,
            "samples": N_SAMPLES,
            "fit": "first 64600 samples; shorter clips tiled end to end",
            "layout": "float32 [64600]",
            "score": "P(spoof) = softmax(logits)[0], higher = more likely synthetic",
        },
        default=False,
        description="RawGAT-ST (Tak et al., ASVspoof 2021 workshop): raw-waveform spectro-temporal "
                    "graph attention anti-spoofing, ASVspoof 2019 LA; synthetic / converted speech.",
    )
