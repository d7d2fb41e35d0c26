"""synthwatch: find and govern synthetic media.

Public API::

    import synthwatch
    report = synthwatch.scan("clip.mp4")            # path, bytes or a binary stream
    scanner = synthwatch.Scanner(detectors=["clip-probe", "aasist"])   # loads models once
    reports = [scanner.scan(p) for p in paths]      # safe to share between threads
"""

from __future__ import annotations

__version__ = "0.1.0"

from .config import Limits, Sampling, Settings, get_settings  # noqa: E402
from .errors import (  # noqa: E402
    ConfigError,
    CorruptMedia,
    DecodeResourceError,
    DecodeTimeout,
    DetectorError,
    MediaError,
    MediaTooLarge,
    ModelError,
    ModelIntegrityError,
    ModelNotInstalled,
    SynthwatchError,
    UnknownDetector,
    UnsupportedMedia,
)
from .pipeline.scan import Scanner, scan  # noqa: E402
from .types import (  # noqa: E402
    REPORT_SCHEMA,
    DetectorResult,
    FaceBox,
    FaceTrack,
    MediaInfo,
    MediaKind,
    Report,
    Segment,
    Verdict,
    VerdictLabel,
)

__all__ = [
    "__version__",
    "scan",
    "Scanner",
    "Report",
    "REPORT_SCHEMA",
    "MediaInfo",
    "MediaKind",
    "Segment",
    "FaceBox",
    "FaceTrack",
    "DetectorResult",
    "Verdict",
    "VerdictLabel",
    "Settings",
    "Limits",
    "Sampling",
    "get_settings",
    "SynthwatchError",
    "ConfigError",
    "MediaError",
    "UnsupportedMedia",
    "CorruptMedia",
    "MediaTooLarge",
    "DecodeTimeout",
    "DecodeResourceError",
    "ModelError",
    "ModelNotInstalled",
    "ModelIntegrityError",
    "DetectorError",
    "UnknownDetector",
]
