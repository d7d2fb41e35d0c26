"""``python -m synthwatch.train.data {sources,fetch-manifest,build}``.

* ``sources --repos DIR``: the pinned sources, their licences and whether a clone with the pinned
  commit is under ``DIR``.
* ``fetch-manifest --task face|image --repos DIR --out docs/manifests/train-<task>.csv``: read
  every selected file at its pinned commit, hash it, assign splits, write the manifest.
* ``build --task face|image --manifest FILE --repos DIR --out DIR``: re-read exactly the files of
  the manifest (sha256 checked), normalise them and write the training set.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from ...errors import SynthwatchError

    p = argparse.ArgumentParser(prog="python -m synthwatch.train.data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sources", help="the pinned sources and whether their clones are present")
    s.add_argument("--repos", type=Path, required=True, help="folder holding the clones")
    m = sub.add_parser("fetch-manifest", help="hash every selected file at its pinned commit; write the manifest")
    m.add_argument("--task", choices=("face", "image"), required=True)
    m.add_argument("--repos", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    b = sub.add_parser("build", help="materialise the normalised training set from a manifest")
    b.add_argument("--task", choices=("face", "image"), required=True)
    b.add_argument("--manifest", type=Path, required=True)
    b.add_argument("--repos", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--frame-step", type=int, default=3, help="face: every Nth frame of a clip")
    b.add_argument("--home", type=Path, help="synthwatch home with the centerface model (face task)")
    args = p.parse_args(argv)
    try:
        return _run(args)
    except SynthwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from .git import GitSnapshot, SnapshotError, find_snapshot
    from .manifest import assign_splits, collect, read_manifest, write_manifest
    from .sources import SOURCES

    if args.cmd == "sources":
        for src in SOURCES:
            try:
                with GitSnapshot(find_snapshot(args.repos, src.repo)) as snap:
                    snap.resolve(src.commit)
                state = "present"
            except SnapshotError as exc:
                state = f"MISSING: {exc}"
            tasks = sorted({t for sel in src.selections for t in sel.tasks})
            print(f"{src.repo}@{src.commit[:12]}  tasks={','.join(tasks)}  licence={src.licence!r}  {state}")
        return 0
    if args.cmd == "fetch-manifest":
        rows = assign_splits(collect(args.task, args.repos))
        write_manifest(rows, args.out)
        counts = Counter((r.source, r.label, r.split) for r in rows)
        for k, v in sorted(counts.items()):
            _say(f"{k[0]:16s} {k[1]:5s} {k[2]:8s} {v}")
        _say(f"wrote {len(rows)} rows to {args.out}")
        return 0
    rows = read_manifest(args.manifest)
    if args.task == "face":
        from ...config import Settings, get_settings
        from ...models.store import ModelStore
        from .faces import build_faces

        settings = Settings(home=args.home) if args.home is not None else get_settings()
        recs = build_faces(rows, args.repos, args.out / "face", ModelStore(settings.model_dir),
                           frame_step=args.frame_step, progress=_say)
        counts = Counter((r.source, r.label, r.split) for r in recs)
        for k, v in sorted(counts.items()):
            _say(f"{k[0]:16s} {k[1]:5s} {k[2]:8s} {v} crops")
        return 0
    from .images import build_images

    build_images(rows, args.repos, args.out / "image", progress=_say)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
