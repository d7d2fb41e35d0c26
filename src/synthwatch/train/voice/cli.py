"""Command line of the sw-voice training pipeline: ``python -m synthwatch.train.voice COMMAND``.

``train``     the one documented command: generate the data (cached), fit, export the ONNX into
              ``--out``, calibrate on validation data, write the card
``generate``  only the data generation (manifest + audio under ``--cache``)
``ensemble``  fit the fusion weights of sw-voice + AASIST / AASIST-L on validation scores
``rtf``       real-time factor of preprocess + detect on ``--seconds`` of audio
``card``      re-render the card with ``synthwatch eval`` results and the RTF measurement
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

__all__ = ["main"]

log = logging.getLogger("synthwatch.train.voice")

DEFAULT_DATA = Path("../shared/data")
DEFAULT_CACHE = Path(".cache-train/sw-voice")
DEFAULT_OUT = Path("src/synthwatch/models/weights/sw-voice")
DEFAULT_CARD = Path("src/synthwatch/models/cards/sw-voice.yaml")


def _gen(args: argparse.Namespace) -> float:
    from .data import generate

    t = time.time()
    path = generate(args.data, args.cache, seed=args.seed, workers=args.workers, log=log.info)
    seconds = time.time() - t
    log.info("manifest %s written in %.1f s", path, seconds)
    (args.cache / "generation.json").write_text(json.dumps({"seconds": round(seconds, 1), "workers": args.workers,
                                                            "seed": args.seed}) + "\n", encoding="utf-8")
    return seconds


def _state(cache: Path) -> Path:
    return cache / "state.json"


def _train(args: argparse.Namespace) -> None:
    from .card import render_card, write_card
    from .model import export_onnx
    from .train import calibrate, fit, onnx_path

    t0 = time.time()
    gen_s = 0.0
    if not (args.cache / "manifest.jsonl").is_file():
        gen_s = _gen(args)
    else:
        log.info("using the cached data in %s", args.cache)
        gp = args.cache / "generation.json"
        if gp.is_file():  # the generation time of the cached data (measured when it was generated)
            gen_s = float(json.loads(gp.read_text(encoding="utf-8"))["seconds"])
    t1 = time.time()
    res = fit(args.cache, epochs=args.epochs, samples_per_epoch=args.samples_per_epoch, seed=args.seed,
              threads=args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx(res["model"], onnx_path(args.out))
    fit_s = time.time() - t1
    from ...config import get_settings
    from ...models.store import ModelStore

    cal = calibrate(onnx, args.cache, args.data, ModelStore(get_settings().model_dir))
    report = dict(res["report"], generation_seconds=round(gen_s, 1), fit_seconds=round(fit_s, 1),
                  wall_seconds=round(time.time() - t0, 1), cpus=os.cpu_count())
    state = {"train_report": report, "calibration": {k: v for k, v in cal.items() if k != "scores"}}
    (args.cache / "calibration_scores.json").write_text(json.dumps(cal["scores"]) + "\n", encoding="utf-8")
    _state(args.cache).write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    write_card(args.card, render_card(args.out, report, state["calibration"]))
    log.info("threshold %.4f (validation EER %.4f); card %s; %.0f s in all", cal["threshold"], cal["pool_eer"],
             args.card, time.time() - t0)


def _ensemble(args: argparse.Namespace) -> None:
    from . import ensemble
    from .data import read_manifest
    from .train import load_audio, score_onnx

    # training and test audio may appear in a scores file (e.g. LibriSpeech reals): only val stays
    train_src = {str((args.data / r["source"]).resolve()) for r in read_manifest(args.cache / "manifest.jsonl")
                 if r["split"] != "val" and r.get("source")}
    items = ensemble.read_scores(args.scores, exclude=train_src)
    onnx = (args.out / "sw_voice.onnx").read_bytes()
    keys = sorted(items)
    s = score_onnx(onnx, [load_audio(Path(k)) for k in keys])
    for k, v in zip(keys, s, strict=True):
        items[k]["sw-voice"] = float(v)
    ens = ensemble.fit_ensemble(items)
    ens["scores_from"] = [str(p) for p in args.scores]
    ensemble.write(args.out / ensemble.ENSEMBLE_JSON, ens)
    log.info("ensemble: %s", json.dumps({k: {kk: v[kk] for kk in ("weights", "bias", "threshold", "fit_eer")}
                                         for k, v in ens["combinations"].items()}))


def _rtf(args: argparse.Namespace) -> None:
    from .speed import measure_rtf

    res = measure_rtf(seconds=args.seconds, threads=args.threads)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(res, indent=1))


def _card(args: argparse.Namespace) -> None:
    from .card import render_card, write_card

    state = json.loads(_state(args.cache).read_text(encoding="utf-8"))
    evals = []
    for spec in args.eval or []:
        path, _, label = spec.partition("=")
        evals.append((Path(path) / "results.json", label or Path(path).name))
    rtf = json.loads(args.rtf.read_text(encoding="utf-8")) if args.rtf else None
    write_card(args.card, render_card(args.out, state["train_report"], state["calibration"], evals, rtf))
    log.info("card %s written", args.card)


def main(argv: list[str] | None = None) -> None:
    from .data import SEED

    p = argparse.ArgumentParser(prog="python -m synthwatch.train.voice")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="generate the synthetic training data and the manifest")
    t = sub.add_parser("train", help="generate (cached), fit, export, calibrate, write the card")
    e = sub.add_parser("ensemble", help="fit the ensemble's fusion weights on validation scores")
    r = sub.add_parser("rtf", help="real-time factor of preprocess + detect")
    c = sub.add_parser("card", help="re-render the card with evaluation results")
    for sp in (g, t, e, c):
        sp.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data root")
        sp.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
        sp.add_argument("--seed", type=int, default=SEED)
        sp.add_argument("--workers", type=int, default=2)
    for sp in (t, e, c):
        sp.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the shipped weights go")
        sp.add_argument("--card", type=Path, default=DEFAULT_CARD)
    t.add_argument("--epochs", type=int, default=14)
    t.add_argument("--samples-per-epoch", type=int, default=2400)
    t.add_argument("--threads", type=int, default=2)
    e.add_argument("--scores", type=Path, nargs="+", required=True,
                   help="scores.csv files of synthwatch eval runs on VALIDATION sets with aasist / aasist-l")
    r.add_argument("--seconds", type=float, default=120.0)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--output", type=Path, default=DEFAULT_CACHE / "rtf.json")
    c.add_argument("--eval", action="append", help="DIR[=LABEL]: a synthwatch eval output folder")
    c.add_argument("--rtf", type=Path, help="the JSON written by the rtf command")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    {"generate": _gen, "train": _train, "ensemble": _ensemble, "rtf": _rtf, "card": _card}[args.cmd](args)
