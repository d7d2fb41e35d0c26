"""Render the ``sw-voice`` model card from what training, calibration, the evaluation harness and
the speed measurement produced. Every figure comes from a file written by a command; nothing is
typed in by hand. Evaluation results are only accepted when they scored the shipped ONNX (the
sha256 recorded beside them must match).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from ...detectors.audio import sw_voice as sv
from .data import HELDOUT_FAMILY
from .ensemble import ENSEMBLE_JSON

__all__ = ["TRAIN_COMMAND", "render_card", "write_card", "eval_metrics"]

TRAIN_COMMAND = ("python -m synthwatch.train.voice train --out src/synthwatch/models/weights/sw-voice "
                 "--card src/synthwatch/models/cards/sw-voice.yaml")

_LICENCE = (
    "Weights: synthwatch's own (trained by this project; the project's licence, Apache-2.0). Training data: "
    "LibriSpeech train-clean-100 (CC BY 4.0; attribution: Panayotov et al., ICASSP 2015), the MelGAN demo "
    "samples (MIT; LJSpeech recordings, public domain, and MelGAN outputs) and audio synthesised by the "
    "training pipeline itself (re-syntheses of those recordings; espeak-ng and flite voices). No third-party "
    "weights are shipped."
)


def _sha(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _r(v: Any, nd: int = 4) -> Any:
    return round(float(v), nd) if isinstance(v, int | float) and not isinstance(v, bool) else v


def eval_metrics(results: Path, label: str, detectors: tuple[str, ...] = ("sw-voice", "aasist", "aasist-l"),
                 family: str | None = None) -> list[dict[str, Any]]:
    """EER and AUC (with bootstrap CIs) per detector and condition from a ``results.json``."""
    d = json.loads(Path(results).read_text(encoding="utf-8"))
    out = []
    for det in d["detectors"]:
        if det["name"] not in detectors or det.get("status") != "ok":
            continue
        for cond in det["conditions"]:
            il = cond.get("item_level") or {}
            if not il:
                continue
            for name in ("eer", "auc"):
                m = il.get(name) or {}
                if m.get("value") is None:
                    continue
                row: dict[str, Any] = {"name": "eer" if name == "eer" else "roc_auc", "value": _r(m["value"]),
                                       "ci95": [_r(v) for v in m.get("ci95") or []] or None,
                                       "dataset": label, "detector": det["name"], "condition": cond["condition"],
                                       "n_real": il.get("n_real"), "n_fake": il.get("n_fake"),
                                       "harness": "synthwatch eval", "command": d.get("command")}
                out.append({k: v for k, v in row.items() if v is not None})
            fams = (cond.get("breakdown") or {}).get("family") or []
            if any(b.get("value") == HELDOUT_FAMILY for b in fams):  # our own test / held-out run: per family
                for b in fams:
                    bm = b.get("metrics") or {}
                    for name in ("eer", "auc"):
                        m = bm.get(name) or {}
                        if m.get("value") is None:
                            continue
                        out.append({"name": "eer" if name == "eer" else "roc_auc", "value": _r(m["value"]),
                                    "ci95": [_r(v) for v in m.get("ci95") or []],
                                    "dataset": f"{label}; family {b['value']} vs all reals"
                                               + (" (HELD OUT of training and calibration)"
                                                  if b["value"] == HELDOUT_FAMILY else ""),
                                    "detector": det["name"], "condition": cond["condition"],
                                    "n_real": bm.get("n_real"), "n_fake": bm.get("n_fake"),
                                    "harness": "synthwatch eval", "command": d.get("command")})
            at = (il.get("at_threshold") or {}).get("card")
            if det["name"] == "sw-voice" and at:
                out.append({"name": "error_rates_at_card_threshold", "dataset": label, "detector": det["name"],
                            "condition": cond["condition"],
                            **{k: _r(v) for k, v in at.items() if isinstance(v, int | float)},
                            "command": d.get("command")})
    return out


def _ensemble_summary(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    ens = json.loads(path.read_text(encoding="utf-8"))
    return {
        "file": ENSEMBLE_JSON,
        "what": ("logistic-regression stacking of the members' logit scores, fitted on validation data only (the "
                 "hifi-gan, vits, freevc and tortoise-tts demo sets; LibriSpeech reals of the train and test "
                 "speakers left out); applied by synthwatch.pipeline.fusion when sw-voice ran with aasist and/or "
                 "aasist-l"),
        "command": "python -m synthwatch.train.voice ensemble --scores " + " ".join(ens.get("scores_from", [])),
        "combinations": {k: {kk: v[kk] for kk in ("members", "weights", "bias", "threshold", "n_real", "n_fake",
                                                 "fit_eer", "fit_auc", "note")}
                         for k, v in ens["combinations"].items()},
    }


def render_card(weights: Path, train_report: dict[str, Any], calibration: dict[str, Any],
                evals: list[tuple[Path, str]] | None = None, rtf: dict[str, Any] | None = None) -> dict[str, Any]:
    weights = Path(weights)
    onnx = weights / sv.ONNX_FILE
    extra = {}
    ens_path = weights / ENSEMBLE_JSON
    if ens_path.is_file():
        extra[ENSEMBLE_JSON] = _sha(ens_path)
    metrics: list[dict[str, Any]] = [
        {"name": "eer", "value": calibration["pool_eer"], "dataset": "validation pool (sw-voice val split + "
         "hifi-gan / vits / freevc / tortoise-tts demo sets)", "detector": "sw-voice", "condition": "clean",
         "n_real": calibration["n_real"], "n_fake": calibration["n_fake"],
         "note": "the threshold was fitted on these items (in-sample)", "command": TRAIN_COMMAND},
    ]
    for s, v in calibration["per_set"].items():
        metrics.append({"name": "eer", "value": v["eer"], "auc": v["auc"], "dataset": f"validation: {s}",
                        "detector": "sw-voice", "condition": "clean", "n_real": v["n_real"], "n_fake": v["n_fake"],
                        **({"note": v["note"]} if v.get("note") else {}), "command": TRAIN_COMMAND})
    for path, label in evals or []:
        metrics += eval_metrics(path, label)
    if rtf:
        metrics.append({"name": "real_time_factor", "value": _r(rtf["rtf"], 5), "detector": "sw-voice",
                        **{k: rtf[k] for k in ("what", "audio_s", "seconds", "threads", "cpu_count", "load_average",
                                               "command") if k in rtf}})
    hist = train_report["history"]
    return {
        "name": sv.MODEL,
        "version": sv.SwVoice.info.version,
        "task": "voice anti-spoofing (is this speech synthesized or converted?)",
        "modality": "audio",
        "format": "onnx",
        "file": sv.ONNX_FILE,
        "sha256": _sha(onnx),
        "extra_files": extra,
        "licence": _LICENCE,
        "source": "trained by synthwatch (synthwatch.train.voice); " + TRAIN_COMMAND,
        "inputs": {"features": {"shape": ["batch", sv.N_BANDS, sv.N_FRAMES], "dtype": "float32",
                                "sample_rate": sv.SAMPLE_RATE, "channels": 1,
                                "description": sv.SwVoice.info.input_spec["features"]}},
        "preprocessing": (f"Decode to mono float32 at 16 kHz. Take the first {sv.N_SAMPLES} samples (4 s); a shorter "
                          "clip is tiled end to end. Features in numpy (synthwatch.detectors.audio.sw_voice."
                          "voice_features): " + sv.SwVoice.info.input_spec["features"] + "."),
        "outputs": "logit [batch]; detector score = sigmoid(logit), higher = more likely synthetic",
        "training_data": (
            "Real: LibriSpeech train-clean-100 utterances of the train speakers (one utterance per speaker; "
            "speakers split 60/20/20 into train/val/test, seeded) and the MelGAN demo's LJSpeech originals. "
            "Fake, generated by the pipeline: Griffin-Lim (linear or 80-band mel magnitude), WORLD (pyworld, "
            "optionally coded envelope) and LPC-vocoder re-syntheses of those same real utterances; espeak-ng "
            "(train voices) and flite (awb, rms, kal) reading Harvard sentences; plus the MelGAN demo's LJSpeech "
            "MelGAN outputs and ablations (MIT). Each real utterance and its re-syntheses get the same "
            "augmentation chains (MP3/AAC/Opus, telephone band, noise, reverberation, RawBoost-style), "
            "recorded in the manifest. HELD OUT of training and calibration: the whole Piper (VITS) family. "
            "Never seen: speech-dev/espnet-tts-sample (the reported benchmark). Counts: "
            + json.dumps(train_report["train_items"], sort_keys=True)),
        "threshold": round(float(calibration["threshold"]), 6),
        "threshold_source": (
            f"EER threshold on the validation pool only ({calibration['n_real']} real / {calibration['n_fake']} "
            "fake items: the sw-voice val split (val speakers and their re-syntheses, val espeak-ng voices, flite "
            "slt, MelGAN demo unseen-speaker/VQ-VAE/text2mel items; clean and augmented) and the hifi-gan, vits, "
            "freevc and tortoise-tts demo sets, items identical to training audio dropped), first 4 s of each "
            "item, written by " + TRAIN_COMMAND),
        "score_direction": "higher = more likely synthetic (sigmoid of the logit)",
        "metrics": metrics,
        "training_run": {
            "command": TRAIN_COMMAND,
            "seconds": train_report.get("wall_seconds"),
            "generation_seconds": train_report.get("generation_seconds"),
            "fit_seconds": train_report.get("fit_seconds"),
            "cpus": train_report.get("cpus"),
            "parameters": train_report["parameters"],
            "epochs": train_report["epochs"],
            "selected_epoch": train_report["selected_epoch"],
            "selected_by": train_report["selected_by"],
            "val_eer_by_epoch": [h["val_eer"] for h in hist],
            "manifest_sha256": train_report["manifest_sha256"],
            "seed": train_report["seed"],
        },
        "validation_by_family": calibration.get("val_split_by_family"),
        "ensemble": _ensemble_summary(ens_path),
        "limitations": (
            "Trained on a small sample (about a hundred LibriSpeech speakers, one utterance each, and one LJSpeech "
            "speaker) and on fakes the pipeline could make on a CPU without model downloads: vocoder re-synthesis "
            "(Griffin-Lim, WORLD, LPC), rule-based TTS and MelGAN. Modern neural TTS and voice conversion are "
            "represented only by the held-out Piper voice and the validation demo sets; see the per-set figures. "
            "Scores the first 4 s of what it is given (the scan pipeline feeds 4 s windows). The telephone band "
            "raises its scores on real speech (see the tel8k error rates at the card threshold). On its own test "
            "split and the held-out Piper voice it is no better than AASIST-L; its advantage is on recordings from "
            "other corpora, which AASIST-L flags as spoofed. The ensemble's validation-fitted probabilities are "
            "compressed (the validation demo sets are hard for every member), so the fused verdict is more often "
            "'inconclusive' than sw-voice's alone. A weak signal on its own: use it with the other voice detectors "
            "and the provenance checks."),
        "resolvers": [{"kind": "package"}],
        "install_hint": "nothing to install: the weights ship inside synthwatch",
        "default": True,
    }


def write_card(path: Path, card: dict[str, Any]) -> None:
    from ...models.card import ModelCard

    ModelCard.from_dict(card)  # validates (every packaged file pinned)
    Path(path).write_text(yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
