"""Robustness and speed of the shipped ``sw-image`` head against ``clip-probe``, measured with the
evaluation harness (:mod:`synthwatch.evaluate`: the code behind ``synthwatch eval``).

:func:`write_manifest` turns the shipped split list (``sw_image_splits.json``) into a CSV manifest
of the ``val`` and ``heldout`` originals (columns ``path,label,group,split,source``; the source is
the category), so that the harness reports each split on its own (its ``split`` breakdown). The
equivalent command line::

    synthwatch eval --data MANIFEST.csv --detectors sw-image,clip-probe \\
        --perturb jpeg:95,jpeg:75,jpeg:50,resize:0.5,crop:0.8,social --out OUT

:func:`run` does exactly that in-process and distils ``results.json`` into ``robustness.json`` (AUC with 95 % interval
per detector, condition and split; error rates at each card threshold; milliseconds per image),
tagged with the sha256 of the head that was measured.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...detectors.image import sw_image as sw

__all__ = ["CONDITIONS", "DETECTORS", "write_manifest", "run", "distil", "speed", "ROBUSTNESS_SCHEMA"]

ROBUSTNESS_SCHEMA = "synthwatch.train.sw-image.robustness/1"
CONDITIONS = ("jpeg:95", "jpeg:75", "jpeg:50", "resize:0.5", "crop:0.8", "social")
DETECTORS = ("sw-image", "clip-probe")
_SPLITS = ("val", "heldout")


def write_manifest(splits_json: Path, data: Path, out_csv: Path, splits: tuple[str, ...] = _SPLITS) -> int:
    """Write the manifest of the chosen splits' originals; returns the number of rows."""
    doc = json.loads(Path(splits_json).read_text(encoding="utf-8"))
    rows = [s for s in doc["sources"] if s["split"] in splits]
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group", "split", "source"])
        for s in rows:
            w.writerow([str((Path(data) / s["path"]).resolve()), "fake" if s["label"] else "real", s["group"],
                        s["split"], s["category"]])
    return len(rows)


def _auc(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if not summary:
        return None
    out: dict[str, Any] = {"auc": summary["auc"]["value"], "auc_ci95": summary["auc"]["ci95"],
                           "n_real": summary["n_real"], "n_fake": summary["n_fake"]}
    card = (summary.get("at_threshold") or {}).get("card")
    if card:
        out["at_card_threshold"] = {k: card[k] for k in ("accuracy", "balanced_accuracy", "fpr", "recall")
                                    if k in card}
    return out


def distil(results: dict[str, Any], head_sha256: str) -> dict[str, Any]:
    """The figures the model card records, from a harness ``results.json`` document."""
    dets: dict[str, Any] = {}
    for d in results["detectors"]:
        entry: dict[str, Any] = {"version": d["version"], "status": d["status"],
                                 "card_threshold": (d.get("card") or {}).get("threshold"), "conditions": {}}
        sp = d.get("speed") or {}
        if sp.get("items_per_s"):
            entry["ms_per_image"] = 1000.0 / sp["items_per_s"]
            entry["speed_items"] = sp.get("items")
        for c in d.get("conditions", []):
            per: dict[str, Any] = {"all": _auc(c.get("item_level"))}
            for b in (c.get("breakdown") or {}).get("split", []):
                per[b["value"]] = _auc(b.get("metrics")) if b.get("basis") == "subset" else None
            entry["conditions"][c["condition"]] = per
        entry["n_failures"] = d.get("n_failures", 0)
        dets[d["name"]] = entry
    env = results.get("environment", {})
    return {"schema": ROBUSTNESS_SCHEMA, "head_sha256": head_sha256, "command": results.get("command", ""),
            "created_at": results.get("created_at"), "cpu_count": env.get("cpu_count"),
            "wall_s": env.get("wall_s"), "decode_s": env.get("decode_s"), "detectors": dets}


def run(data: Path, weights: Path, out: Path, *, store: Any, conditions: tuple[str, ...] = CONDITIONS,
        detectors: tuple[str, ...] = DETECTORS, n_boot: int = 1000, command: str = "",
        say: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Write the manifest, run the harness, write its outputs and ``robustness.json`` in ``out``."""
    from ...evaluate import EvalConfig, load_dataset, parse_conditions, run_eval, write_outputs

    out = Path(out)
    manifest = out / "manifest.csv"
    write_manifest(Path(weights) / "sw_image_splits.json", Path(data), manifest)
    cfg = EvalConfig(detectors=list(detectors), conditions=parse_conditions(list(conditions)), n_boot=n_boot,
                     breakdown_boot=n_boot)
    def hook(step: str, info: dict[str, Any]) -> None:
        if step == "item" and (info["done"] % 10 == 0 or info["done"] == info["total"]):
            say(f"harness: {info['done']}/{info['total']} items scored")

    run_ = run_eval(load_dataset(str(manifest)), cfg, store=store, hook=hook, command=command)
    write_outputs(run_, out, plots=True)
    head_sha = hashlib.sha256((Path(weights) / sw.HEAD_ONNX).read_bytes()).hexdigest()
    summary = distil(run_.results, head_sha)
    summary["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    (out / "robustness.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def speed(data: Path, weights: Path, *, store: Any, n: int = 12, split: str = "val",
          detectors: tuple[str, ...] = DETECTORS) -> dict[str, Any]:
    """Milliseconds per picture (``preprocess`` + ``detect``, one picture per call, decode excluded)
    for each detector, interleaved picture by picture so that every detector sees the same machine
    load; the first ``n`` pictures of ``split`` in the shipped split list, after one warm-up call.
    Returns medians and minima, with the load average before and after."""
    import statistics
    import time

    from ...detectors import registry
    from ...media import load_image

    doc = json.loads((Path(weights) / "sw_image_splits.json").read_text(encoding="utf-8"))
    paths = [Path(data) / s["path"] for s in doc["sources"] if s["split"] == split][:n]
    images = [load_image(p) for p in paths]
    dets = {name: registry.create(name) for name in detectors}
    for d in dets.values():
        d.load(store)
        d.detect(d.preprocess(images[0])[None])
    load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    times: dict[str, list[float]] = {name: [] for name in dets}
    pre: dict[str, list[float]] = {name: [] for name in dets}
    for img in images:
        for name, d in dets.items():
            t0 = time.perf_counter()
            x = d.preprocess(img)
            t1 = time.perf_counter()
            d.detect(x[None])
            times[name].append(time.perf_counter() - t0)
            pre[name].append(t1 - t0)
    return {
        "pictures": len(images), "split": split,
        "sizes": sorted({f"{i.shape[1]}x{i.shape[0]}" for i in images}),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cpu_count": os.cpu_count(),
        "detectors": {name: {"median_ms": 1000 * statistics.median(v), "min_ms": 1000 * min(v),
                             "preprocess_median_ms": 1000 * statistics.median(pre[name])}
                      for name, v in times.items()},
    }
