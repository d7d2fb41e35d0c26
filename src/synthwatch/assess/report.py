"""The self-assessment report: a JSON document (``synthwatch.assessment-report/1``) and its
bilingual HTML rendering, in the structure of the 2018 Provisions, Art. 6: basic facts; each
security measure, how it is implemented and how well it works; conclusion; other matters; then an
evidence appendix (every figure's source, query and window; the sha256 of every artefact).

Everything the platform declared or the store holds is data: the HTML is rendered by Jinja2 with
autoescaping on (``StrictUndefined``), charts are SVG pictures this module drew (shown as
``<img>`` from ``data:`` URLs, so nothing in them can run) and the page carries a Content Security
Policy that allows no script, no remote resource and no form. Machine output is the JSON document
written byte-exact (:func:`synthwatch.render.text.json_bytes`).
"""

from __future__ import annotations

import base64
import hashlib
import math
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .. import __version__
from ..render.text import json_bytes
from .model import AssessmentSpec, CriterionResult, Evidence, ItemResult
from .rules import Bound, Criterion, Rules, Text, catalogue

__all__ = ["REPORT_FORMAT", "build_report", "dump_json", "render_html", "strings", "fmt_value", "criterion_view"]

REPORT_FORMAT = "synthwatch.assessment-report/1"


@lru_cache(maxsize=1)
def strings() -> dict[str, dict[str, str]]:
    """The report's fixed wording (``strings.yaml``), both languages."""
    text = (resources.files("synthwatch.assess") / "strings.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {str(k): {"zh": str(v["zh"]), "en": str(v["en"])} for k, v in data.items()}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _dur(s: float, lang: str) -> str:
    if s < 120:
        return f"{s:.1f} 秒" if lang == "zh" else f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} 分钟" if lang == "zh" else f"{s / 60:.1f} min"
    if s < 172800:
        return f"{s / 3600:.1f} 小时" if lang == "zh" else f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} 天" if lang == "zh" else f"{s / 86400:.1f} days"


def fmt_value(value: Any, unit: str | None, lang: str) -> str:
    """A figure as a person reads it (the JSON keeps the raw value)."""
    if value is None:
        return strings()["no_data"][lang]
    if isinstance(value, bool):
        return strings()["yes" if value else "no"][lang]
    if isinstance(value, int | float):
        v = float(value)
        if not math.isfinite(v):
            return str(value)
        if unit == "s":
            return _dur(v, lang)
        if unit == "share":
            return f"{v * 100:.1f}%"
        if unit == "days":
            return f"{v:.1f} 天" if lang == "zh" else f"{v:.1f} days"
        if unit == "count":
            return f"{int(v):,}" if v == int(v) else f"{v:,.2f}"
        return f"{v:,.3f}".rstrip("0").rstrip(".") if v != int(v) else f"{int(v):,}"
    return str(value)


_OPS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "eq": "="}


def _bound(b: Bound | None, unit: str | None, lang: str) -> str | None:
    if b is None:
        return None
    return f"{_OPS[b.op]} {fmt_value(b.value, unit, lang)}"


def _t(t: Text | dict[str, str] | None) -> dict[str, str] | None:
    if t is None:
        return None
    return t.to_dict() if isinstance(t, Text) else {"zh": str(t["zh"]), "en": str(t["en"])}


# ------------------------------------------------------------------------------------------ charts
def _charts(evidence: dict[str, Evidence]) -> list[dict[str, Any]]:
    """The charts the evidence supports (SVG), each with the item it illustrates."""
    from . import charts as ch

    S = strings()
    out: list[dict[str, Any]] = []

    def add(name: str, item: str, caption: str, svg: bytes, source: str) -> None:
        out.append({"name": f"charts/{name}.svg", "item": item, "caption": S[caption], "evidence": source,
                    "media_type": "image/svg+xml", "sha256": hashlib.sha256(svg).hexdigest(), "size": len(svg),
                    "svg_base64": base64.b64encode(svg).decode("ascii")})

    lat = evidence.get("review.latency")
    if lat is not None and lat.kind == "measured" and lat.figures.get("cases_decided"):
        add("review-latency", "A1", "chart_latency",
            ch.latency_chart(lat.series["latency_histogram"], lat.figures.get("p50_s"), lat.figures.get("p95_s")),
            "review.latency")
    staff = evidence.get("review.staffing")
    if staff is not None and staff.kind == "measured" and staff.figures.get("decisions"):
        add("decisions-by-hour", "A1", "chart_hours",
            ch.hours_chart(staff.series["decisions_by_hour"], float(staff.series["timezone_offset_hours"])),
            "review.staffing")
    q = evidence.get("detection.quality")
    curves = (q.series.get("detectors") or {}) if q is not None and q.kind == "measured" else {}
    if any(c and (c.get("roc") or {}).get("fpr") for c in curves.values()):
        add("detector-roc", "A4", "chart_roc", ch.roc_chart({k: v for k, v in curves.items() if v}),
            "detection.quality")
    rep = evidence.get("reports.channel")
    if rep is not None and rep.kind == "measured" and rep.figures.get("handled"):
        add("report-handling", "A6", "chart_reports",
            ch.latency_chart(rep.series["handling_histogram"], rep.figures.get("median_handling_s"),
                             rep.figures.get("p95_handling_s"), zh="举报处理时间", en="Report handling time"),
            "reports.channel")
    lab = evidence.get("labels.conformance")
    if lab is not None and lab.kind == "measured" and (lab.figures.get("sampled") or lab.figures.get("failed_writes")):
        add("label-conformance", "D3", "chart_labels", ch.conformance_chart(lab.series["by_outcome"]),
            "labels.conformance")
    vol = evidence.get("volumes.daily")
    if vol is not None and vol.kind == "measured" and vol.figures.get("days"):
        add("volumes", "A4", "chart_volumes", ch.volumes_chart(vol.series["per_day"]), "volumes.daily")
    return out


# ------------------------------------------------------------------------------------------ the document
def criterion_view(c: Criterion, cr: CriterionResult | None) -> dict[str, Any]:
    """How a criterion's value and thresholds read, in both languages (the report's and the
    console's wording): ``unit``, ``shown`` and ``threshold``."""
    cat, S = catalogue(), strings()
    unit = cat.figure(c.metric).unit if c.metric and cat.figure(c.metric) else None  # type: ignore[union-attr]
    if c.declared and c.figure:
        unit = "share" if "share" in c.figure else None
    value = cr.value if cr else None
    if c.documents and cr is not None:
        shown = {lang: f"{value}/{len(c.documents)}" for lang in ("zh", "en")}
    elif c.basis == "declared" and not c.figure:
        shown = {lang: (S["declared"][lang] if cr and cr.status in ("declared", "not_applicable")
                        else S["no_declaration"][lang]) for lang in ("zh", "en")}
    else:
        shown = {lang: fmt_value(value, unit, lang) for lang in ("zh", "en")}
    threshold = {lang: " / ".join(x for x in (
        (f"{S['st_pass'][lang]} {_bound(c.passes, unit, lang)}" if c.passes else None),
        (f"{S['st_warn'][lang]} {_bound(c.warns, unit, lang)}" if c.warns else None)) if x) or "—"
        for lang in ("zh", "en")}
    return {"unit": unit, "shown": shown, "threshold": threshold}


def build_report(*, rules: Rules, spec: AssessmentSpec, evidence: dict[str, Evidence], results: list[ItemResult],
                 findings: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """The report document. ``meta``: ``id``, ``tenant`` ({id, name}), ``state``, ``window``
    ((since, until) or None), ``collected_at``, ``created_at``, ``collections`` and, when final,
    ``finalised_at``, ``finalised_by``, ``signing_key``."""
    by_item = {r.id: r for r in results}
    items: list[dict[str, Any]] = []
    for item in rules.items:
        res = by_item.get(item.id)
        crits: list[dict[str, Any]] = []
        for c in item.criteria:
            cr = next((x for x in (res.criteria if res else ()) if x.id == c.id), None)
            view = criterion_view(c, cr)
            crits.append({"id": c.id, "text": c.text.to_dict(), "basis": c.basis,
                          "status": cr.status if cr else "not_applicable", "value": cr.value if cr else None,
                          "shown": view["shown"], "unit": view["unit"],
                          "pass": c.passes.to_dict() if c.passes else None,
                          "warn": c.warns.to_dict() if c.warns else None, "threshold": view["threshold"],
                          "metric": c.metric, "declared": c.declared,
                          "evidence": c.evidence_id or c.declared,
                          "reason": cr.reason.to_dict() if cr and cr.reason else None})
        items.append({"id": item.id, "title": item.title.to_dict(), "requirement": item.requirement.to_dict(),
                      "applicable": bool(res.applicable) if res else False,
                      "status": res.status if res else "not_applicable", "criteria": crits,
                      "evidence": list(item.evidence), "declarations": list(item.declarations),
                      "findings": [f["id"] for f in findings if f.get("item") == item.id]})
    charts = _charts(evidence)
    counts: dict[str, int] = {}
    for it in items:
        counts[it["status"]] = counts.get(it["status"], 0) + 1
    open_f = [f["id"] for f in findings if f.get("status") != "resolved"]
    artefacts = [{k: c[k] for k in ("name", "sha256", "size", "media_type")} | {"description": c["caption"]}
                 for c in charts]
    for ev in evidence.values():
        artefacts += [a.to_dict() for a in ev.artefacts]
    window = meta.get("window")
    doc: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "id": meta["id"],
        "tenant": meta["tenant"],
        "state": meta.get("state", "draft"),
        "generated_by": f"synthwatch {__version__}",
        "rules": {"name": rules.name, "version": rules.version, "sha256": rules.sha256,
                  "title": rules.title.to_dict(), "basis": rules.basis.to_dict()},
        "function": {"name": spec.function_name.to_dict(), "kind": spec.function_kind,
                     "kind_label": rules.functions[spec.function_kind].to_dict(), "launch_date": spec.launch_date},
        "triggers": [{"id": t, "text": rules.trigger(t).text.to_dict(),  # type: ignore[union-attr]
                      "when": rules.trigger(t).when.to_dict()} for t in spec.triggers],  # type: ignore[union-attr]
        "trigger_note": _t(spec.trigger_note),
        "window": ({"since": window[0], "until": window[1], "since_iso": _iso(window[0]),
                    "until_iso": _iso(window[1]), "days": round((window[1] - window[0]) / 86400.0, 2)}
                   if window else None),
        "created_at": _iso(meta.get("created_at")),
        "collected_at": _iso(meta.get("collected_at")),
        "collections": meta.get("collections"),
        "finalised_at": _iso(meta.get("finalised_at")),
        "finalised_by": meta.get("finalised_by"),
        "signing_key": meta.get("signing_key"),
        "facts": [{"id": f.id, "label": f.label.to_dict(), "value": spec.facts.values[f.id].to_dict()}
                  for f in rules.facts],
        "facts_attested": {"by": spec.facts.attested_by, "at": spec.facts.attested_at},
        "items": items,
        "findings": findings,
        "conclusion": {"items_by_status": counts, "findings": len(findings), "open_findings": open_f,
                       "finalisable": not open_f,
                       "declared_items": [it["id"] for it in items if it["applicable"] and any(
                           c["basis"] == "declared" and c["status"] not in ("not_applicable",)
                           for c in it["criteria"])],
                       "attention_items": [it["id"] for it in items if it["status"] == "warn"],
                       "failing_items": [it["id"] for it in items if it["status"] == "fail"],
                       "not_applicable": [it["id"] for it in items if it["status"] == "not_applicable"]},
        "evidence": {k: v.to_dict() for k, v in evidence.items()},
        "charts": charts,
        "artefacts": artefacts,
    }
    return doc


def dump_json(doc: dict[str, Any]) -> bytes:
    """The report document as the byte-exact JSON that is hashed, signed and filed."""
    return json_bytes(doc, indent=2) + b"\n"


# ------------------------------------------------------------------------------------------ HTML
@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("synthwatch.assess", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["iso"] = _iso
    env.filters["value"] = fmt_value
    return env


def render_html(doc: dict[str, Any]) -> str:
    """The bilingual HTML report of ``doc`` (self-contained: styles inline, charts as data URLs)."""
    cat = catalogue()
    figure_labels = {eid: {name: {"zh": f.label.zh, "en": f.label.en, "unit": f.unit}
                           for name, f in spec.figures.items()} for eid, spec in cat.evidence.items()}
    return str(_env().get_template("report.html").render(
        d=doc, S=strings(), figure_labels=figure_labels,
        evidence_titles={k: v.title.to_dict() for k, v in cat.evidence.items()},
        declaration_titles={k: v.to_dict() for k, v in cat.declarations.items()},
        document_kinds={k: v.to_dict() for k, v in cat.documents.items()}))
