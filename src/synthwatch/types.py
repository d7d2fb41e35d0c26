"""Frozen value types shared by every layer: media facts, evidence, verdicts and the report.

Every type converts to plain JSON-able dicts with ``to_dict()``; the report schema is
``synthwatch.report/1`` and its field names are stable (documented in the README).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "REPORT_SCHEMA",
    "MediaKind",
    "VerdictLabel",
    "DetectorStatus",
    "MediaInfo",
    "Segment",
    "FaceBox",
    "FaceTrack",
    "DetectorResult",
    "Verdict",
    "ReportError",
    "Report",
]

REPORT_SCHEMA = "synthwatch.report/1"


class MediaKind(StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


class VerdictLabel(StrEnum):
    LIKELY_SYNTHETIC = "likely_synthetic"
    INCONCLUSIVE = "inconclusive"
    LIKELY_AUTHENTIC = "likely_authentic"
    NOT_APPLICABLE = "not_applicable"


class DetectorStatus(StrEnum):
    OK = "ok"
    NOT_APPLICABLE = "not_applicable"
    ERROR = "error"


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def _need(d: Any, what: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ValueError(f"{what}: expected an object, got {type(d).__name__}")
    return d


def _clean(value: Any) -> Any:
    """Recursively turn dataclasses / enums / tuples into JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _clean(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What probing a file found, before any full decode."""

    kind: MediaKind
    format: str  # real container/format from magic bytes: "jpeg", "png", "mp4", "wav", ...
    mime: str
    size_bytes: int
    sha256: str
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frame_count: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    has_audio: bool = False
    has_video: bool = False

    def to_dict(self) -> dict[str, Any]:
        return _clean(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MediaInfo:
        d = _need(d, "media")
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["kind"] = MediaKind(d["kind"])
        return cls(**kw)


@dataclass(frozen=True, slots=True)
class Segment:
    """A time span scored by one detector (an audio window or a sampled video frame)."""

    start_s: float
    end_s: float
    score: float  # probability-like score in [0, 1]; higher = more likely synthetic
    detector: str
    modality: str  # "audio" | "image" | "face"

    def to_dict(self) -> dict[str, Any]:
        return _clean(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Segment:
        d = _need(d, "segment")
        return cls(float(d["start_s"]), float(d["end_s"]), float(d["score"]), str(d["detector"]), str(d["modality"]))


@dataclass(frozen=True, slots=True)
class FaceBox:
    """One face in one frame. Coordinates are pixels in the original frame, x0 y0 x1 y1."""

    t_s: float
    box: tuple[float, float, float, float]
    confidence: float  # face detector confidence
    scores: dict[str, float] = field(default_factory=dict)  # face-forgery detector -> score

    def to_dict(self) -> dict[str, Any]:
        return _clean(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaceBox:
        d = _need(d, "face box")
        x0, y0, x1, y1 = (float(v) for v in d["box"])
        return cls(float(d["t_s"]), (x0, y0, x1, y1), float(d["confidence"]),
                   {str(k): float(v) for k, v in (d.get("scores") or {}).items()})


@dataclass(frozen=True, slots=True)
class FaceTrack:
    """The same face followed across frames."""

    track_id: int
    boxes: tuple[FaceBox, ...]
    scores: dict[str, float] = field(default_factory=dict)  # detector -> aggregated track score

    @property
    def start_s(self) -> float:
        return self.boxes[0].t_s if self.boxes else 0.0

    @property
    def end_s(self) -> float:
        return self.boxes[-1].t_s if self.boxes else 0.0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = _clean(self)
        d["start_s"] = round(self.start_s, 6)
        d["end_s"] = round(self.end_s, 6)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaceTrack:
        d = _need(d, "face track")
        return cls(int(d["track_id"]), tuple(FaceBox.from_dict(b) for b in d.get("boxes") or []),
                   {str(k): float(v) for k, v in (d.get("scores") or {}).items()})


@dataclass(frozen=True, slots=True)
class DetectorResult:
    """What one detector concluded about one item."""

    name: str
    version: str
    modality: str
    status: DetectorStatus
    score: float | None = None  # None unless status is OK
    threshold: float | None = None
    label: VerdictLabel = VerdictLabel.NOT_APPLICABLE
    reason: str | None = None  # why not_applicable / error
    install_hint: str | None = None  # command that installs a missing model
    n_inputs: int = 0  # windows / frames / faces scored
    segments: tuple[Segment, ...] = ()
    variant: str | None = None  # how the detector ran when not as for pictures (e.g. faster video frames)
    #: False: the score is reported as a signal but takes no part in the verdict (its card says why:
    #: e.g. at chance on sources it never saw)
    decides_verdict: bool = True

    def to_dict(self) -> dict[str, Any]:
        return _clean(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectorResult:
        d = _need(d, "detector result")
        return cls(name=str(d["name"]), version=str(d["version"]), modality=str(d["modality"]),
                   status=DetectorStatus(d["status"]), score=_opt_float(d.get("score")),
                   threshold=_opt_float(d.get("threshold")),
                   label=VerdictLabel(d.get("label") or VerdictLabel.NOT_APPLICABLE), reason=d.get("reason"),
                   install_hint=d.get("install_hint"), n_inputs=int(d.get("n_inputs") or 0),
                   segments=tuple(Segment.from_dict(s) for s in d.get("segments") or []),
                   variant=d.get("variant"), decides_verdict=bool(d.get("decides_verdict", True)))


@dataclass(frozen=True, slots=True)
class Verdict:
    label: VerdictLabel
    score: float | None
    threshold: float | None
    basis: str = ""  # which detectors / rule decided

    def to_dict(self) -> dict[str, Any]:
        return _clean(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        d = _need(d, "verdict")
        return cls(VerdictLabel(d["label"]), _opt_float(d.get("score")), _opt_float(d.get("threshold")),
                   str(d.get("basis") or ""))


@dataclass(frozen=True, slots=True)
class ReportError:
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return _clean(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportError:
        d = _need(d, "error")
        return cls(str(d["code"]), str(d["message"]))


@dataclass(frozen=True, slots=True)
class Report:
    """The one result type: CLI, API, store, review UI and eval all read this."""

    source: str
    media: MediaInfo | None
    verdict: Verdict
    detectors: tuple[DetectorResult, ...] = ()
    segments: tuple[Segment, ...] = ()
    faces: tuple[FaceTrack, ...] = ()
    provenance: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    error: ReportError | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    created_at: str = ""
    synthwatch_version: str = ""
    schema: str = REPORT_SCHEMA

    @property
    def ok(self) -> bool:
        return self.error is None

    def detector(self, name: str) -> DetectorResult | None:
        return next((d for d in self.detectors if d.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": self.schema,
            "synthwatch_version": self.synthwatch_version,
            "created_at": self.created_at,
            "source": self.source,
            "media": self.media.to_dict() if self.media else None,
            "verdict": self.verdict.to_dict(),
            "detectors": [x.to_dict() for x in self.detectors],
            "segments": [x.to_dict() for x in self.segments],
            "faces": [x.to_dict() for x in self.faces],
            "provenance": _clean(self.provenance) if self.provenance is not None else None,
            "warnings": list(self.warnings),
            "error": self.error.to_dict() if self.error else None,
            "timings_s": _clean(self.timings_s),
        }
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """The report a ``synthwatch.report/1`` document describes (what :meth:`to_dict` wrote, or
        what the service stored). Raises ``ValueError`` for another schema or a malformed document;
        :func:`synthwatch.render.schema.validate_report` checks a document against the JSON Schema."""
        d = _need(d, "report")
        if d.get("schema") != REPORT_SCHEMA:
            raise ValueError(f"not a {REPORT_SCHEMA} document (schema {d.get('schema')!r})")
        try:
            return cls(source=str(d["source"]),
                       media=MediaInfo.from_dict(d["media"]) if d.get("media") is not None else None,
                       verdict=Verdict.from_dict(d["verdict"]),
                       detectors=tuple(DetectorResult.from_dict(x) for x in d.get("detectors") or []),
                       segments=tuple(Segment.from_dict(x) for x in d.get("segments") or []),
                       faces=tuple(FaceTrack.from_dict(x) for x in d.get("faces") or []),
                       provenance=d.get("provenance"), warnings=tuple(str(w) for w in d.get("warnings") or []),
                       error=ReportError.from_dict(d["error"]) if d.get("error") is not None else None,
                       timings_s={str(k): float(v) for k, v in (d.get("timings_s") or {}).items()},
                       created_at=str(d.get("created_at") or ""),
                       synthwatch_version=str(d.get("synthwatch_version") or ""), schema=REPORT_SCHEMA)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed {REPORT_SCHEMA} document: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Report:
        return cls.from_dict(json.loads(text))
