"""Render the ``sw-face`` model card from the training report, the committed manifest and
``synthwatch eval`` runs. Every figure comes from a file a command wrote."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..._hashing import sha256_file
from ...detectors.face import sw_face as sf
from ..data.manifest import read_manifest
from ..evalcards import eval_metrics, flag_rates, rnd, write_card_yaml

__all__ = ["TRAIN_COMMAND", "DATA_COMMANDS", "render_card", "write_card"]

DATA_COMMANDS = (
    "python -m synthwatch.train.data fetch-manifest --task face --repos REPOS --out docs/manifests/train-face.csv",
    "python -m synthwatch.train.data build --task face --manifest docs/manifests/train-face.csv --repos REPOS "
    "--out .cache-train/sw-face/data",
)
TRAIN_COMMAND = ("python -m synthwatch.train.face train --data .cache-train/sw-face/data/face "
                 "--out src/synthwatch/models/weights/sw-face --report .cache-train/sw-face/report.json")


def _manifest_summary(manifest: Path) -> dict[str, Any]:
    rows = read_manifest(manifest)
    counts = Counter(f"{r.source}:{r.label}:{r.split}" for r in rows)
    licences = {r.source: f"{r.repo}@{r.commit[:12]}: {r.licence}" for r in rows}
    groups: dict[str, set[str]] = {}
    for r in rows:
        if r.source == "deepfacelive" and r.split != "missing":
            groups.setdefault(r.split, set()).add(r.group.split(":", 1)[1])
    return {"counts": dict(sorted(counts.items())), "licences": licences, "sha256": sha256_file(manifest),
            "identity_groups": {k: sorted(v) for k, v in sorted(groups.items())}}


def render_card(report: dict[str, Any], weights: Path, manifest: Path, evals: list[tuple[str, Path]],
                default: bool) -> dict[str, Any]:
    onnx = Path(weights) / sf.ONNX_FILE
    if sha256_file(onnx) != report["onnx_sha256"]:
        raise ValueError(f"{onnx} is not the file the training report describes")
    man = _manifest_summary(manifest)
    cal = report["calibration"]
    thr = float(cal["threshold"])
    metrics: list[dict[str, Any]] = [
        {"name": "validation", "dataset": "validation split (never trained on; selects the epoch and the threshold)",
         **{k: rnd(v) for k, v in report["validation"].items()},
         "note": "dfl_*: DeepFaceLive clips of the validation identities (crops; tracks = mean logit per clip half); "
                 "sbi_still_auc: validation still reals against one self-blended copy of each",
         "command": report["command"]},
        {"name": "calibration", **{k: rnd(v, 6) for k, v in cal.items()}, "command": report["command"]},
    ]
    for label, run in evals:
        metrics += eval_metrics(run / "results.json", label, ("sw-face", "meso4-df"), families=True)
        metrics += flag_rates(run, label, "sw-face", thr)
    tr = report["config"]
    return {
        "name": sf.MODEL,
        "version": sf.SwFace.info.version,
        "task": "face-swap detection on aligned face crops (is this face a swap?)",
        "modality": "face",
        "format": "onnx",
        "file": sf.ONNX_FILE,
        "sha256": report["onnx_sha256"],  # checked against the file above
        "licence": (
            "Weights: synthwatch's own (trained by this project; the project's licence, Apache-2.0). Training data "
            "(not shipped; listed with every file's sha256 in docs/manifests/train-face.csv): "
            + "; ".join(f"{k}: {v}" for k, v in sorted(man["licences"].items()))
            + ". The DeepFaceLive clips come from a GPL-3.0 repository; whether a licence of training material "
              "reaches trained weights is not settled law, and a user who needs certainty can retrain without them "
              "(the self-blended images need only real faces)."),
        "source": "trained by synthwatch (synthwatch.train.face): " + " && ".join((*DATA_COMMANDS, TRAIN_COMMAND)),
        "inputs": {"faces": {"shape": ["batch", 3, sf.INPUT_SIZE, sf.INPUT_SIZE], "dtype": "float32",
                             "layout": "NCHW, RGB", "range": [-1.0, 1.0]}},
        "preprocessing": (
            "The scan pipeline finds faces (CenterFace), tracks them and aligns each to the five-point template "
            "(synthwatch.faces.align_face, 256 x 256). sw-face resizes the crop to "
            f"{sf.INPUT_SIZE} x {sf.INPUT_SIZE} with area averaging (linear when enlarging) and scales it to "
            "[-1, 1] (synthwatch.detectors.face.sw_face.face_input; training uses the same function)."),
        "outputs": "logit [batch]; detector score = sigmoid(logit), higher = more likely a swapped face; a face "
                   "track's score is the mean of its boxes' scores",
        "numerics": (
            "float32 ONNX graph (convolutions, batch-norm folded, ReLU, mean, one linear layer); no quantised or "
            "integer kernels, so every CPU computes the same function up to float32 rounding. ONNX Runtime agrees "
            f"with the PyTorch network to {report['onnx_vs_torch_max_abs_logit']:.1e} in the logit on the "
            f"{report['validation'].get('n_tracks', 0)} validation tracks' crops (checked when exported)."),
        "training_data": (
            "Faces found and aligned exactly as a scan does (CenterFace, synthwatch.faces.align_face) in: real face "
            "photographs of chmoe/Real_Fake_Face (split by file hash into train / val) and the 55 DeepFaceLive "
            "side-by-side demo clips (iperov/DeepFaceLive doc/celebs: left half the real streamer, right half the "
            "live swap, one encode; split in two matched tracks, every 3rd frame), split by IDENTITY GROUP (the "
            "celebrity folder, merged when two folders share the real person or footage): "
            + json.dumps(man["identity_groups"]) + ". Fakes for training: a fresh self-blended image (SBI: a "
            "colour/sharpness/resolution-altered copy of the face blended back through a soft, deformed face mask) "
            "of every real training crop each epoch, plus the swapped halves of the training clips. Both classes "
            "get the same degradations (downscale 0.25-0.8, JPEG 30-92, blur, noise, flip). Never trained or "
            "calibrated on: the test identity groups' clips and tharunnayak14/Real-vs-Fake-Face-Detection (real "
            "faces and StyleGAN2 faces: a source the model never saw). Crop counts (split:source:label): "
            + json.dumps(report["counts"]) + f". Manifest sha256 {man['sha256']}."),
        "threshold": round(thr, 6),
        "threshold_source": (
            f"validation split only: the larger of the {1 - cal['target_fpr']:.0%} quantiles of the genuine "
            f"validation crops' scores, still photographs ({cal.get('n_still_real')}) and video frames of the "
            f"validation identities ({cal.get('n_video_real')}) taken separately, i.e. a target false-positive rate "
            f"of {cal['target_fpr']:.0%} per face crop; written by " + TRAIN_COMMAND),
        "score_direction": "higher = more likely a swapped face (sigmoid of the logit)",
        "metrics": metrics,
        "training_run": {
            "command": report["command"], "seconds": report["seconds"], "parameters": report["parameters"],
            "epochs": tr["epochs"], "selected_epoch": report["best_epoch"],
            "selected_by": "mean of the validation DeepFaceLive crop AUC and the validation SBI AUC",
            "frames_per_clip_per_epoch": tr["frames_per_clip"], "seed": tr["seed"], "threads": tr["threads"],
            "validation_by_epoch": [{k: rnd(v) for k, v in e.items()} for e in report["log"]],
        },
        "limitations": (
            "Trained on a few thousand faces: about a thousand still photographs and the real and swapped faces of "
            "a few dozen DeepFaceLive demo clips. One swap method (DeepFaceLive's live DFM models) is the only real "
            "swap it has seen; other methods (FaceSwap, SimSwap, Roop/inswapper, diffusion face edits, lip-sync) "
            "are represented only by the self-blended images. Held-out figures come from 12 clips of 6 identity "
            "groups: wide intervals. Fully synthetic faces (StyleGAN) are not face swaps and are not its task. "
            "Scores one aligned face crop at a time; the pipeline averages a track. A signal, not proof."),
        "resolvers": [{"kind": "package"}],
        "install_hint": "nothing to install: the weights ship inside synthwatch",
        "default": bool(default),
    }


def write_card(report_path: Path, weights: Path, out: Path, manifest: Path, evals: list[tuple[str, Path]],
               *, default: bool) -> None:
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    write_card_yaml(out, render_card(report, weights, manifest, evals, default))
