#!/usr/bin/env python3
"""Time of reading C2PA manifest stores (the whole graph, validated, in the isolated worker).

    python benchmarks/c2pa_read.py [FILES_OR_DIRS ...] [--repeat N]

Default input: the gathered wild collection (``scripts/provenance_wild.py gather``), else
``../shared/data/provenance-wild``. Prints per file the manifests read and the median time, then the
median and maximum over all files. The first call, which starts the worker, is timed apart.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".mp4", ".mov", ".mp3", ".wav", ".avif"}


def inputs(args: list[str]) -> list[Path]:
    if not args:
        sys.path.insert(0, str(ROOT / "scripts"))
        from provenance_wild import default_dest

        args = [str(d) for d in (default_dest(), ROOT.parent / "shared" / "data" / "provenance-wild") if d.is_dir()][:1]
    out: list[Path] = []
    for a in args:
        p = Path(a)
        out += sorted(f for f in p.rglob("*") if f.suffix.lower() in SUFFIXES) if p.is_dir() else [p]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from synthwatch.provenance.c2pa_manifest import read_c2pa

    files = inputs(args.paths)
    if not files:
        print("no input files", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    read_c2pa(files[0])
    print(f"first call (starts the isolated worker): {(time.perf_counter() - t0) * 1000:.0f} ms")
    medians = []
    for f in files:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            r = read_c2pa(f)
            times.append(time.perf_counter() - t)
        m = statistics.median(times)
        medians.append(m)
        print(f"{m * 1000:8.1f} ms  {r.get('manifests', 0):3d} manifests  {f.stat().st_size / 1e6:6.2f} MB  {f.name}")
    print(f"\n{len(files)} files: median {statistics.median(medians) * 1000:.1f} ms, "
          f"max {max(medians) * 1000:.1f} ms, total {sum(medians):.2f} s (median of {args.repeat} runs each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
