"""Evidence collectors: each turns what the store holds into one measured evidence set.

Every collector reads through :class:`~synthwatch.assess.sources.EvidenceSource` (the exact
statements it ran are kept in the evidence), computes the figures the catalogue names
(``catalogue.yaml``; a test keeps them in step), and never reads a declaration. Figures are
``None`` when the window holds no data to compute them; the rules decide what that means.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .model import Artefact, AssessmentSpec, Evidence
from .rules import Rules, Text, catalogue
from .sources import EvalRunRecord, EvidenceSource, Rows

__all__ = ["CollectContext", "COLLECTORS", "collect", "percentile", "roc_points", "LATENCY_EDGES_S"]

#: decisions that act on content (time to action)
ACTIONS = ("label", "restrict", "remove")
FINAL = ("label", "restrict", "remove", "dismiss")
#: at most this many labelled copies are re-read for D3
LABEL_SAMPLE = 50
#: histogram edges of review and handling latencies (seconds): 1 s to 30 days
LATENCY_EDGES_S = (0, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400,
                   math.inf)


@dataclass(frozen=True)
class CollectContext:
    source: EvidenceSource
    rules: Rules
    spec: AssessmentSpec
    since: float
    until: float
    now: float

    @property
    def tz(self) -> timedelta:
        return timedelta(hours=self.rules.timezone_offset_hours)


def percentile(values: list[float], p: float) -> float | None:
    """Linear-interpolated percentile (``p`` in 0..100), as the review dashboard computes it."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def _share(n: int, d: int) -> float | None:
    return None if d == 0 else round(n / d, 6)


def _histogram(values: list[float]) -> dict[str, Any]:
    counts = [0] * (len(LATENCY_EDGES_S) - 1)
    for v in values:
        for i in range(len(counts)):
            if LATENCY_EDGES_S[i] <= v < LATENCY_EDGES_S[i + 1]:
                counts[i] += 1
                break
    return {"edges_s": [e if math.isfinite(e) else None for e in LATENCY_EDGES_S], "counts": counts}


def _evidence(eid: str, ctx: CollectContext, figures: dict[str, Any], parts: list[Rows],
              **extra: Any) -> Evidence:
    spec = catalogue().evidence[eid]
    unknown = set(figures) - set(spec.figures)
    if unknown:
        raise AssertionError(f"collector {eid} made figures the catalogue does not name: {sorted(unknown)}")
    full = {k: figures.get(k) for k in spec.figures}
    tables: list[str] = []
    for p in parts:
        for t in p.tables:
            if t not in tables:
                tables.append(t)
    gone = next((p.unavailable for p in parts if p.unavailable), None)
    if gone:  # not available is not zero: no figure is reported
        full = {k: None for k in spec.figures}
        extra = {**extra, "series": {}}
    return Evidence(id=eid, kind="measured", title=spec.title, figures=full, window=(ctx.since, ctx.until),
                    queries=[p.query for p in parts if p.query and not p.unavailable], sources=tables,
                    collected_at=ctx.now, unavailable=gone, **extra)


def _known(parts: list[Rows]) -> list[Rows]:
    """The parts the store can answer (evidence that merely counts live-room streams alongside
    other items is still measured when the rooms' tables are not available)."""
    return [p for p in parts if not p.unavailable]


def _hour(ts: float, tz: timedelta) -> int:
    return (datetime.fromtimestamp(ts, UTC) + tz).hour


def _day(ts: float, tz: timedelta) -> str:
    return (datetime.fromtimestamp(ts, UTC) + tz).strftime("%Y-%m-%d")


# ------------------------------------------------------------------------------------------ A1
def staffing(ctx: CollectContext) -> Evidence:
    src = ctx.source
    keys = src.reviewer_keys()
    decs = src.decisions(ctx.since, ctx.until)
    scans = src.scans(ctx.since, ctx.until)
    streams = src.room_streams(ctx.since, ctx.until)
    active_keys = [k for k in keys.rows if k["revoked_at"] is None or k["revoked_at"] >= ctx.until]
    people = [d for d in decs.rows if str(d["actor"]).startswith("key_")]
    reviewers = {d["actor"] for d in people}
    items = len(scans) + len(streams)
    hours = {_hour(float(d["at"]), ctx.tz) for d in people}
    per10k = None if items == 0 else round(len(reviewers) / items * 10000.0, 3)
    profile = [0] * 24
    for d in people:
        profile[_hour(float(d["at"]), ctx.tz)] += 1
    return _evidence("review.staffing", ctx, {
        "reviewer_keys": len(active_keys), "active_reviewers": len(reviewers), "decisions": len(people),
        "items": items, "reviewers_per_10k_items": per10k, "coverage_hours": len(hours) if people else None,
    }, _known([keys, decs, scans, streams]), series={"decisions_by_hour": profile,
                                            "timezone_offset_hours": ctx.rules.timezone_offset_hours})


def latency(ctx: CollectContext) -> Evidence:
    cases = ctx.source.cases(ctx.since, ctx.until)
    overdue = ctx.source.overdue_cases(ctx.now)
    decided = [c for c in cases.rows if c["first_decided_at"] is not None]
    lat = [float(c["first_decided_at"]) - float(c["opened_at"]) for c in decided]
    met = sum(1 for c in decided if c["first_decided_at"] <= c["due_at"])
    return _evidence("review.latency", ctx, {
        "cases_opened": len(cases), "cases_decided": len(decided), "p50_s": _r(percentile(lat, 50)),
        "p95_s": _r(percentile(lat, 95)), "max_s": _r(max(lat) if lat else None),
        "sla_met_rate": _share(met, len(decided)), "overdue_now": len(overdue),
    }, [cases, overdue], series={"latency_histogram": _histogram(lat)})


# ------------------------------------------------------------------------------------------ A3
def chain(ctx: CollectContext) -> Evidence:
    res = ctx.source.audit_verify()
    bad = res.get("first_bad")
    first_bad = None if not bad else f"seq {bad.get('seq')}: {bad.get('problem')}"[:300]
    ev = _evidence("audit.chain", ctx, {"intact": bool(res.get("ok")), "entries": int(res.get("entries") or 0),
                                        "checkpoints": int(res.get("checkpoints") or 0), "first_bad": first_bad},
                   [Rows([], f"synthwatch audit verify --tenant {ctx.source.tenant()['name']}",
                         ("audit_log", "audit_heads", "audit_checkpoints"))])
    ev.window = None  # the whole chain, not a window
    ev.series = {"last_checkpoint": res.get("last_checkpoint"), "head_hash": res.get("head_hash"),
                 "last_seq": res.get("last_seq")}
    return ev


def fields(ctx: CollectContext) -> Evidence:
    rows = ctx.source.audit_fields(ctx.since, ctx.until)
    r = rows.rows[0] if rows.rows else {}
    n = int(r.get("entries") or 0)
    keyed = int(r.get("key_operations") or 0)
    return _evidence("audit.fields", ctx, {
        "entries": n, "actor_share": _share(int(r.get("actor") or 0), n), "time_share": _share(int(r.get("time") or 0), n),
        "action_share": _share(int(r.get("action") or 0), n), "object_share": _share(int(r.get("object") or 0), n),
        "key_operations": keyed, "source_ip_share": _share(int(r.get("key_operations_with_ip") or 0), keyed),
        "port_recorded": False, "device_recorded": False,
    }, [rows], notes=[Text("synthwatch 的审计日志记录账号、时间、操作类型、对象和网络源地址；源端口和终端硬件特征不在其中，须由平台自有系统留存（见声明 A3.network_logs）。",
                           "synthwatch's audit log records the account, time, operation type, object and source "
                           "address; the source port and client device are not in it and must be kept by the "
                           "platform's own systems (see declaration A3.network_logs).")])


def retention(ctx: CollectContext) -> Evidence:
    rows = ctx.source.audit_retention()
    ctl = ctx.source.service_controls()
    tenant = ctx.source.tenant()
    r = rows.rows[0] if rows.rows else {}
    oldest = r.get("oldest_at")
    oldest_days = None if oldest is None else round((ctx.now - float(oldest)) / 86400.0, 2)
    never = int(r.get("first_seq") or 1) == 1
    age = round((ctx.now - float(tenant["created_at"])) / 86400.0, 2)
    kept = oldest_days is not None and (oldest_days >= 183.0 or never)
    return _evidence("audit.retention", ctx, {
        "oldest_age_days": oldest_days, "service_age_days": age, "never_purged": never, "kept_ok": kept,
        "retention_floor_days": ctl.get("audit_retention_floor_days"),
        "case_retention_days": ctl.get("case_retention_days"),
    }, [rows])


# ------------------------------------------------------------------------------------------ A4
def uploads(ctx: CollectContext) -> Evidence:
    scans = ctx.source.scans(ctx.since, ctx.until)
    cases = ctx.source.cases(ctx.since, ctx.until)
    st = [s["status"] for s in scans.rows]
    done, failed = st.count("done"), st.count("failed")
    return _evidence("moderation.uploads", ctx, {
        "submitted": len(st), "scanned": done, "failed": failed, "pending": len(st) - done - failed,
        "coverage": _share(done, done + failed),
        "likely_synthetic": sum(1 for s in scans.rows if s["verdict"] == "likely_synthetic"),
        "cases_from_scans": sum(1 for c in cases.rows if c["source"] == "scan"),
    }, [scans, cases], series={"by_kind": _count(scans.rows, "kind"), "verdicts": _count(scans.rows, "verdict")})


def _count(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        k = str(r.get(key))
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items()))


def actions(ctx: CollectContext) -> Evidence:
    cases = ctx.source.cases(ctx.since, ctx.until)
    acted = [c for c in cases.rows if c["first_decided_at"] is not None and c["decision"] in FINAL]
    took = [float(c["first_decided_at"]) - float(c["opened_at"]) for c in acted if c["decision"] in ACTIONS]
    by_source: dict[str, dict[str, Any]] = {}
    for src in sorted({str(c["source"]) for c in cases.rows}):
        xs = [float(c["first_decided_at"]) - float(c["opened_at"]) for c in acted
              if c["source"] == src and c["decision"] in ACTIONS]
        by_source[src] = {"cases": sum(1 for c in cases.rows if c["source"] == src), "actioned": len(xs),
                          "p50_s": _r(percentile(xs, 50)), "p95_s": _r(percentile(xs, 95))}
    dec = [c["decision"] for c in acted]
    return _evidence("moderation.actions", ctx, {
        "flagged": len(cases), "actioned": len(acted), "p50_s": _r(percentile(took, 50)),
        "p95_s": _r(percentile(took, 95)), "removed": dec.count("remove"), "restricted": dec.count("restrict"),
        "labelled": dec.count("label"), "dismissed": dec.count("dismiss"),
    }, [cases], series={"by_source": by_source})


def rooms_coverage(ctx: CollectContext) -> Evidence:
    streams = ctx.source.room_streams(ctx.since, ctx.until)
    rows = streams.rows
    audio = sum(float(r["audio_s"] or 0) for r in rows)
    speech = sum(float(r["speech_s"] or 0) for r in rows)
    skipped = sum(float(r["skipped_audio_s"] or 0) for r in rows)
    fig: dict[str, Any] = {"streams": len(rows), "rooms": len({r["room"] for r in rows}),
                           "audio_s": _r(audio) if rows else None, "speech_s": _r(speech) if rows else None,
                           "skipped_audio_s": _r(skipped) if rows else None,
                           "audio_monitored_share": _share_f(audio - skipped, audio),
                           "speech_monitored_share_min": _share_f(speech, speech + skipped),
                           "streams_with_skips": sum(1 for r in rows if float(r["skipped_audio_s"] or 0) > 0)}
    return _evidence("rooms.coverage", ctx, fig, [streams], notes=[Text(
        "发言时长中被监测比例的下限：将过载时跳过的全部音频按发言计入分母。",
        "Lower bound of the share of speaking time monitored: every second of audio skipped under load is "
        "counted as speech in the denominator.")])


def _share_f(n: float, d: float) -> float | None:
    return None if d <= 0 else round(max(0.0, n) / d, 6)


def rooms_alerts(ctx: CollectContext) -> Evidence:
    alerts = ctx.source.room_alerts(ctx.since, ctx.until)
    lat = [float(a["processing_s"]) for a in alerts.rows if a["processing_s"] is not None]
    return _evidence("rooms.alerts", ctx, {
        "alerts": len(alerts), "latency_p50_s": _r(percentile(lat, 50)), "latency_p95_s": _r(percentile(lat, 95)),
        "with_case": sum(1 for a in alerts.rows if a["case_id"]),
        "actioned": sum(1 for a in alerts.rows if a["case_decided_at"] is not None),
    }, [alerts], series={"latency_s": sorted(round(x, 3) for x in lat)[:2000]})


# ------------------------------------------------------------------------------------------ detection quality
def _label(v: str) -> int | None:
    v = v.strip().lower()
    if v in ("1", "fake", "spoof", "synthetic"):
        return 1
    if v in ("0", "real", "bonafide", "bona-fide", "genuine"):
        return 0
    return None


def roc_points(scores: list[tuple[float, int]], max_points: int = 200) -> dict[str, list[float]]:
    """ROC curve (FPR, TPR) of (score, label) pairs, higher score = more likely fake."""
    pos = sum(1 for _, y in scores if y == 1)
    neg = len(scores) - pos
    if pos == 0 or neg == 0:
        return {"fpr": [], "tpr": []}
    fpr, tpr = [0.0], [0.0]
    tp = fp = 0
    ordered = sorted(scores, key=lambda s: -s[0])
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            if ordered[j][1] == 1:
                tp += 1
            else:
                fp += 1
            j += 1
        fpr.append(fp / neg)
        tpr.append(tp / pos)
        i = j
    if len(fpr) > max_points:
        step = (len(fpr) - 1) / (max_points - 1)
        idx = sorted({round(k * step) for k in range(max_points)})
        fpr, tpr = [fpr[k] for k in idx], [tpr[k] for k in idx]
    return {"fpr": [round(x, 5) for x in fpr], "tpr": [round(x, 5) for x in tpr]}


def _scores(text: str | None, detector: str) -> list[tuple[float, int]]:
    """(score, label) of the clean, scored items of ``detector`` in an eval run's scores.csv."""
    if not text:
        return []
    out: list[tuple[float, int]] = []
    try:
        for row in csv.DictReader(io.StringIO(text)):
            if row.get("detector") != detector or row.get("condition") != "clean" or row.get("status") != "ok":
                continue
            y = _label(row.get("label") or "")
            try:
                s = float(row.get("score") or "nan")
            except ValueError:
                continue
            if y is not None and math.isfinite(s):
                out.append((s, y))
    except csv.Error:
        return []
    return out


def _summary(run: EvalRunRecord, detector: str) -> dict[str, Any] | None:
    for d in run.results.get("detectors") or []:
        if d.get("name") != detector or d.get("status") != "ok":
            continue
        for cond in d.get("conditions") or []:
            if cond.get("condition") != "clean":
                continue
            s = cond.get("item_level") or {}
            if not s:
                return None
            auc, eer = s.get("auc") or {}, s.get("eer") or {}
            tpr = ((s.get("tpr_at_fpr") or {}).get("0.01")) or {}
            return {"version": d.get("version"), "n_real": s.get("n_real"), "n_fake": s.get("n_fake"),
                    "auc": auc.get("value"), "auc_ci95": auc.get("ci95"), "eer": eer.get("value"),
                    "eer_ci95": eer.get("ci95"), "tpr_at_1pct_fpr": tpr.get("value"),
                    "tpr_resolvable": tpr.get("resolvable")}
    return None


def quality(ctx: CollectContext) -> Evidence:
    dets = ctx.source.scan_detectors(ctx.since, ctx.until)
    streams = ctx.source.room_streams(ctx.since, ctx.until)
    in_use = sorted({str(n) for r in dets.rows for n in (r["detectors"] or [])} |
                    {str(r["detector"]) for r in streams.rows if r.get("detector")})
    runs = ctx.source.eval_runs()
    per: dict[str, Any] = {}
    artefacts: list[Artefact] = []
    used_runs: set[str] = set()
    for name in in_use:
        chosen: tuple[EvalRunRecord, dict[str, Any]] | None = None
        for own in (True, False):  # the platform's own labelled sample first, then any run
            for run in runs:  # newest first
                if run.own_sample == own and (s := _summary(run, name)) is not None:
                    chosen = (run, s)
                    break
            if chosen:
                break
        if chosen is None:
            per[name] = None
            continue
        run, s = chosen
        per[name] = {**s, "run": run.id, "run_name": run.name, "own_sample": run.own_sample,
                     "run_created_at": run.results.get("created_at"),
                     "dataset": {k: (run.results.get("dataset") or {}).get(k) for k in ("specs", "n_items", "n_real",
                                                                                        "n_fake")},
                     "roc": roc_points(_scores(run.scores_text, name))}
        if run.id not in used_runs:
            used_runs.add(run.id)
            artefacts.append(Artefact(f"eval/{run.id}/results.json", run.results_sha256, run.results_size,
                                      "application/json", Text(f"评测结果 {run.name}", f"eval results {run.name}")))
            if run.scores_sha256 and run.scores_size is not None:
                artefacts.append(Artefact(f"eval/{run.id}/scores.csv", run.scores_sha256, run.scores_size, "text/csv",
                                          Text(f"逐项得分 {run.name}", f"per-item scores {run.name}")))
    evaluated = [p for p in per.values() if p]
    aucs = [p["auc"] for p in evaluated if p.get("auc") is not None]
    lows = [p["auc_ci95"][0] for p in evaluated if p.get("auc_ci95") and p["auc_ci95"][0] is not None]
    runs_q = Rows([], f"assessment_eval_runs of the tenant, newest first ({len(runs)} imported synthwatch eval "
                      "runs: results.json and scores.csv); per detector the newest run on the platform's own "
                      "sample, else the newest run, clean condition, item level", ("assessment_eval_runs",))
    return _evidence("detection.quality", ctx, {
        "detectors_in_use": len(in_use), "evaluated": len(evaluated), "without_eval": len(in_use) - len(evaluated),
        "own_sample": sum(1 for p in evaluated if p["own_sample"]), "min_auc": _r(min(aucs), 4) if aucs else None,
        "min_auc_ci_low": _r(min(lows), 4) if lows else None,
    }, _known([dets, streams, runs_q]), series={"detectors": per}, artefacts=artefacts)


# ------------------------------------------------------------------------------------------ A5, A6, A7/A8, D1, D3
def controls(ctx: CollectContext) -> Evidence:
    c = ctx.source.service_controls()
    q = Rows([], "service settings: SYNTHWATCH_SERVICE__RATE_LIMIT_PER_MINUTE, __RATE_LIMIT_BURST, "
                 "__RETENTION_DAYS (or the tenant's own), SYNTHWATCH_ROOMS__MAX_STREAMS", ("tenants",))
    return _evidence("controls.service", ctx, {k: c.get(k) for k in ("rate_limit_per_minute", "rate_limit_burst",
                                                                     "webhook_signing", "media_retention_days",
                                                                     "max_live_streams")}, [q])


def channel(ctx: CollectContext) -> Evidence:
    reps = ctx.source.user_reports(ctx.since, ctx.until)
    handled = [r for r in reps.rows if r["handled_at"] is not None]
    took = [float(r["handled_at"]) - float(r["created_at"]) for r in handled]
    open_long = sum(1 for r in reps.rows if r["handled_at"] is None and ctx.now - float(r["created_at"]) > 86400)
    return _evidence("reports.channel", ctx, {
        "received": len(reps), "handled": len(handled), "handled_share": _share(len(handled), len(reps)),
        "median_handling_s": _r(percentile(took, 50)), "p95_handling_s": _r(percentile(took, 95)),
        "open_over_24h": open_long,
    }, [reps], series={"by_reason": _count(reps.rows, "reason"), "handling_histogram": _histogram(took)})


def drill(ctx: CollectContext) -> Evidence:
    d = ctx.source.export_drill()
    if d is None:
        return _evidence("export.drill", ctx, {}, [Rows([], "no decided case to export", ("cases",))],
                         notes=[Text("没有已处置的案件可供导出演练。", "No decided case to run the export drill on.")])
    ev = _evidence("export.drill", ctx, {"case_id": d.case_id, "seconds": _r(d.seconds), "bytes": d.size,
                                         "verifies": d.verifies, "audit_entries": d.audit_entries},
                   [Rows([], d.query, ("cases", "case_evidence", "case_decisions", "audit_log", "audit_checkpoints"))],
                   artefacts=[Artefact(f"export/{d.case_id}.zip", d.sha256, d.size, "application/zip",
                                       Text(f"案件 {d.case_id} 的证据导出包", f"evidence export of case {d.case_id}"))])
    if d.problems:
        ev.notes.append(Text("校验问题：" + "；".join(d.problems[:5]), "verification problems: " + "; ".join(d.problems[:5])))
    return ev


def policy(ctx: CollectContext) -> Evidence:
    p = ctx.source.review_policy()
    adopted = p.get("adopted_at")
    q = Rows([], f"review_policies: the tenant's active policy (revision {p.get('revision')})", ("review_policies",))
    return _evidence("policy.review", ctx, {
        "version": p.get("version"), "revision": p.get("revision"),
        "adopted_days_ago": None if adopted is None else round((ctx.now - float(adopted)) / 86400.0, 1),
        "custom": bool(p.get("custom")), "reason_codes": p.get("reason_codes"),
        "four_eyes_remove": p.get("four_eyes_remove"),
    }, [q], series={"digest": p.get("digest")})


def labels(ctx: CollectContext) -> Evidence:
    from ..errors import SynthwatchError
    from ..provenance.aigc_label import read_labels

    decs = ctx.source.decisions(ctx.since, ctx.until)
    viol = ctx.source.label_violations(ctx.since, ctx.until)
    label_decs = [d for d in decs.rows if d["action"] == "label" and d["label_state"] in ("written", "failed", "queued")]
    written = [d for d in label_decs if d["label_state"] == "written" and d["label_result"]]
    failed = [d for d in label_decs if d["label_state"] == "failed"]
    # a reproducible sample: ordered by the sha256 of the decision's case and time
    written.sort(key=lambda d: hashlib.sha256(f"{d['case_id']}:{d['at']}".encode()).hexdigest())
    sample = written[:LABEL_SAMPLE]
    conforming = 0
    checks: list[dict[str, Any]] = []
    artefacts: list[Artefact] = []
    for d in sample:
        res = d["label_result"] or {}
        sha = str(res.get("sha256") or "")
        path = ctx.source.blob_path(sha) if sha else None
        ok, why = False, "labelled copy no longer stored"
        if path is not None:
            try:
                readings = read_labels(path)
                if len(readings) != 1:
                    why = f"{len(readings)} labels found (one expected)"
                elif not readings[0].valid:
                    why = "the label deviates from GB 45438 Annex E"
                elif readings[0].label.fields().get("ContentPropagator") != res.get("propagator"):
                    why = "the propagator code differs from the one written"
                elif readings[0].label.label != res.get("label"):
                    why = "the label value differs from the one written"
                else:
                    ok, why = True, "conforms"
            except (SynthwatchError, OSError) as exc:
                why = f"unreadable: {type(exc).__name__}"
            artefacts.append(Artefact(f"labelled/{sha[:16]}", sha, path.stat().st_size if path.exists() else 0,
                                      str(res.get("mime") or "application/octet-stream"),
                                      Text("复核的已标识副本", "labelled copy re-checked")))
        conforming += ok
        checks.append({"case_id": d["case_id"], "sha256": sha, "conforms": ok, "why": why,
                       "carrier": res.get("carrier")})
    denom = len(sample) + len(failed)
    unhandled = sum(1 for v in viol.rows if v["decision"] is None)
    return _evidence("labels.conformance", ctx, {
        "label_decisions": len(label_decs), "sampled": len(sample), "conforming": conforming,
        "rate": _share(conforming, denom), "failed_writes": len(failed), "violations_found": len(viol),
        "violations_unhandled": unhandled,
    }, [decs, viol, Rows([], "read_labels(<stored labelled copy>) for each sampled decision (synthwatch label "
                             "check)", ("media files",))],
        series={"checks": checks, "by_outcome": {"conforming": conforming, "not_conforming": len(sample) - conforming,
                                                 "write_failed": len(failed)}},
        artefacts=artefacts)


def volumes(ctx: CollectContext) -> Evidence:
    scans = ctx.source.scans(ctx.since, ctx.until)
    cases = ctx.source.cases(ctx.since, ctx.until)
    reps = ctx.source.user_reports(ctx.since, ctx.until)
    streams = ctx.source.room_streams(ctx.since, ctx.until)
    days: dict[str, dict[str, float]] = {}

    def add(ts: float, key: str, v: float = 1.0) -> None:
        d = days.setdefault(_day(ts, ctx.tz), {"scans": 0, "cases": 0, "reports": 0, "room_speech_s": 0.0})
        d[key] += v

    for s in scans.rows:
        add(float(s["created_at"]), "scans")
    for c in cases.rows:
        add(float(c["opened_at"]), "cases")
    for r in reps.rows:
        add(float(r["created_at"]), "reports")
    for st in streams.rows:
        add(float(st["ended_at"] or st["started_at"]), "room_speech_s", float(st["speech_s"] or 0))
    ordered = dict(sorted(days.items()))
    return _evidence("volumes.daily", ctx, {
        "days": len(ordered), "scans": len(scans), "cases": len(cases), "reports": len(reps),
        "room_speech_s": _r(sum(float(s["speech_s"] or 0) for s in streams.rows)),
    }, _known([scans, cases, reps, streams]), series={"per_day": ordered})


COLLECTORS: dict[str, Callable[[CollectContext], Evidence]] = {
    "review.staffing": staffing, "review.latency": latency, "audit.chain": chain, "audit.fields": fields,
    "audit.retention": retention, "moderation.uploads": uploads, "moderation.actions": actions,
    "rooms.coverage": rooms_coverage, "rooms.alerts": rooms_alerts, "detection.quality": quality,
    "reports.channel": channel, "labels.conformance": labels, "export.drill": drill, "policy.review": policy,
    "controls.service": controls, "volumes.daily": volumes,
}


def collect(source: EvidenceSource, rules: Rules, spec: AssessmentSpec, *, until: float | None = None,
            since: float | None = None, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Evidence]:
    """Every evidence set the applicable items need, over [since, until) (default: the spec's or
    the rules' window ending now)."""
    now = time.time()
    until = now if until is None else until
    days = spec.window_days or rules.window_days
    since = until - days * 86400.0 if since is None else since
    ctx = CollectContext(source, rules, spec, since, until, now)
    needed: list[str] = []
    for item in rules.items:
        if item.applies(spec.triggers, spec.function_kind):
            for e in item.evidence:
                if e not in needed:
                    needed.append(e)
    out: dict[str, Evidence] = {}
    for i, eid in enumerate(needed):
        if progress:
            progress(eid, i, len(needed))
        out[eid] = COLLECTORS[eid](ctx)
    if progress:
        progress("done", len(needed), len(needed))
    return out

