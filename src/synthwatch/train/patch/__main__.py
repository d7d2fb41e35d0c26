"""``python -m synthwatch.train.patch {train,speed,card}`` (see :mod:`synthwatch.train.patch`).

``train --data DIR --out WEIGHTS_DIR --report FILE.json``: fit on the built picture set, export the
float32 ONNX graph, check ONNX Runtime against PyTorch, calibrate on validation pictures.

``speed --data DIR [--n 40]``: pictures a second through the shipped detector (decode excluded,
preprocessing and ONNX Runtime included) with 2 threads, printed and written as JSON.

``card --report FILE.json --weights DIR --manifest CSV --out CARD.yaml [--eval LABEL=DIR ...]``.

``manifests --data DIR [--per-family 100] [--per-real-source 150]``: ``eval-heldout.csv`` beside the
set's index: the ``test`` split (held-out families, sources never seen) subsampled to at most that
many pictures per fake family and per real source (by a fixed hash order of the file hashes, so
the choice depends on nothing else), small enough for the CLIP-based detectors to be scored beside
sw-patch on 2 CPU cores.
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
    p = argparse.ArgumentParser(prog="python -m synthwatch.train.patch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, required=True, help="the picture set (OUT/image of the data build)")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--report", type=Path, required=True)
    t.add_argument("--epochs", type=int, default=16)
    t.add_argument("--target-fpr", type=float, default=0.02)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("speed")
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--n", type=int, default=40)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--out", type=Path)
    c = sub.add_parser("card")
    c.add_argument("--report", type=Path, required=True)
    c.add_argument("--weights", type=Path, required=True)
    c.add_argument("--manifest", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--speed", type=Path, help="JSON written by the speed command")
    c.add_argument("--eval", action="append", default=[], metavar="LABEL=DIR")
    c.add_argument("--default", action="store_true")
    m = sub.add_parser("manifests")
    m.add_argument("--data", type=Path, required=True)
    m.add_argument("--per-family", type=int, default=100)
    m.add_argument("--per-real-source", type=int, default=150)
    args = p.parse_args(argv)
    if args.cmd == "manifests":
        return _manifests(args.data, args.per_family, args.per_real_source)
    if args.cmd == "train":
        return _train(args, argv)
    if args.cmd == "speed":
        return _speed(args, argv)
    from .card import write_card

    evals = [(e.partition("=")[0], Path(e.partition("=")[2])) for e in args.eval]
    write_card(args.report, args.weights, args.out, args.manifest, evals, speed=args.speed, default=args.default)
    _say(f"wrote {args.out}")
    return 0


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    import hashlib

    import numpy as np

    from ...detectors.image.sw_patch import ONNX_FILE
    from ..face.model import count_params, export_onnx
    from ..face.train import score_onnx
    from .train import PatchConfig, calibrate_threshold, fit, item_logits

    cfg = PatchConfig(epochs=args.epochs, seed=args.seed, threads=args.threads, target_fpr=args.target_fpr)
    t0 = time.time()
    res = fit(args.data, cfg, progress=_say)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / ONNX_FILE
    from ...detectors.image.sw_patch import PATCH

    export_onnx(res["model"], onnx_path, size=PATCH)
    onnx = onnx_path.read_bytes()
    x = res["xva"]
    ref = item_logits(res["model"], x)
    got = score_onnx(onnx, x.reshape(-1, *x.shape[2:])).reshape(x.shape[0], x.shape[1]).mean(axis=1)
    diff = float(np.max(np.abs(ref - got))) if len(ref) else 0.0
    _say(f"ONNX Runtime vs PyTorch on {len(ref)} validation pictures: max |logit difference| {diff:.2e}")
    if diff > 1e-3:
        return 1
    cal = calibrate_threshold(res["val"], got, cfg.target_fpr)
    _say(f"calibration: {json.dumps(cal)}")
    report = {
        "command": "python -m synthwatch.train.patch " + " ".join(shlex.quote(a) for a in argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.time() - t0, 1),
        "config": {k: v for k, v in vars(cfg).items() if k != "log"},
        "parameters": count_params(res["model"]),
        "best_epoch": res["best_epoch"],
        "val_auc": res["val_auc"],
        "log": res["log"],
        "onnx_sha256": hashlib.sha256(onnx).hexdigest(),
        "onnx_vs_torch_max_abs_logit": diff,
        "calibration": cal,
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    _say(f"wrote {onnx_path} and {args.report}")
    return 0


def _manifests(data: Path, per_family: int, per_real: int) -> int:
    import csv
    from collections import defaultdict

    from ..data.sources import hash_fraction

    with open(data / "index.csv", newline="", encoding="utf-8") as f:
        recs = [r for r in csv.DictReader(f) if r["split"] == "test"]
    strata: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in recs:
        strata[f"fake:{r['family']}" if r["label"] == "fake" else f"real:{r['source']}"].append(r)
    keep = []
    for key, rows in sorted(strata.items()):
        cap = per_family if key.startswith("fake:") else per_real
        rows = sorted(rows, key=lambda r: hash_fraction(r["file_sha256"]))[:cap]
        keep += rows
        _say(f"{key}: {len(rows)} of {len(strata[key])}")
    with open(data / "eval-heldout.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "label", "group", "family", "split", "source"])
        for r in sorted(keep, key=lambda r: r["path"]):
            w.writerow([r["path"], r["label"], "", r["family"], "test", r["source"]])
    _say(f"eval-heldout.csv: {len(keep)} pictures")
    return 0


def _speed(args: argparse.Namespace, argv: list[str]) -> int:
    import os

    import cv2
    import numpy as np

    from ...detectors.image.sw_patch import SwPatch
    from ...models.store import ModelStore
    from .train import load_pictures

    ps = load_pictures(args.data, ("val",))
    imgs = []
    for pth in ps.paths[: args.n]:
        im = cv2.imread(str(pth), cv2.IMREAD_COLOR)
        if im is not None:
            imgs.append(np.ascontiguousarray(np.asarray(im)[..., ::-1]))
    det = SwPatch(threads=args.threads)
    det.load(ModelStore(Path(os.environ.get("TMPDIR", "/tmp")) / "sw-patch-speed-store"))
    det.score(imgs[:2], batch_size=1)  # warm-up
    t0 = time.perf_counter()
    for im in imgs:
        det.score([im], batch_size=1)
    dt = time.perf_counter() - t0
    res = {"images": len(imgs), "seconds": round(dt, 3), "images_per_s": round(len(imgs) / dt, 2),
           "ms_per_image": round(1000 * dt / len(imgs), 1), "threads": args.threads, "cpu_count": os.cpu_count(),
           "load_average": [round(v, 2) for v in os.getloadavg()],
           "what": "sw-patch preprocess + ONNX Runtime, one picture per call, validation pictures (normalised JPEG, "
                   "shorter side <= 512), decode excluded",
           "command": "python -m synthwatch.train.patch " + " ".join(shlex.quote(a) for a in argv)}
    print(json.dumps(res))
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
