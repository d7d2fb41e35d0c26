"""``synthwatch assess``: security self-assessment reports from the service's own evidence (issue 16).

The evidence is read from the service's database (``SYNTHWATCH_HOME`` or
``SYNTHWATCH_DATABASE_URL``); the platform's declared facts come from a YAML or JSON file
(``synthwatch.assessment/1``, see docs/assess.md). Exit codes: 0 done; 1 ``finalise`` refused
(a finding is not resolved, or the evidence is stale) or ``verify`` found an altered file;
2 usage or configuration error (a bad facts or rules file names the bad field; an unknown tenant
or assessment).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import ConfigError, SynthwatchError
from ..render.text import cell, printable, write_json
from ._exits import EXIT_FINDING, EXIT_USAGE, fail

__all__ = ["app"]

app = typer.Typer(help="Security self-assessment reports built from the service's own evidence.",
                  no_args_is_help=True, add_completion=False)
err = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON (byte-exact) instead of tables")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="the platform tenant (its name)")]
MAX_SPEC_BYTES = 1024 * 1024
FORMATS = ("html", "json", "pdf")
_STYLE = {"pass": "green", "declared": "blue", "warn": "yellow", "fail": "bold red", "not_applicable": "dim",
          "open": "bold red", "awaiting_check": "yellow", "awaiting_record": "yellow", "resolved": "green"}


def _core() -> Any:
    from ..service.core import ServiceCore

    core = ServiceCore()
    core.db.require_migrated()
    return core


def _read_doc(path: Path, what: str) -> Any:
    import yaml

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc}") from exc
    if len(data) > MAX_SPEC_BYTES:
        raise ConfigError(f"the {what} {path} is larger than {MAX_SPEC_BYTES} bytes")
    try:
        return yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the {what} {path} is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"the {what} {path} is not valid YAML or JSON: {exc}") from exc


def _actor() -> Any:
    from ..service.assessments.workflow import Actor

    return Actor("cli")


def _progress(enabled: bool) -> tuple[Progress, Any]:
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err, transient=True, disable=not enabled)
    task = bar.add_task("collecting evidence", total=None)

    def step(name: str, i: int, n: int) -> None:
        bar.update(task, total=n, completed=i, description=f"collecting {printable(name)}")

    return bar, step


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from ..service.assessments.workflow import AssessmentError

    try:
        return fn(*args, **kwargs)
    except AssessmentError as exc:
        if exc.code in ("not_found", "validation_error", "unknown_regulator"):
            err.print(f"[bold red]error:[/] {cell(exc)}")
            raise typer.Exit(EXIT_USAGE) from exc
        err.print(f"[bold red]refused:[/] {cell(exc)}")  # the assessment's state does not allow it
        raise typer.Exit(EXIT_FINDING) from exc
    except SynthwatchError as exc:
        fail(exc)


def _show(rec: Any, as_json: bool) -> None:
    if as_json:
        write_json(rec.summary() | {"finding_list": rec.findings})
        return
    s = rec.summary()
    out.print(cell(f"assessment {rec.id} ({rec.state}): {rec.spec.function_name.en} / {rec.spec.function_name.zh}, "
                   f"triggers {', '.join(rec.spec.triggers)}; rules {rec.rules.name} version {rec.rules.version}"))
    if rec.window:
        from datetime import UTC, datetime

        at = datetime.fromtimestamp(float(s["collected_at"]), UTC).isoformat(timespec="seconds")
        out.print(cell(f"evidence collected {at} over {(rec.window[1] - rec.window[0]) / 86400:.0f} days "
                       f"(collection {rec.collections})"))
    t = Table(title="checklist")
    for col in ("item", "outcome", "criteria (measured / declared)"):
        t.add_column(col)
    for r in rec.results:
        basis = f"{sum(c.basis == 'measured' for c in r.criteria)} / {sum(c.basis == 'declared' for c in r.criteria)}"
        t.add_row(cell(r.id), cell(r.status, _STYLE.get(r.status, "")), basis)
    out.print(t)
    if rec.findings:
        f = Table(title="findings")
        for col in ("finding", "criterion", "status", "found", "now", "remediations"):
            f.add_column(col)
        for x in rec.findings:
            f.add_row(cell(x["id"]), cell(x["criterion"]), cell(x["status"], _STYLE.get(x["status"], "")),
                      cell("no data" if x["found_value"] is None else x["found_value"]),
                      cell("no data" if x["current_value"] is None else x["current_value"]),
                      str(len(x["remediations"])))
        out.print(f)
    open_n = len(rec.open_findings)
    out.print(f"{len(rec.findings)} finding(s), {open_n} not resolved"
              + ("; the report cannot be finalised until they are" if open_n and rec.state == "draft" else ""))


@app.command()
def rules(
    check: Annotated[Path | None, typer.Option("--check", help="validate a corrected copy of the rules",
                                               dir_okay=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the rules in force (or validate a corrected copy): version, sha256, items and criteria."""
    from ..assess.rules import load_rules

    try:
        r = load_rules(check)
    except SynthwatchError as exc:
        fail(exc)
    doc = {"name": r.name, "version": r.version, "sha256": r.sha256, "triggers": [t.id for t in r.triggers],
           "items": {i.id: [c.id for c in i.criteria] for i in r.items}}
    if as_json:
        write_json(doc)
        return
    out.print(cell(f"{r.name}: version {r.version}, sha256 {r.sha256}"))
    t = Table()
    for col in ("item", "title", "criteria"):
        t.add_column(col)
    for i in r.items:
        t.add_row(cell(i.id), cell(f"{i.title.en} / {i.title.zh}"),
                  cell(", ".join(f"{c.id} ({c.basis})" for c in i.criteria)))
    out.print(t)


@app.command()
def create(
    tenant: TenantOpt,
    spec: Annotated[Path, typer.Option("--spec", help="the declared facts (YAML or JSON, synthwatch.assessment/1)",
                                       dir_okay=False)],
    rules_file: Annotated[Path | None, typer.Option("--rules", help="a corrected copy of the rules (default: the "
                                                    "shipped ones)", dir_okay=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start an assessment: collect the evidence from the store, evaluate the checklist, list findings."""
    from ..assess.rules import load_rules
    from ..service.assessments import workflow as wf

    try:
        core = _core()
        t = core.tenant_by_name(tenant)
        doc = _read_doc(spec, "assessment facts file")
        r = load_rules(rules_file)
    except SynthwatchError as exc:
        fail(exc)
    bar, step = _progress(not as_json)
    with bar:
        rec = _call(wf.create, core, t.id, doc, _actor(), rules=r, progress=step)
    _show(rec, as_json)


def _get(core: Any, tenant: str, assessment: str) -> tuple[Any, Any]:
    from ..service.assessments import workflow as wf

    try:
        t = core.tenant_by_name(tenant)
    except SynthwatchError as exc:
        fail(exc)
    return t, _call(wf.get, core, t.id, assessment)


@app.command()
def show(assessment: Annotated[str, typer.Argument(help="the assessment id")], tenant: TenantOpt,
         as_json: JsonOpt = False) -> None:
    """An assessment's checklist outcomes and findings."""
    _show(_get(_core(), tenant, assessment)[1], as_json)


@app.command("list")
def list_(tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """The tenant's assessments, newest first."""
    from ..service.assessments import workflow as wf

    core = _core()
    try:
        t = core.tenant_by_name(tenant)
    except SynthwatchError as exc:
        fail(exc)
    recs = wf.list_assessments(core, t.id, limit=200)
    if as_json:
        write_json([r.summary() for r in recs])
        return
    tb = Table(title=f"assessments of {printable(tenant)}")
    for col in ("id", "state", "function", "triggers", "rules", "findings (open)"):
        tb.add_column(col)
    for r in recs:
        tb.add_row(cell(r.id), cell(r.state), cell(r.spec.function_name.en), cell(",".join(r.spec.triggers)),
                   cell(r.rules.version), f"{len(r.findings)} ({len(r.open_findings)})")
    out.print(tb)


@app.command()
def collect(assessment: Annotated[str, typer.Argument(help="the assessment id")], tenant: TenantOpt,
            as_json: JsonOpt = False) -> None:
    """Collect the evidence again (a window ending now) and re-evaluate; findings move on."""
    from ..service.assessments import workflow as wf

    core = _core()
    t, _ = _get(core, tenant, assessment)
    bar, step = _progress(not as_json)
    with bar:
        rec = _call(wf.collect, core, t.id, assessment, _actor(), progress=step)
    _show(rec, as_json)


@app.command()
def facts(assessment: Annotated[str, typer.Argument(help="the assessment id")], tenant: TenantOpt,
          spec: Annotated[Path, typer.Option("--spec", help="the corrected declared facts", dir_okay=False)],
          as_json: JsonOpt = False) -> None:
    """Replace a draft's declared facts (declared criteria are re-evaluated at once)."""
    from ..service.assessments import workflow as wf

    core = _core()
    t, _ = _get(core, tenant, assessment)
    try:
        doc = _read_doc(spec, "assessment facts file")
    except SynthwatchError as exc:
        fail(exc)
    _show(_call(wf.update_spec, core, t.id, assessment, doc, _actor()), as_json)


@app.command()
def remediate(
    assessment: Annotated[str, typer.Argument(help="the assessment id")],
    finding: Annotated[str, typer.Argument(help="the finding id (F1, F2 …)")],
    tenant: TenantOpt,
    what: Annotated[str, typer.Option("--what", help="what was done")],
    by: Annotated[str, typer.Option("--by", help="who did it")],
    evidence: Annotated[str, typer.Option("--evidence", help="the evidence after the fix")],
    as_json: JsonOpt = False,
) -> None:
    """Record a finding's remediation (collect again to confirm it with fresh evidence)."""
    from ..service.assessments import workflow as wf

    core = _core()
    t, _ = _get(core, tenant, assessment)
    _show(_call(wf.remediate, core, t.id, assessment, finding, _actor(), what=what, by=by, evidence_after=evidence),
          as_json)


@app.command()
def finalise(
    assessment: Annotated[str, typer.Argument(help="the assessment id")],
    tenant: TenantOpt,
    by: Annotated[str, typer.Option("--by", help="the responsible person finalising the report")],
    as_json: JsonOpt = False,
) -> None:
    """Finalise, sign and audit the report; refused (exit 1) while a finding is not resolved."""
    from ..service.assessments import workflow as wf

    core = _core()
    t, _ = _get(core, tenant, assessment)
    try:
        rec = wf.finalise(core, t.id, assessment, _actor(), by=by)
    except SynthwatchError as exc:
        if not isinstance(exc, wf.AssessmentError):
            fail(exc)
        if as_json:
            write_json({"error": {"code": exc.code, "message": str(exc), **exc.details}})
        else:
            err.print(f"[bold red]refused:[/] {cell(exc)}")
        raise typer.Exit(EXIT_FINDING) from exc
    if as_json:
        write_json(rec.summary())
        return
    out.print(cell(f"assessment {rec.id} finalised by {by}: report.json sha256 {rec.report_sha256}, report.html "
                   f"sha256 {rec.html_sha256}, signed with key {str((rec.signature or {}).get('report.json', {}).get('key_id', ''))[:16]}…"))


@app.command("import-eval")
def import_eval(
    run_dir: Annotated[Path, typer.Argument(help="a synthwatch eval output folder (results.json, scores.csv)",
                                            file_okay=False)],
    tenant: TenantOpt,
    own_sample: Annotated[bool, typer.Option("--own-sample", help="the run measured the platform's own labelled "
                                             "sample")] = False,
    name: Annotated[str | None, typer.Option("--name", help="a name for the run (default: the folder's)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a synthwatch eval run as detection-quality evidence of the tenant's assessments."""
    from ..service.assessments.evalruns import import_run

    core = _core()
    try:
        t = core.tenant_by_name(tenant)
        row = import_run(core, t.id, run_dir, _actor(), own_sample=own_sample, name=name)
    except SynthwatchError as exc:
        fail(exc)
    if as_json:
        write_json(row)
    else:
        out.print(cell(f"imported {row['id']} ({row['name']}): detectors {', '.join(map(str, row['detectors']))}; "
                       f"results.json sha256 {row['results_sha256']}"))


@app.command("file")
def file_(
    assessment: Annotated[str, typer.Argument(help="the finalised assessment id")],
    tenant: TenantOpt,
    regulator: Annotated[str, typer.Option("--regulator", help="the regulator's tenant name")],
    as_json: JsonOpt = False,
) -> None:
    """File a finalised report to a regulator's inbox."""
    from ..service.assessments import inbox

    core = _core()
    t, _ = _get(core, tenant, assessment)
    f = _call(inbox.file_report, core, t.id, assessment, regulator, _actor())
    if as_json:
        write_json(f.to_dict())
    else:
        out.print(cell(f"filed {f.id}: report {f.report_sha256} of {assessment} to {regulator} ({f.state})"))


@app.command()
def filings(tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """The tenant's filings to regulators and their state."""
    from ..service.assessments import inbox

    core = _core()
    try:
        t = core.tenant_by_name(tenant)
    except SynthwatchError as exc:
        fail(exc)
    rows = inbox.platform_filings(core, t.id)
    if as_json:
        write_json([f.to_dict() for f in rows])
        return
    tb = Table(title=f"filings of {printable(tenant)}")
    for col in ("filing", "regulator", "assessment", "state", "deadline"):
        tb.add_column(col)
    for f in rows:
        tb.add_row(cell(f.id), cell(f.regulator_name), cell(f.assessment_id), cell(f.state),
                   cell(f.deadline_at if f.deadline_at is None else f"{f.deadline_at:.0f}"))
    out.print(tb)


@app.command()
def report(
    assessment: Annotated[str, typer.Argument(help="the assessment id")],
    tenant: TenantOpt,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="write the report files into this folder",
                                                 file_okay=False)] = None,
    formats: Annotated[str, typer.Option("--format", help="comma-separated: html, json, pdf")] = "html,json",
    as_json: JsonOpt = False,
) -> None:
    """Write the report (a draft is rendered now; a finalised one is the stored, signed file), or
    print report.json byte-exact with --json."""
    from ..service.assessments import workflow as wf

    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        err.print(f"[bold red]error:[/] --format takes {', '.join(FORMATS)} (got {cell(formats)})")
        raise typer.Exit(EXIT_USAGE)
    core = _core()
    _, rec = _get(core, tenant, assessment)
    files = _call(wf.report_files, core, rec, pdf="pdf" in wanted)
    if as_json:
        import sys

        sys.stdout.buffer.write(files["report.json"])
        sys.stdout.buffer.flush()
        return
    if out_dir is None:
        err.print("[bold red]error:[/] give --out DIR (or --json to print report.json)")
        raise typer.Exit(EXIT_USAGE)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            if name.split(".")[1] not in wanted:
                continue
            (out_dir / name).write_bytes(data)
            out.print(cell(f"wrote {out_dir / name} ({len(data):,} bytes)"))
    except OSError as exc:
        fail(ConfigError(f"cannot write the report into {out_dir}: {exc}"))


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="a finalised report file (report.json, report.html, report.pdf)",
                                         dir_okay=False)],
    sig: Annotated[Path | None, typer.Option("--sig", help="its detached signature (default: FILE.sig)",
                                             dir_okay=False)] = None,
    public_key: Annotated[Path | None, typer.Option("--public-key", help="the platform's audit public key (PEM) to "
                                                    "pin (default: the key named in the signature)",
                                                    dir_okay=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a finalised report against its Ed25519 signature: exit 0 intact, 1 altered."""
    from ..service.assessments.workflow import verify_signature

    sig = sig or file.with_name(file.name + ".sig")
    try:
        blob = file.read_bytes()
        sdoc = json.loads(sig.read_text(encoding="utf-8"))
        pem = public_key.read_bytes() if public_key is not None else None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(ConfigError(f"cannot read the report, its signature or the key: {exc}"))
    if not isinstance(sdoc, dict):
        fail(ConfigError(f"{sig} is not a signature document"))
    problems = verify_signature(blob, sdoc, public_key_pem=pem)
    res = {"ok": not problems, "file": str(file), "sha256": sdoc.get("sha256"), "key_id": sdoc.get("key_id"),
           "pinned": pem is not None, "problems": problems}
    if as_json:
        write_json(res)
    elif problems:
        err.print(f"[bold red]{cell(file)} does not verify:[/]")
        for p in problems:
            err.print(cell(f"  {p}"))
    else:
        out.print(cell(f"{file} verifies: sha256 {sdoc.get('sha256')}, signed by "
                       f"{'the pinned' if pem is not None else 'the named'} key {str(sdoc.get('key_id'))[:16]}…"))
    raise typer.Exit(0 if not problems else EXIT_FINDING)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="a new or empty folder: the demo store goes to OUT/store, "
                                          "each finalised report to OUT/<platform>.html|.pdf|.pdf.sig",
                                          file_okay=False)],
    platforms: Annotated[int, typer.Option("--platforms", min=1, max=11,
                                           help="how many platforms (stages spread over the whole path)")] = 11,
    stages: Annotated[str | None, typer.Option("--stages", help="comma-separated stages instead of --platforms: "
                                               "draft, findings_open, remediation_recorded, remediated, finalised, "
                                               "filed, acknowledged, rectification_requested, resubmitted, "
                                               "accepted, accepted_after_resubmission")] = None,
    models: Annotated[Path | None, typer.Option("--models", help="the model store holding silero-vad (default: "
                                                "$SYNTHWATCH_HOME/models)", file_okay=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """One regulator and up to eleven platforms, each with a live-audio-room assessment at a different
    stage, built through the service's real code paths on generated media (OUT/README.md says what is
    simulated)."""
    from ..config import get_settings
    from ..service.assessments.demo import run_demo

    names = [s.strip() for s in stages.split(",") if s.strip()] if stages else None
    with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True,
                  disable=as_json) as bar:
        task = bar.add_task("building the demo", total=None)
        res = _call(run_demo, out_dir, platforms=platforms, stages=names,
                    models=models or get_settings().model_dir,
                    progress=lambda msg: bar.update(task, description=printable(msg)))
    if as_json:
        write_json(res.to_dict())
        return
    t = Table(title=f"assess demo: regulator {printable(res.regulator)}, {len(res.platforms)} platform(s) in "
                    f"{res.seconds:.0f} s")
    for col in ("platform", "stage", "assessment", "open findings", "filing", "report files"):
        t.add_column(col)
    for p in res.platforms:
        t.add_row(cell(p.name), p.stage.replace("_", " "), p.assessment_state, str(p.open_findings),
                  (p.filing_state or "").replace("_", " ") if p.filing_id else "not filed",
                  cell(f"{p.name}.html|.pdf|.pdf.sig") if p.files else "-")
    out.print(t)
    out.print(cell(f"assessment and filing ids: {res.out / 'demo.json'}"))
    out.print(cell(f"rules {res.rules_version} (sha256 {res.rules_sha256}); what was simulated: "
                   f"{res.out / 'README.md'}"))
