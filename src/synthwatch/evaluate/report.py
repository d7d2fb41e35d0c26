"""Write a run's outputs (``results.json``, ``scores.csv``, ``report.md``, ``report.html``, PNG plots)
and compare two results files.

``results.json`` follows the schema ``synthwatch.eval/1`` documented in ``docs/eval-schema.md``:
undefined numbers (a metric without both classes, say) are ``null``, never NaN.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import metrics as M
from .runner import RESULTS_SCHEMA, EvalRun, ItemScore

__all__ = ["jsonable", "write_outputs", "load_results", "compare_results", "compare_markdown", "COMPARED",
           "render_markdown", "render_html"]

#: differences smaller than this are float noise, shown as no change
DELTA_TOL = 1e-9

SCORE_FIELDS = ("id", "path", "label", "group", "family", "source", "split", "detector", "condition", "score",
                "status", "code", "reason", "n_inputs")

#: metrics shown by ``compare`` (flat key, label, lower is better)
COMPARED: tuple[tuple[str, str, bool], ...] = (
    ("auc", "AUC", False),
    ("eer", "EER", True),
    ("ap", "AP", False),
    ("tpr_at_fpr.0.01", "TPR@FPR1%", False),
    ("tpr_at_fpr.0.001", "TPR@FPR0.1%", False),
    ("ece", "ECE", True),
    ("min_dcf", "min DCF", True),
    ("min_tdcf", "min t-DCF", True),
    ("at_threshold.card.accuracy", "acc@card", False),
    ("at_threshold.card.fpr", "FPR@card", True),
    ("at_threshold.card.recall", "recall@card", False),
    ("at_threshold.fitted.accuracy", "acc@fitted", False),
    ("at_threshold.fitted.fpr", "FPR@fitted", True),
    ("at_threshold.fitted.recall", "recall@fitted", False),
)


# ---------------------------------------------------------------------------------------- JSON
def jsonable(obj: Any) -> Any:
    """Plain JSON values: NaN / inf -> None, NumPy scalars -> Python, paths -> str. Floats keep their
    full precision (a threshold must reproduce its decisions exactly)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` (a folder holding one is accepted) and check its schema."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read results file {p}: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA:
        raise ConfigError(f"{p} is not a {RESULTS_SCHEMA} results file (schema: "
                          f"{data.get('schema') if isinstance(data, dict) else None!r})")
    return data


# ---------------------------------------------------------------------------------------- arrays
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "x"


def _reported(scores: Sequence[ItemScore], calibrate_on: str | None) -> list[ItemScore]:
    return [r for r in scores if r.status == "ok" and (calibrate_on is None or r.item.split != calibrate_on)]


def _arrays(rows: Sequence[ItemScore]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([r.item.label for r in rows], np.int8), np.array([r.score for r in rows], np.float64))


def _group_arrays(rows: Sequence[ItemScore], how: str) -> tuple[np.ndarray, np.ndarray] | None:
    groups = [r.item.group for r in rows]
    if len(set(groups)) == len(groups):
        return None
    y, s = _arrays(rows)
    _, gy, gs, _ = M.aggregate_groups(groups, y, s, how)
    return gy, gs


# ---------------------------------------------------------------------------------------- outputs
def _make_plots(run: EvalRun, out: Path) -> dict[str, dict[str, str]]:
    from .plots import plot_det, plot_histogram, plot_roc

    res = run.results
    cal = res["config"].get("calibrate_on")
    how = res["config"].get("group_agg", "mean")
    files: dict[str, dict[str, str]] = {}
    for det in res["detectors"]:
        if det["status"] != "ok" or not det["conditions"]:
            continue
        name = det["name"]
        rows = [r for r in _reported(run.scores, cal) if r.detector == name]
        by_cond = {c["condition"]: [r for r in rows if r.condition == c["condition"]] for c in det["conditions"]}
        series = [(c, *_arrays(v)) for c, v in by_cond.items() if v]
        if not series:
            continue
        stem = _safe(name)
        f: dict[str, str] = {}
        f["roc"] = plot_roc(series, out / "plots" / f"{stem}-roc.png", f"{name}: ROC (items)").relative_to(out).as_posix()
        f["det"] = plot_det(series, out / "plots" / f"{stem}-det.png", f"{name}: DET (items)").relative_to(out).as_posix()
        thr = {"card": det["card"]["threshold"]}
        if det.get("calibration") and det["calibration"].get("threshold") is not None:
            thr["fitted"] = det["calibration"]["threshold"]
        y, s = _arrays(by_cond.get("clean", []))
        f["hist"] = plot_histogram(y, s, out / "plots" / f"{stem}-hist.png", f"{name}: scores (clean)",
                                   thr).relative_to(out).as_posix()
        gseries = []
        for c, v in by_cond.items():
            g = _group_arrays(v, how) if v else None
            if g is not None:
                gseries.append((c, g[0], g[1]))
        if gseries:
            f["group_roc"] = plot_roc(gseries, out / "plots" / f"{stem}-groups-roc.png",
                                      f"{name}: ROC (groups, {how})").relative_to(out).as_posix()
            f["group_det"] = plot_det(gseries, out / "plots" / f"{stem}-groups-det.png",
                                      f"{name}: DET (groups, {how})").relative_to(out).as_posix()
        files[name] = f
    return files


def write_outputs(run: EvalRun, out: str | Path, *, plots: bool = True) -> dict[str, Path]:
    """Write ``results.json``, ``scores.csv``, ``report.md``, ``report.html`` and (``plots=True``)
    the PNG plots under ``out/plots``. Returns name -> path of what was written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with open(out / "scores.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SCORE_FIELDS)
        w.writeheader()
        for r in run.scores:
            w.writerow(r.row())
    written["scores"] = out / "scores.csv"
    files: dict[str, Any] = {"scores": "scores.csv", "report_md": "report.md", "report_html": "report.html",
                             "plots": _make_plots(run, out) if plots else {}}
    run.results["files"] = files
    doc = jsonable(run.results)
    (out / "results.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written["results"] = out / "results.json"
    (out / "report.md").write_text(render_markdown(doc), encoding="utf-8")
    written["report_md"] = out / "report.md"
    (out / "report.html").write_text(render_html(doc, out), encoding="utf-8")
    written["report_html"] = out / "report.html"
    return written


# ---------------------------------------------------------------------------------------- tables
@dataclass
class _Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


def _f(v: Any, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _p(v: Any, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{100 * v:.{digits}f}%"


def _ci(d: dict[str, Any] | None, pct: bool) -> str:
    if not d:
        return "–"
    fmt = _p if pct else _f
    ci = d.get("ci95") or [None, None]
    if ci[0] is None:
        return fmt(d.get("value"))
    return f"{fmt(d.get('value'))} [{fmt(ci[0])}, {fmt(ci[1])}]"


def _metric_cells(m: dict[str, Any] | None, fitted: bool, audio: bool) -> list[str]:
    if not m:
        return ["–"] * (8 + (2 if fitted else 0) + (2 if audio else 0))
    tpr = m.get("tpr_at_fpr", {})

    def tp(key: str) -> str:
        d = tpr.get(key)
        if not d:
            return "–"
        return _p(d["value"]) + ("" if d.get("resolvable") else "*")

    card = m.get("at_threshold", {}).get("card", {})
    cells = [f"{m['n_real']}/{m['n_fake']}", _ci(m.get("auc"), False), _ci(m.get("eer"), True), _f(m["ap"]["value"]),
             tp("0.01"), tp("0.001"), f"{_p(card.get('accuracy'), 1)} / {_p(card.get('fpr'), 1)}",
             _f(m["ece"]["value"])]
    if fitted:
        fit = m.get("at_threshold", {}).get("fitted", {})
        cells += [f"{_p(fit.get('accuracy'), 1)} / {_p(fit.get('fpr'), 1)}", _f(fit.get("threshold"), 4)]
    if audio:
        cells += [_f((m.get("min_dcf") or {}).get("value"), 4), _f((m.get("min_tdcf") or {}).get("value"), 4)]
    return cells


def _tables(doc: dict[str, Any]) -> list[_Table]:
    dets = list(doc["detectors"])
    fitted = bool(doc["config"].get("calibrate_on"))
    audio = any(d["modality"] == "audio" for d in dets)
    head = ["detector", "condition", "real/fake", "AUC [95% CI]", "EER [95% CI]", "AP", "TPR@FPR1%",
            "TPR@FPR0.1%", "acc / FPR @card", "ECE"]
    if fitted:
        head += ["acc / FPR @fitted", "fitted thr"]
    if audio:
        head += ["min DCF", "min t-DCF"]
    tables: list[_Table] = []
    note = ("TPR values marked * are at an FPR finer than 1 / (number of reals) and cannot be resolved on this "
            "set. acc / FPR @card: at the model card's threshold" + ("; @fitted: at the threshold fitted on split "
            f"{doc['config']['calibrate_on']!r} ({doc['config']['calibrate_method']})" if fitted else "") + "." +
            (" min DCF: ASVspoof 5 stand-alone CM cost (not a t-DCF); min t-DCF: ASVspoof 2019, only with ASV "
             "scores." if audio else ""))
    for level, title in (("item_level", "Metrics per item"), ("group_level", "Metrics per group (explicit group ids)")):
        rows = []
        for d in dets:
            if d["status"] != "ok":
                continue
            for c in d["conditions"]:
                m = c.get(level)
                if level == "group_level" and not m:
                    continue
                rows.append([d["name"], c["condition"], *_metric_cells(m, fitted, audio)])
        if rows:
            tables.append(_Table(title, head, rows, note))
    rows = []
    for d in dets:
        for c in d["conditions"]:
            delta = (c.get("delta_vs_clean") or {}).get("item_level")
            if not delta:
                continue
            rows.append([d["name"], c["condition"], _f(delta.get("auc"), 4), _p(delta.get("eer")),
                         _p(delta.get("tpr_at_fpr.0.01")), _p(delta.get("at_threshold.card.accuracy")),
                         _p(delta.get("at_threshold.card.fpr")), _p(delta.get("at_threshold.card.recall"))])
    if rows:
        tables.append(_Table("Robustness: change against the clean condition (items)",
                             ["detector", "condition", "ΔAUC", "ΔEER", "ΔTPR@FPR1%", "Δacc@card", "ΔFPR@card",
                              "Δrecall@card"], rows))
    for d in dets:
        clean = next((c for c in d["conditions"] if c["condition"] == "clean"), None)
        if not clean:
            continue
        for key, entries in clean.get("breakdown", {}).items():
            rows = []
            for e in entries:
                m = e.get("metrics") or {}
                card = (m.get("at_threshold") or {}).get("card", {})
                # the counts the metrics used: for fakes_vs_all_reals, every real of the set
                n_real, n_fake = m.get("n_real", e["n_real"]), m.get("n_fake", e["n_fake"])
                rows.append([str(e["value"]), e["basis"], f"{n_real}/{n_fake}",
                             _f((m.get("auc") or {}).get("value")), _p((m.get("eer") or {}).get("value")),
                             _p(card.get("recall"), 1), _p(card.get("fpr"), 1)])
            tables.append(_Table(f"{d['name']}: per {key} (clean)",
                                 [key, "basis", "real/fake", "AUC", "EER", "recall@card", "FPR@card"], rows,
                                 "basis fakes_vs_all_reals: this value's fakes against every real item; "
                                 "reals_only / fakes_only: only rates at the threshold."))
    rows = []
    for d in dets:
        sp = d.get("speed")
        if not sp:
            continue
        rows.append([d["name"], str(sp["items"]), str(sp["inputs"]), _f(sp["inference_s"], 2),
                     _f(sp["items_per_s"], 2), _f(sp["inputs_per_s"], 2), _f(sp["media_s"], 1), _f(sp["rtf"], 4)])
    if rows:
        env = doc.get("environment", {})
        tables.append(_Table("Speed (clean condition, detector preprocess + inference only)",
                             ["detector", "items", "inputs", "inference s", "items/s", "inputs/s", "media s", "RTF"],
                             rows, f"{env.get('cpu_count')} CPUs; whole run {_f(env.get('wall_s'), 1)} s, decoding "
                                   f"{_f(sum((env.get('decode_s') or {}).values()), 1)} s (shared by the detectors), "
                                   f"perturbations {_f(env.get('perturb_s'), 1)} s."))
    rows = []
    for d in dets:
        if d["status"] != "ok":
            rows.append([d["name"], d["status"], d.get("reason") or "", d.get("install_hint") or ""])
    if rows:
        tables.append(_Table("Detectors that did not run", ["detector", "status", "reason", "install with"], rows))
    return tables


def _overview(doc: dict[str, Any]) -> list[tuple[str, str]]:
    ds = doc["dataset"]
    cfg = doc["config"]
    splits = ", ".join(f"{k or '(none)'}: {v['real']} real / {v['fake']} fake" for k, v in ds["by_split"].items())
    out = [
        ("command", doc.get("command") or ""),
        ("synthwatch", f"{doc['synthwatch_version']}, {doc['created_at']}"),
        ("data", "; ".join(ds["specs"])),
        ("items", f"{ds['n_items']} listed ({ds['n_real']} real, {ds['n_fake']} fake, {ds['n_groups']} groups), "
                  f"{ds['n_evaluated']} evaluated"),
        ("splits", splits),
        ("problems", f"{ds['n_problems']} listed files or rows unusable, {ds['n_unreadable']} items unreadable, "
                     f"{ds['n_ignored']} files ignored"),
        ("conditions", ", ".join(cfg["conditions"])),
        ("calibration", (f"thresholds fitted on split {cfg['calibrate_on']!r} ({cfg['calibrate_method']}), "
                         f"{ds['n_calibration']} items, reported on the other items")
         if cfg.get("calibrate_on") else "none: metrics at the model cards' thresholds"),
        ("scoring", f"{cfg.get('protocol', 'scan')}: audio windows {cfg['audio_windows']}; video: {cfg['fps']} fps, "
                    f"at most {cfg['max_frames']} frames, frame aggregation {cfg['frame_agg']}; groups: "
                    f"{cfg['group_agg']}; faces: {cfg['faces']}"),
        ("intervals", f"95% stratified bootstrap, {cfg['bootstrap']} replicates, seed {cfg['seed']}"),
    ]
    return out


def _problems(doc: dict[str, Any]) -> list[str]:
    ds = doc["dataset"]
    lines = [f"{p['where'] or p['path']}: {p['reason']}" for p in ds.get("problems", [])]
    lines += [f"{u['id']}: {u['code']}: {u['message']}" for u in ds.get("unreadable", [])]
    for d in doc["detectors"]:
        lines += [f"{d['name']} / {f['condition']} / {f['id']}: {f['code']}: {f['message']}"
                  for f in d.get("failures", [])]
    return lines


def _md_cell(v: str) -> str:
    return v.replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: dict[str, Any]) -> str:
    """``report.md`` for a results document."""
    out = ["# synthwatch evaluation", ""]
    for k, v in _overview(doc):
        out.append(f"- **{k}**: {_md_cell(v)}")
    out.append("")
    for t in _tables(doc):
        out += [f"## {t.title}", "", "| " + " | ".join(t.headers) + " |", "|" + "---|" * len(t.headers)]
        out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in t.rows]
        if t.note:
            out += ["", t.note]
        out.append("")
    plots = (doc.get("files") or {}).get("plots") or {}
    if plots:
        out += ["## Plots", ""]
        for det, f in plots.items():
            out.append(f"### {det}")
            out.append("")
            out += [f"![{det} {kind}]({path})" for kind, path in f.items()]
            out.append("")
    probs = _problems(doc)
    if probs:
        out += ["## Problems and failures", ""]
        out += [f"- {_md_cell(p)}" for p in probs[:200]]
        if len(probs) > 200:
            out.append(f"- ... and {len(probs) - 200} more (see results.json and scores.csv)")
        out.append("")
    return "\n".join(out)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}th{background:#f2f2f2}
p.note{font-size:12px;color:#555;max-width:70em}img{max-width:520px;margin:4px;border:1px solid #eee}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}"""


def render_html(doc: dict[str, Any], base: Path | None = None) -> str:
    """``report.html``: the same tables, plots embedded as data URIs (one self-contained file)."""
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>synthwatch evaluation</title>",
           f"<style>{_CSS}</style></head><body><h1>synthwatch evaluation</h1><dl>"]
    out += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _overview(doc)]
    out.append("</dl>")
    for t in _tables(doc):
        out.append(f"<h2>{e(t.title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.headers) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in t.rows]
        out.append("</table>")
        if t.note:
            out.append(f"<p class='note'>{e(t.note)}</p>")
    plots = (doc.get("files") or {}).get("plots") or {}
    if plots:
        out.append("<h2>Plots</h2>")
        for det, f in plots.items():
            out.append(f"<h3>{e(det)}</h3><div>")
            for kind, rel in f.items():
                src = rel
                if base is not None and (base / rel).is_file():
                    src = "data:image/png;base64," + base64.b64encode((base / rel).read_bytes()).decode("ascii")
                out.append(f"<img alt='{e(det)} {e(kind)}' src='{e(src)}'>")
            out.append("</div>")
    probs = _problems(doc)
    if probs:
        out.append("<h2>Problems and failures</h2><ul>")
        out += [f"<li>{e(p)}</li>" for p in probs[:200]]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------- compare
def _flat(m: dict[str, Any] | None) -> dict[str, tuple[float | None, list[Any] | None]]:
    """Flat metric key -> (value, ci95 or None)."""
    out: dict[str, tuple[float | None, list[Any] | None]] = {}
    if not m:
        return out
    for k in ("auc", "eer", "ap", "ece", "min_dcf", "min_tdcf"):
        if isinstance(m.get(k), dict):
            out[k] = (m[k].get("value"), m[k].get("ci95"))
    for t, d in (m.get("tpr_at_fpr") or {}).items():
        out[f"tpr_at_fpr.{t}"] = (d.get("value"), d.get("ci95"))
    for name, d in (m.get("at_threshold") or {}).items():
        for k in ("accuracy", "precision", "recall", "fpr"):
            out[f"at_threshold.{name}.{k}"] = (d.get(k), None)
    return out


def compare_results(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What changed from results ``a`` to results ``b``: one row per detector, condition, level and
    metric present in both (``delta`` = b - a; ``outside_ci`` when b's value lies outside a's 95%
    interval), plus speed, and what is only in one of them."""
    for d, name in ((a, "A"), (b, "B")):
        if d.get("schema") != RESULTS_SCHEMA:
            raise ConfigError(f"{name} is not a {RESULTS_SCHEMA} results document")
    da = {d["name"]: d for d in a["detectors"]}
    db = {d["name"]: d for d in b["detectors"]}
    rows: list[dict[str, Any]] = []
    only_a: list[str] = [f"detector {n}" for n in da if n not in db]
    only_b: list[str] = [f"detector {n}" for n in db if n not in da]
    labels = {k: (lab, lower) for k, lab, lower in COMPARED}
    speed: list[dict[str, Any]] = []
    for name in [n for n in da if n in db]:
        ca = {c["condition"]: c for c in da[name]["conditions"]}
        cb = {c["condition"]: c for c in db[name]["conditions"]}
        only_a += [f"{name} / {c}" for c in ca if c not in cb]
        only_b += [f"{name} / {c}" for c in cb if c not in ca]
        for cond in [c for c in ca if c in cb]:
            for level in ("item_level", "group_level"):
                fa, fb = _flat(ca[cond].get(level)), _flat(cb[cond].get(level))
                for key, (label, lower) in labels.items():
                    if key not in fa or key not in fb:
                        continue
                    va, ci = fa[key]
                    vb, _ = fb[key]
                    delta = vb - va if va is not None and vb is not None else None
                    if delta is not None and abs(delta) < DELTA_TOL:
                        delta = 0.0
                    outside = bool(ci and ci[0] is not None and vb is not None
                                   and not ci[0] - DELTA_TOL <= vb <= ci[1] + DELTA_TOL)
                    better = None if not delta else (delta < 0) == lower
                    rows.append({"detector": name, "condition": cond, "level": level, "metric": key, "label": label,
                                 "a": va, "b": vb, "delta": delta, "outside_ci": outside, "better": better})
        sa, sb = da[name].get("speed") or {}, db[name].get("speed") or {}
        for key in ("items_per_s", "rtf"):
            if sa.get(key) is not None and sb.get(key) is not None:
                speed.append({"detector": name, "metric": key, "a": sa[key], "b": sb[key], "delta": sb[key] - sa[key]})
    notes = []
    if a["dataset"].get("specs") != b["dataset"].get("specs"):
        notes.append("the two runs read different data SPECs")
    if a["dataset"].get("n_evaluated") != b["dataset"].get("n_evaluated"):
        notes.append(f"items evaluated differ: {a['dataset'].get('n_evaluated')} vs {b['dataset'].get('n_evaluated')}")
    for k in ("protocol", "calibrate_on", "calibrate_method", "audio_windows", "fps", "max_frames", "frame_agg",
              "frame_token_merging", "group_agg", "faces", "seed", "limit"):
        if a["config"].get(k) != b["config"].get(k):
            notes.append(f"config {k}: {a['config'].get(k)!r} vs {b['config'].get(k)!r}")
    return {"a": {"created_at": a.get("created_at"), "command": a.get("command")},
            "b": {"created_at": b.get("created_at"), "command": b.get("command")},
            "rows": rows, "speed": speed, "only_in_a": only_a, "only_in_b": only_b, "notes": notes}


def compare_markdown(cmp: dict[str, Any]) -> str:
    """A Markdown rendering of :func:`compare_results`."""
    pct = {"eer", "tpr_at_fpr.0.01", "tpr_at_fpr.0.001"}

    def fmt(key: str, v: Any) -> str:
        if v is None:
            return "–"
        return _p(v) if key in pct or key.startswith("at_threshold") else _f(v, 4)

    out = ["| detector | condition | level | metric | A | B | B - A | |", "|---|---|---|---|---|---|---|---|"]
    for r in cmp["rows"]:
        flag = ("better" if r["better"] else "worse") if r["better"] is not None else ""
        if r["outside_ci"]:
            flag += " (outside A's 95% CI)"
        out.append(f"| {r['detector']} | {r['condition']} | {r['level'].replace('_level', '')} | {r['label']} | "
                   f"{fmt(r['metric'], r['a'])} | {fmt(r['metric'], r['b'])} | {fmt(r['metric'], r['delta'])} | {flag} |")
    if cmp["speed"]:
        out += ["", "| detector | speed | A | B | B - A |", "|---|---|---|---|---|"]
        out += [f"| {s['detector']} | {s['metric']} | {_f(s['a'], 4)} | {_f(s['b'], 4)} | {_f(s['delta'], 4)} |"
                for s in cmp["speed"]]
    for title, key in (("Only in A", "only_in_a"), ("Only in B", "only_in_b"), ("Notes", "notes")):
        if cmp[key]:
            out += ["", f"{title}: " + "; ".join(cmp[key])]
    return "\n".join(out) + "\n"
