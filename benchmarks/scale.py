"""Scale-out figures on one machine: the same mixed set through every engine, in one run.

    python benchmarks/scale.py                          # 16 images, 6 speech clips, 4 videos
    python benchmarks/scale.py --images 4 --audio 2 --videos 1 --only local,ray2    # a quick look
    python benchmarks/scale.py --detectors debug-image,debug-face,debug-voice      # the engines' own cost

1. Generates the media with synthwatch.testing.samples (distinct seeds, so nothing is de-duplicated).
2. ``local``: ``synthwatch batch DIR --engine local`` (one process, ONNX Runtime threads = cores).
3. ``ray1``: ``--engine ray --actors 1 --cpus-per-actor <cores>`` on a local Ray instance the command
   starts (the same threads as local: the difference is Ray's overhead).
4. ``ray2``: ``--engine ray --actors 2 --cpus-per-actor <cores/2>``.
5. ``svc1`` / ``svc2``: ``synthwatch serve --workers 1|2`` on a fresh SQLite database (or, with
   ``--postgres ADMIN_URL``, a fresh PostgreSQL database on that server, created and dropped), driven by
   benchmarks/service.py's run_service: every file POSTed by 8 client threads with a callback_url,
   GET once its webhook arrives (items/s from the first POST to the last result; workers are
   started and their models loaded before the clock starts).

For each: items/s over the scanning (batch: from the first item handed to an engine to the last
row, actor start-up and model loading included), wall time of the whole command (Ray's own start
included), peak memory per actor / worker (the batch rows' ``worker_peak_rss_mb``; VmHWM for
service workers). Then Ray's overhead against local, whether every engine gave the same scores, and
the per-item costs behind docs/scaling.md's sizing: CPU core-seconds per image and per second of
audio and of video (at the sampling in force, 1 frame/s by default), from the rows' ``cpu_s`` (the
scanning process and its decoders; one item at a time) of the ``ray1`` run, or else the local one.

Models come from $SYNTHWATCH_HOME/models (``synthwatch models setup``); everything else lives in a
temporary folder removed at the end. Needs the [ray] extra for the Ray engines (skipped otherwise)
and the [dev] extra (httpx2) for the service. Prints a table and one JSON line; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synthwatch.config import get_settings
from synthwatch.testing import samples

CORES = os.cpu_count() or 1


def generate(folder: Path, n_images: int, n_audio: int, n_videos: int) -> list[Path]:
    """Pictures 640x480; speech alternately 8 s and 32 s; video (640x360, 25 fps, with sound)
    alternately 10 s and 40 s (two lengths: a per-item cost and a per-second cost can be told apart)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [samples.make_image(folder / f"img{i:03d}.jpg", size=(640, 480), seed=1000 + i) for i in range(n_images)]
    files += [samples.make_speech(folder / f"voice{i:03d}.wav", seconds=(8.0, 32.0)[i % 2], seed=2000 + i)
              for i in range(n_audio)]
    files += [samples.make_video(folder / f"clip{i:02d}.mp4", seconds=(10.0, 40.0)[i % 2], size=(640, 360),
                                 seed=3000 + i) for i in range(n_videos)]
    return files


def _service_bench() -> Any:
    """benchmarks/service.py, whose run_service this benchmark uses for the service's figures."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sw_bench_service", Path(__file__).with_name("service.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------ batch
def run_batch(media: Path, out: Path, env: dict[str, str], extra: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "synthwatch.cli", "batch", str(media), "--out", str(out), "--json",
                           *extra], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1, 4, 5):
        raise SystemExit(f"synthwatch batch {' '.join(extra)} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout)
    from synthwatch.batch import iter_rows, read_results

    rows = list(iter_rows(read_results(out)))
    per_worker: dict[str, float] = defaultdict(float)
    for r in rows:
        if r["worker"] and r["worker_peak_rss_mb"]:
            per_worker[r["worker"]] = max(per_worker[r["worker"]], r["worker_peak_rss_mb"])
    return {"items": summary["scanned"], "seconds": summary["seconds"], "wall_s": wall,
            "items_per_s": summary["items_per_s"], "workers": len(per_worker),
            "peak_mb_per_worker": max(per_worker.values(), default=0.0), "errors": summary["errors"], "rows": rows}


def scores_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {Path(r["path"]).name: (r["score"], r["detector_scores"]) for r in rows}


def costs(rows: list[dict[str, Any]]) -> dict[str, float]:
    """CPU core-seconds from the rows' ``cpu_s`` (the worker process and its decoders while the item
    was scanned; unlike wall time, other load on the machine hardly changes it): per image, and for
    audio and video a fixed cost per item plus a cost per second of media (least squares over the
    items' durations; with one duration only, everything is counted per second). Each worker's first
    item is left out (it also starts the worker's decoder and provenance processes)."""
    import numpy as np

    out: dict[str, float] = {}
    first: set[int] = set()  # each worker's first item also pays for starting its decoder processes
    seen: set[str] = set()
    for i, r in sorted(enumerate(rows), key=lambda x: x[1]["scanned_at"]):
        if r["worker"] not in seen:
            seen.add(r["worker"])
            first.add(i)
    good = [r for i, r in enumerate(rows) if i not in first and not r["error_code"] and r["cpu_s"] is not None]
    images = [r["cpu_s"] for r in good if r["kind"] == "image"]
    out["image"] = float(np.mean(images)) if images else float("nan")
    for kind in ("audio", "video"):
        xs = np.array([float(r["duration_s"] or 0.0) for r in good if r["kind"] == kind])
        ys = np.array([r["cpu_s"] for r in good if r["kind"] == kind])
        if len(xs) and len(set(xs.round(1))) >= 2:
            slope, intercept = np.polyfit(xs, ys, 1)
            out[f"{kind}_per_item"], out[f"{kind}_per_s"] = float(max(0.0, intercept)), float(slope)
        else:
            out[f"{kind}_per_item"] = 0.0
            out[f"{kind}_per_s"] = float(ys.sum() / xs.sum()) if len(xs) and xs.sum() else float("nan")
    return out


# ------------------------------------------------------------------------------------------ service
def run_service(files: list[Path], env: dict[str, str], workers: int, clients: int = 8) -> dict[str, Any]:
    """benchmarks/service.py's run: a fresh database, ``serve --workers W``, every file POSTed by
    ``clients`` threads with a webhook; items/s from the first POST to the last result."""
    figures = _service_bench().run_service(files, env, workers, clients)
    return {"items": figures["items"], "seconds": figures["wall_s"], "items_per_s": figures["items"] / figures["wall_s"],
            "workers": workers, "peak_mb_per_worker": figures["worker_peak_mb"], "errors": figures["errors"]}


@contextlib.contextmanager
def _pg_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``admin_url``; dropped afterwards."""
    import secrets

    import sqlalchemy as sa

    name = f"sw_bench_{secrets.token_hex(4)}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--audio", type=int, default=6, help="speech clips, alternately 8 s and 32 s")
    ap.add_argument("--videos", type=int, default=4, help="640x360 clips with sound, alternately 10 s and 40 s")
    ap.add_argument("--detectors", default=None, help="comma-separated (default: the default set)")
    ap.add_argument("--only", default="local,ray1,ray2,svc1,svc2", help="engines to run, comma-separated")
    ap.add_argument("--postgres", default=None, metavar="ADMIN_URL",
                    help="run svc1/svc2 on PostgreSQL: a fresh database per phase on this server "
                         "(postgresql+psycopg://user@host:port/postgres), dropped after")
    args = ap.parse_args()
    only = [x.strip() for x in args.only.split(",") if x.strip()]

    from synthwatch.batch.ray_engine import ray_available

    model_dir = get_settings().model_dir
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-scale-"))
    try:
        home = tmp / "home"
        home.mkdir()
        (home / "models").symlink_to(model_dir.resolve())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNTHWATCH_", "RAY_"))}
        env.update({"SYNTHWATCH_HOME": str(home), "SYNTHWATCH_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
                    "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "SYNTHWATCH_LOG_LEVEL": "WARNING",
                    "SYNTHWATCH_SERVICE__FETCH_ALLOW": '["127.0.0.1/32"]'})  # the benchmark's webhook receiver
        if args.detectors:
            env["SYNTHWATCH_DETECTORS"] = json.dumps([d.strip() for d in args.detectors.split(",") if d.strip()])
        t = time.perf_counter()
        files = generate(tmp / "media", args.images, args.audio, args.videos)
        print(f"generated {len(files)} files in {time.perf_counter() - t:.1f} s ({args.images} images 640x480, "
              f"{args.audio} speech clips of 8/32 s, {args.videos} 640x360 videos of 10/40 s), {CORES} cores, load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        res: dict[str, dict[str, Any]] = {}
        plans = {"local": ["--engine", "local"],
                 "ray1": ["--engine", "ray", "--actors", "1", "--cpus-per-actor", str(CORES)],
                 "ray2": ["--engine", "ray", "--actors", "2", "--cpus-per-actor", str(max(1, CORES // 2))]}
        for name in ("local", "ray1", "ray2"):
            if name not in only:
                continue
            if name.startswith("ray") and not ray_available():
                print(f"{name}: skipped (Ray is not installed: pip install 'synthwatch[ray]')", flush=True)
                continue
            res[name] = run_batch(tmp / "media", tmp / f"out-{name}", env, plans[name])
            r = res[name]
            print(f"{name}: {r['items']} items, {r['items_per_s']:.3f} items/s ({r['seconds']:.1f} s scanning, "
                  f"{r['wall_s']:.1f} s wall)", flush=True)
        for name, w in (("svc1", 1), ("svc2", 2)):
            if name not in only:
                continue
            db = tmp / "bench.db"
            for p in (db, db.with_name("bench.db-wal"), db.with_name("bench.db-shm")):
                p.unlink(missing_ok=True)
            shutil.rmtree(home / "service", ignore_errors=True)
            if args.postgres:
                with _pg_database(args.postgres) as url:
                    res[name] = run_service(files, {**env, "SYNTHWATCH_DATABASE_URL": url}, w)
            else:
                res[name] = run_service(files, env, w)
            res[name]["database"] = "postgresql" if args.postgres else "sqlite"
            print(f"{name}: {res[name]['items']} items, {res[name]['items_per_s']:.3f} items/s "
                  f"({res[name]['database']})", flush=True)

        print()
        rows = []
        for name, r in res.items():
            extra = f", {r['wall_s']:.1f} s wall" if "wall_s" in r else ""
            rows.append((f"{name} items/s", f"{r['items_per_s']:.3f}  ({r['items']} items in {r['seconds']:.1f} s{extra})"))
            rows.append((f"{name} peak memory per actor/worker", f"{r['peak_mb_per_worker']:.0f} MB x {r['workers']}"))
        if "local" in res and "ray1" in res:
            lo, r1 = res["local"], res["ray1"]
            rows.append(("Ray overhead vs local (1 actor, same threads)",
                         f"scanning {100 * (r1['seconds'] / lo['seconds'] - 1):+.0f} %, whole command "
                         f"{100 * (r1['wall_s'] / lo['wall_s'] - 1):+.0f} % (+{r1['wall_s'] - lo['wall_s']:.1f} s)"))
        batch_runs = {k: scores_of(v["rows"]) for k, v in res.items() if "rows" in v}
        if len(batch_runs) > 1:
            first = next(iter(batch_runs.values()))
            same = all(v == first for v in batch_runs.values())
            rows.append(("same scores on every batch engine", "yes" if same else "NO"))
        basis = "ray1" if "ray1" in res else ("local" if "local" in res else None)
        cost: dict[str, float] = {}
        if basis:
            cost = costs(res[basis]["rows"])
            rows.append((f"CPU core-s per image ({basis} cpu_s)", f"{cost['image']:.2f}"))
            rows.append((f"CPU core-s per audio item + per audio second ({basis})",
                         f"{cost['audio_per_item']:.2f} + {cost['audio_per_s']:.4f} x seconds"))
            rows.append((f"CPU core-s per video item + per video second, 1 fps ({basis})",
                         f"{cost['video_per_item']:.2f} + {cost['video_per_s']:.4f} x seconds"))
        rows.append(("load average at the end (1/5/15 min)", " / ".join(f"{x:.1f}" for x in os.getloadavg())
                     + f" on {CORES} cores (wall-clock figures are only as steady as this)"))
        width = max(len(r[0]) for r in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")
        print(json.dumps({"cores": CORES, "files": len(files), "cost_core_s": cost, "loadavg": os.getloadavg(),
                          **{k: {kk: vv for kk, vv in v.items() if kk != "rows"} for k, v in res.items()}}), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
