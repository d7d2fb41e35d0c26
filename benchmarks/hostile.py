"""The whole hostile-input suite: crashes, hangs, untyped errors, peak memory and leaks per family.

    python benchmarks/hostile.py                       # every family, every entry point
    python benchmarks/hostile.py --families odd_names,junk_tails --operations media,labels
    python benchmarks/hostile.py --seed 7 --json out/hostile.json
    python benchmarks/hostile.py --cli                 # also: one mixed batch through `synthwatch scan/label check --json`

The corpus is :func:`synthwatch.testing.hostile.generate` (seeded: the same seed gives the same
bytes; a new seed gives crafted files the suite has never seen). Each family runs in a child
process with a private ``TMPDIR`` and ``HOME``; the parent watches it:

* crash: the child died while a case was running (a signal, or an exit without an answer);
* hang: a case ran past ``--case-timeout`` seconds (the child is killed and restarted);
* untyped: an entry point raised something that is not a ``SynthwatchError``;
* expected: a case that says what it must give (e.g. "an Ogg file named .flac reads its label")
  gave something else;
* peak MB: the largest resident memory of the child and all its worker processes together;
* leaks: files left in the private TMPDIR or HOME, files written next to the inputs, worker
  processes still alive after the child exited, descriptors the child holds at the end that it
  did not hold at the start.

The exit status is 1 when any of those is not zero, else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from synthwatch.media.source import display_name  # noqa: E402
from synthwatch.testing import hostile  # noqa: E402

# ----------------------------------------------------------------------------------------------
# the child: runs the cases of one family, one JSON line per event on stdout
# ----------------------------------------------------------------------------------------------


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def child(manifest: Path, family: str, start: int, operations: tuple[str, ...]) -> int:
    entries = [e for e in json.loads(manifest.read_text()) if e["family"] == family]
    out = sys.stdout

    def say(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    # warm the worker pools and the scanner first, so their descriptors are not counted as leaks
    from synthwatch.media import sandbox
    from synthwatch.provenance import isolation

    sandbox.warm_up(1)
    isolation.warm_up(1)
    fds0 = _fds()
    say({"ready": True, "fds": fds0})
    for i, e in enumerate(entries):
        if i < start:
            continue
        case = hostile.Case(e["family"], e["name"], expect=e["expect"])
        say({"start": i, "case": e["name"]})
        for o in hostile.run_case(case, Path(e["path"]), operations):
            say({"outcome": o.to_dict()})
        say({"done": i})
    sandbox.shutdown()
    isolation.shutdown()
    scanner = hostile._SCANNER
    hostile._SCANNER = None
    del scanner
    import gc

    gc.collect()
    say({"end": True, "fds": _fds(), "fds_start": fds0})
    return 0


# ----------------------------------------------------------------------------------------------
# the parent: generate, run each family in a watched child, report
# ----------------------------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """pid and every process below it (from /proc)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read().rsplit(b")", 1)[1].split()
            parents[int(stat[1])].append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError):
            continue
    return total / 1024


class _Peak:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb(_descendants(self.pid)))
            self._stop.wait(0.05)

    def stop(self) -> float:
        self._stop.set()
        self._t.join(2)
        return self.peak


def _workers_of(pid: int) -> list[int]:
    """Worker processes started by ``pid`` (their argv ends with the parent's pid) still alive."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        argv = [a for a in argv if a]
        if len(argv) >= 3 and argv[-1] == str(pid).encode() and argv[-3].endswith((b"_worker.py", b"_isolated_worker.py")):
            found.append(int(d))
    return found


def _listing(root: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.add(os.path.join(dirpath, n))
    return out


def run_family(family: str, manifest: Path, entries: list[dict[str, Any]], env: dict[str, str],
               operations: tuple[str, ...], case_timeout: float) -> dict[str, Any]:
    n = len(entries)
    outcomes: list[dict[str, Any]] = []
    crashes: list[str] = []
    hangs: list[str] = []
    peak = 0.0
    leaked_workers: list[int] = []
    fd_leak = 0
    start = 0
    slowest = (0.0, "")
    t_family = time.monotonic()
    while start < n:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--manifest", str(manifest), "--family", family,
               "--start", str(start), "--operations", ",".join(operations)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=env["TMPDIR"])
        watch = _Peak(proc.pid)
        assert proc.stdout is not None
        current: int | None = None
        t_case = time.monotonic()
        buf = b""
        ended = False
        while True:
            limit = (case_timeout if current is not None else 300.0) - (time.monotonic() - t_case)
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, limit))
            if not ready:  # a hang: kill the child and everything it started
                for p in reversed(_descendants(proc.pid)):
                    with contextlib.suppress(OSError):
                        os.kill(p, signal.SIGKILL)
                proc.wait()
                if current is not None:
                    hangs.append(entries[current]["name"])
                    start = current + 1
                else:
                    crashes.append("<start-up>")
                    start = n
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:  # the child exited
                rc = proc.wait()
                if not ended:
                    crashes.append(f"{entries[current]['name'] if current is not None else '<start-up>'} (exit {rc})")
                    start = (current + 1) if current is not None else n
                else:
                    start = n
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if "start" in msg:
                    current, t_case = msg["start"], time.monotonic()
                elif "outcome" in msg:
                    outcomes.append(msg["outcome"])
                elif "done" in msg:
                    took = time.monotonic() - t_case
                    if took > slowest[0]:
                        slowest = (took, entries[msg["done"]]["name"])
                    current = None
                    t_case = time.monotonic()
                elif "end" in msg:
                    ended = True
                    fd_leak += max(0, msg["fds"] - msg["fds_start"])
        peak = max(peak, watch.stop())
        time.sleep(2.5)  # workers notice a parent that went away within a second
        leaked_workers += _workers_of(proc.pid)
    status = Counter(o["status"] for o in outcomes)
    return {
        "family": family, "files": n, "operations": len(outcomes), "ok": status["ok"], "typed": status["typed"],
        "untyped": status["untyped"], "expected": status["expected"], "crashes": crashes, "hangs": hangs,
        "peak_mb": round(peak, 1), "leaked_workers": leaked_workers, "fd_leak": fd_leak,
        "seconds": round(time.monotonic() - t_family, 1), "slowest": [round(slowest[0], 1), slowest[1]],
        "problems": [o for o in outcomes if o["status"] in ("untyped", "expected")],
        "slowest_operations": sorted(outcomes, key=lambda o: -o["seconds"])[:5],
    }


def run_cli_batch(paths: list[Path], env: dict[str, str]) -> dict[str, Any]:
    """One mixed batch through the CLI: valid UTF-8 JSON, one report per file, a documented exit code."""
    exe = [sys.executable, "-m", "synthwatch.cli"]
    args = [os.fsdecode(p) for p in paths]
    out: dict[str, Any] = {"files": len(paths)}
    for name, cmd in (("scan", [*exe, "scan", "--json", "--detectors", "debug-image,debug-voice", "--", *args]),
                      ("label check", [*exe, "label", "check", "--json", "--", *args])):
        r = subprocess.run(cmd, capture_output=True, env=env, timeout=3600, cwd=env["TMPDIR"])
        entry: dict[str, Any] = {"exit": r.returncode, "stderr_tail": r.stderr[-400:].decode("utf-8", "replace")}
        try:
            data = json.loads(r.stdout.decode("utf-8"))  # strict UTF-8, one JSON document
            items = data if isinstance(data, list) else data.get("reports", data.get("results", [data]))
            named = {str(i.get("source", i.get("path"))) for i in items if isinstance(i, dict)}
            # (scan walks a folder argument for media: an empty folder is no item)
            expected = [a for a in args if not (name == "scan" and os.path.isdir(a))]
            missing = [a for a in expected if display_name(a) not in named]  # the documented, lossless name escape
            entry.update(valid_json=True, reported=len(items), expected=len(expected), missing=missing[:10])
        except (UnicodeDecodeError, ValueError, AttributeError) as exc:
            entry.update(valid_json=False, reported=0, missing=args[:10], error=str(exc)[:200])
        entry["all_reported"] = entry["reported"] == entry.get("expected", len(paths)) and not entry["missing"]
        entry["exit_documented"] = r.returncode in (0, 1, 4, 5)
        out[name] = entry
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--families", default=",".join(hostile.FAMILIES))
    ap.add_argument("--operations", default=",".join(hostile.OPERATIONS))
    ap.add_argument("--fuzz-per-format", type=int, default=6)
    ap.add_argument("--case-timeout", type=float, default=300.0, help="seconds one case may take (all its operations)")
    ap.add_argument("--json", type=Path, help="write every figure and problem here")
    ap.add_argument("--cli", action="store_true", help="also run one mixed batch through the CLI")
    ap.add_argument("--keep", action="store_true", help="keep the corpus and the private folders")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--manifest", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--family", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    operations = tuple(o for o in args.operations.split(",") if o)
    if args.child:
        return child(args.manifest, args.family, args.start, operations)

    families = tuple(f for f in args.families.split(",") if f)
    unknown = set(families) - set(hostile.FAMILIES)
    if unknown:
        ap.error(f"unknown families: {', '.join(sorted(unknown))} (known: {', '.join(hostile.FAMILIES)})")
    work = Path(tempfile.mkdtemp(prefix="synthwatch-hostile-"))
    corpus, tmp, home = work / "corpus", work / "tmp", work / "home"
    for d in (corpus, tmp, home):
        d.mkdir()
    t0 = time.monotonic()
    cases = hostile.generate(work / "gen", seed=args.seed, fuzz_per_format=args.fuzz_per_format, families=families)
    manifest_entries = []
    for case in cases:
        path = hostile.materialise(case, corpus)
        # a name that is not UTF-8 travels as its surrogate escapes (JSON keeps them as \udcNN)
        manifest_entries.append({"family": case.family, "name": case.name, "expect": case.expect, "path": os.fsdecode(path)})
    manifest = work / "manifest.json"
    manifest.write_text(json.dumps(manifest_entries, ensure_ascii=True), encoding="utf-8")
    print(f"corpus: {len(cases)} files in {len(families)} families (seed {args.seed}), generated in "
          f"{time.monotonic() - t0:.1f} s; operations: {', '.join(operations)}", flush=True)
    before = _listing(corpus)
    env = dict(os.environ)
    env.update(TMPDIR=str(tmp), HOME=str(home), PYTHONPATH=str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", ""))
    env.setdefault("SYNTHWATCH_HOME", str(Path(os.environ.get("HOME", "~")).expanduser() / ".local/share/synthwatch"))
    rows = []
    for fam in families:
        entries = [e for e in manifest_entries if e["family"] == fam]
        row = run_family(fam, manifest, entries, env, operations, args.case_timeout)
        row["tmp_leak"] = sorted(os.path.relpath(p, tmp) for p in _listing(tmp))
        row["home_leak"] = sorted(os.path.relpath(p, home) for p in _listing(home))
        after = _listing(corpus)
        row["written_beside_inputs"] = sorted(os.path.relpath(p, corpus) for p in after - before)
        for p in list(tmp.iterdir()) + list(home.iterdir()):  # the next family starts clean
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
        rows.append(row)
        _print_row(row, first=len(rows) == 1)
    totals = {k: sum(len(r[k]) if isinstance(r[k], list) else r[k] for r in rows)
              for k in ("files", "operations", "untyped", "expected", "crashes", "hangs", "leaked_workers", "fd_leak",
                        "tmp_leak", "home_leak", "written_beside_inputs")}
    totals["peak_mb"] = max((r["peak_mb"] for r in rows), default=0.0)
    print(f"\ntotal: {totals['files']} files, {totals['operations']} operations: crashes {totals['crashes']}, "
          f"hangs {totals['hangs']}, untyped {totals['untyped']}, unexpected {totals['expected']}, "
          f"leaks: tmp {totals['tmp_leak']} home {totals['home_leak']} beside-inputs {totals['written_beside_inputs']} "
          f"workers {totals['leaked_workers']} fds {totals['fd_leak']}; peak {totals['peak_mb']:.0f} MB; "
          f"{time.monotonic() - t0:.0f} s")
    for r in rows:
        for p in r["problems"][:20]:
            print(f"  {p['status']:9s} {r['family']}/{p['case']!a} [{p['operation']}] {p['code']}: {p['detail'][:160]!a}")
        for name in r["crashes"] + r["hangs"]:
            print(f"  {'crash/hang':9s} {r['family']}/{name!a}")
    cli = None
    if args.cli:
        # every odd name and special file, and every 7th file of the rest
        mixed = [Path(e["path"]) for i, e in enumerate(manifest_entries)
                 if e["family"] in ("odd_names", "special_files") or i % 7 == 0]
        cli = run_cli_batch(mixed, env)
        print(f"\nCLI, one mixed batch of {cli['files']} files:")
        for name in ("scan", "label check"):
            e = cli[name]
            print(f"  {name}: exit {e['exit']}, valid JSON {e['valid_json']}, reported {e['reported']}/"
                  f"{e.get('expected', cli['files'])}, "
                  f"every file named in the output {e['all_reported']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seed": args.seed, "operations": operations, "families": rows,
                                         "totals": totals, "cli": cli}, indent=1, ensure_ascii=True))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept: {work}")
    bad = totals["crashes"] + totals["hangs"] + totals["untyped"] + totals["expected"] + totals["leaked_workers"] + \
        totals["fd_leak"] + totals["tmp_leak"] + totals["home_leak"] + totals["written_beside_inputs"]
    return 1 if bad else 0


def _print_row(row: dict[str, Any], first: bool) -> None:
    if first:
        print(f"\n{'family':20s} {'files':>5s} {'ops':>5s} {'ok':>5s} {'typed':>5s} {'untyp':>5s} {'unexp':>5s} "
              f"{'crash':>5s} {'hang':>5s} {'peakMB':>7s} {'leaks':>5s} {'sec':>6s}  slowest case")
    leaks = len(row["tmp_leak"]) + len(row["home_leak"]) + len(row["written_beside_inputs"]) + \
        len(row["leaked_workers"]) + row["fd_leak"]
    print(f"{row['family']:20s} {row['files']:5d} {row['operations']:5d} {row['ok']:5d} {row['typed']:5d} "
          f"{row['untyped']:5d} {row['expected']:5d} {len(row['crashes']):5d} {len(row['hangs']):5d} "
          f"{row['peak_mb']:7.0f} {leaks:5d} {row['seconds']:6.0f}  {row['slowest'][0]:.1f} s {row['slowest'][1]!a}",
          flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
