"""``synthwatch label``: check, apply and compare AI-content labels (GB 45438 implicit label and more).

Thin: parses, calls :mod:`synthwatch.provenance`, renders with Rich.

``apply`` writes the implicit label and, on request, the explicit one (``--visible``: burned into
images and the first seconds of video, the Morse "AI" cue on audio), a SecurityData block signed
with an SM2 key (``--sm2-key``) and a C2PA manifest (``--c2pa-cert`` / ``--c2pa-key``), in that
order: the manifest is signed last so that it covers the label.

Exit codes:
  0  success (check: every file read; diff: no label removed or altered)
  1  check --strict: a label deviates from Annex E, is duplicated or its SecurityData fails to
     verify; diff: a label was removed, altered or duplicated
  2  usage or configuration error
  3  a model the operation needs is missing or corrupt
  4  a file could not be read or written (its error is printed)
(the same codes as every command: :mod:`synthwatch.cli._exits`)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError, SynthwatchError
from ..media.source import display_name
from ..pipeline.inputs import open_error
from ..provenance import c2pa_graph, inspect, load_rules
from ..provenance.c2pa_manifest import C2paSigner
from ..provenance.diff import diff_labels
from ..provenance.scope import ProvenanceScope, use
from ..provenance.security_data import load_sm2_key
from ..provenance.visible_video import MIN_SECONDS
from ..provenance.workflow import describe_explicit, label_copy
from ..render.tables import error_line
from ..render.text import cell, printable, write_json
from ._exits import EXIT_CLEAN as EXIT_OK
from ._exits import EXIT_FINDING, EXIT_ITEM_ERRORS, EXIT_USAGE
from ._exits import fail as _fail

__all__ = ["app"]

app = typer.Typer(help="Check, apply and compare AI-content labels (GB 45438 implicit label, IPTC, traces).",
                  no_args_is_help=True, add_completion=False)
err = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _scope() -> ProvenanceScope:
    """What every label command runs under, read once from the settings (environment
    ``SYNTHWATCH_...``): the isolated workers' limits, the platform's C2PA trust list, whether the
    shipped trust lists count, and the Art. 6 rule table; options given on the command line win."""
    from ..config import get_settings

    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError
        raise ConfigError(f"invalid synthwatch settings: {exc}") from exc
    rules = load_rules(settings.provenance_rules) if settings.provenance_rules is not None else None
    return ProvenanceScope(limits=settings.limits, trust_anchors=settings.c2pa_trust_anchors_pem(),
                           shipped_trust=settings.c2pa_shipped_trust, rules=rules)


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
        sec_state = {True: "verifies", False: "FAILS",
                     None: "present, not verifiable" if sec["present"] else "absent"}
        rows.append(("security data", f"{sec_state[sec['verified']]}: {sec['reason']}"))
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
    rows += c2pa_graph.summary_rows(r["c2pa"])
    wm = r["watermarks"]
    for hit in wm.get("checked") or []:
        measure = (f"score {hit['score']}" if "score" in hit else f"bit accuracy {hit.get('bit_accuracy')}")
        state = ("not applicable: " + hit["not_applicable"]) if hit.get("not_applicable") else \
            ("FOUND" if hit["found"] else "not found")
        rows.append(("watermark", f"{hit['name']}: {state} ({measure}, threshold {hit['threshold']})"))
    if not wm.get("checked"):
        rows.append(("watermark", "found" if wm["found"] else wm.get("reason") or "none"))
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
    sm2_trust: Annotated[Path | None, typer.Option("--sm2-trust", help="file of trusted SM2 public keys "
                                                   "(128 hex) or key ids, one a line, for SecurityData")] = None,
) -> None:
    """Every provenance signal of each FILE and the Art. 6 decision."""
    try:
        scope = _scope()
        table = load_rules(rules) if rules is not None else None
        anchors = trust.read_text(encoding="ascii") if trust is not None else None
        sm2_keys = [ln.strip().lower() for ln in sm2_trust.read_text(encoding="ascii").splitlines()
                    if ln.strip() and not ln.lstrip().startswith("#")] if sm2_trust is not None else None
    except SynthwatchError as exc:
        _fail(exc)
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]error[/red]: cannot read trust anchors {escape(printable(trust or sm2_trust))}: "
                  f"{escape(printable(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    for f in files:
        failed = open_error(f)  # the media layer's one classification of input faults, as scan reports them
        if failed is not None:
            err.print(error_line(str(f), failed.code, str(failed)), soft_wrap=True)
            results.append({"path": display_name(f), "error": {"code": failed.code, "message": str(failed)}})
            code = EXIT_ITEM_ERRORS
            continue
        with use(scope):
            r = inspect(f, declared_ai=declared, rules=table, trust_anchors=anchors, sm2_trusted=sm2_keys)
        results.append({"path": display_name(f), **r})
        if r["errors"] or r["aigc"].get("error") or r["format"] is None:
            code = max(code, EXIT_ITEM_ERRORS)
        elif strict and r["aigc"]["present"] and (
                not r["aigc"]["valid"] or (r["aigc"]["label"] or {}).get("security", {}).get("verified") is False):
            code = max(code, EXIT_FINDING)
    if as_json:
        write_json(results)
    else:
        for r in results:
            t = Table(title=cell(r["path"]), show_header=False, title_justify="left")
            t.add_column("signal", style="bold", no_wrap=True)
            t.add_column("value", overflow="fold")
            if "aigc" in r:
                for k, v in _signal_rows(r):
                    t.add_row(k, cell(v))
            else:
                t.add_row("error", cell(f"{r['error']['code']}: {r['error']['message']}"))
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
    visible: Annotated[bool, typer.Option("--visible", help="also add the explicit label: 'AI生成 / AI-generated' "
                                          "burned into an image or the first seconds of a video (text height "
                                          ">= 5% of the shorter side), the Morse 'AI' cue on audio")] = False,
    visible_seconds: Annotated[float, typer.Option("--visible-seconds", help="video: show the notice for the "
                                                   "first SECONDS (at least 2)")] = MIN_SECONDS,
    throughout: Annotated[bool, typer.Option("--throughout", help="video: show the notice on every frame")] = False,
    cue_placement: Annotated[str, typer.Option("--cue-placement", help="audio: 'prepend' the cue (default) or "
                                               "'mix' it over the start")] = "prepend",
    cue_at_end: Annotated[bool, typer.Option("--cue-at-end", help="audio: also add the cue at the end")] = False,
    sm2_key: Annotated[Path | None, typer.Option("--sm2-key", help="SM2 private key (64 hex digits, or JSON "
                                                 "{'private_key': ...}): sign this platform's ReservedCode field "
                                                 "with a SecurityData block")] = None,
    c2pa_cert: Annotated[Path | None, typer.Option("--c2pa-cert", help="PEM certificate chain (leaf first) to "
                                                   "sign a C2PA manifest with")] = None,
    c2pa_key: Annotated[Path | None, typer.Option("--c2pa-key", help="PEM private key of the C2PA leaf "
                                                  "certificate")] = None,
    c2pa_tsa: Annotated[str | None, typer.Option("--c2pa-tsa", help="RFC 3161 timestamp authority URL")] = None,
    c2pa_alg: Annotated[str, typer.Option("--c2pa-alg", help="signing algorithm of the key (es256, es384, "
                                          "ps256, ed25519...)")] = "es256",
    c2pa_source_type: Annotated[str | None, typer.Option("--c2pa-source-type", help="IPTC digital source type "
                                                         "for the manifest (default: from the label, "
                                                         "1 = trainedAlgorithmicMedia)")] = None,
    trust: Annotated[Path | None, typer.Option("--trust-anchors", help="PEM file of C2PA trust roots used to "
                                               "validate the signed copy")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write this platform's implicit label into a copy of FILE (one label, read back to confirm)."""
    if (c2pa_cert is None) != (c2pa_key is None):
        err.print("[red]error[/red]: give both --c2pa-cert and --c2pa-key (or neither)")
        raise typer.Exit(EXIT_USAGE)
    try:
        key = load_sm2_key(sm2_key) if sm2_key is not None else None
        signer = C2paSigner.from_files(c2pa_cert, c2pa_key, c2pa_alg, c2pa_tsa) \
            if c2pa_cert is not None and c2pa_key is not None else None
        anchors = trust.read_text(encoding="ascii") if trust is not None else None
    except SynthwatchError as exc:
        err.print(f"[red]error:[/red] {escape(printable(exc))} ({exc.code})")
        raise typer.Exit(EXIT_USAGE) from exc
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]error[/red]: cannot read a key, certificate or trust file: {escape(printable(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    try:
        with use(_scope()):
            done = label_copy(file, out_path, producer=producer, propagator=propagator, label=label, visible=visible,
                              visible_seconds=visible_seconds, throughout=throughout,
                              cue_placement=cue_placement, cue_at_end=cue_at_end, security_key=key,
                              c2pa_signer=signer, c2pa_source_type=c2pa_source_type, trust_anchors=anchors)
    except ConfigError as exc:  # usage: option values the workflow refuses
        err.print(f"[red]error[/red]: {escape(printable(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    except SynthwatchError as exc:
        _fail(exc)
    reading, drawn, c2pa_result = done.reading, done.visible, done.c2pa
    if as_json:
        write_json(done.to_dict())
    else:
        out.print(cell(f"wrote {out_path}: Label {reading.label.label} via {reading.carrier}"))
        out.print(cell(reading.label.to_json()))
        if drawn is not None:
            out.print(cell(describe_explicit(drawn)))
        if reading.security.present:
            out.print(cell(f"security data: {reading.security.reason}"))
        if c2pa_result is not None:
            types = ", ".join(c2pa_result["digital_source_types"]) or "none"
            out.print(cell(f"C2PA manifest signed by {c2pa_result['signer']['common_name']}: "
                           f"{c2pa_result['state']}, digital source type {types}"))


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="earlier version", exists=True, dir_okay=False)],
    new: Annotated[Path, typer.Argument(help="later version", exists=True, dir_okay=False)],
    as_json: JsonOpt = False,
) -> None:
    """Was a label removed, altered or duplicated between two versions of a file? (exit 1 if so)"""
    try:
        with use(_scope()):
            result = diff_labels(old, new)
    except SynthwatchError as exc:
        _fail(exc)
    if as_json:
        write_json(result)
    else:
        colour = "red" if result["violation"] else "green"
        out.print(f"[{colour}]{result['status']}[/{colour}]: {result['meaning']}")
        if result["changed"]:
            t = Table()
            for col in ("field", "old", "new"):
                t.add_column(col, overflow="fold")
            for c in result["changed"]:
                t.add_row(cell(c["field"]), cell(c["old"]), cell(c["new"]))
            out.print(t)
    raise typer.Exit(EXIT_FINDING if result["violation"] else EXIT_OK)
