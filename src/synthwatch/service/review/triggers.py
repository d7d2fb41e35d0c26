"""Which findings of a scan report open a case, under a policy.

* ``likely_synthetic``: the verdict.
* ``face_forgery``: any face track scored at or over its face detector's threshold (or the Art. 6
  decision's ``face.synthetic`` fact): deepfakes of real people go to human review whatever the
  overall score.
* ``label_violation``: the report's own label findings (a GB 45438 label whose SecurityData fails to
  verify: forged; more than one label: duplicated; an unreadable label; a C2PA manifest whose
  integrity fails: altered), and ``label diff`` against the previous version of the same item (an
  earlier scan with the same ``external_id`` and other bytes): removed, altered, duplicated.
* ``inconclusive``: an inconclusive verdict whose score is at least the policy's ``min_score``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ...errors import SynthwatchError
from .policy import PRIORITY_ORDER, Policy

__all__ = ["findings", "label_findings", "label_diff", "highest_priority"]


def highest_priority(priorities: list[str]) -> str:
    return min(priorities, key=PRIORITY_ORDER.index) if priorities else "normal"


def _face_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    thresholds = {d["name"]: d.get("threshold") for d in report.get("detectors") or []
                  if d.get("modality") == "face" and d.get("status") == "ok"}
    out = []
    for track in report.get("faces") or []:
        hits = {name: score for name, score in (track.get("scores") or {}).items()
                if thresholds.get(name) is not None and score is not None and score >= thresholds[name]}
        if hits:
            out.append({"track_id": track.get("track_id"), "start_s": track.get("start_s"),
                        "end_s": track.get("end_s"), "scores": hits})
    return out


def label_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Label problems the report itself shows (``label check`` findings)."""
    prov = report.get("provenance") or {}
    aigc = prov.get("aigc") or {}
    out: list[dict[str, Any]] = []
    lab = aigc.get("label") or {}
    sec = lab.get("security") or {}
    if aigc.get("present") and sec.get("verified") is False:
        out.append({"status": "forged", "basis": "the label's SecurityData signature does not verify: "
                    f"{sec.get('reason') or 'signature invalid'}"})
    if int(aigc.get("count") or 0) > 1:
        out.append({"status": "duplicated", "basis": f"the file carries {aigc.get('count')} AIGC labels (one allowed)"})
    if aigc.get("error"):
        err = aigc["error"]
        out.append({"status": "malformed", "basis": f"the AIGC label cannot be read: {err.get('code')}"})
    c2pa = prov.get("c2pa") or {}
    facts = (prov.get("decision") or {}).get("facts") or {}
    if c2pa.get("present") and (c2pa.get("state") == "Invalid" or facts.get("c2pa.integrity") is False):
        failures = ", ".join(str(f.get("code", f)) if isinstance(f, dict) else str(f)
                             for f in (c2pa.get("failures") or [])[:5])
        out.append({"status": "altered", "basis": "the C2PA manifest no longer matches the content or its "
                    f"signature fails{': ' + failures if failures else ''}"})
    return out


def label_diff(previous: dict[str, Any], report: dict[str, Any]) -> dict[str, Any] | None:
    """``label diff`` between an earlier version's report and this one (None when it cannot be read)."""
    from ...provenance.diff import compare
    from ...provenance.label import parse_label

    def readings(rep: dict[str, Any]) -> list[Any]:
        aigc = (rep.get("provenance") or {}).get("aigc") or {}
        out = []
        items: list[Any] = ([aigc["label"]] if aigc.get("label") else []) + list(aigc.get("others") or [])
        for item in items:
            raw = item.get("raw") if isinstance(item, dict) else None
            if raw:
                with contextlib.suppress(SynthwatchError):
                    out.append(parse_label(raw, carrier=str(item.get("carrier") or "")))
        return out

    try:
        result = compare(readings(previous), readings(report))
    except SynthwatchError:
        return None
    return {k: result[k] for k in ("status", "violation", "meaning", "changed")}


def findings(report: dict[str, Any], policy: Policy, previous: dict[str, Any] | None = None,
             previous_scan: str | None = None) -> list[dict[str, Any]]:
    """The triggers of ``policy`` that ``report`` fires, each ``{"trigger", "priority", "basis", …}``."""
    out: list[dict[str, Any]] = []
    verdict = report.get("verdict") or {}
    label, score = verdict.get("label"), verdict.get("score")
    t = policy.trigger("likely_synthetic")
    if t and label == "likely_synthetic":
        out.append({"trigger": "likely_synthetic", "priority": t.priority,
                    "basis": f"verdict likely_synthetic (score {score:.3f})" if isinstance(score, int | float)
                    else "verdict likely_synthetic", "score": score})
    t = policy.trigger("face_forgery")
    if t:
        faces = _face_findings(report)
        facts = ((report.get("provenance") or {}).get("decision") or {}).get("facts") or {}
        if faces or facts.get("face.synthetic"):
            out.append({"trigger": "face_forgery", "priority": t.priority, "faces": faces,
                        "basis": f"{len(faces) or 1} face track(s) scored as manipulated: deepfakes of real people "
                                 "go to human review whatever the score (Art. 6)"})
    t = policy.trigger("label_violation")
    if t:
        problems = label_findings(report)
        if previous is not None:
            diff = label_diff(previous, report)
            if diff is not None and diff["violation"]:
                problems.append({"status": diff["status"], "basis": f"label diff against the previous version "
                                 f"({previous_scan}): {diff['meaning']}", "changed": diff["changed"],
                                 "previous_scan": previous_scan})
        if problems:
            out.append({"trigger": "label_violation", "priority": t.priority, "labels": problems,
                        "basis": "; ".join(p["basis"] for p in problems)})
    t = policy.trigger("inconclusive")
    if t and label == "inconclusive" and isinstance(score, int | float) and score >= (t.min_score or 0.0):
        out.append({"trigger": "inconclusive", "priority": t.priority, "score": score,
                    "basis": f"verdict inconclusive with score {score:.3f} >= {t.min_score or 0.0:g}"})
    return out
