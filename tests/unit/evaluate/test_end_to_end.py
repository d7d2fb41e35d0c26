"""``synthwatch eval`` end to end on generated sets, with test detectors registered for the test:
metrics, robustness conditions, calibration, groups, video, failures, plots, reports, model cards
and ``compare``."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
import yaml
from evalkit import fake_audio, real_audio, results_of, smooth_image, textured_image, write_video
from typer.testing import CliRunner

from synthwatch.cli.eval import app as eval_app
from synthwatch.config import Sampling
from synthwatch.errors import ConfigError
from synthwatch.evaluate import EvalConfig, load_dataset, parse_conditions, run_eval, write_outputs
from synthwatch.evaluate.report import compare_results, load_results
from synthwatch.models.card import ModelCard
from synthwatch.models.store import ModelStore

WIDE = {"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def cli() -> typer.Typer:
    """The eval sub-app mounted the way the main CLI mounts it."""
    root = typer.Typer(add_completion=False)

    @root.callback()
    def _root() -> None:
        """root"""

    root.add_typer(eval_app, name="eval")
    return root


def invoke(cli: typer.Typer, args: list[str]) -> Any:
    return CliRunner().invoke(cli, args, env=WIDE, catch_exceptions=False)


def cond(res: dict[str, Any], det: str, name: str) -> dict[str, Any]:
    d = next(x for x in res["detectors"] if x["name"] == det)
    return next(c for c in d["conditions"] if c["condition"] == name)


# ---------------------------------------------------------------------------------------- images
def test_images_with_calibration_perturbations_plots_and_reports(
        cli: typer.Typer, test_detectors: None, make_image_set: Callable[..., Path], tmp_path: Path) -> None:
    val = make_image_set("val", n=8, seed=1)
    test = make_image_set("test", n=10, seed=2)
    (test / "fake" / "genA" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # undecodable
    out = tmp_path / "out"
    res = invoke(cli, ["eval", "--data", f"{val}?split=val", "--data", f"{test}?split=test",
                       "--detectors", "test-hf-image", "--perturb", "jpeg:40,resize:0.5", "--calibrate-on", "val",
                       "--bootstrap", "100", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "test-hf-image" in res.output and "jpeg:40" in res.output
    r = results_of(out)
    assert r["schema"] == "synthwatch.eval/1"
    assert r["dataset"]["n_items"] == 37 and r["dataset"]["n_calibration"] == 16
    assert r["dataset"]["n_unreadable"] == 1 and r["dataset"]["unreadable"][0]["id"].endswith("broken.png")
    det = r["detectors"][0]
    assert det["status"] == "ok" and det["card"]["threshold"] == 0.5
    cal = det["calibration"]
    assert cal["split"] == "val" and cal["n_real"] == 8 and cal["n_fake"] == 8 and 0 < cal["threshold"] < 0.5
    assert [c["condition"] for c in det["conditions"]] == ["clean", "jpeg:40", "resize:0.5"]
    clean = cond(r, "test-hf-image", "clean")
    assert clean["counts"] == {"items": 21, "scored": 20, "failed": 1, "not_applicable": 0, "real": 10, "fake": 10}
    m = clean["item_level"]
    assert m["auc"]["value"] > 0.95 and m["auc"]["ci95"][0] <= m["auc"]["value"] <= m["auc"]["ci95"][1]
    assert set(m["at_threshold"]) == {"card", "fitted"}
    assert m["at_threshold"]["fitted"]["threshold"] == cal["threshold"]
    assert m["at_threshold"]["fitted"]["recall"] > m["at_threshold"]["card"]["recall"]
    assert {e["value"] for e in clean["breakdown"]["family"]} == {"genA", "genB"}
    assert {e["basis"] for e in clean["breakdown"]["family"]} == {"fakes_vs_all_reals"}
    assert det["n_failures"] == 3 and det["failures"][0]["code"] == "corrupt_media"  # one per condition
    # shrinking the pictures removes the texture the test detector sees
    assert cond(r, "test-hf-image", "resize:0.5")["delta_vs_clean"]["item_level"]["at_threshold.fitted.recall"] < 0
    assert det["speed"]["items"] == 36 and det["speed"]["items_per_s"] > 0 and det["speed"]["rtf"] is None
    # outputs
    for name in ("results.json", "scores.csv", "report.md", "report.html"):
        assert (out / name).is_file()
    plots = r["files"]["plots"]["test-hf-image"]
    assert set(plots) == {"roc", "det", "hist"}
    for rel in plots.values():
        assert (out / rel).read_bytes()[:8] == PNG
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Metrics per item" in md and "## Robustness" in md and "plots/test-hf-image-det.png" in md
    assert "broken.png" in md  # failures are listed, not hidden
    html_text = (out / "report.html").read_text(encoding="utf-8")
    assert html_text.count("data:image/png;base64,") == 3
    with open(out / "scores.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 + 21 * 3  # calibration items: clean only
    assert {r_["status"] for r_ in rows} == {"ok", "failed"}
    # --strict turns the unreadable file into exit code 4
    res = invoke(cli, ["eval", "--data", f"{test}", "--detectors", "test-hf-image", "--bootstrap", "0",
                       "--no-plots", "--out", str(tmp_path / "strict"), "--quiet", "--strict"])
    assert res.exit_code == 4


# ---------------------------------------------------------------------------------------- audio
def test_audio_manifest_groups_telephone_band_and_cost_metrics(
        test_detectors: None, make_audio_manifest: Callable[..., Path], tmp_path: Path) -> None:
    manifest = make_audio_manifest(n=8)
    (manifest.parent / "audio" / "broken.wav").write_bytes(b"RIFF\x10\0\0\0WAVEjunkjunk")
    with open(manifest, "a", encoding="utf-8") as f:
        f.write("audio/broken.wav,spoof,,tts,test,corpusA\n")
    ds = load_dataset(str(manifest))
    cfg = EvalConfig(detectors=["test-hf-audio"], conditions=parse_conditions("tel8k,noise:30db"), n_boot=100,
                     asv_error_rates=(0.02, 0.02, 0.3), audio_windows="first")
    run = run_eval(ds, cfg, store=ModelStore(tmp_path / "store"))
    r = run.results
    clean = cond(r, "test-hf-audio", "clean")
    assert clean["counts"]["failed"] == 1 and r["dataset"]["unreadable"][0]["id"] == "audio/broken.wav"
    assert clean["item_level"]["auc"]["value"] == 1.0
    assert clean["item_level"]["min_dcf"]["value"] == 0.0 and "min_tdcf" in clean["item_level"]
    # pairs of clips share a group id: group-level metrics over 4 + 4 groups
    gl = clean["group_level"]
    assert gl["n_real"] == 4 and gl["n_fake"] == 4 and gl["n_groups"] == 8 and gl["mean_items_per_group"] == 2
    # the telephone band removes what the test detector measures; mild noise does not
    tel = cond(r, "test-hf-audio", "tel8k")
    assert tel["delta_vs_clean"]["item_level"]["auc"] < -0.2
    assert tel["item_level"]["score_mean"]["fake"] < 0.1
    assert cond(r, "test-hf-audio", "noise:30db")["item_level"]["auc"]["value"] > 0.95
    assert {e["value"] for e in clean["breakdown"]["family"]} == {"tts", "vc"}
    sp = next(d for d in r["detectors"] if d["name"] == "test-hf-audio")["speed"]
    assert sp["items"] == 16 and sp["media_s"] == pytest.approx(16 * 1.0)  # first window: 1 s per clip
    assert sp["rtf"] > 0
    assert r["config"]["protocol"] == "upstream: audio=first-window"
    # the scanner's windows (1 s here; no voice-activity model in this store, so every window is
    # scored): 1.5 s clips give one full window plus the 0.5 s remainder
    cfg_all = EvalConfig(detectors=["test-hf-audio"], sampling=Sampling(audio_window_s=1.0, audio_hop_s=1.0),
                         n_boot=0)
    run_all = run_eval(ds, cfg_all, store=ModelStore(tmp_path / "store"))
    assert run_all.results["config"]["protocol"] == "scan"
    assert {s.n_inputs for s in run_all.scores if s.status == "ok"} == {2}
    assert [s.item.id for s in run_all.scores if s.status == "failed"] == ["audio/broken.wav"]
    assert next(d for d in run_all.results["detectors"])["speed"]["media_s"] == pytest.approx(16 * 1.5)


# ---------------------------------------------------------------------------------------- video
def test_video_frames_audio_track_and_video_conditions(test_detectors: None, tmp_path: Path) -> None:
    root = tmp_path / "videos"
    for i in range(2):
        write_video(root / "real" / f"r{i}.mp4", [smooth_image(10 * i + k, (64, 48)) for k in range(20)],
                    audio=real_audio(i, 2.0))
        write_video(root / "fake" / "swap" / f"f{i}.mp4",
                    [textured_image(10 * i + k, 0.5, (64, 48)) for k in range(20)], audio=fake_audio(i, 1.0, 2.0))
    write_video(root / "real" / "silent.mp4", [smooth_image(99, (64, 48)) for _ in range(10)])
    cfg = EvalConfig(detectors=["test-hf-image", "test-hf-audio"],
                     conditions=parse_conditions("h264crf:45,downscale:0.5,aac:24k"), sampling=Sampling(fps=4.0),
                     n_boot=50)
    run = run_eval(load_dataset(str(root)), cfg, store=ModelStore(tmp_path / "store"))
    r = run.results
    img = next(d for d in r["detectors"] if d["name"] == "test-hf-image")
    assert [c["condition"] for c in img["conditions"]] == ["clean", "h264crf:45", "downscale:0.5"]
    ok = [s for s in run.scores if s.detector == "test-hf-image" and s.condition == "clean"]
    # 2 s at 4 fps gives 8 frames (the scanner's sampling); the 1 s silent clip gives 4
    assert {s.item.id: s.n_inputs for s in ok if s.status == "ok"} == {
        "real/r0.mp4": 8, "real/r1.mp4": 8, "fake/swap/f0.mp4": 8, "fake/swap/f1.mp4": 8, "real/silent.mp4": 4}
    assert cond(r, "test-hf-image", "clean")["item_level"]["auc"]["value"] == 1.0
    crf = cond(r, "test-hf-image", "h264crf:45")["item_level"]["score_mean"]
    assert crf["fake"] < cond(r, "test-hf-image", "clean")["item_level"]["score_mean"]["fake"]
    aud = next(d for d in r["detectors"] if d["name"] == "test-hf-audio")
    assert [c["condition"] for c in aud["conditions"]] == ["clean", "aac:24k"]
    audio_clean = cond(r, "test-hf-audio", "clean")
    assert audio_clean["counts"]["scored"] == 4 and audio_clean["counts"]["not_applicable"] == 1
    assert audio_clean["not_applicable_reasons"] == {"no audio track": 1}
    assert img["speed"]["media_s"] == pytest.approx(2 * 2 * 2.0 + 1.0, abs=0.3)


def test_video_frames_are_scored_as_the_scanner_scores_them_unless_exact(
        test_detectors: None, make_image_set: Callable[..., Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, register_detector: Callable[[str, str], None]) -> None:
    """A detector with a different frame path (as clip-probe's token merging) is scored through it
    on video frames by default and the results say so; pictures never are; frame_token_merging=0
    scores frames like pictures."""
    import evalkit

    from synthwatch.detectors.base import DetectorInfo

    class FastFrames(evalkit.HFImage):
        info = DetectorInfo(name="test-fast-frames", version="1", modality="image", model=None,
                            input_spec=dict(evalkit.HFImage.info.input_spec))
        calls: list[int] = []

        def detect_frames(self, frames: list[np.ndarray], *, token_merging: int = 0) -> np.ndarray:
            if token_merging <= 0:
                return super().detect_frames(frames)
            FastFrames.calls.append(token_merging)
            return np.full(len(frames), 0.25, dtype=np.float32)

        def frame_variant(self, token_merging: int = 0) -> str | None:
            return f"approximate frames r={token_merging}" if token_merging > 0 else None

    monkeypatch.setattr(evalkit, "FastFrames", FastFrames, raising=False)
    register_detector("test-fast-frames", "evalkit:FastFrames")
    root = tmp_path / "videos"
    for i in range(2):
        write_video(root / "real" / f"r{i}.mp4", [smooth_image(10 * i + k, (64, 48)) for k in range(8)])
        write_video(root / "fake" / "x" / f"f{i}.mp4", [textured_image(10 * i + k, 0.5, (64, 48)) for k in range(8)])
    store = ModelStore(tmp_path / "store")
    ds = load_dataset(str(root))
    fast = run_eval(ds, EvalConfig(detectors=["test-fast-frames"], sampling=Sampling(fps=4.0), n_boot=0), store=store)
    det = fast.results["detectors"][0]
    assert det["frame_variant"] == "approximate frames r=12" and FastFrames.calls
    assert cond(fast.results, "test-fast-frames", "clean")["item_level"]["score_mean"] == {"real": 0.25, "fake": 0.25}
    exact = run_eval(ds, EvalConfig(detectors=["test-fast-frames"], sampling=Sampling(fps=4.0, frame_token_merging=0),
                                    n_boot=0), store=store)
    assert exact.results["detectors"][0]["frame_variant"] is None
    assert cond(exact.results, "test-fast-frames", "clean")["item_level"]["auc"]["value"] == 1.0
    FastFrames.calls.clear()
    pictures = run_eval(load_dataset(str(make_image_set(n=4))), EvalConfig(detectors=["test-fast-frames"], n_boot=0),
                        store=store)
    assert not FastFrames.calls  # pictures never take the frame path
    assert cond(pictures.results, "test-fast-frames", "clean")["counts"]["scored"] == 8


def test_face_detectors_on_aligned_crops_and_without_a_face_model(
        test_detectors: None, make_image_set: Callable[..., Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, register_detector: Callable[[str, str], None]) -> None:
    import evalkit

    from synthwatch.detectors.base import DetectorInfo

    class HFFace(evalkit.HFImage):
        info = DetectorInfo(name="test-hf-face", version="1", modality="face", model=None,
                            input_spec=dict(evalkit.HFImage.info.input_spec))

    monkeypatch.setattr(evalkit, "HFFace", HFFace, raising=False)
    register_detector("test-hf-face", "evalkit:HFFace")
    ds = load_dataset(str(make_image_set(n=4)))
    store = ModelStore(tmp_path / "empty-store")
    aligned = run_eval(ds, EvalConfig(detectors=["test-hf-face"], faces="aligned", n_boot=0), store=store)
    assert cond(aligned.results, "test-hf-face", "clean")["counts"]["scored"] == 8
    detect = run_eval(ds, EvalConfig(detectors=["test-hf-face"], faces="detect", n_boot=0), store=store)
    c = cond(detect.results, "test-hf-face", "clean")
    assert c["counts"]["scored"] == 0 and c["counts"]["not_applicable"] == 8
    assert "face detector 'centerface' unavailable" in next(iter(c["not_applicable_reasons"]))


# ---------------------------------------------------------------------------------------- model card
def _install_test_model(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    cards = tmp_path / "cards"
    cards.mkdir()
    card = {"name": "test-hf-model", "version": "1", "task": "test", "modality": "image", "format": "onnx",
            "file": "model.bin", "licence": "MIT", "source": "generated by the test suite", "threshold": 0.5,
            "threshold_source": "a guess", "resolvers": []}
    (cards / "test-hf-model.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    blob = tmp_path / "model.bin"
    blob.write_bytes(b"test model")
    store = ModelStore(home / "models", cards_dir=cards)
    store.install("test-hf-model", {"model.bin": blob}, resolver="import", origin=str(blob),
                  card=ModelCard.from_dict(card))
    return home, cards


def test_write_card_stores_the_fitted_threshold_and_its_origin(
        cli: typer.Typer, test_detectors: None, make_image_set: Callable[..., Path], tmp_path: Path) -> None:
    home, cards = _install_test_model(tmp_path)
    val = make_image_set("val", n=6, seed=3)
    test = make_image_set("test", n=6, seed=4)
    common = ["--data", f"{val}?split=val", "--data", f"{test}?split=test", "--detectors", "test-hf-image-card",
              "--home", str(home), "--cards", str(cards), "--bootstrap", "0", "--no-plots", "--quiet"]
    res = invoke(cli, ["eval", *common, "--out", str(tmp_path / "o1"), "--write-card"])
    assert res.exit_code == 2 and "--calibrate-on" in res.output  # never fitted on reported data
    res = invoke(cli, ["eval", *common, "--out", str(tmp_path / "o2"), "--calibrate-on", "val",
                       "--calibrate-method", "fpr:0.1", "--write-card"])
    assert res.exit_code == 0, res.output
    fitted = results_of(tmp_path / "o2")["detectors"][0]["calibration"]["threshold"]
    card = ModelStore(home / "models", cards_dir=cards).installed("test-hf-model").card
    assert card.threshold == pytest.approx(fitted) and card.threshold != 0.5
    assert "fitted on split 'val'" in card.threshold_source and "fpr" in card.threshold_source
    cal = card.extra["calibration"]
    assert cal["previous_threshold"] == 0.5 and cal["previous_threshold_source"] == "a guess"
    assert cal["split"] == "val" and cal["target_fpr"] == 0.1 and cal["results"].endswith("results.json")
    assert any(m["metric"] == "EER" and m["source"].startswith("synthwatch eval") for m in card.metrics)
    # the next run reads the new threshold as the card threshold
    res = invoke(cli, ["eval", *common, "--out", str(tmp_path / "o3")])
    assert results_of(tmp_path / "o3")["detectors"][0]["card"]["threshold"] == pytest.approx(fitted)


# ---------------------------------------------------------------------------------------- errors
def test_usage_and_model_errors_map_to_exit_codes(
        cli: typer.Typer, test_detectors: None, make_image_set: Callable[..., Path], tmp_path: Path) -> None:
    data = make_image_set(n=3)
    base = ["eval", "--data", str(data), "--out", str(tmp_path / "o"), "--no-plots", "--quiet", "--bootstrap", "0",
            "--home", str(tmp_path / "home")]
    assert invoke(cli, [*base, "--detectors", "no-such-detector"]).exit_code == 2
    assert invoke(cli, [*base, "--detectors", "test-hf-image", "--perturb", "blur:3"]).exit_code == 2
    assert invoke(cli, [*base, "--detectors", "test-hf-image", "--calibrate-on", "val"]).exit_code == 2
    assert invoke(cli, ["eval", "--detectors", "test-hf-image"]).exit_code == 2  # no --data / --out
    assert invoke(cli, [*base, "--detectors", "test-hf-image", "--asv-rates", "0.1,2"]).exit_code == 2
    res = invoke(cli, [*base, "--detectors", "test-hf-image-card"])  # its model is not installed
    assert res.exit_code == 3 and "not installed" in res.output
    r = results_of(tmp_path / "o")
    assert r["detectors"][0]["status"] == "unavailable" and r["detectors"][0]["conditions"] == []


def test_fixed_asv_rates_give_min_tdcf(cli: typer.Typer, test_detectors: None,
                                      make_audio_manifest: Callable[..., Path], tmp_path: Path) -> None:
    from synthwatch.evaluate.metrics import min_tdcf

    res = invoke(cli, ["eval", "--data", str(make_audio_manifest(n=3)), "--detectors", "test-hf-audio",
                       "--asv-rates", "0.0188,0.0188,0.5393", "--perturb", "noise:0db", "--bootstrap", "0",
                       "--no-plots", "--quiet", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    r = results_of(tmp_path / "o")
    assert r["config"]["asv_scores"] == "fixed rates 0.0188,0.0188,0.5393"
    m = cond(r, "test-hf-audio", "noise:0db")["item_level"]
    with open(tmp_path / "o" / "scores.csv", encoding="utf-8") as f:
        rows = [x for x in csv.DictReader(f) if x["condition"] == "noise:0db"]
    expected = min_tdcf([int(x["label"]) for x in rows], [float(x["score"]) for x in rows], 0.0188, 0.0188, 0.5393)
    assert m["min_tdcf"]["value"] == pytest.approx(expected[0])
    assert m["min_tdcf"]["asv"] == {"pfa": 0.0188, "pmiss": 0.0188, "pmiss_spoof": 0.5393}


# ---------------------------------------------------------------------------------------- compare
def test_compare_shows_what_changed(cli: typer.Typer, test_detectors: None, make_image_set: Callable[..., Path],
                                    tmp_path: Path) -> None:
    data = make_image_set(n=6)
    common = ["--data", str(data), "--detectors", "test-hf-image", "--bootstrap", "50", "--no-plots", "--quiet"]
    assert invoke(cli, ["eval", *common, "--out", str(tmp_path / "a")]).exit_code == 0
    assert invoke(cli, ["eval", *common, "--perturb", "resize:0.5", "--out", str(tmp_path / "b")]).exit_code == 0
    # B: the same run with a worse AUC written in, to see a delta
    b = load_results(tmp_path / "b")
    clean_b = cond(b, "test-hf-image", "clean")["item_level"]
    clean_b["auc"]["value"] = 0.5
    (tmp_path / "b" / "results.json").write_text(json.dumps(b), encoding="utf-8")
    cmp = compare_results(load_results(tmp_path / "a"), load_results(tmp_path / "b"))
    auc = next(r for r in cmp["rows"] if r["metric"] == "auc" and r["condition"] == "clean")
    assert auc["delta"] == pytest.approx(0.5 - auc["a"]) and auc["better"] is False and auc["outside_ci"]
    assert cmp["only_in_b"] == ["test-hf-image / resize:0.5"]
    res = invoke(cli, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b" / "results.json")])
    assert res.exit_code == 0, res.output
    assert "AUC" in res.output and "worse" in res.output and "resize:0.5" in res.output
    res = invoke(cli, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"])
    assert json.loads(res.stdout)["rows"]
    res = invoke(cli, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json", "--changed"])
    assert [r["metric"] for r in json.loads(res.stdout)["rows"]] == ["auc"]
    res = invoke(cli, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--markdown", "--all"])
    assert "| detector | condition | level | metric |" in res.output
    (tmp_path / "junk.json").write_text("{}", encoding="utf-8")
    assert invoke(cli, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "junk.json")]).exit_code == 2


def test_api_run_and_write_outputs_roundtrip(test_detectors: None, make_image_set: Callable[..., Path],
                                             tmp_path: Path) -> None:
    ds = load_dataset(str(make_image_set(n=4)) + "?split=test")
    run = run_eval(ds, EvalConfig(detectors=["test-hf-image"], n_boot=20, limit=6, seed=3),
                   store=ModelStore(tmp_path / "s"), command="pytest")
    assert run.results["dataset"]["n_evaluated"] == 6
    labels = [s.item.label for s in run.scores]
    assert labels.count(0) == 3 and labels.count(1) == 3  # --limit keeps the class shares
    write_outputs(run, tmp_path / "o", plots=False)
    doc = load_results(tmp_path / "o")
    assert doc["command"] == "pytest" and doc["files"]["plots"] == {}
    text = (tmp_path / "o" / "results.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert np.isfinite(doc["detectors"][0]["conditions"][0]["item_level"]["auc"]["value"])


def test_groups_mixing_real_and_fake_are_refused_before_any_scoring(
        test_detectors: None, make_audio_manifest: Callable[..., Path], tmp_path: Path, monkeypatch) -> None:
    import csv

    manifest = make_audio_manifest(n=4)
    with manifest.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["group"] = "same-sentence"  # one group holding both classes
    with manifest.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    from synthwatch.evaluate import runner

    def no_scoring(*a, **k):  # the check must come first: nothing is decoded or scored
        raise AssertionError("scored before validating groups")

    monkeypatch.setattr(runner._Scorer, "score_item", no_scoring)
    with pytest.raises(ConfigError, match="mix real and fake"):
        run_eval(load_dataset(str(manifest)), EvalConfig(detectors=["test-hf-audio"], n_boot=0),
                 store=ModelStore(tmp_path / "store"))


def test_limit_keeps_both_classes() -> None:
    from synthwatch.evaluate import runner
    from synthwatch.evaluate.data import EvalItem

    items = [EvalItem(path=Path(f"/x/{i}.wav"), label=int(i >= 10), group="", family="", split="test",
                      source="s", id=str(i)) for i in range(105)]  # 10 real, 95 fake
    chosen = runner._select(items, EvalConfig(detectors=["x"], limit=4))
    assert len(chosen) == 4 and {i.label for i in chosen} == {0, 1}


def test_repeated_files_are_dropped_before_scoring_and_listed(
        cli: typer.Typer, test_detectors: None, make_image_set: Callable[..., Path], tmp_path: Path) -> None:
    import shutil

    root = make_image_set(n=6)
    reals = sorted((root / "real").rglob("*.png"))
    fakes = sorted((root / "fake").rglob("*.png"))
    shutil.copy(reals[0], root / "real" / "indoor" / "copy-of-r0.png")  # a repeat under the same label
    shutil.copy(fakes[0], root / "real" / "outdoor" / "mislabelled.png")  # the same bytes under both labels
    out = tmp_path / "o"
    res = invoke(cli, ["eval", "--data", str(root), "--detectors", "test-hf-image", "--out", str(out),
                       "--bootstrap", "0", "--no-plots", "-q"])
    assert res.exit_code == 0, res.output
    ds = results_of(out)["dataset"]
    assert ds["n_duplicates_dropped"] == 1 and ds["n_conflicting_dropped"] == 2
    assert ds["n_evaluated"] == 12 + 2 - 3
    assert ds["conflicting"][0]["dropped"] and len(ds["duplicates"][0]["dropped"]) == 1
    assert "de-duplicated" in res.output
    # --no-dedupe keeps every file
    res = invoke(cli, ["eval", "--data", str(root), "--detectors", "test-hf-image", "--out", str(tmp_path / "k"),
                       "--bootstrap", "0", "--no-plots", "-q", "--no-dedupe"])
    assert res.exit_code == 0, res.output
    assert results_of(tmp_path / "k")["dataset"]["n_evaluated"] == 14


def test_per_family_rows_count_the_reals_the_metrics_used(
        cli: typer.Typer, test_detectors: None, make_image_set: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "o"
    res = invoke(cli, ["eval", "--data", str(make_image_set(n=8)), "--detectors", "test-hf-image", "--out",
                       str(out), "--bootstrap", "30", "--no-plots", "-q"])
    assert res.exit_code == 0, res.output
    doc = results_of(out)
    assert doc["config"]["breakdown_bootstrap"] == 30  # follows --bootstrap
    fam = doc["detectors"][0]["conditions"][0]["breakdown"]["family"]
    genA = next(e for e in fam if e["value"] == "genA")
    assert genA["basis"] == "fakes_vs_all_reals" and genA["n_real"] == 0
    assert genA["metrics"]["n_real"] == 8 and genA["metrics"]["n_fake"] == 4
    report = (out / "report.md").read_text(encoding="utf-8")
    assert any(line.startswith("| genA | fakes_vs_all_reals | 8/4 |") for line in report.splitlines()), report
