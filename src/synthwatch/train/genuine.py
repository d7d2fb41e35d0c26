"""How often the default verdict calls genuine content ``likely_synthetic``.

``python -m synthwatch.train.genuine --reports NAME=FILE.jsonl [...] [--not-deciding a,b] [--out F.json]``

Each FILE is the output of ``synthwatch scan ... --jsonl`` (one report a line) over GENUINE media
only (photographs or videos that no model of the scan was trained or calibrated on). For every set
it counts the verdict labels (the share ``likely_synthetic`` is the false-positive rate of the
verdict, with a 95% Wilson interval), which detectors decided the flagged items, and, with
``--not-deciding``, what the verdict would have been had those detectors been reported as
non-deciding signals (the card field ``decides_verdict: false``), recomputed with the pipeline's
own fusion rules from the scores in the reports.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..pipeline import fusion
from ..types import Report, VerdictLabel

__all__ = ["wilson", "tally", "main"]


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k / n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def _read(path: Path) -> list[Report]:
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(Report.from_dict(json.loads(line)))
    return out


def tally(reports: list[Report], not_deciding: tuple[str, ...] = ()) -> dict[str, Any]:
    """Verdict counts of ``reports`` as scanned, and recomputed with ``not_deciding`` as signals."""
    ok = [r for r in reports if r.error is None]
    as_scanned = Counter(r.verdict.label.value for r in ok)
    deciders = Counter(r.verdict.basis.split("decided by ", 1)[1].split(" ", 1)[0]
                       for r in ok if r.verdict.label == VerdictLabel.LIKELY_SYNTHETIC and "decided by " in r.verdict.basis)
    flagged_by: Counter[str] = Counter()
    for r in ok:
        for d in r.detectors:
            if d.score is not None and d.threshold is not None and d.score >= d.threshold:
                flagged_by[d.name] += 1
    n = len(ok)
    k = as_scanned.get(VerdictLabel.LIKELY_SYNTHETIC.value, 0)
    out: dict[str, Any] = {
        "n": n, "errors": len(reports) - n, "verdicts": dict(sorted(as_scanned.items())),
        "likely_synthetic": k / n if n else None, "likely_synthetic_ci95": list(wilson(k, n)),
        "decided_by": dict(deciders.most_common()),
        "over_own_threshold_by_detector": dict(sorted(flagged_by.items())),
    }
    if not_deciding:
        counts: Counter[str] = Counter()
        for r in ok:
            dets = [replace(d, decides_verdict=False) if d.name in not_deciding else d for d in r.detectors]
            counts[fusion.fuse(dets).label.value] += 1
        k2 = counts.get(VerdictLabel.LIKELY_SYNTHETIC.value, 0)
        out["if_not_deciding"] = {"detectors": list(not_deciding), "verdicts": dict(sorted(counts.items())),
                                  "likely_synthetic": k2 / n if n else None,
                                  "likely_synthetic_ci95": list(wilson(k2, n))}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m synthwatch.train.genuine", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", action="append", required=True, metavar="NAME=FILE.jsonl")
    p.add_argument("--not-deciding", default="", help="comma-separated detectors to recompute as signals only")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    nd = tuple(x for x in args.not_deciding.split(",") if x)
    res: dict[str, Any] = {"command": "python -m synthwatch.train.genuine " + " ".join(sys.argv[1:] if argv is None
                                                                                       else argv), "sets": {}}
    for spec in args.reports:
        name, _, path = spec.partition("=")
        res["sets"][name] = tally(_read(Path(path)), nd)
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
