"""One classification of each input fault, the same in every command (issue 19, item 6): a named
path that cannot be opened is an item error (exit 4) in ``scan`` and ``label check`` alike, with the
media layer's code and message, and the other items are still processed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthwatch.cli import app
from synthwatch.pipeline.inputs import expand_inputs, open_error
from synthwatch.testing import samples


def _faults(tmp_path: Path) -> dict[str, Path]:
    loop = tmp_path / "loop.jpg"
    os.symlink(loop, loop)
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    return {"missing": tmp_path / "missing.jpg", "loop": loop, "fifo": fifo}


@pytest.mark.parametrize("fault", ["missing", "loop", "fifo"])
def test_scan_and_label_check_classify_a_bad_path_alike(tmp_path: Path, fault: str) -> None:
    good = samples.make_image(tmp_path / "ok.png", size=(64, 64), seed=1)
    bad = _faults(tmp_path)[fault]
    expected = open_error(bad)
    assert expected is not None
    scan = CliRunner().invoke(app, ["scan", str(good), str(bad), "--jsonl", "--detectors", "debug-image",
                                    "--home", str(tmp_path / "home")])
    check = CliRunner().invoke(app, ["label", "check", str(good), str(bad), "--json"])
    assert scan.exit_code in (4, 5) and check.exit_code == 4, (scan.output, check.output)  # 5: 4 + a finding
    scanned = [json.loads(line) for line in scan.stdout.splitlines()]
    checked = json.loads(check.stdout)
    assert scanned[0]["error"] is None and "aigc" in checked[0]  # the good file was processed
    assert scanned[1]["error"] == {"code": expected.code, "message": str(expected)}
    assert checked[1]["error"] == {"code": expected.code, "message": str(expected)}


def test_inputs_expand_like_the_cli(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    a = samples.make_image(tmp_path / "d" / "a.png", size=(32, 32))
    b = samples.make_image(tmp_path / "d" / "sub" / "b.jpg", size=(32, 32))
    (tmp_path / "d" / "notes.txt").write_text("x")
    odd = samples.make_image(tmp_path / "clip[1].png", size=(32, 32))
    assert expand_inputs([tmp_path / "d"]) == [a, b]
    assert expand_inputs([str(odd)]) == [odd]  # an existing name with glob characters is taken as named
    assert expand_inputs([str(tmp_path / "d" / "*.png")]) == [a]
    from synthwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="no files match"):
        expand_inputs([str(tmp_path / "nothing-*.png")])
    assert expand_inputs([tmp_path / "missing.png"]) == [tmp_path / "missing.png"]  # kept: reported per item
