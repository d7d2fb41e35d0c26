"""The JSON Schema of ``synthwatch.report/1`` (draft 2020-12), published as
``docs/report.schema.json`` (a test keeps the file equal to :func:`report_schema`).

The schema is strict about the fields every consumer relies on (types, enums, required keys) and
open where the report is meant to grow: objects accept additional properties, so a newer
synthwatch can add a field without breaking a reader of this schema. The ``provenance`` section
has its own versioned schema (``synthwatch.provenance/1``) and is checked here only as an object.
"""

from __future__ import annotations

from typing import Any

from ..types import REPORT_SCHEMA, DetectorStatus, MediaKind, VerdictLabel

__all__ = ["SCHEMA_ID", "report_schema", "validate_report"]

SCHEMA_ID = "https://synthwatch.dev/schemas/report-1.json"

_NUM = {"type": "number"}
_OPT_NUM = {"type": ["number", "null"]}
_OPT_STR = {"type": ["string", "null"]}
_OPT_INT = {"type": ["integer", "null"]}
_SCORE = {"type": "number", "minimum": 0, "maximum": 1}
_OPT_SCORE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_MODALITY = {"enum": ["audio", "image", "face"]}


def _obj(required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def report_schema() -> dict[str, Any]:
    """The schema as a dict."""
    segment = _obj(["start_s", "end_s", "score", "detector", "modality"], {
        "start_s": _NUM, "end_s": _NUM, "score": _SCORE, "detector": {"type": "string"}, "modality": _MODALITY})
    face_box = _obj(["t_s", "box", "confidence", "scores"], {
        "t_s": _NUM, "box": {"type": "array", "items": _NUM, "minItems": 4, "maxItems": 4},
        "confidence": _NUM, "scores": {"type": "object", "additionalProperties": _SCORE}})
    face_track = _obj(["track_id", "start_s", "end_s", "scores", "boxes"], {
        "track_id": {"type": "integer"}, "start_s": _NUM, "end_s": _NUM,
        "scores": {"type": "object", "additionalProperties": _SCORE},
        "boxes": {"type": "array", "items": {"$ref": "#/$defs/face_box"}}})
    detector = _obj(["name", "version", "modality", "status", "score", "threshold", "label", "reason",
                     "install_hint", "n_inputs", "segments"], {
        "name": {"type": "string"}, "version": {"type": "string"}, "modality": _MODALITY,
        "status": {"enum": [s.value for s in DetectorStatus]}, "score": _OPT_SCORE, "threshold": _OPT_NUM,
        "label": {"enum": [v.value for v in VerdictLabel]}, "reason": _OPT_STR, "install_hint": _OPT_STR,
        "n_inputs": {"type": "integer", "minimum": 0},
        "segments": {"type": "array", "items": {"$ref": "#/$defs/segment"}},
        "variant": _OPT_STR, "decides_verdict": {"type": "boolean"}})
    media = _obj(["kind", "format", "mime", "size_bytes", "sha256"], {
        "kind": {"enum": [k.value for k in MediaKind]}, "format": {"type": "string"}, "mime": {"type": "string"},
        "size_bytes": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "duration_s": _OPT_NUM, "width": _OPT_INT, "height": _OPT_INT, "fps": _OPT_NUM, "frame_count": _OPT_INT,
        "video_codec": _OPT_STR, "audio_codec": _OPT_STR, "sample_rate": _OPT_INT, "channels": _OPT_INT,
        "has_audio": {"type": "boolean"}, "has_video": {"type": "boolean"}})
    verdict = _obj(["label", "score", "threshold", "basis"], {
        "label": {"enum": [v.value for v in VerdictLabel]}, "score": _OPT_SCORE, "threshold": _OPT_NUM,
        "basis": {"type": "string"}})
    error = _obj(["code", "message"], {"code": {"type": "string"}, "message": {"type": "string"}})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": REPORT_SCHEMA,
        "description": "One synthwatch scan of one item: media facts, per-detector evidence, face tracks, "
                       "provenance and the verdict. Scores are higher = more likely synthetic.",
        "type": "object",
        "required": ["schema", "synthwatch_version", "created_at", "source", "media", "verdict", "detectors",
                     "segments", "faces", "provenance", "warnings", "error", "timings_s"],
        "properties": {
            "schema": {"const": REPORT_SCHEMA},
            "synthwatch_version": {"type": "string"},
            "created_at": {"type": "string"},
            "source": {"type": "string"},
            "media": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/media"}]},
            "verdict": {"$ref": "#/$defs/verdict"},
            "detectors": {"type": "array", "items": {"$ref": "#/$defs/detector"}},
            "segments": {"type": "array", "items": {"$ref": "#/$defs/segment"}},
            "faces": {"type": "array", "items": {"$ref": "#/$defs/face_track"}},
            "provenance": {"type": ["object", "null"]},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "error": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/error"}]},
            "timings_s": {"type": "object", "additionalProperties": _NUM},
        },
        "$defs": {"segment": segment, "face_box": face_box, "face_track": face_track, "detector": detector,
                  "media": media, "verdict": verdict, "error": error},
    }


def validate_report(doc: Any) -> None:
    """Raise ``ValueError`` naming the first violation when ``doc`` is not a valid report document."""
    import jsonschema
    from jsonschema.exceptions import best_match

    e = best_match(jsonschema.Draft202012Validator(report_schema()).iter_errors(doc))
    if e is not None:
        while e.context:  # a oneOf / anyOf: the deepest reason inside it
            e = best_match(e.context) or e.context[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise ValueError(f"not a valid {REPORT_SCHEMA} document at {where}: {e.message}")
