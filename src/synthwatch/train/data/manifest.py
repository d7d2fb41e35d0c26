"""The training manifest: one row per file taken from a pinned source, with its sha256.

``python -m synthwatch.train.data fetch-manifest --task face --repos DIR --out FILE.csv`` lists the
files each :class:`~synthwatch.train.data.sources.Source` selects at its pinned commit, reads every
one of them from the clone (``git cat-file``), hashes it and assigns its split. The CSV is
committed (``docs/manifests/``); ``build`` later re-reads exactly these files from the same commits
and refuses any whose sha256 differs.

Columns: ``task, source, repo, commit, path, sha256, bytes, label, family, part, group, split,
licence``. ``part`` is ``left`` / ``right`` for the two halves of a side-by-side clip (one row per
half, same file), empty otherwise. Files that are selected but absent from the snapshot are rows
with ``split = missing`` and an empty hash, so that what was left out stays visible.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ...errors import ConfigError
from .git import GitSnapshot, find_snapshot
from .sources import (
    AIBINGO_CODE,
    DCSAN_PREFIX,
    DFL_IDENTITY_GROUPS,
    HELDOUT_IMAGE_FAMILIES,
    SOURCES,
    Source,
    dfl_clip_id,
    hash_fraction,
)

__all__ = ["Row", "COLUMNS", "collect", "assign_splits", "write_manifest", "read_manifest", "SPLIT_FRACTIONS"]

#: share of groups per split, in the order groups are drawn (by :func:`hash_fraction`)
SPLIT_FRACTIONS = {"hash": {"val": 0.2, "train": 0.8}, "identity": {"test": 0.35, "val": 0.2, "train": 0.45}}


@dataclass(frozen=True)
class Row:
    task: str
    source: str
    repo: str
    commit: str
    path: str
    sha256: str
    bytes: int
    label: str
    family: str
    part: str
    group: str
    split: str
    licence: str

    @property
    def key(self) -> str:
        return f"{self.source}:{self.path}:{self.part}"


COLUMNS = [f.name for f in fields(Row)]


def _group_of(src: Source, path: str, split_policy: str, sha: str) -> str:
    if src.name in ("dcsan-imagen", "ai-bingo"):  # one prompt, several generators: one group
        return f"{src.name}:{path.split('/')[-2]}"
    if split_policy == "identity":
        clip = dfl_clip_id(path)
        for gid, members in DFL_IDENTITY_GROUPS.items():
            if clip.split("/")[0] in members:
                return f"{src.name}:{gid}"
        return f"{src.name}:{clip.split('/')[0]}"
    return f"{src.name}:{sha[:16]}" if sha else f"{src.name}:{path}"


def collect(task: str, repos: Path, sources: Iterable[Source] = SOURCES) -> list[Row]:
    """Rows (split not yet assigned: the selection's policy) for every selected file of ``task``."""
    rows: list[Row] = []
    for src in sources:
        sels = [s for s in src.selections if task in s.tasks]
        if not sels:
            continue
        with GitSnapshot(find_snapshot(repos, src.repo)) as snap:
            commit = snap.resolve(src.commit)
            if commit != src.commit:
                raise ConfigError(f"{src.repo}: {src.commit} resolves to {commit}")
            families = _family_table(src, snap, commit)
            for entry in snap.ls_tree(commit):
                sel = next((s for s in sels if s.matches(entry.path)), None)
                if sel is None:
                    continue
                family = sel.family
                if family.startswith("by-"):
                    family = families.get(entry.path, "")
                    if not family:
                        continue  # a file the source does not attribute to a generator
                sha, size = "", 0
                if entry.size is not None and snap.has(entry.blob):
                    data = snap.read(entry.blob)
                    sha, size = hashlib.sha256(data).hexdigest(), len(data)
                policy = sel.split if sha else "missing"
                if sha and task == "image" and family in HELDOUT_IMAGE_FAMILIES:
                    policy = "test"
                group = _group_of(src, entry.path, sel.split, sha)
                parts = [("left", "real", ""), ("right", "fake", family)] if sel.label == "pair" \
                    else [("", sel.label, family)]
                for part, label, family in parts:
                    rows.append(Row(task, src.name, src.repo, commit, entry.path, sha, size, label, family,
                                    part, group, policy, src.licence))
    return rows


def _family_table(src: Source, snap: GitSnapshot, commit: str) -> dict[str, str]:
    """Path -> generator family for the sources that name the generator per file."""
    import re

    if src.name == "dcsan-imagen":
        out = {}
        for e in snap.ls_tree(commit, "output/renders"):
            stem = e.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            prefix = re.sub(r"[-_][0-9]+$", "", stem)
            if prefix in DCSAN_PREFIX:
                out[e.path] = DCSAN_PREFIX[prefix]
        return out
    if src.name == "ai-bingo":
        items = {e.path: e for e in snap.ls_tree(commit, "src/data/items.ts")}
        text = snap.read(items["src/data/items.ts"].blob).decode("utf-8")
        return {f"public/images/prompts/{img}": AIBINGO_CODE[code]
                for img, code in re.findall(r'image:\s*"([^"]+)",\s*ai:\s*"([a-z]+)"', text) if code in AIBINGO_CODE}
    return {}


def assign_splits(rows: list[Row]) -> list[Row]:
    """Replace each row's split policy by its split. Duplicate files (same sha256 and part) keep
    only their first row. Groups are ordered by :func:`hash_fraction` of the group id and dealt
    out per (source, label, policy) stratum in :data:`SPLIT_FRACTIONS` shares."""
    seen: set[tuple[str, str]] = set()
    kept: list[Row] = []
    for r in rows:
        if r.sha256:
            k = (r.sha256, r.part)
            if k in seen:
                continue
            seen.add(k)
        kept.append(r)
    strata: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for r in kept:
        if r.split in SPLIT_FRACTIONS:
            label = "pair" if r.part else r.label
            strata[(r.source, label, r.split)].add(r.group)
    split_of: dict[str, str] = {}
    for (_src, _label, policy), groups in strata.items():
        order = sorted(groups, key=hash_fraction)
        n = len(order)
        start = 0
        shares = list(SPLIT_FRACTIONS[policy].items())
        for i, (name, share) in enumerate(shares):
            end = n if i == len(shares) - 1 else start + round(share * n)
            for g in order[start:end]:
                split_of[g] = name
            start = end
    out: list[Row] = []
    for r in kept:
        split = split_of.get(r.group, r.split) if r.split in SPLIT_FRACTIONS else r.split
        out.append(Row(**{**asdict(r), "split": split}))
    return out


def write_manifest(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in sorted(rows, key=lambda r: (r.source, r.path, r.part)):
            w.writerow([getattr(r, c) for c in COLUMNS])


def read_manifest(path: Path) -> list[Row]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or list(reader.fieldnames) != COLUMNS:
                raise ConfigError(f"{path}: expected the columns {','.join(COLUMNS)}")
            return [Row(**{**rec, "bytes": int(rec["bytes"] or 0)}) for rec in reader]  # type: ignore[arg-type]
    except OSError as exc:
        raise ConfigError(f"cannot read the manifest {path}: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed row: {exc}") from exc
