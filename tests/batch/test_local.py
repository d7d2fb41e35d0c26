"""``synthwatch batch --engine local``: the library's Scanner per item, one Parquet row per item,
the same answers as ``scan --jsonl``, resuming, bad items as rows, the CLI's exits."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from synthwatch import get_settings
from synthwatch.batch import BatchOptions, iter_rows, read_results, run_batch
from synthwatch.batch.results import RESULT_SCHEMA, OutLock, part_files
from synthwatch.errors import ConfigError
from synthwatch.types import Report

from .conftest import DEBUG, DEBUG_ARG, MediaSet, batch_scores, cli


def _rows(out: Path) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in iter_rows(read_results(out))}


def _settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return get_settings(home=tmp_path / "home")


# ------------------------------------------------------------------------------------------ answers
def test_batch_local_rows_equal_scan_jsonl(batch_media: MediaSet, batch_media_scan: dict[str, dict[str, float | None]],
                                           tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = tmp_path / "out"
    res = cli("batch", str(batch_media.folder), "--out", str(out), "--detectors", DEBUG_ARG, "--json", home=home)
    # something likely synthetic (the bright picture under debug-image) and items that failed: 1 | 4
    assert res.returncode == 5, res.stderr.decode("utf-8", "replace")
    summary = json.loads(res.stdout)
    n = len(batch_media.all)
    assert summary["planned"] == n and summary["scanned"] == n and summary["skipped"] == 0
    assert sum(summary["errors"].values()) == len(batch_media.bad)

    scan = batch_media_scan
    got = batch_scores(out)
    assert set(got) == {str(p) for p in batch_media.good}
    for path, scores in got.items():
        assert scores == scan[path], path  # identical, not close

    rows = _rows(out)
    assert len(rows) == n and len(read_results(out, latest=False)) == n
    for path in batch_media.good:
        r = rows[str(path)]
        assert r["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert r["kind"] in ("image", "audio", "video") and r["error_code"] is None
        assert r["detector_versions"] == {d: "1" for d in DEBUG}
        assert r["engine"] == "local" and r["worker"] and r["worker_peak_rss_mb"] > 0 and r["node"] is None
        assert r["cpu_s"] is not None and r["cpu_s"] >= 0 and r["elapsed_s"] > 0
        doc = json.loads(r["report"])
        assert Report.from_dict(doc).to_dict() == doc  # the full report, as scan --json writes it
        assert doc["verdict"]["label"] == r["verdict"] and doc["media"]["sha256"] == r["sha256"]
    for path in batch_media.bad.values():
        r = rows[str(path)]
        assert r["error_code"] in ("corrupt_media", "unsupported_media", "media_error"), r
        assert r["verdict"] == "not_applicable" and r["score"] is None and r["error_message"]
        # a file the scan cannot read is still identified by its bytes
        assert r["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sum(rows[str(p)]["cpu_s"] for p in batch_media.good) > 0
    # the dataset is plain Parquet with the published schema
    table = pq.read_table(out)
    assert table.schema.remove_metadata().equals(RESULT_SCHEMA.remove_metadata())


# ------------------------------------------------------------------------------------------ resume
def test_resume_skips_what_is_done_and_rescans_what_changed(batch_media: MediaSet, tmp_path: Path) -> None:
    import shutil

    src = tmp_path / "in"
    shutil.copytree(batch_media.folder, src)
    out = tmp_path / "out"
    settings = _settings(tmp_path)
    n = len(batch_media.all)
    first = run_batch([str(src)], out, settings=settings, detectors=DEBUG)
    assert (first.scanned, first.skipped) == (n, 0)

    again = run_batch([str(src)], out, settings=settings, detectors=DEBUG)
    assert (again.scanned, again.skipped) == (0, n) and again.verdicts == first.verdicts

    # a changed file is scanned again, and its old row is dropped
    before = _rows(out)[str(src / "face.jpg")]
    from synthwatch.testing import samples

    samples.make_image(src / "face.jpg", size=(160, 120), seed=99)
    changed = run_batch([str(src)], out, settings=settings, detectors=DEBUG)
    assert (changed.scanned, changed.skipped, changed.superseded) == (1, n - 1, 1)
    after = _rows(out)[str(src / "face.jpg")]
    assert after["sha256"] != before["sha256"] and after["run_id"] == changed.run_id
    assert len(read_results(out, latest=False)) == n

    # errors that are not transient are kept unless asked
    retried = run_batch([str(src)], out, settings=settings, detectors=DEBUG, retry_errors=True)
    assert retried.scanned == len(batch_media.bad)

    # other detector versions: everything again, one row per item at the end
    other = run_batch([str(src)], out, settings=settings, detectors=["debug-image"])
    assert other.scanned == n and other.superseded == n
    rows = read_results(out, latest=False)
    assert len(rows) == n and set(rows["config_fp"].to_pylist()) == {_rows(out)[str(src / "face.jpg")]["config_fp"]}

    # other sampling is another scan too
    fps = settings.model_copy(update={"sampling": settings.sampling.model_copy(update={"fps": 2.0})})
    assert run_batch([str(src)], out, settings=fps, detectors=["debug-image"], dry_run=True).skipped == 0


def test_interrupted_run_keeps_what_it_wrote(batch_media: MediaSet, tmp_path: Path) -> None:
    out = tmp_path / "out"
    settings = _settings(tmp_path)
    seen: list[str] = []

    def stop_after_two(event: str, info: dict[str, Any]) -> None:
        if event == "result":
            seen.append(info["key"])
            if len(seen) == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch([str(batch_media.folder)], out, settings=settings, detectors=DEBUG, progress=stop_after_two,
                  options=BatchOptions(flush_rows=1000, flush_s=3600))
    assert sorted(read_results(out)["key"].to_pylist()) == sorted(seen)  # flushed on the way out
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]
    rest = run_batch([str(batch_media.folder)], out, settings=settings, detectors=DEBUG)
    assert (rest.skipped, rest.scanned) == (2, len(batch_media.all) - 2)


def test_parts_are_written_as_results_arrive(batch_media: MediaSet, tmp_path: Path) -> None:
    out = tmp_path / "out"
    parts_seen: list[int] = []

    def watch(event: str, info: dict[str, Any]) -> None:
        if event == "result":
            parts_seen.append(len(part_files(out)))

    s = run_batch([str(batch_media.folder)], out, settings=_settings(tmp_path), detectors=DEBUG, progress=watch,
                  options=BatchOptions(flush_rows=2))
    assert parts_seen[-1] >= len(batch_media.all) // 2 - 1 and parts_seen == sorted(parts_seen)
    assert len(part_files(out)) == -(-s.scanned // 2)


# ------------------------------------------------------------------------------------------ bad items
class _Files(http.server.BaseHTTPRequestHandler):
    root: Path

    def do_GET(self) -> None:  # noqa: N802
        target = self.root / self.path.lstrip("/")
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        if not target.is_file():
            self.send_error(404)
            return
        data = target.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def http_files(batch_media: MediaSet) -> Iterator[str]:
    handler = type("Handler", (_Files,), {"root": batch_media.folder})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.mark.network_local
def test_bad_items_and_urls_become_rows(batch_media: MediaSet, tmp_path: Path, http_files: str) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    (tmp_path / "adir.mp4").mkdir()
    manifest = tmp_path / "m.csv"
    lines = ["id,path,url",
             f"file,{batch_media.folder / 'face.jpg'},",
             f"url-ok,,{http_files}/face.jpg",
             f"url-404,,{http_files}/nothing.jpg",
             f"url-redirect,,{http_files}/redirect",
             "url-ftp,,ftp://example.org/x.jpg",
             "url-creds,,http://user:pw@example.org/x.jpg",
             f"missing,{tmp_path / 'missing.png'},",
             f"fifo,{fifo},",
             f"dir,{tmp_path / 'adir.mp4'},"]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    opts = BatchOptions(fetch_allow=["127.0.0.1/32"])
    s = run_batch([str(manifest)], out, settings=_settings(tmp_path), detectors=DEBUG, options=opts)
    rows = _rows(out)
    assert s.scanned == len(lines) - 1 == len(rows)
    assert rows["file"]["error_code"] is None and rows["url-ok"]["error_code"] is None
    # the downloaded bytes are scanned exactly as the file
    assert rows["url-ok"]["detector_scores"] == rows["file"]["detector_scores"]
    assert rows["url-ok"]["sha256"] == rows["file"]["sha256"] and rows["url-ok"]["source_type"] == "url"
    assert json.loads(rows["url-ok"]["report"])["source"] == f"{http_files}/face.jpg"
    assert rows["url-404"]["error_code"] == "fetch_failed" and "404" in rows["url-404"]["error_message"]
    assert rows["url-redirect"]["error_code"] == "url_refused"  # the metadata address, reached by a redirect
    assert rows["url-ftp"]["error_code"] == "url_refused" and rows["url-creds"]["error_code"] == "url_refused"
    assert rows["missing"]["error_code"] == "media_error"
    assert rows["fifo"]["error_code"] == "unsupported_media" and rows["fifo"]["sha256"] is None
    assert rows["dir"]["error_code"] == "unsupported_media"
    # without the allow-list a loopback URL is refused
    out2 = tmp_path / "out2"
    run_batch([str(manifest)], out2, settings=_settings(tmp_path), detectors=DEBUG)
    assert _rows(out2)["url-ok"]["error_code"] == "url_refused"
    # fetch failures are transient: the next run retries them, and only them
    again = run_batch([str(manifest)], out, settings=_settings(tmp_path), detectors=DEBUG, options=opts)
    assert again.scanned == 1  # url-404 (fetch_failed)


def test_internal_errors_are_item_rows(batch_media: MediaSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from synthwatch.batch import item as item_mod

    real = item_mod.ItemScanner._scan_file

    def flaky(self, item):  # type: ignore[no-untyped-def]
        if item["path"].endswith("speech.wav"):
            raise RuntimeError("boom")
        return real(self, item)

    monkeypatch.setattr(item_mod.ItemScanner, "_scan_file", flaky)
    out = tmp_path / "out"
    s = run_batch([str(batch_media.folder)], out, settings=_settings(tmp_path), detectors=DEBUG)
    rows = _rows(out)
    bad = rows[str(batch_media.folder / "speech.wav")]
    assert bad["error_code"] == "internal_error" and "RuntimeError: boom" in bad["error_message"]
    assert s.scanned == len(batch_media.all) and s.errors["internal_error"] == 1


# ------------------------------------------------------------------------------------------ the run
def test_one_writer_per_out(batch_media: MediaSet, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OutLock(out), pytest.raises(ConfigError, match="another batch run"):
        run_batch([str(batch_media.folder)], out, settings=_settings(tmp_path), detectors=DEBUG)


def test_foreign_parquet_in_out_is_refused(batch_media: MediaSet, tmp_path: Path) -> None:
    import pyarrow as pa

    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(pa.table({"x": [1]}), out / "part-0.parquet")
    with pytest.raises(ConfigError, match="not a synthwatch batch result"):
        run_batch([str(batch_media.folder)], out, settings=_settings(tmp_path), detectors=DEBUG)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        run_batch([str(batch_media.folder)], tmp_path / "file", settings=_settings(tmp_path), detectors=DEBUG)


def test_dry_run_writes_nothing(batch_media: MediaSet, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = cli("batch", str(batch_media.folder), "--out", str(out), "--detectors", DEBUG_ARG, "--dry-run", "--json",
              home=tmp_path / "home")
    assert res.returncode == 0, res.stderr.decode()
    doc = json.loads(res.stdout)
    assert doc["dry_run"] and doc["planned"] == len(batch_media.all) and doc["scanned"] == 0
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--engine", "spark"], "local or ray"),
    (["--address", "auto"], "--address needs --engine ray"),
    (["--detectors", "nope"], "nope"),
    (["--engine", "ray", "--actors", "3-1"], "MIN-MAX"),
])
def test_usage_errors_exit_2(batch_media: MediaSet, tmp_path: Path, args: list[str], message: str) -> None:
    from synthwatch.cli import app

    res = CliRunner().invoke(app, ["batch", str(batch_media.folder), "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output


def test_ray_engine_without_ray_says_how_to_install(batch_media: MediaSet, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from synthwatch.cli import app

    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as when it is not installed
    res = CliRunner().invoke(app, ["batch", str(batch_media.folder), "--out", str(tmp_path / "o"), "--engine", "ray",
                                   "--detectors", DEBUG_ARG])
    assert res.exit_code == 2, res.output
    assert "pip install 'synthwatch[ray]'" in res.output
    assert not (tmp_path / "o").exists() or not part_files(tmp_path / "o")
