"""The ``synthwatch`` command line (Typer + Rich). Thin: it parses, calls the library, renders.

Exit codes are the same for every command; :mod:`synthwatch.cli._exits` lists them and is the only
place the error tree becomes exit codes. For ``scan``:
  0  every item scanned, nothing likely synthetic
  1  at least one item is likely synthetic
  2  usage or configuration error (bad option, unknown detector, unreadable path)
  3  model error (missing or corrupt model where one was required)
  4  at least one item could not be scanned (its error is reported; the batch went on)
  5  both 1 and 4
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import __version__
from ..errors import ConfigError, SynthwatchError
from ..pipeline.inputs import expand_inputs
from ._exits import EXIT_CLEAN, EXIT_ITEM_ERRORS, EXIT_MODEL, EXIT_SYNTHETIC, EXIT_USAGE, exit_code_for, fail

__all__ = ["app", "main", "EXIT_CLEAN", "EXIT_SYNTHETIC", "EXIT_USAGE", "EXIT_MODEL", "EXIT_ITEM_ERRORS",
           "exit_code_for"]

app = typer.Typer(help="synthwatch: find and govern synthetic media.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
console = Console(stderr=True)
out = Console(highlight=False)

from .eval import app as _eval_app  # noqa: E402
from .label import app as _label_app  # noqa: E402
from .models import app as _models_app  # noqa: E402

app.add_typer(_models_app, name="models", help="Install, list and verify models.")
app.add_typer(_label_app, name="label", help="Check, apply and compare AI-content labels (GB 45438, C2PA).")
app.add_typer(_eval_app, name="eval", help="Measure detectors on labelled data (metrics, robustness, plots).")

from .serve import register as _register_service  # noqa: E402

_register_service(app)  # serve, worker, db, admin
from .batch import register as _register_batch  # noqa: E402

_register_batch(app)  # batch
from .rooms import register as _register_rooms  # noqa: E402

_register_rooms(app)  # rooms simulate
from .audit import app as _audit_app  # noqa: E402

app.add_typer(_audit_app, name="audit", help="The service's audit log: verify, export a case, checkpoint, purge.")
from .assess import app as _assess_app  # noqa: E402

app.add_typer(_assess_app, name="assess", help="Security self-assessment reports from the service's own evidence.")


def _version(value: bool) -> None:
    if value:
        out.print(f"synthwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """synthwatch: find and govern synthetic media."""


@app.command()
def scan(
    paths: Annotated[list[str], typer.Argument(help="Files, folders (walked) or glob patterns.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON array of reports.")] = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Print one JSON report per line as items finish.")] = False,
    detectors: Annotated[str | None, typer.Option(help="Comma-separated detector names, or 'all' (default: the default set; see `synthwatch detectors`).")] = None,
    fps: Annotated[float | None, typer.Option(help="Video frames sampled per second (default 1).")] = None,
    keyframes_only: Annotated[bool, typer.Option("--keyframes-only", help="Sample only video keyframes.")] = False,
    exact_frames: Annotated[bool, typer.Option(
        "--exact-frames", help="Score video frames with the exact CLIP encoder, as pictures are "
        "(slower; by default clip-probe merges tokens on video frames, see docs/models/clip-probe.md).")] = False,
    max_bytes: Annotated[int | None, typer.Option(help="Largest input file in bytes.")] = None,
    max_duration: Annotated[float | None, typer.Option(help="Longest audio/video in seconds.")] = None,
    max_pixels: Annotated[int | None, typer.Option(help="Most pixels per image or frame.")] = None,
    max_frames: Annotated[int | None, typer.Option(help="Most frames sampled from one video.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Wall-clock limit for the whole scan of each file "
                                                  "(decoding, analysis, provenance), seconds.")] = None,
    face_detector: Annotated[str, typer.Option(help="centerface (default) or yunet.")] = "centerface",
    timeline: Annotated[Path | None, typer.Option(help="Write a PNG of per-segment scores (and face boxes).")] = None,
    declared_ai: Annotated[bool, typer.Option("--declared-ai", help="The uploader declared these items AI-generated.")] = False,
    home: Annotated[Path | None, typer.Option(envvar="SYNTHWATCH_HOME", help="synthwatch data folder (models).")] = None,
) -> None:
    """Scan images, audio and video for synthetic media."""
    from ..config import get_settings
    from ..pipeline.scan import Scanner
    from ..render.tables import error_line, scan_table
    from ..render.text import printable, write_json, write_jsonl
    from ..render.timeline import ThumbnailCollector, draw_timeline
    from ._scanopts import with_scan_options

    try:
        settings = get_settings(**({"home": home} if home else {}))
        settings = with_scan_options(settings, max_bytes=max_bytes, max_duration=max_duration, max_pixels=max_pixels,
                                     max_frames=max_frames, timeout=timeout, fps=fps, keyframes_only=keyframes_only,
                                     exact_frames=exact_frames)
        names = [d.strip() for d in detectors.split(",") if d.strip()] if detectors else None
        files = expand_inputs(paths)
        if not files:
            raise ConfigError("no media files found in the given paths")
        scanner = Scanner(settings, detectors=names, face_detector=face_detector)
    except SynthwatchError as exc:
        fail(exc)
    except ValueError as exc:  # pydantic validation of option values
        console.print(f"[red]error:[/red] invalid option: {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None

    reports = []
    synthetic = errors = False
    show_bar = not (json_out or jsonl) or sys.stderr.isatty()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[step]}"), console=console, disable=not show_bar, transient=False) as bar:
        overall = bar.add_task("scanning", total=len(files), step="")

        for f in files:
            def hook(step: str, info: dict[str, Any], _f: Path = f) -> None:
                if step in ("frames", "audio"):
                    total = info.get("total")
                    bar.update(overall, step=f"{escape(printable(_f.name))}: {step} {info['done']}"
                               + (f"/{total}" if total else ""))
                elif step == "probe":
                    bar.update(overall, step=f"{escape(printable(_f.name))}: probing")

            collector = ThumbnailCollector(hook) if timeline else None
            report = scanner.scan(f, hook=collector or hook, declared_ai=declared_ai)
            bar.advance(overall)
            reports.append(report)
            if report.error:
                errors = True
                console.print(error_line(str(f), report.error.code, report.error.message), soft_wrap=True)
            elif str(report.verdict.label) == "likely_synthetic":
                synthetic = True
            if jsonl:
                write_jsonl(report.to_dict())
            if timeline and report.error is None:
                target = timeline if len(files) == 1 else timeline.with_name(f"{timeline.stem}-{f.stem}{timeline.suffix}")
                draw_timeline(report, target, collector.frames if collector else None)
                console.print(f"timeline written to {escape(printable(target))}", highlight=False)
        bar.update(overall, step="done")

    if json_out:
        write_json([r.to_dict() for r in reports])
    elif not jsonl:
        out.print(scan_table(reports))
    code = (EXIT_SYNTHETIC if synthetic else 0) | (EXIT_ITEM_ERRORS if errors else 0)
    raise typer.Exit(code)


@app.command("detectors")
def list_detectors(home: Annotated[Path | None, typer.Option(envvar="SYNTHWATCH_HOME")] = None,
                   hidden: Annotated[bool, typer.Option("--hidden", help="Also list hidden detectors (the "
                                                        "model-free debug detectors used by tests).")] = False
                   ) -> None:
    """List registered detectors and whether their models are installed."""
    from ..config import get_settings
    from ..detectors.registry import default_registry
    from ..models.store import ModelStore
    from ..render.text import cell

    settings = get_settings(**({"home": home} if home else {}))
    store = ModelStore(settings.model_dir)
    registry = default_registry()
    table = Table(title="detectors")
    for col in ("name", "version", "modality", "model", "default", "installed", "how to install"):
        table.add_column(col)
    for name in registry.names() if hidden else registry.available():
        info = registry.detector_class(name).info
        missing = registry.missing_models(name, store)
        table.add_row(cell(name), cell(info.version), info.modality, cell(info.model or "-"),
                      "yes" if info.default else ("hidden" if info.hidden else ""),
                      "[red]no[/]" if missing else "[green]yes[/]",
                      cell("; ".join(store.install_hint(m) for m in missing)))
    out.print(table)


@app.command("samples")
def make_samples(folder: Annotated[Path, typer.Argument(help="Where to write the sample media.")]) -> None:
    """Write a small set of generated sample media (an image, a speech-like clip, a short video)."""
    from ..testing.samples import make_demo_set

    paths = make_demo_set(folder)
    for p in paths:
        out.print(str(p))


def main() -> None:
    try:
        app()
    except SynthwatchError as exc:  # anything a command did not handle itself
        try:
            fail(exc)
        except typer.Exit as stop:
            sys.exit(stop.exit_code)
