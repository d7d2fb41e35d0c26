"""The CLI's human tables. Every value that came from a user's file goes in through
:func:`~synthwatch.render.text.cell`, so nothing in it is read as markup or acted on by a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from rich.table import Table
from rich.text import Text

from ..types import Report
from .text import cell, printable

__all__ = ["VERDICT_STYLES", "scan_table", "error_line"]

VERDICT_STYLES = {"likely_synthetic": "red", "inconclusive": "yellow", "likely_authentic": "green",
                  "not_applicable": "dim"}

#: which detector modalities can apply to each media kind (a note is shown only for those)
_APPLIES = {"image": {"image", "face"}, "audio": {"audio"}, "video": {"image", "face", "audio"}}
_MAX_NOTES = 4


def _name(source: str) -> str:
    return PurePath(source).name or source


def scan_table(reports: Sequence[Report], title: str = "synthwatch scan") -> Table:
    """One row per report: file, kind, verdict, fused score, per-detector evidence and notes."""
    table = Table(title=title, show_lines=False)
    for col in ("file", "kind", "verdict", "score", "evidence", "notes"):
        table.add_column(col, overflow="fold")
    for r in reports:
        kind = str(r.media.kind) if r.media else "?"
        if r.error:
            table.add_row(cell(_name(r.source)), kind, Text("error", style="red"), "", cell(r.error.code),
                          cell(r.error.message[:120]))
            continue
        label = str(r.verdict.label)
        score = "" if r.verdict.score is None else f"{r.verdict.score:.2f}"
        ev = [f"{d.name} {d.score:.2f} (thr {d.threshold:.2f}" + ("" if d.decides_verdict else ", signal only") + ")"
              for d in r.detectors if d.score is not None and d.threshold is not None]
        if r.faces:
            ev.append(f"{len(r.faces)} face track(s)")
        applies = _APPLIES.get(kind, set())
        na = sorted({f"{d.name}: {d.reason}" + (f" ({d.install_hint})" if d.install_hint else "")
                     for d in r.detectors if d.score is None and d.reason and d.modality in applies})
        notes = list(r.warnings) + na[:_MAX_NOTES] + ([f"+{len(na) - _MAX_NOTES} more"] if len(na) > _MAX_NOTES
                                                      else [])
        table.add_row(cell(_name(r.source)), kind, Text(label, style=VERDICT_STYLES.get(label, "white")), score,
                      Text("\n".join(printable(e) for e in ev) or "-"),
                      cell("; ".join(printable(n) for n in notes)))
    return table


def error_line(source: str, code: str, message: str) -> Text:
    """``error <source>: <code>: <message>``, every part shown literally."""
    return Text.assemble(("error", "red"), " ", printable(source), ": ", printable(code), ": ", printable(message))
