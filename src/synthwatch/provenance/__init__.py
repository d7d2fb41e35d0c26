"""Provenance: AI-content labels and other signals; read, verify, decide, write.

::

    from synthwatch import provenance
    section = provenance.inspect("upload.jpg", declared_ai=False, verdict=report.verdict,
                                 detectors=report.detectors)        # the report's provenance section
    decision = provenance.decide(provenance.read_signals("upload.jpg"), declared_ai=True)
    provenance.apply_label("upload.jpg", "out.jpg", propagator="PLATFORMCODE", label=decision.label)

Modules: :mod:`.label` (the GB 45438 AIGC model and validation), :mod:`.xmp` (hardened XMP),
:mod:`.aigc_label` (read/write per container), :mod:`.decision` and :mod:`.rules` (Art. 6 as data),
:mod:`.signals` (``inspect``), :mod:`.c2pa_manifest` (C2PA read/validate/sign),
:mod:`.watermark` (SD dwtDct detection), :mod:`.perth_watermark` (Resemble Perth audio watermark,
optional ``perth`` extra), :mod:`.visible` (burned-in notices on images), :mod:`.visible_video`
(notices on video), :mod:`.audible` (the Morse "AI" cue on audio), :mod:`.security_data`
(SM2/SM3 SecurityData in ReservedCode1/2), :mod:`.diff`, :mod:`.errors`.
"""

from __future__ import annotations

from .aigc_label import CARRIERS, apply_label, carrier_for, new_id, read_label, read_labels, write_label
from .audible import AudioCueResult, add_audio_cue
from .c2pa_manifest import C2paSigner, C2paSigningError, read_c2pa, sign_c2pa
from .decision import Decision, decide, facts_from, load_rules
from .diff import compare, diff_labels
from .errors import (
    CorruptContainer,
    DuplicateLabel,
    LabelEncodingError,
    LabelError,
    LabelTooLarge,
    LabelWriteError,
    ProvenanceError,
    SecurityDataError,
    TranscodeError,
    UnsafeXML,
    UnsupportedCarrier,
)
from .label import AIGCLabel, Deviation, LabelReading, parse_label, validate_label
from .rules import RULES
from .security_data import SM2Key, generate_sm2_key, load_sm2_key, verify_label
from .signals import PROVENANCE_SCHEMA, inspect, read_signals
from .visible import FontNotFound, VisibleLabel, burn_image_label
from .visible_video import VideoLabelResult, burn_video_label
from .watermark import detect_image as detect_watermark

__all__ = [
    "AIGCLabel",
    "AudioCueResult",
    "SM2Key",
    "SecurityDataError",
    "TranscodeError",
    "VideoLabelResult",
    "add_audio_cue",
    "burn_video_label",
    "generate_sm2_key",
    "load_sm2_key",
    "verify_label",
    "C2paSigner",
    "C2paSigningError",
    "CARRIERS",
    "FontNotFound",
    "VisibleLabel",
    "burn_image_label",
    "compare",
    "detect_watermark",
    "diff_labels",
    "read_c2pa",
    "sign_c2pa",
    "CorruptContainer",
    "Decision",
    "Deviation",
    "DuplicateLabel",
    "LabelEncodingError",
    "LabelError",
    "LabelReading",
    "LabelTooLarge",
    "LabelWriteError",
    "PROVENANCE_SCHEMA",
    "ProvenanceError",
    "RULES",
    "UnsafeXML",
    "UnsupportedCarrier",
    "apply_label",
    "carrier_for",
    "decide",
    "facts_from",
    "inspect",
    "load_rules",
    "new_id",
    "parse_label",
    "read_label",
    "read_labels",
    "read_signals",
    "validate_label",
    "write_label",
]
