"""One exit-code scheme for every command (synthwatch.cli._exits), and error text printed verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from synthwatch import errors as E
from synthwatch.cli import app as main_app
from synthwatch.cli._exits import (
    EXIT_ITEM_ERRORS,
    EXIT_MODEL,
    EXIT_USAGE,
    errors,
    exit_code_for,
    fail,
)


@pytest.mark.parametrize(("exc", "code"), [
    (E.ConfigError("x"), EXIT_USAGE),
    (E.UnknownDetector("x"), EXIT_USAGE),
    (E.ModelNotInstalled("x"), EXIT_MODEL),
    (E.ModelIntegrityError("x"), EXIT_MODEL),
    (E.ModelDownloadError("x"), EXIT_MODEL),
    (E.ModelLoadError("x"), EXIT_MODEL),
    (E.CorruptMedia("x"), EXIT_ITEM_ERRORS),
    (E.DecodeTimeout("x"), EXIT_ITEM_ERRORS),
    (E.DetectorError("x"), EXIT_ITEM_ERRORS),
    (E.SynthwatchError("x"), EXIT_ITEM_ERRORS),
])
def test_one_mapping_from_error_tree_to_exit_code(exc: E.SynthwatchError, code: int) -> None:
    assert exit_code_for(exc) == code


def _tiny_app(exc: BaseException) -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.command()
    def run() -> None:
        with errors():
            raise exc

    @app.command()
    def other() -> None:
        fail(exc)

    return app


@pytest.mark.parametrize(("exc", "code"), [
    (E.ModelIntegrityError("sha256 mismatch"), EXIT_MODEL),
    (E.ConfigError("bad option"), EXIT_USAGE),
    (E.CorruptMedia("broken [/red] file [bold]"), EXIT_ITEM_ERRORS),
])
def test_errors_and_fail_print_the_message_verbatim_and_exit_with_its_code(exc: E.SynthwatchError,
                                                                           code: int) -> None:
    for cmd in ("run", "other"):
        res = CliRunner().invoke(_tiny_app(exc), [cmd])
        assert res.exit_code == code, res.output
        assert "error:" in res.output and str(exc) in res.output  # Rich markup in the text is not parsed
        assert exc.code in res.output


def test_label_check_reports_a_missing_file_with_brackets_in_its_name(tmp_path: Path) -> None:
    name = tmp_path / "clip[red][bold].jpg"
    res = CliRunner().invoke(main_app, ["label", "check", str(name)])
    assert res.exit_code == EXIT_ITEM_ERRORS, res.output
    assert "clip[red][bold].jpg" in res.output.replace("\n", "")  # (the console wraps long lines)


def test_scan_reports_a_bad_file_with_brackets_in_its_name_and_goes_on(tmp_path: Path) -> None:
    bad = tmp_path / "x[bold]y[red].png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)  # a truncated PNG
    res = CliRunner().invoke(main_app, ["scan", str(bad), "--detectors", "sw-voice"])
    assert res.exit_code == EXIT_ITEM_ERRORS, res.output
    assert "x[bold]y[red].png" in res.output.replace("\n", "")
