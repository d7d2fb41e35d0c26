"""One context per scan (issue 12, item 4): the caller's time limit bounds the whole scan of a file
(decoders, analysis, provenance), and the next file is scanned as usual."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from synthwatch import Scanner
from synthwatch.config import Limits, Settings
from synthwatch.context import ScanContext
from synthwatch.errors import ScanTimeout
from synthwatch.testing import samples


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
    r = scanner.scan(long_video, limits=Limits(scan_timeout_s=0.05))
    took = time.monotonic() - t0
    assert r.error is not None and r.error.code == "scan_timeout", r.error
    assert "0.05 s" in r.error.message
    assert took < 10, took  # stopped near the limit, not after the 40 s video was analysed
    ok = scanner.scan(long_video)  # no limit: the same scanner scans the file completely
    assert ok.error is None and ok.detector("debug-image") is not None


def test_the_cli_timeout_is_the_whole_scan_limit(long_video: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from synthwatch.cli import app

    res = CliRunner().invoke(app, ["scan", str(long_video), "--jsonl", "--detectors", "debug-image,debug-voice",
                                   "--timeout", "0.05", "--home", str(tmp_path)])
    assert res.exit_code == 4, res.output
    assert '"code": "scan_timeout"' in res.stdout


def test_a_file_is_sniffed_once_per_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The type is read from the file's bytes once; probing, decoding and provenance reuse it."""
    import sys

    import synthwatch.media as media_pkg
    import synthwatch.media.decode as decode_mod
    import synthwatch.media.probe as probe_mod
    import synthwatch.provenance.aigc_label as aigc_mod
    import synthwatch.provenance.c2pa_manifest as c2pa_mod
    import synthwatch.provenance.signals as signals_mod

    sniff_mod = sys.modules["synthwatch.media.sniff"]  # the package re-exports a function of that name
    calls: list[str] = []
    real = sniff_mod.sniff

    def counting(path, *a, **k):  # type: ignore[no-untyped-def]
        calls.append(str(path))
        return real(path, *a, **k)

    for mod in (media_pkg, decode_mod, probe_mod, sniff_mod, signals_mod, aigc_mod, c2pa_mod):
        if hasattr(mod, "sniff"):
            monkeypatch.setattr(mod, "sniff", counting)
    scanner = Scanner(Settings(home=tmp_path), detectors=["debug-image", "debug-face", "debug-voice"])
    files = [samples.make_image(tmp_path / "a.jpg", size=(160, 120), seed=1),
             samples.make_speech(tmp_path / "b.wav", seconds=3.0, seed=2),
             samples.make_video(tmp_path / "c.mp4", seconds=2.0, size=(160, 120), fps=10, seed=3)]
    for f in files:
        calls.clear()
        r = scanner.scan(f)
        assert r.error is None and r.provenance is not None and r.provenance.get("format")
        assert len(calls) == 1, (f.name, calls)
