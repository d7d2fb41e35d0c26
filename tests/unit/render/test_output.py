"""Untrusted text never steers the output: machine output is byte-exact JSON, human tables show it
literally (issue 19, items 1 and 3). The CLI runs in a subprocess so the real stdout bytes are read."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from synthwatch.media.source import display_name, name_from_display
from synthwatch.render.tables import error_line
from synthwatch.render.text import cell, json_bytes, printable, write_json, write_jsonl

HOSTILE_NAMES = [
    "[link=file:etc-passwd]x[_link].png",  # balanced markup ('/' cannot be in a file name)
    "unbalanced [_] tag.png",
    "x[/]y.png",  # the path holds "[/]": a folder "x[" and a file "]y.png"
    "glob*?[x].png",
    ":smile: emoji.png",
    "esc \x1b[31mred\x1b]8;;http:x\x07.png",
    "bidi \u202egnp.exe.png",
    "new\nline.png",
]


def test_printable_makes_terminal_controls_visible() -> None:
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("x\u202ey") == "x\\u202ey"
    assert printable("a\nb") == "a\\nb"
    assert printable("a\nb", multiline=True) == "a\nb"
    assert printable("\udcff") == "\\udcff"
    assert printable("[bold]中文[/]") == "[bold]中文[/]"  # markup is left as text: cell() keeps it inert


def test_cells_are_never_parsed_as_markup() -> None:
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, color_system="truecolor", width=200).print(
        cell("[link=file:/etc/passwd]x[/link] [/] :smile:"))
    text = buf.getvalue()
    assert "[link=file:/etc/passwd]x[/link] [/] :smile:" in text
    assert "\x1b]8;" not in text  # no hyperlink escape was produced


def test_json_bytes_are_valid_utf8_even_for_lone_surrogates() -> None:
    raw = json_bytes({"source": "/tmp/\udcff\udcfe.jpg", "t": "中文"})
    raw.decode("utf-8")  # valid UTF-8
    assert json.loads(raw)["source"] == "/tmp/\udcff\udcfe.jpg"  # lossless
    assert json.loads(json_bytes({"t": "中文"})) == {"t": "中文"}
    assert "中文".encode() in json_bytes({"t": "中文"})  # readable when it can be


def test_write_json_and_jsonl_write_exact_bytes() -> None:
    buf = io.BytesIO()
    write_jsonl({"a": "[/]"}, stream=buf)
    write_json([1], indent=None, stream=buf)
    assert buf.getvalue() == b'{"a": "[/]"}\n[1]\n'


def test_error_line_shows_markup_and_escapes_literally() -> None:
    buf = io.StringIO()
    Console(file=buf, force_terminal=False, width=300).print(error_line("[/]x\x1b.jpg", "corrupt_media", "bad [b]"))
    assert buf.getvalue().strip() == "error [/]x\\x1b.jpg: corrupt_media: bad [b]"


def _write_hostile_folder(folder: Path) -> list[Path]:
    folder.mkdir()
    made = []
    for i, name in enumerate(HOSTILE_NAMES):
        img = Image.new("RGB", (48, 48), (i * 20, 90, 160))
        p = folder / name
        p.parent.mkdir(exist_ok=True)
        img.save(p, format="PNG")
        made.append(p)
    # metadata text with markup: PNG tEXt and EXIF Software
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "[/] [link=file:/etc/passwd]x[/link] :smile:")
    p = folder / "meta.png"
    Image.new("RGB", (48, 48), (1, 2, 3)).save(p, format="PNG", pnginfo=info)
    made.append(p)
    exif = Image.Exif()
    exif[0x0131] = "[/]evil[bold] \x1b[2J"
    p = folder / "exif.jpg"
    Image.new("RGB", (48, 48), (9, 9, 9)).save(p, format="JPEG", exif=exif)
    made.append(p)
    # a file name that is not valid UTF-8
    raw = os.fsencode(folder) + b"/bad-\xff\xfe.png"
    with open(raw, "wb") as fh:
        Image.new("RGB", (48, 48), (5, 5, 5)).save(fh, format="PNG")
    made.append(Path(os.fsdecode(raw)))
    return made


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "SYNTHWATCH_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "synthwatch.cli", *args], capture_output=True, env=env,
                          timeout=600, check=False)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _write_hostile_folder(tmp_path_factory.mktemp("out") / "in")


def test_scan_json_reports_every_hostile_file_verbatim(hostile: list[Path], tmp_path: Path) -> None:
    folder = hostile[0].parent
    res = _cli("scan", str(folder), "--json", "--detectors", "sw-voice", home=tmp_path)
    assert res.returncode == 0, res.stderr.decode("utf-8", "replace")
    docs = json.loads(res.stdout.decode("utf-8"))  # valid UTF-8 and valid JSON
    # names that are not valid UTF-8 are shown with the media layer's documented, lossless escape
    assert sorted(d["source"] for d in docs) == sorted(display_name(str(p)) for p in hostile)
    assert sorted(name_from_display(d["source"]) for d in docs) == sorted(str(p) for p in hostile)
    by_name = {Path(d["source"]).name: d for d in docs}
    assert by_name["meta.png"]["provenance"]["generator_traces"][0]["value"].startswith("[/] [link=")


def test_scan_jsonl_and_table_survive_hostile_names(hostile: list[Path], tmp_path: Path) -> None:
    folder = hostile[0].parent
    res = _cli("scan", str(folder), "--jsonl", "--detectors", "sw-voice", home=tmp_path)
    assert res.returncode == 0
    lines = res.stdout.decode("utf-8").splitlines()
    assert len(lines) == len(hostile)
    assert {json.loads(x)["source"] for x in lines} == {display_name(str(p)) for p in hostile}
    table = _cli("scan", str(folder), "--detectors", "sw-voice", home=tmp_path)
    assert table.returncode == 0
    shown = table.stdout.decode("utf-8")
    assert "\x1b" not in shown  # no terminal control reached the screen (stdout is not a terminal)
    assert "glob*?[x].png" in shown and ":smile: emoji.png" in shown  # not rewritten or turned into 😄


def test_label_check_json_is_byte_exact(hostile: list[Path], tmp_path: Path) -> None:
    meta = next(p for p in hostile if p.name == "exif.jpg")
    res = _cli("label", "check", str(meta), "--json", home=tmp_path)
    assert res.returncode == 0, res.stderr.decode("utf-8", "replace")
    doc = json.loads(res.stdout.decode("utf-8"))
    assert doc[0]["exif"]["Software"] == "[/]evil[bold] \x1b[2J"
    table = _cli("label", "check", str(meta), home=tmp_path)
    assert table.returncode == 0
    assert "[/]evil[bold] \\x1b[2J" in table.stdout.decode("utf-8")


def test_the_scan_table_marks_detectors_that_do_not_decide() -> None:
    from dataclasses import replace

    from rich.console import Console

    from synthwatch.pipeline import fusion
    from synthwatch.render.tables import scan_table
    from synthwatch.types import DetectorResult, DetectorStatus, Report

    coin = DetectorResult("coin", "1", "image", DetectorStatus.OK, score=0.9, threshold=0.8, decides_verdict=False)
    voice = DetectorResult("voice", "1", "audio", DetectorStatus.OK, score=0.1, threshold=0.5)
    reports = [Report(source="a.mp4", media=None, detectors=(coin, voice), verdict=fusion.fuse([coin, voice])),
               Report(source="b.jpg", media=None, detectors=(replace(coin, score=0.2),),
                      verdict=fusion.fuse([replace(coin, score=0.2)]))]
    con = Console(width=300, record=True)
    con.print(scan_table(reports))
    text = con.export_text()
    a = next(line for line in text.splitlines() if "a.mp4" in line)
    b = next(line for line in text.splitlines() if "b.jpg" in line)
    assert "coin 0.90 (thr 0.80, signal only)" in a and "likely_authentic" in a
    assert "voice 0.10 (thr 0.50)" in text and "voice 0.10 (thr 0.50, signal only)" not in text
    assert "coin 0.20 (thr 0.80, signal only)" in b and "inconclusive" in b
