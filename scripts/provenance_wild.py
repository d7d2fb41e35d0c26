#!/usr/bin/env python3
"""Provenance as producers publish it: gather, check and report the wild collection.

The collection (``docs/manifests/provenance-wild.csv``) lists AI-generated and camera files exactly
as they were published in public git repositories (repo@commit, path, sha256, producer, licence) with
the reading synthwatch is expected to make of each. The files are never committed: this script
copies them, bytes untouched, into a local folder outside the repository, and the tests
(``tests/unit/provenance/test_c2pa_wild.py``) run on that folder when it is there.

    python scripts/provenance_wild.py gather [--dest DIR] [--mirrors DIR ...] [--clone]
    python scripts/provenance_wild.py report [--dest DIR] [--json]
    python scripts/provenance_wild.py discover GIT_DIR [--rev REV]
    python scripts/provenance_wild.py trust-list GIT_DIR [--rev REV]

``gather`` reads each file with git at its pinned commit from a local copy of its repository: a
mirror folder (``<DIR>/<owner>+<name>/repo``, ``<DIR>/<owner>+<name>`` or ``<DIR>/<owner>/<name>``,
bare or not) or, with ``--clone``, a blobless clone from github.com made under ``DEST/_repos``. Every
file is checked against its sha256 before it is written. ``DEST`` defaults to
``$SYNTHWATCH_PROVENANCE_WILD`` or the user cache folder (``~/.cache/synthwatch/provenance-wild``).

``report`` reads every gathered file with ``synthwatch.provenance.inspect`` (the reading ``label
check``, ``scan`` and the service share) and prints, per producer, how many files carry C2PA, how many
declare AI on the whole manifest graph and how many on the active manifest alone (what synthwatch
read before it walked ingredients), the validation it found and the Art. 6 decision; then every
file whose reading differs from the manifest's expectation. Exit status 1 when one differs.

``discover`` lists the files of a repository (at ``--rev``, default HEAD) that carry a C2PA manifest
store, a GB 45438 AIGC label or an IPTC digital source type, with the reading of each, as CSV rows
to review before adding them to the manifest.

``trust-list`` copies the C2PA Trust List and TSA Trust List from a local copy of
``c2pa-org/conformance-public`` into the package (``src/synthwatch/provenance/trust``) and records
the commit and sha256 in ``sources.json``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "docs" / "manifests" / "provenance-wild.csv"
MEDIA_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff", ".gif", ".dng",
                  ".mp4", ".mov", ".m4a", ".mp3", ".wav", ".flac")
#: expectation columns -> how to get the value from an inspect() result
EXPECT = ("expect_c2pa", "expect_ai", "expect_ai_in", "expect_integrity", "expect_signature", "expect_trust",
          "expect_credential", "expect_aigc", "expect_label", "expect_rule")


def default_dest() -> Path:
    env = os.environ.get("SYNTHWATCH_PROVENANCE_WILD")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("synthwatch")) / "provenance-wild"


def load_manifest(path: Path = MANIFEST) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if not row["file"].startswith("#")]


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True).stdout


def _git_dir(candidate: Path) -> Path | None:
    for g in (candidate, candidate / ".git", candidate / "repo"):
        if (g / "objects").is_dir() and (g / "HEAD").is_file():
            return g
    return None


def find_repo(repo: str, mirrors: list[Path]) -> Path | None:
    owner, name = repo.split("/", 1)
    for root in mirrors:
        for c in (root / f"{owner}+{name}", root / owner / name, root / f"{owner}__{name}"):
            g = _git_dir(c)
            if g is not None:
                return g
    return None


def clone(repo: str, commit: str, dest: Path) -> Path:
    target = dest / "_repos" / repo.replace("/", "+")
    if _git_dir(target) is None:
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "--bare", "--filter=blob:none", "--quiet",
                        f"https://github.com/{repo}.git", str(target)], check=True)
    g = _git_dir(target)
    assert g is not None
    if subprocess.run(["git", "--git-dir", str(g), "cat-file", "-e", f"{commit}^{{commit}}"],
                      capture_output=True).returncode != 0:
        subprocess.run(["git", "--git-dir", str(g), "fetch", "--quiet", "origin", commit], check=True)
    return g


def gather(args: argparse.Namespace) -> int:
    dest: Path = args.dest
    dest.mkdir(parents=True, exist_ok=True)
    mirrors = [Path(m) for m in args.mirrors]
    rows = load_manifest(args.manifest)
    done = missing = bad = 0
    for row in rows:
        out = dest / row["file"]
        if out.is_file() and hashlib.sha256(out.read_bytes()).hexdigest() == row["sha256"]:
            done += 1
            continue
        g = find_repo(row["repo"], mirrors)
        if g is None and args.clone:
            try:
                g = clone(row["repo"], row["commit"], dest)
            except subprocess.CalledProcessError as exc:
                print(f"cannot clone {row['repo']}: {exc}", file=sys.stderr)
        if g is None:
            print(f"missing repository {row['repo']} for {row['file']} (give --mirrors DIR or --clone)",
                  file=sys.stderr)
            missing += 1
            continue
        try:
            data = _git(g, "cat-file", "blob", f"{row['commit']}:{row['path']}")
        except subprocess.CalledProcessError:
            print(f"missing {row['repo']}@{row['commit'][:12]}:{row['path']} (not in this copy)", file=sys.stderr)
            missing += 1
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != row["sha256"]:
            print(f"sha256 mismatch for {row['file']}: {digest} != {row['sha256']}", file=sys.stderr)
            bad += 1
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".gather-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
        done += 1
    print(f"{done} of {len(rows)} files in {dest}; {missing} missing, {bad} with a different sha256")
    return 0 if bad == 0 and missing == 0 else 1


def reading(path: Path, trust_anchors: str | None = None) -> dict[str, Any]:
    """The expectation columns' values for one file, as synthwatch reads it."""
    from synthwatch.provenance import inspect

    r = inspect(path, trust_anchors=trust_anchors, audio_watermark=False)
    c = r["c2pa"]
    a = c.get("assessment") or {}
    d = r["decision"]
    return {
        "expect_c2pa": "yes" if c.get("present") else "no",
        "expect_ai": c.get("ai") or "-",
        "expect_ai_in": c.get("ai_in") or "-",
        "expect_integrity": a.get("integrity") or "-",
        "expect_signature": a.get("signature") or "-",
        "expect_trust": a.get("trust") or "-",
        "expect_credential": a.get("credential") or "-",
        "expect_aigc": (r["aigc"]["label"] or {}).get("label") or "-",
        "expect_label": d["label"] or "-",
        "expect_rule": d["rule"],
        "_active_only": any(x.get("counted") and x.get("depth") == 0 and x.get("class") in ("generated", "composite")
                            for x in c.get("declarations") or []),
        "_timestamp": a.get("timestamp") or "-",
        "_revocation": a.get("revocation") or "-",
        "_errors": [e["code"] for e in r["errors"]],
    }


def matches(expected: str, got: str) -> bool:
    """An expectation is one value or alternatives ``a|b`` (a certificate that expires while the file
    has no trusted timestamp reads differently before and after that date)."""
    return got in expected.split("|")


def report(args: argparse.Namespace) -> int:
    rows = [r for r in load_manifest(args.manifest) if r["kind"] == "media"]
    present = [r for r in rows if (args.dest / r["file"]).is_file()]
    if not present:
        print(f"no gathered files in {args.dest}: run 'gather' first", file=sys.stderr)
        return 2
    per: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    diffs: list[str] = []
    out_rows = []
    for row in present:
        got = reading(args.dest / row["file"])
        p = per[row["producer"]]
        p["files"] += 1
        p["c2pa"] += got["expect_c2pa"] == "yes"
        p["ai_graph"] += got["expect_ai"] != "-"
        p["ai_active_only"] += bool(got["_active_only"])
        p[f"label {got['expect_label']}"] += 1
        p[f"{got['expect_integrity']}/{got['expect_signature']}/{got['expect_trust']}/{got['expect_credential']}"] += 1
        for col in EXPECT:
            if row.get(col) and not matches(row[col], got[col]):
                diffs.append(f"{row['file']}: {col} expected {row[col]!r}, read {got[col]!r}")
        out_rows.append({"file": row["file"], "producer": row["producer"], **got})
    if args.json:
        print(json.dumps({"files": out_rows, "differences": diffs}, indent=1))
        return 1 if diffs else 0
    print(f"{len(present)} of {len(rows)} media files gathered in {args.dest}\n")
    print(f"{'producer':28} {'files':>5} {'c2pa':>5} {'AI: graph':>9} {'AI: active only':>15}  decisions; "
          "validation (integrity/signature/trust/certificate)")
    for producer in sorted(per):
        p = per[producer]
        labels = ", ".join(f"{k[6:]}: {v}" for k, v in sorted(p.items()) if k.startswith("label "))
        vals = ", ".join(f"{k}: {v}" for k, v in sorted(p.items()) if k.count("/") == 3)
        print(f"{producer:28} {p['files']:5d} {p['c2pa']:5d} {p['ai_graph']:9d} {p['ai_active_only']:15d}  "
              f"{labels}; {vals}")
    for family in ("chatgpt", "firefly"):
        fam = [r for r in out_rows if r["producer"].startswith(family)]
        with_c2pa = [r for r in fam if r["expect_c2pa"] == "yes"]
        print(f"\n{family}: {len(with_c2pa)} files with C2PA; AI recognised on the whole graph: "
              f"{sum(r['expect_ai'] != '-' for r in with_c2pa)}, on the active manifest only: "
              f"{sum(bool(r['_active_only']) for r in with_c2pa)}")
    print(f"\n{len(diffs)} difference(s) from the manifest's expected reading")
    for d in diffs:
        print("  " + d)
    return 1 if diffs else 0


def _markers(data: bytes) -> list[str]:
    tags = []
    if (b"jumb" in data and b"c2pa" in data) or b"caBX" in data:
        tags.append("c2pa")
    if b"AIGC" in data or b"tc260" in data.lower() or b"iTXt" in data:
        tags.append("aigc?")
    if b"digitalsourcetype" in data.lower():
        tags.append("iptc")
    return tags


def discover(args: argparse.Namespace) -> int:
    g = _git_dir(Path(args.git_dir))
    if g is None:
        print(f"{args.git_dir} is not a git repository", file=sys.stderr)
        return 2
    commit = _git(g, "rev-parse", args.rev).decode().strip()
    listing = _git(g, "ls-tree", "-r", "-l", commit).decode("utf-8", "replace")
    writer = csv.writer(sys.stdout)
    writer.writerow(["path", "sha256", "markers", *EXPECT])
    with tempfile.TemporaryDirectory() as tmp:
        for line in listing.splitlines():
            meta, path = line.split("\t", 1)
            _mode, kind, sha, size = meta.split()
            if kind != "blob" or not path.lower().endswith(MEDIA_SUFFIXES) or not size.isdigit():
                continue
            if int(size) > args.max_bytes:
                continue
            data = _git(g, "cat-file", "blob", sha)
            tags = _markers(data)
            if not tags:
                continue
            local = Path(tmp) / ("f" + Path(path).suffix.lower())
            local.write_bytes(data)
            got = reading(local)
            if got["expect_c2pa"] == "no" and got["expect_aigc"] == "-" and "iptc" not in tags:
                continue
            writer.writerow([path, hashlib.sha256(data).hexdigest(), "+".join(tags), *(got[c] for c in EXPECT)])
    print(f"# {args.git_dir} at {commit}", file=sys.stderr)
    return 0


def trust_list(args: argparse.Namespace) -> int:
    g = _git_dir(Path(args.git_dir))
    if g is None:
        print(f"{args.git_dir} is not a git repository", file=sys.stderr)
        return 2
    commit = _git(g, "rev-parse", args.rev).decode().strip()
    target = ROOT / "src" / "synthwatch" / "provenance" / "trust"
    sources = json.loads((target / "sources.json").read_text(encoding="utf-8"))
    for entry in sources["lists"]:
        data = _git(g, "cat-file", "blob", f"{commit}:{entry['path']}")
        (target / entry["file"]).write_bytes(data)
        date = _git(g, "log", "-1", "--format=%cs", commit, "--", entry["path"]).decode().strip()
        entry.update(commit=commit, sha256=hashlib.sha256(data).hexdigest(), list_updated=date)
        print(f"{entry['file']}: {entry['sha256']} ({date})")
    (target / "sources.json").write_text(json.dumps(sources, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gather", help="copy the listed files, checked by sha256, into DEST")
    g.add_argument("--dest", type=Path, default=default_dest())
    g.add_argument("--mirrors", nargs="*", default=[d for d in ("/work/.mirror",) if Path(d).is_dir()])
    g.add_argument("--clone", action="store_true", help="clone missing repositories from github.com")
    r = sub.add_parser("report", help="read every gathered file and compare with the manifest")
    r.add_argument("--dest", type=Path, default=default_dest())
    r.add_argument("--json", action="store_true")
    d = sub.add_parser("discover", help="list a repository's files that carry provenance")
    d.add_argument("git_dir")
    d.add_argument("--rev", default="HEAD")
    d.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024)
    t = sub.add_parser("trust-list", help="refresh the shipped C2PA trust lists from conformance-public")
    t.add_argument("git_dir")
    t.add_argument("--rev", default="HEAD")
    args = ap.parse_args(argv)
    return {"gather": gather, "report": report, "discover": discover, "trust-list": trust_list}[args.command](args)


if __name__ == "__main__":
    shutil.which("git") or sys.exit("git is needed")
    sys.exit(main())
