"""``synthwatch eval``: measure detectors on a labelled set; ``synthwatch eval compare A B``.

Mounted by the main app with ``app.add_typer(eval_app, name="eval")``. Thin: it parses, calls
:mod:`synthwatch.evaluate` and renders with Rich. Errors map to exit codes through
:func:`synthwatch.cli.exit_code_for` (2 usage / configuration, 3 model, 4 other). ``--strict``
exits 4 when any item could not be read or scored.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError
from ._exits import EXIT_ITEM_ERRORS, EXIT_USAGE
from ._exits import errors as _errors

__all__ = ["app"]

app = typer.Typer(
    help="Measure detectors on a labelled set (metrics, robustness, calibration, speed, plots).",
    add_completion=False,
    invoke_without_command=True,
    no_args_is_help=False,
)

_err = Console(stderr=True)
_out = Console(highlight=False)


def _split_csv(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [p.strip() for p in v.split(",") if p.strip()]
    return out


def _store(home: Path | None, cards: Path | None) -> Any:
    from .models import settings_and_store

    return settings_and_store(home, cards)


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    data: Annotated[list[str] | None, typer.Option(
        "--data", "-d", help="dataset SPEC: a folder with real/ and fake/, a CSV/JSONL manifest, an ASVspoof 2019 "
        "LA protocol, an In-the-Wild meta.csv, a FaceForensics++ root or a Celeb-DF v2 test list; "
        "[KIND:]PATH[?split=NAME&...]; repeat to combine sets")] = None,
    detectors: Annotated[str | None, typer.Option("--detectors", help="comma-separated detector names")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="output folder (results.json, report.md, "
                                             "report.html, scores.csv, plots/)")] = None,
    perturb: Annotated[list[str] | None, typer.Option(
        "--perturb", "-p", help="conditions besides clean, comma-separated or repeated: mp3:64k aac:96k opus:32k "
        "tel8k noise:20db reverb:0.4 jpeg:75 resize:0.5 crop:0.8 social h264crf:28 downscale:0.5; chain with +")] = None,
    calibrate_on: Annotated[str | None, typer.Option(
        "--calibrate-on", help="fit thresholds on this split only and report on the other items")] = None,
    calibrate_method: Annotated[str, typer.Option(
        "--calibrate-method", help="eer, or fpr:TARGET (highest recall with FPR <= TARGET, e.g. fpr:0.01)")] = "eer",
    write_card: Annotated[bool, typer.Option(
        "--write-card", help="write each fitted threshold, with where it came from, into the installed model card")] = False,
    split: Annotated[list[str] | None, typer.Option(
        "--split", help="report only items of these splits (comma-separated or repeated)")] = None,
    asv_scores: Annotated[Path | None, typer.Option(
        "--asv-scores", help="ASVspoof 2019 ASV score file (SOURCE KEY SCORE): adds min t-DCF for audio detectors")] = None,
    asv_rates: Annotated[str | None, typer.Option(
        "--asv-rates", help="fixed ASV error rates PFA,PMISS,PMISS_SPOOF for min t-DCF when no ASV scores exist "
        "(as the ASVspoof 5 package does with its organisers' ASV)")] = None,
    audio_windows: Annotated[str, typer.Option(
        "--audio-windows", help="scan: the windows, voice-activity gating and aggregation of `synthwatch scan` "
        "(default); first: each clip whole to the detector, no gating (the upstream protocol of the ASVspoof "
        "baselines, to compare with published numbers)")] = "scan",
    fps: Annotated[float | None, typer.Option("--fps", help="video frames sampled per second (as `scan --fps`; "
                                              "default: the settings' sampling, 1)")] = None,
    exact_frames: Annotated[bool, typer.Option(
        "--exact-frames", help="score video frames exactly like pictures (by default they are scored as "
        "`synthwatch scan` scores them: clip-probe with token merging, see docs/models/clip-probe.md)")] = False,
    group_agg: Annotated[str, typer.Option("--group-agg", help="item scores -> group score: mean, max, median, topq")] = "mean",
    faces: Annotated[str, typer.Option("--faces", help="face detectors: detect faces first, or 'aligned' when the "
                                       "inputs are aligned face crops")] = "detect",
    face_detector: Annotated[str, typer.Option("--face-detector", help="centerface or yunet")] = "centerface",
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="bootstrap replicates for the 95% intervals (0: none)")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="seed of the bootstrap, --limit and random perturbations")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", help="evaluate at most N items (class shares kept, seeded)")] = None,
    no_dedupe: Annotated[bool, typer.Option("--no-dedupe", help="keep repeated files (same sha256); by default "
                                            "copies are dropped and a file under both labels is dropped entirely")] = False,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="skip the PNG plots")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="exit 4 when any item could not be read or scored")] = False,
    home: Annotated[Path | None, typer.Option("--home", help="synthwatch home (models in HOME/models)")] = None,
    cards: Annotated[Path | None, typer.Option("--cards", help="folder of extra or overriding model cards")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Evaluate detectors: synthwatch eval --data SPEC --detectors a,b --out DIR."""
    if ctx.invoked_subcommand is not None:
        return
    if not data or not detectors or out is None:
        _err.print(ctx.get_help())
        _err.print("\n[bold red]error:[/] --data, --detectors and --out are required", markup=True)
        raise typer.Exit(EXIT_USAGE)
    with _errors():
        from ..evaluate import EvalConfig, load_dataset, parse_conditions, write_outputs

        settings, store = _store(home, cards)
        names = _split_csv([detectors])
        splits = tuple(_split_csv(split)) or None
        sampling = settings.sampling.model_copy(update={**({"fps": fps} if fps else {}),
                                                        **({"frame_token_merging": 0} if exact_frames else {})})
        cfg = EvalConfig(
            detectors=names, conditions=parse_conditions(_split_csv(perturb)), calibrate_on=calibrate_on,
            calibrate_method=calibrate_method, splits=splits, audio_windows=audio_windows,
            sampling=type(sampling).model_validate(sampling.model_dump()), group_agg=group_agg, faces=faces,
            face_detector=face_detector, n_boot=bootstrap, seed=seed, limit=limit,
            dedupe=not no_dedupe, asv_error_rates=_asv(asv_scores, asv_rates),
            asv_scores_file=str(asv_scores) if asv_scores else (f"fixed rates {asv_rates}" if asv_rates else None),
            limits=settings.limits)
        cfg.validate()
        if write_card and not calibrate_on:
            raise ConfigError("--write-card needs --calibrate-on SPLIT (thresholds are never fitted on reported data)")
        if write_card and cfg.protocol != "scan":
            raise ConfigError(f"--write-card needs items scored as `synthwatch scan` scores them (this run: "
                              f"{cfg.protocol}): a threshold fitted on other scores would not hold in scans")
        dataset = load_dataset(data)
        summary = dataset.summary()
        _err.print(f"data: {summary['n_items']} items ({summary['n_real']} real, {summary['n_fake']} fake); "
                   f"{summary['n_problems']} unusable, {summary['n_ignored']} ignored", highlight=False)
        command = "synthwatch " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
        run_ = _run_with_progress(dataset, cfg, store, command, quiet)
        written = write_outputs(run_, out, plots=not no_plots)
        _render_summary(run_.results)
        for name, path in written.items():
            _err.print(f"wrote {name}: {path}", highlight=False)
        if write_card:
            _write_cards(store, run_.results, str(written["results"]))
        ds = run_.results["dataset"]
        if ds.get("n_duplicates_dropped") or ds.get("n_conflicting_dropped"):
            _err.print(f"[yellow]de-duplicated:[/] {ds.get('n_duplicates_dropped', 0)} repeated files dropped, "
                       f"{ds.get('n_conflicting_dropped', 0)} files labelled both real and fake dropped "
                       f"(same sha256; listed in results.json; --no-dedupe keeps them)", markup=True, highlight=False)
        unreadable = ds["n_unreadable"]
        failed = sum(d["n_failures"] for d in run_.results["detectors"])
        if unreadable or failed:
            _err.print(f"[yellow]warning:[/] {unreadable} unreadable items; {failed} failed results (item x detector "
                       f"x condition), listed in the report and in scores.csv", markup=True, highlight=False)
        for d in run_.results["detectors"]:
            if d["status"] != "ok":
                _err.print(f"[yellow]not run:[/] {d['name']}: {d['reason']}" +
                           (f" (install with: {d['install_hint']})" if d.get("install_hint") else ""),
                           markup=True, highlight=False)
        ran = [d for d in run_.results["detectors"] if d["status"] == "ok"]
        if not ran:
            from ..errors import ModelError

            raise ModelError("no detector could run: " + "; ".join(
                f"{d['name']}: {d['reason']} ({d['install_hint']})" for d in run_.results["detectors"]))
        if strict and (unreadable or failed or summary["n_problems"]):
            raise typer.Exit(EXIT_ITEM_ERRORS)


def _asv(scores: Path | None, rates: str | None) -> tuple[float, float, float] | None:
    from ..evaluate.runner import load_asv_scores

    if scores is not None and rates is not None:
        raise ConfigError("give --asv-scores or --asv-rates, not both")
    if scores is not None:
        return load_asv_scores(scores)
    if rates is None:
        return None
    try:
        vals = tuple(float(v) for v in rates.split(","))
    except ValueError as exc:
        raise ConfigError(f"--asv-rates {rates!r}: three numbers PFA,PMISS,PMISS_SPOOF") from exc
    if len(vals) != 3 or not all(0.0 <= v <= 1.0 for v in vals):
        raise ConfigError(f"--asv-rates {rates!r}: three rates in [0, 1], PFA,PMISS,PMISS_SPOOF")
    return vals[0], vals[1], vals[2]


def _run_with_progress(dataset: Any, cfg: Any, store: Any, command: str, quiet: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..evaluate import run_eval

    if quiet:
        return run_eval(dataset, cfg, store=store, command=command)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_err, transient=True) as progress:
        task = progress.add_task("scoring", total=None)

        def hook(step: str, info: dict[str, Any]) -> None:
            if step == "item":
                progress.update(task, completed=info["done"], total=info["total"])
            elif step == "detectors" and info.get("unavailable"):
                progress.console.print(f"[yellow]not available:[/] {', '.join(info['unavailable'])}", markup=True)

        return run_eval(dataset, cfg, store=store, hook=hook, command=command)


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and v != v):  # undefined metrics (NaN in memory, null in JSON)
        return "–"
    return f"{100 * v:.2f}%" if pct else f"{v:.3f}"


def _render_summary(results: dict[str, Any]) -> None:
    t = Table(title="synthwatch eval (items)", show_lines=False)
    for h in ("detector", "condition", "real/fake", "AUC", "EER", "AP", "TPR@FPR1%", "acc@card", "FPR@card", "ECE"):
        t.add_column(h)
    fitted = bool(results["config"].get("calibrate_on"))
    if fitted:
        t.add_column("acc@fitted")
        t.add_column("FPR@fitted")
    for d in results["detectors"]:
        if d["status"] != "ok":
            t.add_row(d["name"], "–", "–", f"[yellow]{d['status']}[/]", *["" for _ in range(6 + 2 * fitted)])
            continue
        for c in d["conditions"]:
            m = c.get("item_level")
            if not m:
                t.add_row(d["name"], c["condition"], "0/0", *["–" for _ in range(7 + 2 * fitted)])
                continue
            card = m["at_threshold"].get("card", {})
            row = [d["name"], c["condition"], f"{m['n_real']}/{m['n_fake']}", _fmt(m["auc"]["value"]),
                   _fmt(m["eer"]["value"], True), _fmt(m["ap"]["value"]),
                   _fmt(m["tpr_at_fpr"].get("0.01", {}).get("value"), True), _fmt(card.get("accuracy"), True),
                   _fmt(card.get("fpr"), True), _fmt(m["ece"]["value"])]
            if fitted:
                fit = m["at_threshold"].get("fitted", {})
                row += [_fmt(fit.get("accuracy"), True), _fmt(fit.get("fpr"), True)]
            t.add_row(*row)
    _out.print(t)


def _write_cards(store: Any, results: dict[str, Any], results_path: str) -> None:
    from ..evaluate.cards import calibrations_from_results, write_threshold

    todo = calibrations_from_results(results, results_path)
    if not todo:
        _err.print("[yellow]--write-card: no fitted threshold to write (no detector with a model fitted one)[/]",
                   markup=True)
    for c in todo:
        card = write_threshold(store, c["model"], c["threshold"], source=c["source"], calibration=c["calibration"],
                               metrics=c["metrics"])
        prev = card.extra.get("calibration", {}).get("previous_threshold")
        _err.print(f"model card {card.name} ({c['detector']}): threshold {prev} -> {card.threshold:.6g}",
                   highlight=False)


@app.command("compare")
def compare(
    a: Annotated[Path, typer.Argument(help="results.json (or its folder) of the first run")],
    b: Annotated[Path, typer.Argument(help="results.json (or its folder) of the second run")],
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="print the comparison as a Markdown table")] = False,
    all_rows: Annotated[bool, typer.Option("--all", help="every metric, not only the headline ones")] = False,
    changed: Annotated[bool, typer.Option("--changed", help="only the metrics whose value changed")] = False,
) -> None:
    """Show what changed between two results files (B - A)."""
    from ..evaluate.report import compare_markdown, compare_results, jsonable, load_results
    from ..render.text import write_json

    with _errors():
        cmp = compare_results(load_results(a), load_results(b))
    if not all_rows:
        headline = {"auc", "eer", "tpr_at_fpr.0.01", "at_threshold.card.accuracy", "at_threshold.card.fpr",
                    "at_threshold.fitted.accuracy", "at_threshold.fitted.fpr", "min_dcf", "min_tdcf", "ece"}
        cmp = {**cmp, "rows": [r for r in cmp["rows"] if r["metric"] in headline]}
    if changed:
        cmp = {**cmp, "rows": [r for r in cmp["rows"] if r["delta"] is None or r["delta"] != 0.0]}
    if as_json:
        write_json(jsonable(cmp))
        return
    if markdown:
        _out.print(compare_markdown(cmp), markup=False)
        return
    t = Table(title=f"B - A  (A: {cmp['a']['created_at']}, B: {cmp['b']['created_at']})")
    for h in ("detector", "condition", "level", "metric", "A", "B", "B - A", ""):
        t.add_column(h)
    pct = ("eer", "tpr_at_fpr", "at_threshold")
    for r in cmp["rows"]:
        is_pct = r["metric"].startswith(pct)
        flag = ""
        if r["better"] is not None:
            flag = "[green]better[/]" if r["better"] else "[red]worse[/]"
        if r["outside_ci"]:
            flag += " [bold](outside A's CI)[/]"
        delta = "–" if r["delta"] is None else (f"{100 * r['delta']:+.2f} pt" if is_pct else f"{r['delta']:+.4f}")
        t.add_row(r["detector"], r["condition"], r["level"].replace("_level", ""), r["label"],
                  _fmt(r["a"], is_pct), _fmt(r["b"], is_pct), delta, flag)
    _out.print(t)
    if cmp["speed"]:
        s = Table(title="speed")
        for h in ("detector", "metric", "A", "B", "B - A"):
            s.add_column(h)
        for r in cmp["speed"]:
            s.add_row(r["detector"], r["metric"], f"{r['a']:.4g}", f"{r['b']:.4g}", f"{r['delta']:+.4g}")
        _out.print(s)
    for title, key in (("only in A", "only_in_a"), ("only in B", "only_in_b"), ("note", "notes")):
        for v in cmp[key]:
            _err.print(f"{title}: {v}", highlight=False)
