"""Read every provenance signal of a file and the Art. 6 decision: the report's ``provenance`` section.

``inspect(path)`` never raises for problems inside the file: a hostile label, a broken container or
an unsupported format is recorded under ``errors`` (code + message) and the other signals are still
read. The result is a JSON-able dict (schema ``synthwatch.provenance/1``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from synthwatch.errors import SynthwatchError
from synthwatch.media.sniff import Sniffed, sniff
from synthwatch.types import DetectorResult, MediaKind, Verdict

from . import c2pa_manifest, perth_watermark, watermark
from .aigc_label import CARRIERS, MAX_IMAGE_BYTES, _image_meta, read_labels
from .decision import decide
from .errors import UnsupportedCarrier
from .rules import GENERATOR_PATTERNS, GENERATOR_TEXT_KEYS, IPTC_CLASSES, IPTC_PREFIX
from .security_data import verify_label
from .xmp import parse_xmp

__all__ = ["PROVENANCE_SCHEMA", "read_signals", "inspect", "iptc_class", "generator_name"]

PROVENANCE_SCHEMA = "synthwatch.provenance/1"
_TEXT_CAP = 2000
_GEN_RE = [re.compile(p, re.IGNORECASE) for p in GENERATOR_PATTERNS]
_CLASS_ORDER = ("ai", "possibly_ai", "capture")


def _err(exc: BaseException) -> dict[str, str]:
    return {"code": getattr(exc, "code", "error"), "message": str(exc)}


def iptc_class(values: Sequence[str]) -> str | None:
    """The strongest class among IPTC DigitalSourceType values: 'ai' > 'possibly_ai' > 'capture'."""
    found = set()
    for v in values:
        code = v.strip()
        if code.startswith(IPTC_PREFIX):
            code = code[len(IPTC_PREFIX):]
        code = code.rstrip("/").rsplit("/", 1)[-1]
        cls = IPTC_CLASSES.get(code)
        if cls:
            found.add(cls)
    return next((c for c in _CLASS_ORDER if c in found), None)


def generator_name(text: str) -> str | None:
    """The generator pattern a software string matches, or None."""
    for rx in _GEN_RE:
        m = rx.search(text)
        if m:
            return m.group(0)
    return None


def _cap(text: str) -> str:
    return text if len(text) <= _TEXT_CAP else text[:_TEXT_CAP] + "…"


def _image_signals(path: str | os.PathLike[str], fmt: str, out: dict[str, Any]) -> None:
    if os.path.getsize(path) > MAX_IMAGE_BYTES:
        out["errors"].append({"code": "too_large", "message": "image too large for metadata reading"})
        return
    with open(path, "rb") as f:
        data = f.read()
    meta = _image_meta(data, fmt)
    dst: list[str] = []
    creator: list[str] = []
    software: list[str] = []
    for packet in meta.xmp:
        try:
            info = parse_xmp(packet)
        except SynthwatchError as exc:
            out["errors"].append({"where": "xmp", **_err(exc)})
            continue
        dst += info.digital_source_types
        creator += info.creator_tools
        software += info.software
    out["iptc"] = {"digital_source_types": dst, "class": iptc_class(dst)}
    out["exif"] = dict(meta.exif)
    out["xmp"] = {"packets": len(meta.xmp), "creator_tool": creator, "software": software}
    out["png_text"] = {k: _cap(v) for k, v in meta.text.items()} if fmt == "png" else {}
    traces = out["generator_traces"]
    for key, text in meta.text.items():
        if key.strip().lower() in GENERATOR_TEXT_KEYS:
            traces.append({"source": f"png:text:{key}", "value": _cap(text)})
        elif key.strip().lower() == "software" and generator_name(text):
            traces.append({"source": f"png:text:{key}", "value": _cap(text), "match": generator_name(text)})
    for source, values in (("exif:Software", [meta.exif.get("Software", "")]), ("xmp:CreatorTool", creator),
                           ("xmp:tiff:Software", software)):
        for v in values:
            name = generator_name(v) if v else None
            if name:
                traces.append({"source": source, "value": _cap(v), "match": name})
    out["c2pa"]["present"] = meta.c2pa


def _audio_watermarks(path: str | os.PathLike[str], sniffed: Sniffed | None = None) -> dict[str, Any]:
    """The Resemble Perth check on an audio track, or why it was not made."""
    if not perth_watermark.available():
        return {"checked": [], "found": False,
                "reason": f"audio watermark check not available: install {perth_watermark.INSTALL_HINT}"}
    try:
        hit = perth_watermark.detect_file(path, sniffed=sniffed)
    except UnsupportedCarrier as exc:  # no audio track, or too short to judge
        return {"checked": [], "found": False, "reason": f"audio watermark check not applicable: {exc}"}
    except SynthwatchError as exc:
        return {"checked": [], "found": False, "reason": f"audio watermark check failed: {exc}",
                "error": _err(exc)}
    return {"checked": [hit], "found": bool(hit["found"]), "names": [hit["name"]] if hit["found"] else []}


def read_signals(path: str | os.PathLike[str], *, trust_anchors: str | None = None,
                 audio_watermark: bool = True, sm2_trusted: Collection[str] | None = None,
                 sniffed: Sniffed | None = None) -> dict[str, Any]:
    """Every provenance signal found in the file (no decision).

    ``trust_anchors``: PEM roots that make a C2PA signer ``Trusted`` (validation is offline).
    ``audio_watermark``: check audio tracks for the Resemble Perth mark when the ``perth`` extra is
    installed (it loads PyTorch once per process).
    ``sm2_trusted``: SM2 public keys (128 hex) or key ids whose SecurityData blocks count as trusted.
    ``sniffed``: the file's type as the caller already read it from its bytes (a scan sniffs once).
    """
    out: dict[str, Any] = {
        "schema": PROVENANCE_SCHEMA,
        "format": None,
        "aigc": {"present": False, "valid": False, "count": 0, "carrier": None, "label": None, "others": [],
                 "error": None},
        "iptc": {"digital_source_types": [], "class": None},
        "exif": {},
        "xmp": {"packets": 0, "creator_tool": [], "software": []},
        "png_text": {},
        "generator_traces": [],
        "c2pa": {"present": False, "state": None, "ai": None, "capture": False, "failures": [],
                 "digital_source_types": []},
        "watermarks": {"checked": [], "found": False, "reason": "no watermark check applies to this format"},
        "errors": [],
    }
    try:
        sniffed = sniffed if sniffed is not None else sniff(path)
    except SynthwatchError as exc:
        out["errors"].append({"where": "sniff", **_err(exc)})
        return out
    fmt, sniffed_kind = sniffed.format, sniffed.kind
    out["format"] = fmt
    aigc = out["aigc"]
    aigc["carrier"] = CARRIERS.get(fmt)
    if fmt in CARRIERS:
        try:
            labels = read_labels(path, fmt)
        except SynthwatchError as exc:  # where a label lives cannot be read: recorded, reviewed
            aigc["error"] = _err(exc)
        else:
            aigc["count"] = len(labels)
            if labels and any(b.get("verified") and (b.get("content") or sm2_trusted is not None)
                              for b in labels[0].security.blocks):
                # the signature held over the label: compare the signed content digest with the file
                # and the signing key with the trusted ones
                labels[0] = replace(labels[0], security=verify_label(labels[0].label, path=path, fmt=fmt,
                                                                     trusted_keys=sm2_trusted))
            if labels:
                aigc["present"] = True
                aigc["label"] = labels[0].to_dict()
                aigc["others"] = [x.to_dict() for x in labels[1:]]
                aigc["valid"] = labels[0].valid and len(labels) == 1
                if len(labels) > 1:
                    aigc["error"] = {"code": "label_duplicate",
                                     "message": f"{len(labels)} AIGC labels in one file (exactly one is allowed)"}
    else:
        aigc["error"] = None
        aigc["reason"] = f"{fmt} files have no AIGC label carrier"
    if fmt in ("jpeg", "png", "webp"):
        try:
            _image_signals(path, fmt, out)
        except SynthwatchError as exc:
            out["errors"].append({"where": "image_metadata", **_err(exc)})
        try:
            out["watermarks"] = watermark.detect_image(path)  # decoded in the isolated worker
        except SynthwatchError as exc:
            out["watermarks"]["reason"] = f"image could not be decoded for the watermark check: {exc}"
            out["watermarks"]["error"] = _err(exc)
    if audio_watermark and sniffed_kind in (MediaKind.AUDIO, MediaKind.VIDEO):
        out["watermarks"] = _audio_watermarks(path, sniffed)
    if not c2pa_manifest.available():
        out["c2pa"]["reason"] = "c2pa-python is not installed"
    elif fmt in c2pa_manifest.MIME:
        try:
            out["c2pa"] = c2pa_manifest.read_c2pa(path, trust_anchors=trust_anchors, fmt=fmt)
        except SynthwatchError as exc:
            out["errors"].append({"where": "c2pa", **_err(exc)})
    else:
        out["c2pa"]["reason"] = f"C2PA is not read from {fmt} files"
    return out


def inspect(path: str | os.PathLike[str], *, declared_ai: bool = False, verdict: Verdict | None = None,
            detectors: Sequence[DetectorResult] = (), visible_label: bool = False,
            rules: Mapping[str, Any] | None = None, trust_anchors: str | None = None,
            audio_watermark: bool = True, sm2_trusted: Collection[str] | None = None,
            sniffed: Sniffed | None = None) -> dict[str, Any]:
    """Every provenance signal of ``path`` plus the Art. 6 decision, as a JSON-able dict.

    The scanner puts this in every report's ``provenance`` section::

        provenance = inspect(path, declared_ai=declared, verdict=report_verdict, detectors=results)
    """
    signals = read_signals(path, trust_anchors=trust_anchors, audio_watermark=audio_watermark,
                           sm2_trusted=sm2_trusted, sniffed=sniffed)
    signals["decision"] = decide(signals, declared_ai=declared_ai, verdict=verdict, detectors=detectors,
                                 visible_label=visible_label, rules=rules).to_dict()
    return signals
