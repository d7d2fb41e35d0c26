"""``python -m synthwatch.train.face {train,card}`` (see :mod:`synthwatch.train.face`).

``train --data DIR --out WEIGHTS_DIR --report FILE.json``: fit on the built face set, export the
float32 ONNX graph, check ONNX Runtime against PyTorch, calibrate the threshold on validation data
and write ``sw_face.onnx`` plus the training report.

``card --report FILE.json --weights DIR --out CARD.yaml [--eval NAME=DIR ...]``: the model card,
with the figures of ``synthwatch eval`` runs (each ``results.json``) on held-out data.

``manifests --data DIR``: ``eval-crops-<split>.csv`` beside the set's ``index.csv``: the aligned crops
of still pictures of each split, for ``synthwatch eval --faces aligned`` (the clips' half videos
have their own ``eval-<split>.csv``, written by the data build).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m synthwatch.train.face", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="fit, export, check, calibrate")
    t.add_argument("--data", type=Path, required=True, help="the face set (OUT/face of the data build)")
    t.add_argument("--out", type=Path, required=True, help="folder for sw_face.onnx")
    t.add_argument("--report", type=Path, required=True, help="training report (JSON)")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--frames-per-clip", type=int, default=16)
    t.add_argument("--video-fakes", action="store_true",
                   help="also train on the swapped halves of the training clips (off by default: identity shortcut)")
    t.add_argument("--target-fpr", type=float, default=0.02)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    c = sub.add_parser("card", help="write the model card from the training report and eval runs")
    c.add_argument("--report", type=Path, required=True)
    c.add_argument("--weights", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--manifest", type=Path, required=True, help="the committed training manifest")
    c.add_argument("--eval", action="append", default=[], metavar="LABEL=DIR",
                   help="a synthwatch eval output folder and what it measured (repeatable)")
    c.add_argument("--default", action="store_true", help="the card marks the model a default")
    m = sub.add_parser("manifests", help="eval manifests of the still crops, per split")
    m.add_argument("--data", type=Path, required=True)
    args = p.parse_args(argv)
    if args.cmd == "train":
        return _train(args, argv)
    if args.cmd == "manifests":
        return _manifests(args.data)
    from .card import write_card

    evals = []
    for e in args.eval:
        label, _, d = e.partition("=")
        evals.append((label, Path(d)))
    write_card(args.report, args.weights, args.out, args.manifest, evals, default=args.default)
    _say(f"wrote {args.out}")
    return 0


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    import hashlib

    import numpy as np

    from ...detectors.face.sw_face import ONNX_FILE
    from .model import count_params, export_onnx
    from .train import TrainConfig, _predict, calibrate_threshold, fit, score_onnx

    cfg = TrainConfig(epochs=args.epochs, frames_per_clip=args.frames_per_clip, seed=args.seed,
                      threads=args.threads, target_fpr=args.target_fpr, video_fakes=args.video_fakes)
    t0 = time.time()
    res = fit(args.data, cfg, progress=_say)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / ONNX_FILE
    export_onnx(res["model"], onnx_path)
    onnx = onnx_path.read_bytes()
    vin, va = res["vin"], res["val_set"]
    ref = _predict(res["model"], vin["x"])
    got = score_onnx(onnx, vin["x"])
    max_diff = float(np.max(np.abs(ref - got))) if len(ref) else 0.0
    _say(f"ONNX Runtime vs PyTorch on {len(ref)} validation crops: max |logit difference| {max_diff:.2e}")
    if max_diff > 1e-3:
        _say("the exported graph disagrees with the trained network")
        return 1
    cal = calibrate_threshold(va, got, cfg.target_fpr)
    _say(f"calibration: {json.dumps(cal)}")
    report = {
        "command": "python -m synthwatch.train.face " + " ".join(shlex.quote(a) for a in argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.time() - t0, 1),
        "config": {k: v for k, v in vars(cfg).items() if k != "log"},
        "parameters": count_params(res["model"]),
        "best_epoch": res["best_epoch"],
        "validation": res["val"],
        "log": res["log"],
        "onnx_sha256": hashlib.sha256(onnx).hexdigest(),
        "onnx_vs_torch_max_abs_logit": max_diff,
        "calibration": cal,
        "counts": _counts(args.data),
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    _say(f"wrote {onnx_path} and {args.report} in {report['seconds']} s")
    return 0


def _manifests(data: Path) -> int:
    import csv

    with open(data / "index.csv", newline="", encoding="utf-8") as f:
        recs = [r for r in csv.DictReader(f) if not r["clip"]]
    for split in sorted({r["split"] for r in recs}):
        rows = [r for r in recs if r["split"] == split]
        with open(data / f"eval-crops-{split}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["path", "label", "group", "family", "split", "source"])
            for r in sorted(rows, key=lambda r: r["crop"]):
                w.writerow([r["crop"], r["label"], "", r["family"], split, r["source"]])
        _say(f"eval-crops-{split}.csv: {len(rows)} crops")
    return 0


def _counts(data: Path) -> dict[str, int]:
    import csv
    from collections import Counter

    with open(data / "index.csv", newline="", encoding="utf-8") as f:
        c = Counter(f"{r['split']}:{r['source']}:{r['label']}" for r in csv.DictReader(f))
    return dict(sorted(c.items()))


if __name__ == "__main__":
    raise SystemExit(main())
