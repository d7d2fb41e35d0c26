"""``synthwatch batch INPUT... --out OUT [--engine local|ray] [--address ...]``: scan many items
into a Parquet dataset, on this machine or a Ray cluster. Thin: it parses, calls
:func:`synthwatch.batch.run_batch` and renders. Exit codes as for ``scan``: 0 nothing likely
synthetic, 1 something likely synthetic, 2 usage or configuration (Ray not installed included),
3 model error, 4 some items could not be scanned (their rows carry the error), 5 both 1 and 4 --
counted over every item the inputs name, skipped ones included, so a resumed run exits as a whole
run would.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..errors import ConfigError, SynthwatchError
from ._exits import EXIT_ITEM_ERRORS, EXIT_SYNTHETIC, EXIT_USAGE, fail

__all__ = ["batch", "register"]

_err = Console(stderr=True)
_out = Console(highlight=False)


def _actors(text: str | None) -> tuple[int | None, int | None]:
    """``N`` (a fixed pool) or ``MIN-MAX`` (autoscaling) -> (min, max)."""
    if text is None:
        return None, None
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not m or int(m.group(1)) < 1 or (m.group(2) and int(m.group(2)) < int(m.group(1))):
        raise ConfigError(f"--actors {text!r}: give N or MIN-MAX (1 <= MIN <= MAX)")
    lo = int(m.group(1))
    return lo, int(m.group(2)) if m.group(2) else lo


def _quiet_ray() -> None:
    """Ray Data logs every dataset's start and plan at INFO; the progress bar says enough."""
    import os

    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)


def batch(
    inputs: Annotated[list[str], typer.Argument(help="Folders (walked), glob patterns, media files, or CSV/Parquet "
                                                "manifests with a path or url column (and optionally id).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results: a folder of Parquet files (created; a run "
                                      "into an existing one resumes it).")],
    engine: Annotated[str, typer.Option(help="local (this process) or ray (a Ray cluster; extra \\[ray]).")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: "
                                                "RAY_ADDRESS, else a new local Ray instance).")] = None,
    detectors: Annotated[str | None, typer.Option(help="Comma-separated detector names, or 'all' (default: the "
                                                  "default set).")] = None,
    fps: Annotated[float | None, typer.Option(help="Video frames sampled per second (default 1).")] = None,
    keyframes_only: Annotated[bool, typer.Option("--keyframes-only", help="Sample only video keyframes.")] = False,
    exact_frames: Annotated[bool, typer.Option("--exact-frames", help="Score video frames with the exact CLIP "
                                               "encoder, as pictures are.")] = False,
    max_bytes: Annotated[int | None, typer.Option(help="Largest input (file or download) in bytes.")] = None,
    max_duration: Annotated[float | None, typer.Option(help="Longest audio/video in seconds.")] = None,
    max_pixels: Annotated[int | None, typer.Option(help="Most pixels per image or frame.")] = None,
    max_frames: Annotated[int | None, typer.Option(help="Most frames sampled from one video.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Wall-clock limit for the scan of each item, seconds.")] = None,
    face_detector: Annotated[str, typer.Option(help="centerface (default) or yunet.")] = "centerface",
    threads: Annotated[int | None, typer.Option(min=1, help="local: items scanned at once (threads sharing one "
                                                "Scanner; default 1).")] = None,
    actors: Annotated[str | None, typer.Option(help="ray: scan actors, N or MIN-MAX (default 1 to the cluster's "
                                               "CPUs / --cpus-per-actor).")] = None,
    cpus_per_actor: Annotated[float | None, typer.Option(help="ray: CPUs reserved per actor (default 1; also its "
                                                         "ONNX Runtime thread cap).")] = None,
    memory_per_actor: Annotated[int | None, typer.Option(help="ray: memory reserved per actor, MB.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="ray: items per actor call (default 1).")] = None,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Scan again items whose row has any error "
                                               "(transient ones are always retried).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only: how many items, how many already in OUT.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Keep Ray's own log lines.")] = False,
    home: Annotated[Path | None, typer.Option(envvar="SYNTHWATCH_HOME", help="synthwatch data folder (models).")] = None,
) -> None:
    """Scan many items into a Parquet dataset (one row per item), locally or on a Ray cluster; resumable."""
    from ..batch import get_batch_options, run_batch
    from ..config import get_settings
    from ..render.text import printable, write_json
    from ._scanopts import with_scan_options

    try:
        if engine not in ("local", "ray"):
            raise ConfigError(f"--engine {engine!r}: local or ray")
        if address is not None and engine != "ray":
            raise ConfigError("--address needs --engine ray")
        settings = get_settings(**({"home": home} if home else {}))
        settings = with_scan_options(settings, max_bytes=max_bytes, max_duration=max_duration, max_pixels=max_pixels,
                                     max_frames=max_frames, timeout=timeout, fps=fps, keyframes_only=keyframes_only,
                                     exact_frames=exact_frames)
        lo, hi = _actors(actors)
        options = get_batch_options(threads=threads, min_actors=lo, max_actors=hi, cpus_per_actor=cpus_per_actor,
                                    memory_per_actor_mb=memory_per_actor, batch_size=batch_size)
        names = [d.strip() for d in detectors.split(",") if d.strip()] if detectors else None
    except SynthwatchError as exc:
        fail(exc)
    except ValueError as exc:  # pydantic validation of option values
        _err.print(f"[red]error:[/red] invalid option: {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None

    if engine == "ray" and not verbose:
        _quiet_ray()
    show_bar = not json_out or sys.stderr.isatty()
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), TextColumn("{task.fields[step]}"), console=_err, disable=not show_bar)
    state: dict[str, Any] = {"task": None, "errors": 0, "synthetic": 0}

    def progress(event: str, info: dict[str, Any]) -> None:
        if event == "plan":
            if info["skipped"]:
                _err.print(f"{info['skipped']} of {info['planned']} items already in {escape(printable(str(out)))}: "
                           "skipped", highlight=False)
            if not dry_run:
                state["task"] = bar.add_task(f"batch ({engine})", total=info["todo"], step="")
        elif event == "result" and state["task"] is not None:
            if info["error_code"]:
                state["errors"] += 1
            elif info["verdict"] == "likely_synthetic":
                state["synthetic"] += 1
            bar.update(state["task"], advance=1, step=f"synthetic {state['synthetic']}, errors {state['errors']}")
        elif event == "lost":
            _err.print(f"[yellow]{len(info['keys'])} item(s) lost with their worker: recorded as worker_lost "
                       "(the next run retries them)[/]")

    try:
        with bar:
            summary = run_batch(inputs, out, engine=engine, address=address, settings=settings, options=options,
                                detectors=names, face_detector=face_detector, retry_errors=retry_errors,
                                dry_run=dry_run, progress=progress)
    except SynthwatchError as exc:
        fail(exc)
    except KeyboardInterrupt:
        _err.print("[yellow]interrupted: the results written so far are kept; run the same command to resume[/]")
        raise typer.Exit(130) from None

    doc = {"out": str(summary.out), "run_id": summary.run_id, "engine": summary.engine,
           "planned": summary.planned, "skipped": summary.skipped, "scanned": summary.scanned,
           "lost": summary.lost, "superseded_rows_dropped": summary.superseded,
           "seconds": round(summary.seconds, 3), "items_per_s": round(summary.items_per_s, 3),
           "verdicts": summary.verdicts, "errors": summary.errors, "engine_info": summary.engine_info,
           "dry_run": dry_run}
    if json_out:
        write_json(doc)
    else:
        table = Table(title="synthwatch batch" + (" (dry run)" if dry_run else ""), show_header=False)
        table.add_column("what")
        table.add_column("value")
        table.add_row("results", escape(printable(str(summary.out))))
        table.add_row("items", f"{summary.planned} planned, {summary.skipped} already done, "
                      + ("would scan " + str(summary.planned - summary.skipped) if dry_run else f"{summary.scanned} scanned"))
        if not dry_run:
            table.add_row("speed", f"{summary.items_per_s:.2f} items/s over {summary.seconds:.1f} s ({engine})")
            table.add_row("verdicts", ", ".join(f"{k} {v}" for k, v in sorted(summary.verdicts.items())) or "-")
            table.add_row("errors", ", ".join(f"{escape(k)} {v}" for k, v in sorted(summary.errors.items())) or "none")
        _out.print(table)
    if dry_run:
        raise typer.Exit(0)
    code = (EXIT_SYNTHETIC if summary.any_synthetic else 0) | (EXIT_ITEM_ERRORS if summary.any_error else 0)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``synthwatch batch`` to the CLI."""
    app.command("batch")(batch)
