"""``synthwatch label``: check, apply and compare AI-content labels (GB 45438 implicit label and more).

Thin: parses, calls :mod:`synthwatch.provenance`, renders with Rich.

Exit codes:
  0  success (check: every file read; diff: no label removed or altered)
  1  check --strict: a label deviates from Annex E or is duplicated; diff: a label was removed,
     altered or duplicated
  2  usage or configuration error
  4  a file could not be read or written (its error is printed)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError, SynthwatchError
from ..provenance import apply_label, inspect, load_rules
from ..provenance.diff import diff_labels
from ..provenance.visible import burn_image_label

__all__ = ["app", "exit_code"]

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_USAGE = 2
EXIT_ITEM_ERRORS = 4

app = typer.Typer(help="Check, apply and compare AI-content labels (GB 45438 implicit label, IPTC, traces).",
                  no_args_is_help=True, add_completion=False)
err = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def exit_code(exc: SynthwatchError) -> int:
    return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_ITEM_ERRORS


def _fail(exc: SynthwatchError) -> typer.Exit:
    err.print(f"[red]error[/red] ({exc.code}): {exc}")
    return typer.Exit(exit_code(exc))


def _signal_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [("format", r["format"] or "unknown")]
    aigc = r["aigc"]
    lab = aigc.get("label")
    if lab:
        f = lab["fields"]
        rows.append(("AIGC label", f"{lab['label']} ({lab['meaning'] or 'unreadable'}), "
                                   f"{'valid' if aigc['valid'] else 'NOT valid'}, {aigc['count']} found"))
        rows.append(("producer", f"{f['ContentProducer'] or '-'} / {f['ProduceID'] or '-'}"))
        rows.append(("propagator", f"{f['ContentPropagator'] or '-'} / {f['PropagateID'] or '-'}"))
        rows.append(("carrier", lab["carrier"]))
        for d in lab["deviations"]:
            rows.append(("deviation", f"{d['code']}: {d['message']}"))
        sec = lab["security"]
        rows.append(("security data", sec["reason"]))
    else:
        rows.append(("AIGC label", "none" + (f" ({aigc['reason']})" if aigc.get("reason") else "")))
    if aigc.get("error"):
        rows.append(("label error", f"{aigc['error']['code']}: {aigc['error']['message']}"))
    if r["iptc"]["digital_source_types"]:
        rows.append(("IPTC source type", f"{', '.join(r['iptc']['digital_source_types'])} ({r['iptc']['class']})"))
    if r["exif"].get("Software"):
        rows.append(("EXIF Software", r["exif"]["Software"]))
    for tool in r["xmp"]["creator_tool"]:
        rows.append(("XMP CreatorTool", tool))
    for t in r["generator_traces"]:
        rows.append(("generator trace", f"{t['source']}: {t['value'][:120]}"))
    rows.append(("C2PA", "present" if r["c2pa"]["present"] else "none"))
    if r["c2pa"].get("state"):
        rows.append(("C2PA state", str(r["c2pa"]["state"])))
    rows.append(("watermark", "found" if r["watermarks"]["found"] else r["watermarks"].get("reason") or "none"))
    for e in r["errors"]:
        rows.append(("error", f"{e.get('where', '')} {e['code']}: {e['message']}"))
    d = r["decision"]
    rows.append(("decision", f"{d['label'] or 'none'} ({d['rule']})"))
    rows.append(("basis", d["basis"]))
    for rv in d["review"]:
        rows.append(("human review", f"{rv['rule']}: {rv['basis']}"))
    return rows


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="files to check", exists=False)],
    as_json: JsonOpt = False,
    declared: Annotated[bool, typer.Option("--declared", help="the uploader declared the content AI-generated")]
    = False,
    rules: Annotated[Path | None, typer.Option("--rules", help="YAML/JSON rule table to decide with")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="exit 1 when a label deviates from Annex E")] = False,
    trust: Annotated[Path | None, typer.Option("--trust-anchors", help="PEM file of C2PA trust roots "
                                               "(signers chaining to one are 'Trusted')")] = None,
) -> None:
    """Every provenance signal of each FILE and the Art. 6 decision."""
    try:
        table = load_rules(rules) if rules is not None else None
        anchors = trust.read_text(encoding="ascii") if trust is not None else None
    except SynthwatchError as exc:
        raise _fail(exc) from exc
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]error[/red]: cannot read trust anchors {trust}: {exc}")
        raise typer.Exit(EXIT_USAGE) from exc
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    for f in files:
        if not f.is_file():
            err.print(f"[red]error[/red]: no such file: {f}")
            results.append({"path": str(f), "error": {"code": "not_found", "message": "no such file"}})
            code = EXIT_ITEM_ERRORS
            continue
        r = inspect(f, declared_ai=declared, rules=table, trust_anchors=anchors)
        results.append({"path": str(f), **r})
        if r["errors"] or r["aigc"].get("error") or r["format"] is None:
            code = max(code, EXIT_ITEM_ERRORS)
        elif strict and r["aigc"]["present"] and not r["aigc"]["valid"]:
            code = max(code, EXIT_FINDING)
    if as_json:
        out.print_json(json.dumps(results, ensure_ascii=False))
    else:
        for r in results:
            t = Table(title=r["path"], show_header=False, title_justify="left")
            t.add_column("signal", style="bold", no_wrap=True)
            t.add_column("value", overflow="fold")
            if "aigc" in r:
                for k, v in _signal_rows(r):
                    t.add_row(k, v)
            else:
                t.add_row("error", f"{r['error']['code']}: {r['error']['message']}")
            out.print(t)
    raise typer.Exit(code)


@app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="input file", exists=True, dir_okay=False)],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="where to write the labelled copy")],
    producer: Annotated[str | None, typer.Option("--producer", help="this platform generated the content: "
                                                 "its provider code")] = None,
    propagator: Annotated[str | None, typer.Option("--propagator", help="this platform distributes the "
                                                   "content: its provider code")] = None,
    label: Annotated[str | None, typer.Option("--label", help="1 AI-generated, 2 possibly, 3 suspected")] = None,
    visible: Annotated[bool, typer.Option("--visible", help="also burn 'AI生成 / AI-generated' into the image "
                                          "(text height >= 5% of the shorter side)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write this platform's implicit label into a copy of FILE (one label, read back to confirm)."""
    if (producer is None) == (propagator is None):
        err.print("[red]error[/red]: give exactly one of --producer or --propagator")
        raise typer.Exit(EXIT_USAGE)
    if label is not None and label not in ("1", "2", "3"):
        err.print("[red]error[/red]: --label must be 1, 2 or 3")
        raise typer.Exit(EXIT_USAGE)
    drawn = None
    tmp = out_path.with_name(f".{out_path.name}.visible{out_path.suffix}")
    try:
        source = file
        if visible:
            drawn = burn_image_label(file, tmp)
            source = tmp
        reading = apply_label(source, out_path, producer=producer, propagator=propagator, label=label)
    except SynthwatchError as exc:
        raise _fail(exc) from exc
    finally:
        tmp.unlink(missing_ok=True)
    if as_json:
        payload = {"path": str(out_path), **reading.to_dict(), "visible": drawn.to_dict() if drawn else None}
        out.print_json(json.dumps(payload, ensure_ascii=False))
    else:
        out.print(f"wrote {out_path}: Label {reading.label.label} via {reading.carrier}")
        out.print(reading.label.to_json())
        if drawn is not None:
            out.print(f"visible notice {' / '.join(drawn.text)!r}: {drawn.text_height_px}px high "
                      f"({drawn.ratio:.1%} of the shorter side), font {drawn.font} ({drawn.font_licence})")


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="earlier version", exists=True, dir_okay=False)],
    new: Annotated[Path, typer.Argument(help="later version", exists=True, dir_okay=False)],
    as_json: JsonOpt = False,
) -> None:
    """Was a label removed, altered or duplicated between two versions of a file? (exit 1 if so)"""
    try:
        result = diff_labels(old, new)
    except SynthwatchError as exc:
        raise _fail(exc) from exc
    if as_json:
        out.print_json(json.dumps(result, ensure_ascii=False))
    else:
        colour = "red" if result["violation"] else "green"
        out.print(f"[{colour}]{result['status']}[/{colour}]: {result['meaning']}")
        if result["changed"]:
            t = Table()
            for col in ("field", "old", "new"):
                t.add_column(col, overflow="fold")
            for c in result["changed"]:
                t.add_row(c["field"], c["old"], c["new"])
            out.print(t)
    raise typer.Exit(EXIT_FINDING if result["violation"] else EXIT_OK)
