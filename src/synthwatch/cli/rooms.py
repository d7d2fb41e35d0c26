"""``synthwatch rooms simulate``: stream audio files into a live room as speakers, at real-time pace,
and print what the server says. Thin: it parses, decodes the files and calls
:func:`synthwatch.stream.simulate.simulate`.

Exit codes: 0 every stream ended normally and no alert was raised; 1 an alert was raised (a
finding); 2 usage; 4 a stream failed (a file could not be decoded, the server refused the
connection, or closed it with an error code); 5 both 1 and 4.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError, SynthwatchError
from ..render.text import cell, printable, write_jsonl
from ._exits import EXIT_ITEM_ERRORS, EXIT_SYNTHETIC, fail

__all__ = ["app", "register", "simulate_command"]

app = typer.Typer(help="Live audio rooms: stream audio into a room as speakers.", no_args_is_help=True)
_err = Console(stderr=True)
_out = Console(highlight=False)


def _pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        name, sep, rest = v.partition("=")
        if not sep or not name or not rest:
            raise ConfigError(f"{what} {v!r}: give NAME=VALUE")
        out.append((name, rest))
    return out


@app.command("simulate")
def simulate_command(
    url: Annotated[str, typer.Option(help="The service's WebSocket base URL, e.g. ws://127.0.0.1:8080.")],
    room: Annotated[str, typer.Option(help="The room to speak in.")],
    speaker: Annotated[list[str], typer.Option("--speaker", help="NAME=FILE: a participant and the audio it speaks "
                                               "(repeat for several speakers, streamed at once).")],
    key: Annotated[str | None, typer.Option(help="API key (role uploader, ingest or admin); default: "
                                            "$SYNTHWATCH_API_KEY.")] = None,
    join_at: Annotated[list[str] | None, typer.Option("--join-at", help="NAME=SECONDS: that speaker joins this "
                                                      "long after the others start.")] = None,
    twilio: Annotated[bool, typer.Option("--twilio", help="Speak the Twilio Media Streams protocol (8 kHz mu-law) "
                                         "instead of binary PCM.")] = False,
    scores: Annotated[bool, typer.Option("--scores", help="Ask for per-window score events.")] = False,
    frame_ms: Annotated[int, typer.Option(min=10, max=200, help="Audio per message, milliseconds.")] = 20,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Print every server event as one JSON line, with "
                                        "received_at (seconds since that speaker's stream started).")] = False,
) -> None:
    """Stream audio files as live speakers (real-time pace) and print the server's events."""
    from ..stream.simulate import SimSpeaker, load_speaker_audio, simulate

    api_key = key or os.environ.get("SYNTHWATCH_API_KEY")
    try:
        if not api_key:
            raise ConfigError("give --key or set SYNTHWATCH_API_KEY")
        pairs = _pairs(speaker, "--speaker")
        joins = {n: v for n, v in _pairs(join_at or [], "--join-at")}
        names = [n for n, _ in pairs]
        if len(set(names)) != len(names):
            raise ConfigError("each --speaker needs its own NAME")
        unknown = set(joins) - set(names)
        if unknown:
            raise ConfigError(f"--join-at names no --speaker: {', '.join(sorted(map(printable, unknown)))}")
        offsets: dict[str, float] = {}
        for n, v in joins.items():
            try:
                offsets[n] = float(v)
            except ValueError:
                raise ConfigError(f"--join-at {printable(n)}={printable(v)}: SECONDS must be a number") from None
            if not 0 <= offsets[n] < 86400:
                raise ConfigError("--join-at SECONDS must be 0-86400")
    except ConfigError as exc:
        fail(exc)

    failed = 0
    speakers: list[SimSpeaker] = []
    for name, file in pairs:
        try:
            audio = load_speaker_audio(Path(file))
        except (SynthwatchError, OSError) as exc:
            failed += 1
            doc = {"event": "error", "speaker": name, "code": getattr(exc, "code", "os_error"),
                   "message": str(exc), "received_at": None}
            if jsonl:
                write_jsonl(doc)
            else:
                _err.print(f"[red]error:[/] {printable(name)}: {printable(exc)}", markup=True, highlight=False)
            continue
        speakers.append(SimSpeaker(name, Path(file), offsets.get(name, 0.0), audio))

    def on_event(doc: dict[str, Any]) -> None:
        if jsonl:
            write_jsonl(doc)
            return
        kind = doc.get("event")
        at = doc.get("received_at")
        when = f"{at:8.2f}s" if isinstance(at, int | float) else "        "
        who = printable(doc.get("speaker", ""))
        if kind == "alert":
            _out.print(f"{when}  [bold red]ALERT[/] {who}: {float(doc.get('t_start', 0)):.1f}-"
                       f"{float(doc.get('t_end', 0)):.1f} s, score {float(doc.get('score', 0)):.3f} "
                       f"(threshold {doc.get('threshold')}), case {printable(doc.get('case_id'))}", markup=True)
        elif kind in ("lagging", "error", "no_speech", "refused", "alert_cleared"):
            shown = {k: v for k, v in doc.items() if k not in ("speaker", "received_at", "event")}
            _out.print(f"{when}  {printable(kind)} {who}: {printable(shown)}", markup=False)
        elif kind == "started":
            _out.print(f"{when}  started {who} (detector {printable(doc.get('detector'))}, threshold "
                       f"{doc.get('threshold')})", markup=False)

    if not speakers:
        raise typer.Exit(EXIT_ITEM_ERRORS)
    if not jsonl:
        total = max((sp.join_at_s + (sp.audio.size if sp.audio is not None else 0) / 16_000.0 for sp in speakers),
                    default=0.0)
        _err.print(f"streaming {len(speakers)} speaker(s) into room {printable(room)} for about {total:.0f} s",
                   highlight=False)
    try:
        results = asyncio.run(simulate(url, api_key or "", room, speakers, twilio=twilio, scores=scores,
                                       frame_ms=frame_ms, on_event=on_event))
    except ConfigError as exc:
        fail(exc)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    alerts = sum(len(r.alerts) for r in results)
    failed += sum(1 for r in results if not r.ok)
    if not jsonl:
        table = Table(title=f"room {printable(room)}")
        for col in ("speaker", "sent (s)", "alerts", "close", "error"):
            table.add_column(col)
        for r in results:
            table.add_row(cell(r.name), f"{r.sent_s:.1f}", str(len(r.alerts)),
                          cell(f"{r.close_code} {r.close_reason}".strip()), cell(r.error or ""))
        _out.print(table)
    code = (EXIT_SYNTHETIC if alerts else 0) + (EXIT_ITEM_ERRORS if failed else 0)
    sys.stdout.flush()
    raise typer.Exit(code)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="rooms", help="Live audio rooms: stream audio into a room as speakers (simulate).")
