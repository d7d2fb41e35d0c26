"""``synthwatch eval`` scores each item exactly as ``synthwatch scan --json`` does (issue 12: one
analysis core), on generated media and, when present, on ``../shared`` data. Both commands run
through the CLI with the same home (models), detectors and sampling."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthwatch.cli import app
from synthwatch.models.store import ModelStore
from synthwatch.testing import samples

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
TOL = 1e-6  # the report rounds scores to 6 decimals


def _home(tmp_path: Path, model_store: ModelStore) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(Path(model_store.root).resolve(), target_is_directory=True)
    return home


def _detectors(model_store: ModelStore) -> list[str]:
    from synthwatch.detectors.registry import default_registry

    reg = default_registry()
    wanted = ["sw-voice", "clip-probe", "meso4-df", "sw-image"]
    return [n for n in wanted if not reg.missing_models(n, model_store)]


def _scan(home: Path, files: list[Path], detectors: list[str]) -> dict[tuple[str, str], float | None]:
    res = CliRunner().invoke(app, ["scan", *map(str, files), "--json", "--detectors", ",".join(detectors),
                                   "--home", str(home)])
    assert res.exit_code in (0, 1), res.output
    assert res.stdout, (res.exit_code, res.stderr, res.exception)
    out: dict[tuple[str, str], float | None] = {}
    for doc in json.loads(res.stdout):
        assert doc["error"] is None, doc["error"]
        for d in doc["detectors"]:
            out[(str(Path(doc["source"]).resolve()), d["name"])] = d["score"]
    return out


def _eval(home: Path, manifest: Path, detectors: list[str], out: Path) -> dict[tuple[str, str], float | None]:
    res = CliRunner().invoke(app, ["eval", "--data", str(manifest), "--detectors", ",".join(detectors),
                                   "--bootstrap", "0", "--no-plots", "--no-dedupe", "--quiet",
                                   "--out", str(out), "--home", str(home)])
    assert res.exit_code == 0, res.output
    scores: dict[tuple[str, str], float | None] = {}
    with open(out / "scores.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            assert row["condition"] == "clean"
            scores[(str(Path(row["path"]).resolve()), row["detector"])] = float(row["score"]) if row["score"] else None
    return scores


def _manifest(path: Path, items: list[tuple[Path, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        for p, label in items:
            w.writerow([str(p.resolve()), label])
    return path


def _assert_same(scan: dict[tuple[str, str], float | None], ev: dict[tuple[str, str], float | None]) -> int:
    compared = 0
    for key, s in scan.items():
        e = ev.get(key)
        if s is None:  # not applicable / not installed in scan: eval scores nothing either
            assert e is None, (key, e)
            continue
        assert e is not None, (key, s)
        assert abs(e - s) <= TOL, (key, s, e)
        compared += 1
    return compared


@pytest.mark.slow
def test_eval_item_scores_equal_scan_scores_on_generated_media(model_store: ModelStore, tmp_path: Path) -> None:
    detectors = _detectors(model_store)
    if "sw-voice" not in detectors:
        pytest.skip("sw-voice is not usable here")
    media = tmp_path / "media"
    media.mkdir()
    files = [
        samples.make_image(media / "face.jpg", size=(320, 240), seed=1),
        samples.make_speech(media / "speech.wav", seconds=9.0, seed=3),  # 3 windows, the last shorter
        samples.make_video(media / "clip.mp4", seconds=3.0, size=(320, 240), fps=25, seed=4),
        samples.make_video(media / "silent.webm", seconds=2.0, size=(160, 120), fps=25, audio=False, seed=5),
    ]
    home = _home(tmp_path, model_store)
    scan = _scan(home, files, detectors)
    manifest = _manifest(tmp_path / "m.csv", [(files[0], "real"), (files[1], "fake"), (files[2], "real"),
                                              (files[3], "fake")])
    ev = _eval(home, manifest, detectors, tmp_path / "eval")
    assert _assert_same(scan, ev) >= 4


@pytest.mark.slow
@pytest.mark.shared_data
def test_eval_item_scores_equal_scan_scores_on_shared_data(model_store: ModelStore, tmp_path: Path) -> None:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"../shared is absent: {data} does not exist")
    detectors = _detectors(model_store)
    picks: list[tuple[Path, str]] = []
    for pattern, label, n in (("speech-demos/vits-demo/real/**/*.flac", "real", 2),
                              ("speech-demos/vits-demo/fake/**/*.flac", "fake", 2),
                              ("images/real-or-ai-game/real/**/*.jpg", "real", 2),
                              ("images/real-or-ai-game/fake/**/*.jpg", "fake", 2)):
        found = sorted(data.glob(pattern))[:n]
        picks += [(p, label) for p in found]
    if len(picks) < 4:
        pytest.skip("the expected ../shared data sets are not there")
    home = _home(tmp_path, model_store)
    scan = _scan(home, [p for p, _ in picks], detectors)
    ev = _eval(home, _manifest(tmp_path / "m.csv", picks), detectors, tmp_path / "eval")
    assert _assert_same(scan, ev) >= len(picks)
