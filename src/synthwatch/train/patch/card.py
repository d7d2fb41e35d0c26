"""Render the ``sw-patch`` model card from the training report, the committed manifest, the speed
measurement and ``synthwatch eval`` runs. Every figure comes from a file a command wrote."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..._hashing import sha256_file
from ...detectors.image import sw_patch as sp
from ..data.manifest import read_manifest
from ..data.sources import HELDOUT_IMAGE_FAMILIES
from ..evalcards import eval_metrics, flag_rates, rnd, write_card_yaml

__all__ = ["TRAIN_COMMAND", "DATA_COMMANDS", "render_card", "write_card", "families_seen"]

DATA_COMMANDS = (
    "python -m synthwatch.train.data fetch-manifest --task image --repos REPOS --out docs/manifests/train-image.csv",
    "python -m synthwatch.train.data build --task image --manifest docs/manifests/train-image.csv --repos REPOS "
    "--out .cache-train/sw-patch/data",
)
TRAIN_COMMAND = ("python -m synthwatch.train.patch train --data .cache-train/sw-patch/data/image "
                 "--out src/synthwatch/models/weights/sw-patch --report .cache-train/sw-patch/report.json")


def families_seen(manifest: Path) -> dict[str, Any]:
    rows = [r for r in read_manifest(manifest) if r.split != "missing"]
    seen = sorted({r.family for r in rows if r.label == "fake" and r.split in ("train", "val")})
    unseen = sorted({r.family for r in rows if r.label == "fake" and r.split == "test"} - set(seen))
    counts = Counter(f"{r.split}:{r.label}:{r.family or 'real'}" for r in rows)
    real_sources = {s: sorted({r.source for r in rows if r.label == "real" and r.split in s})
                    for s in (("train", "val"), ("test",))}
    return {"seen": seen, "unseen": unseen, "counts": dict(sorted(counts.items())),
            "real_sources_trained": real_sources[("train", "val")], "real_sources_test_only": real_sources[("test",)],
            "licences": {r.source: f"{r.repo}@{r.commit[:12]}: {r.licence}" for r in rows}, "sha256": sha256_file(manifest)}


def render_card(report: dict[str, Any], weights: Path, manifest: Path, evals: list[tuple[str, Path]],
                speed: dict[str, Any] | None, default: bool) -> dict[str, Any]:
    onnx = Path(weights) / sp.ONNX_FILE
    if sha256_file(onnx) != report["onnx_sha256"]:
        raise ValueError(f"{onnx} is not the file the training report describes")
    fam = families_seen(manifest)
    cal = report["calibration"]
    thr = float(cal["threshold"])
    metrics: list[dict[str, Any]] = [
        {"name": "calibration", **{k: rnd(v, 6) for k, v in cal.items()},
         "dataset": "validation split (seen families, seen real sources)", "command": report["command"]},
    ]
    for label, run in evals:
        metrics += eval_metrics(run / "results.json", label, ("sw-patch", "clip-probe", "sw-image"), families=True)
        metrics += flag_rates(run, label, "sw-patch", thr)
    if speed:
        metrics.append({"name": "images_per_second", "value": speed["images_per_s"], "detector": "sw-patch",
                        **{k: speed[k] for k in ("ms_per_image", "threads", "cpu_count", "load_average", "what",
                                                 "command") if k in speed}})
    cfg = report["config"]
    return {
        "name": sp.MODEL,
        "version": sp.SwPatch.info.version,
        "task": "ai-generated image detection on native-resolution patches",
        "modality": "image",
        "format": "onnx",
        "file": sp.ONNX_FILE,
        "sha256": report["onnx_sha256"],  # checked against the file above
        "licence": (
            "Weights: synthwatch's own (trained by this project; the project's licence, Apache-2.0). Training data "
            "(not shipped; every file with its sha256 in docs/manifests/train-image.csv): "
            + "; ".join(f"{k}: {v}" for k, v in sorted(fam["licences"].items()))
            + ". Most sources state no licence; the card of a default model should be read with that in mind."),
        "source": "trained by synthwatch (synthwatch.train.patch): " + " && ".join((*DATA_COMMANDS, TRAIN_COMMAND)),
        "inputs": {"patches": {"shape": ["batch x 9", 3, sp.PATCH, sp.PATCH], "dtype": "float32",
                               "layout": "NCHW, RGB", "range": [-1.0, 1.0]}},
        "preprocessing": (
            f"Decode to RGB. If the shorter side is above {sp.MAX_SHORT_SIDE} px, reduce it to {sp.MAX_SHORT_SIDE} "
            f"with area averaging (never enlarge). Cut a {sp.GRID} x {sp.GRID} grid of {sp.PATCH} x {sp.PATCH} "
            "patches spread evenly over the picture at native resolution (reflect-padded when smaller), scale to "
            "[-1, 1] (synthwatch.detectors.image.sw_patch.patch_input)."),
        "outputs": "one logit per patch; detector score = sigmoid(mean patch logit), higher = more likely "
                   "AI-generated",
        "numerics": (
            "float32 ONNX graph (convolutions, batch-norm folded, ReLU, mean, one linear layer); no quantised or "
            "integer kernels (unlike the dynamically quantised CLIP graph, see synthwatch.detectors.image."
            "_portable), so every CPU computes the same function up to float32 rounding. ONNX Runtime agrees with "
            f"the PyTorch network to {report['onnx_vs_torch_max_abs_logit']:.1e} in the mean logit on the "
            f"{cal['n_real'] + cal['n_fake']} validation pictures (checked when exported)."),
        "families": {
            "seen_in_training": fam["seen"],
            "held_out_never_seen": fam["unseen"],
            "held_out_by_design": list(HELDOUT_IMAGE_FAMILIES),
            "real_sources_trained_on": fam["real_sources_trained"],
            "real_sources_never_seen": fam["real_sources_test_only"] + ["shared/data/images/real-or-ai-game"],
        },
        "training_data": (
            "Pictures of the pinned sources in docs/manifests/train-image.csv, every one of both classes "
            "normalised alike (decode, EXIF orientation, metadata dropped, alpha over white, shorter side reduced to "
            "at most 512 px, JPEG quality 90; synthwatch.train.data.images). Generator families seen: "
            + ", ".join(fam["seen"]) + ". Families held out of training and calibration (every picture of them, "
            "from every source): " + ", ".join(fam["unseen"]) + ". Real sources trained on: "
            + ", ".join(fam["real_sources_trained"]) + "; real sources never seen: "
            + ", ".join(fam["real_sources_test_only"]) + " and ../shared/data/images/real-or-ai-game. Training "
            "patches: a random native-resolution region per picture and epoch, the same random degradation chain "
            "distribution for both classes (downscale 0.5-0.95, JPEG 60-95, blur, flip), one 128 px patch from it. "
            "Counts (split:label:family): " + json.dumps(fam["counts"]) + f". Manifest sha256 {fam['sha256']}."),
        "threshold": round(thr, 6),
        "threshold_source": (
            f"validation split only: the {1 - cal['target_fpr']:.0%} quantile of the validation photographs' scores "
            f"({cal['n_real']} reals of the seen real sources), i.e. a target false-positive rate of "
            f"{cal['target_fpr']:.0%}; written by " + TRAIN_COMMAND),
        "score_direction": "higher = more likely AI-generated (sigmoid of the mean patch logit)",
        "metrics": metrics,
        "training_run": {
            "command": report["command"], "seconds": report["seconds"], "parameters": report["parameters"],
            "epochs": cfg["epochs"], "selected_epoch": report["best_epoch"], "selected_by": "validation AUC",
            "seed": cfg["seed"], "threads": cfg["threads"],
            "validation_by_epoch": [{"epoch": e["epoch"], "loss": rnd(e["loss"]), "val_auc": rnd(e["val_auc"])}
                                    for e in report["log"]],
        },
        "limitations": (
            "A small CNN trained from scratch on a few thousand pictures. What it has not seen it mostly does not "
            "recognise: see the held-out families and never-seen real sources in the metrics. Generated pictures "
            "that were re-photographed, screenshotted or heavily recompressed lose the traces it reads. Scans give it still pictures only, never video frames "
            "(synthwatch.detectors.image.sw_patch.SwPatch.info.frames): it was neither trained nor calibrated on "
            "frames, and run on frames of 25 genuine webcam videos it never saw (the real halves of the "
            "DeepFaceLive clips) it called 14 likely synthetic. Its score rises when a picture is downscaled "
            "(docs/models/sw-patch.md)."),
        "resolvers": [{"kind": "package"}],
        "install_hint": "nothing to install: the weights ship inside synthwatch",
        "default": bool(default),
    }


def write_card(report_path: Path, weights: Path, out: Path, manifest: Path, evals: list[tuple[str, Path]], *,
               speed: Path | None, default: bool) -> None:
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    sp_json = json.loads(Path(speed).read_text(encoding="utf-8")) if speed else None
    write_card_yaml(out, render_card(report, weights, manifest, evals, sp_json, default))
