"""One context per scan (issue 12, item 4): the caller's time limit bounds the whole scan of a file
(decoders, analysis, provenance), and the next file is scanned as usual."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from synthwatch import Scanner, samples
from synthwatch.config import Limits, Settings
from synthwatch.context import ScanContext
from synthwatch.errors import ScanTimeout


def test_the_context_takes_its_deadline_from_the_limits() -> None:
    s = Settings(home=Path("/nonexistent"))
    assert ScanContext.start(s).deadline is None and ScanContext.start(s).remaining_s() is None
    ctx = ScanContext.start(s, limits=Limits(scan_timeout_s=30))
    assert ctx.deadline is not None and 29 < (ctx.remaining_s() or 0) <= 30
    ctx.check("probing")  # not expired: no error
    spent = ScanContext.start(s, limits=Limits(scan_timeout_s=1e-6))
    time.sleep(0.01)
    assert spent.expired() and spent.remaining_s() == 0
    with pytest.raises(ScanTimeout, match="while decoding"):
        spent.check("decoding")


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return samples.make_video(tmp_path_factory.mktemp("ctx") / "long.mp4", seconds=40.0, size=(160, 120), fps=10,
                              seed=2)


def test_a_per_call_limit_bounds_the_whole_scan(long_video: Path, tmp_path: Path) -> None:
    scanner = Scanner(Settings(home=tmp_path), detectors=["debug-image", "debug-face", "debug-voice"])
    scanner.load()
    t0 = time.monotonic()
    r = scanner.scan(long_video, limits=Limits(scan_timeout_s=0.5))
    took = time.monotonic() - t0
    assert r.error is not None and r.error.code == "scan_timeout", r.error
    assert "0.5 s" in r.error.message
    assert took < 10, took  # stopped near the limit, not after the 40 s video was analysed
    ok = scanner.scan(long_video)  # no limit: the same scanner scans the file completely
    assert ok.error is None and ok.detector("debug-image") is not None


def test_the_cli_timeout_is_the_whole_scan_limit(long_video: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from synthwatch.cli import app

    res = CliRunner().invoke(app, ["scan", str(long_video), "--jsonl", "--detectors", "debug-image,debug-voice",
                                   "--timeout", "0.5", "--home", str(tmp_path)])
    assert res.exit_code == 4, res.output
    assert '"code": "scan_timeout"' in res.stdout
