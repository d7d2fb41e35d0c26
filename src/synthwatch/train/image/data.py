"""Training data for ``sw-image``: a ``real/<category>/...`` + ``fake/<category>/...`` folder
becomes source images with a hash, a group and a split.

* **De-duplication:** files with the same sha256 (of their bytes) are kept once; the others are
  listed as dropped.
* **Groups:** a source image and everything derived from it form one group. Near-duplicates (a
  64-bit difference hash of the 9 x 8 grey thumbnail within :data:`NEAR_DUP_BITS` bits) are merged
  into one group, so a re-upload of the same picture can never sit on both sides of a split.
* **Splits:** every group of the ``holdout`` category (and any group that touches it) is
  ``heldout``, reported on its own and never used for training or calibration. The groups of the
  other categories are split per (category, class) stratum into ``train`` and ``val``: ordered by
  the smallest sha256 in the group (a fixed pseudo-random order that does not depend on file
  names), the first ``round(val_fraction * n)`` go to ``val``. The split is a pure function of the
  files' bytes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..._hashing import sha256_file
from ...errors import ConfigError
from ...media.sniff import IMAGE_SUFFIXES as _MEDIA_IMAGE_SUFFIXES
from ...media.sniff import SUFFIX_FORMATS as _SUFFIX_FORMATS

__all__ = [
    "IMAGE_SUFFIXES",
    "NEAR_DUP_BITS",
    "Source",
    "SourceSet",
    "scan",
    "dhash",
    "assign_splits",
    "load_sources",
]

#: the media layer's image suffixes (the one list) without GIF: animated GIFs are not training pictures
IMAGE_SUFFIXES = frozenset(s for s in _MEDIA_IMAGE_SUFFIXES if _SUFFIX_FORMATS[s] != "gif")
#: difference hashes at most this many bits apart are treated as the same picture
NEAR_DUP_BITS = 3
LABELS = {"real": 0, "fake": 1}


@dataclass(frozen=True)
class Source:
    """One source image (before any derived version)."""

    path: Path
    rel: str  # path relative to the data root, posix
    label: int  # 0 real, 1 fake
    category: str
    sha256: str
    dhash: int
    group: str = ""
    split: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.rel, "label": self.label, "category": self.category, "sha256": self.sha256,
                "group": self.group, "split": self.split}


@dataclass
class SourceSet:
    root: Path
    sources: list[Source]
    dropped: list[dict[str, str]]  # exact duplicates left out: {"path", "duplicate_of", "sha256"}

    def by_split(self, split: str) -> list[Source]:
        return [s for s in self.sources if s.split == split]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in self.sources:
            d = out.setdefault(s.split, {}).setdefault(s.category, {"real": 0, "fake": 0})
            d["fake" if s.label else "real"] += 1
        return out


def dhash(image: Any) -> int:
    """64-bit difference hash of a Pillow image (grey, 9 x 8, bilinear)."""
    from PIL import Image

    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def scan(root: Path) -> SourceSet:
    """Every image under ``root/real/<category>/`` and ``root/fake/<category>/``, de-duplicated by
    sha256 (groups and splits not yet assigned)."""
    from PIL import Image

    root = Path(root)
    if not (root / "real").is_dir() or not (root / "fake").is_dir():
        raise ConfigError(f"{root}: expected real/ and fake/ subfolders, each with one folder per category")
    seen: dict[str, str] = {}
    sources: list[Source] = []
    dropped: list[dict[str, str]] = []
    for cls, label in LABELS.items():
        for p in sorted((root / cls).rglob("*")):
            if not p.is_file() or p.suffix.lower() not in IMAGE_SUFFIXES or p.name.startswith("."):
                continue
            rel = p.relative_to(root).as_posix()
            parts = p.relative_to(root / cls).parts
            if len(parts) < 2:
                raise ConfigError(f"{rel}: images must sit in a category folder ({cls}/<category>/...)")
            sha = sha256_file(p)
            if sha in seen:
                dropped.append({"path": rel, "duplicate_of": seen[sha], "sha256": sha})
                continue
            seen[sha] = rel
            with Image.open(p) as im:
                dh = dhash(im)
            sources.append(Source(path=p, rel=rel, label=label, category=parts[0], sha256=sha, dhash=dh))
    if not sources:
        raise ConfigError(f"{root}: no images found")
    return SourceSet(root=root, sources=sources, dropped=dropped)


def _groups(sources: list[Source], max_bits: int) -> list[int]:
    """Union-find over near-duplicate difference hashes; returns a group index per source."""
    parent = list(range(len(sources)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(sources)):
        for j in range(i + 1, len(sources)):
            if bin(sources[i].dhash ^ sources[j].dhash).count("1") <= max_bits:
                parent[find(i)] = find(j)
    return [find(i) for i in range(len(sources))]


def assign_splits(sset: SourceSet, *, holdout: str, val_fraction: float = 0.3,
                  near_dup_bits: int = NEAR_DUP_BITS) -> SourceSet:
    """Give every source its group and split (see the module docstring)."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cats = {s.category for s in sset.sources}
    if holdout not in cats:
        raise ConfigError(f"held-out category {holdout!r} not found; categories: {sorted(cats)}")
    roots = _groups(sset.sources, near_dup_bits)
    members: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(roots):
        members[r].append(i)
    group_id = {r: min(sset.sources[i].sha256 for i in idx)[:16] for r, idx in members.items()}
    split_of: dict[int, str] = {}
    strata: dict[tuple[str, int], list[int]] = defaultdict(list)
    for r, idx in members.items():
        if any(sset.sources[i].category == holdout for i in idx):
            split_of[r] = "heldout"
            continue
        first = min(idx, key=lambda i: sset.sources[i].sha256)
        strata[(sset.sources[first].category, sset.sources[first].label)].append(r)
    for _key, rs in sorted(strata.items()):
        rs.sort(key=lambda r: group_id[r])
        n_val = int(round(val_fraction * len(rs)))
        for k, r in enumerate(rs):
            split_of[r] = "val" if k < n_val else "train"
    out = [replace(s, group=group_id[roots[i]], split=split_of[roots[i]]) for i, s in enumerate(sset.sources)]
    return SourceSet(root=sset.root, sources=out, dropped=sset.dropped)


def load_sources(root: Path, *, holdout: str, val_fraction: float = 0.3) -> SourceSet:
    return assign_splits(scan(root), holdout=holdout, val_fraction=val_fraction)
