"""Dataset adapters: every supported layout becomes a list of :class:`EvalItem`.

An item carries its ``path``, ``label`` (0 = real / bona fide, 1 = fake / spoof), an explicit
``group`` id (items of one group, e.g. the clips or frames of one video, are aggregated together;
by default every item is its own group, and a group is never derived by parsing file names),
``family`` (generator family / attack id of a fake; empty for reals), ``split`` (``train``,
``dev``, ``eval``, ...; empty when the layout has none), ``source`` (sub-collection: a folder, a
corpus, a manipulation method) and free ``meta`` (e.g. the speaker).

A SPEC is ``[KIND:]PATH[?key=value&key=value]``. KIND is optional (detected from the layout) and
one of:

``folder``       a folder with ``real/`` and ``fake/`` (also accepted: ``bonafide``/``bona-fide``/
                 ``genuine``/``original`` and ``spoof``/``deepfake``/``synthetic``/``generated``).
                 The first subfolder is kept: ``source`` for both classes and ``family`` for fakes;
                 the whole relative folder goes to ``meta["subdir"]``.
``files``        every media file under a folder, all of one class: ``files:PATH?label=real`` (or
                 ``fake``); the first subfolder becomes ``source`` (and ``family`` for fakes). For
                 sets of one class only (reals of one corpus, fakes of another).
``manifest``     a CSV (header row) or JSONL file with ``path`` and ``label`` and optionally
                 ``group``, ``family``, ``split``, ``source``; other columns go to ``meta``. Paths
                 are relative to the manifest's folder. Labels: 0/1, real/fake, bonafide/spoof...
``asvspoof2019`` an ASVspoof 2019 LA CM protocol file (``SPEAKER FILE - SYSTEM KEY``; ``SYSTEM``
                 is ``-`` for bona fide, ``A01``..``A19`` for spoofs and becomes ``family``), with
                 its flac folder found as ``<LA>/ASVspoof2019_LA_<split>/flac`` (or ``audio=DIR``);
                 or the LA root folder (the ``dev`` and ``eval`` protocols; ``splits=`` to choose).
``itw``          the In-the-Wild ``meta.csv`` (``file,speaker,label``, label ``bona-fide`` or
                 ``spoof``), audio beside it (or ``audio=DIR``).
``ffpp``         the FaceForensics++ root: ``original_sequences/{youtube,actors}/<c>/videos`` (real)
                 and ``manipulated_sequences/<Method>/<c>/videos`` (fake, ``family`` = Method),
                 ``c`` from ``compression=`` (default ``c23``); the official ``splits/{train,val,
                 test}.json`` are applied when present (or ``splits_dir=DIR``).
``celebdf``      the Celeb-DF v2 ``List_of_testing_videos.txt`` (``1 PATH`` = real, ``0 PATH`` =
                 synthesized; paths relative to the list's folder), or the folder holding it.

Options for every kind: ``split=NAME`` (set the split of every item; how a folder becomes a
calibration split), ``source=NAME`` (set the source), ``name=NAME`` (prefix of ids and groups
when several SPECs are combined).

Files that a layout lists but that are missing, and rows that cannot be parsed, are
:class:`Problem` s: counted and reported, never dropped silently. Files a folder walk passes over
(not a media suffix, hidden) are listed as ``ignored`` with the reason.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from ..errors import ConfigError
from ..media.sniff import AUDIO_SUFFIXES, IMAGE_SUFFIXES, MEDIA_SUFFIXES, VIDEO_SUFFIXES

__all__ = [
    "KINDS",
    "MEDIA_SUFFIXES",
    "EvalItem",
    "Problem",
    "Dataset",
    "parse_spec",
    "detect_kind",
    "load_dataset",
    "load_spec",
    "load_folder",
    "load_files",
    "load_manifest",
    "load_asvspoof2019",
    "load_in_the_wild",
    "load_ffpp",
    "load_celebdf",
    "parse_label",
    "kind_of_suffix",
]

KINDS = ("folder", "files", "manifest", "asvspoof2019", "itw", "ffpp", "celebdf")
_KIND_ALIASES = {"csv": "manifest", "jsonl": "manifest", "in-the-wild": "itw", "asvspoof": "asvspoof2019",
                 "faceforensics": "ffpp", "ff++": "ffpp", "celeb-df": "celebdf"}

# IMAGE_SUFFIXES, AUDIO_SUFFIXES, VIDEO_SUFFIXES and MEDIA_SUFFIXES are the media layer's (the one
# list of media suffixes; a hint for walking folders, the bytes decide)

REAL_DIRS = ("real", "bonafide", "bona-fide", "bona_fide", "genuine", "original")
FAKE_DIRS = ("fake", "spoof", "deepfake", "synthetic", "generated")

_REAL_WORDS = {"0", "real", "bonafide", "bona-fide", "bona_fide", "bona fide", "genuine", "authentic", "original"}
_FAKE_WORDS = {"1", "fake", "spoof", "spoofed", "deepfake", "synthetic", "generated", "synthesized", "ai"}

_COMMON_OPTIONS = {"split", "source", "name"}


def kind_of_suffix(path: str | Path) -> str | None:
    """``image`` / ``audio`` / ``video`` from the suffix (a hint; the media layer sniffs the bytes)."""
    suf = Path(path).suffix.lower()
    if suf in IMAGE_SUFFIXES:
        return "image"
    if suf in AUDIO_SUFFIXES:
        return "audio"
    if suf in VIDEO_SUFFIXES:
        return "video"
    return None


def parse_label(value: Any) -> int:
    """0 for real / bona fide, 1 for fake / spoof; :class:`ConfigError` otherwise."""
    v = str(value).strip().lower()
    if v in _REAL_WORDS:
        return 0
    if v in _FAKE_WORDS:
        return 1
    raise ConfigError(f"label {value!r} is neither real (0, real, bonafide) nor fake (1, fake, spoof)")


@dataclass(frozen=True)
class EvalItem:
    """One labelled file of an evaluation set."""

    id: str
    path: Path
    label: int
    group: str
    family: str = ""
    split: str = ""
    source: str = ""
    kind: str | None = None  # suffix hint: image | audio | video
    meta: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": str(self.path), "label": self.label, "group": self.group,
                "family": self.family, "split": self.split, "source": self.source, "kind": self.kind,
                "meta": dict(self.meta)}


@dataclass(frozen=True)
class Problem:
    """A file or row that could not become an item (or that failed later, in the runner)."""

    path: str
    reason: str
    where: str = ""  # e.g. "manifest.csv line 12"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "where": self.where}


@dataclass
class Dataset:
    """Items from one or more SPECs, with what could not be used."""

    specs: list[str]
    items: list[EvalItem]
    problems: list[Problem] = field(default_factory=list)
    ignored: list[Problem] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # the KIND each SPEC was read as

    def summary(self, max_listed: int = 50) -> dict[str, Any]:
        labels = Counter(i.label for i in self.items)
        by_split: dict[str, dict[str, int]] = {}
        for it in self.items:
            d = by_split.setdefault(it.split, {"real": 0, "fake": 0})
            d["fake" if it.label else "real"] += 1
        ignored_reasons = Counter(p.reason for p in self.ignored)
        return {
            "specs": list(self.specs),
            "kinds": list(self.kinds),
            "n_items": len(self.items),
            "n_real": labels.get(0, 0),
            "n_fake": labels.get(1, 0),
            "n_groups": len({i.group for i in self.items}),
            "by_split": by_split,
            "by_kind": dict(Counter(i.kind or "unknown" for i in self.items)),
            "families": dict(sorted(Counter(i.family for i in self.items if i.label == 1).items())),
            "sources": dict(sorted(Counter(i.source for i in self.items).items())),
            "n_problems": len(self.problems),
            "problems": [p.to_dict() for p in self.problems[:max_listed]],
            "n_ignored": len(self.ignored),
            "ignored_reasons": dict(ignored_reasons),
            "ignored": [p.to_dict() for p in self.ignored[:max_listed]],
        }


# ---------------------------------------------------------------------------------------- specs
def parse_spec(spec: str) -> tuple[str | None, Path, dict[str, str]]:
    """``[KIND:]PATH[?k=v&...]`` -> ``(kind or None, path, options)``."""
    raw = spec.strip()
    if not raw:
        raise ConfigError("empty dataset SPEC")
    kind: str | None = None
    head, sep, rest = raw.partition(":")
    if sep and (head.lower() in KINDS or head.lower() in _KIND_ALIASES):
        kind = _KIND_ALIASES.get(head.lower(), head.lower())
        raw = rest
    opts: dict[str, str] = {}
    if "?" in raw:
        raw, _, query = raw.partition("?")
        for k, v in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
            opts[k.strip().lower()] = v.strip()
    return kind, Path(raw).expanduser(), opts


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    return line.strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return ""


def _csv_header(path: Path) -> list[str]:
    first = _first_line(path)
    return [h.strip().lower() for h in next(csv.reader([first]))] if first else []


_ASV_LINE = re.compile(r"^\S+\s+\S+\s+\S+\s+\S+\s+(bonafide|spoof)\b")
_CELEB_LINE = re.compile(r"^[01]\s+\S+")


def _find_child(root: Path, names: Iterable[str]) -> Path | None:
    if not root.is_dir():
        return None
    lower = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def detect_kind(path: Path) -> str:
    """Which layout ``path`` is (see the module docstring); :class:`ConfigError` when unknown."""
    if path.is_dir():
        if (path / "original_sequences").is_dir() or (path / "manipulated_sequences").is_dir():
            return "ffpp"
        if (path / "List_of_testing_videos.txt").is_file():
            return "celebdf"
        if (path / "ASVspoof2019_LA_cm_protocols").is_dir():
            return "asvspoof2019"
        if _find_child(path, REAL_DIRS) or _find_child(path, FAKE_DIRS):
            return "folder"
        meta = path / "meta.csv"
        if meta.is_file() and {"file", "label"} <= set(_csv_header(meta)):
            return "itw"
        raise ConfigError(f"{path}: no known layout (expected real/ and fake/ subfolders, a FaceForensics++ "
                          f"root, a Celeb-DF v2 root, an ASVspoof 2019 LA root or an In-the-Wild folder)")
    if not path.is_file():
        raise ConfigError(f"{path} does not exist")
    suf = path.suffix.lower()
    if suf in (".jsonl", ".ndjson"):
        return "manifest"
    if suf == ".csv":
        header = set(_csv_header(path))
        if "path" in header and "label" in header:
            return "manifest"
        if {"file", "label"} <= header:
            return "itw"
        raise ConfigError(f"{path}: a CSV needs the columns path,label (manifest) or file,speaker,label "
                          f"(In-the-Wild); found {sorted(header)}")
    first = _first_line(path)
    if _ASV_LINE.match(first):
        return "asvspoof2019"
    if _CELEB_LINE.match(first):
        return "celebdf"
    raise ConfigError(f"{path}: not a known list format (ASVspoof 2019 protocol, Celeb-DF test list, "
                      f"CSV or JSONL manifest)")


def _check_options(kind: str, opts: dict[str, str], allowed: set[str]) -> None:
    unknown = set(opts) - allowed - _COMMON_OPTIONS
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)} for a {kind} SPEC; "
                          f"allowed: {sorted(allowed | _COMMON_OPTIONS)}")


def load_spec(spec: str) -> Dataset:
    """Read one SPEC into a :class:`Dataset`."""
    kind, path, opts = parse_spec(spec)
    kind = kind or detect_kind(path)
    if kind == "folder":
        _check_options(kind, opts, set())
        ds = load_folder(path)
    elif kind == "files":
        _check_options(kind, opts, {"label"})
        if "label" not in opts:
            raise ConfigError("a files: SPEC needs ?label=real or ?label=fake")
        ds = load_files(path, parse_label(opts["label"]))
    elif kind == "manifest":
        _check_options(kind, opts, set())
        ds = load_manifest(path)
    elif kind == "asvspoof2019":
        _check_options(kind, opts, {"audio", "splits"})
        splits = tuple(s for s in opts.get("splits", "dev,eval").split(",") if s)
        ds = load_asvspoof2019(path, audio_dir=Path(opts["audio"]) if opts.get("audio") else None, splits=splits)
    elif kind == "itw":
        _check_options(kind, opts, {"audio"})
        ds = load_in_the_wild(path, audio_dir=Path(opts["audio"]) if opts.get("audio") else None)
    elif kind == "ffpp":
        _check_options(kind, opts, {"compression", "methods", "splits_dir"})
        methods = tuple(m for m in opts.get("methods", "").split(",") if m) or None
        ds = load_ffpp(path, compression=opts.get("compression", "c23"), methods=methods,
                       splits_dir=Path(opts["splits_dir"]) if opts.get("splits_dir") else None)
    elif kind == "celebdf":
        _check_options(kind, opts, set())
        ds = load_celebdf(path)
    else:
        raise ConfigError(f"unknown dataset kind {kind!r}; known: {', '.join(KINDS)}")
    ds.specs = [spec]
    ds.kinds = [kind]
    if "split" in opts:
        ds.items = [replace(i, split=opts["split"]) for i in ds.items]
    if "source" in opts:
        ds.items = [replace(i, source=opts["source"]) for i in ds.items]
    if "name" in opts:
        ds.items = [_prefixed(i, opts["name"]) for i in ds.items]
    return ds


def _prefixed(item: EvalItem, prefix: str) -> EvalItem:
    return replace(item, id=f"{prefix}/{item.id}", group=f"{prefix}/{item.group}")


def _spec_name(spec: str, index: int) -> str:
    _, path, opts = parse_spec(spec)
    return opts.get("name") or path.stem or path.name or f"data{index + 1}"


def load_dataset(specs: str | Iterable[str]) -> Dataset:
    """Read and combine SPECs. With several SPECs, ids and groups are prefixed with each SPEC's
    name (``name=`` option, else the file/folder name; an index is added when names repeat) so
    that groups of different sets never merge."""
    spec_list = [specs] if isinstance(specs, str) else list(specs)
    if not spec_list:
        raise ConfigError("no dataset SPEC given")
    parts = [load_spec(s) for s in spec_list]
    if len(parts) == 1:
        return parts[0]
    names: list[str] = []
    for i, s in enumerate(spec_list):
        n = _spec_name(s, i)
        names.append(n if n not in names else f"{n}#{i + 1}")
    items: list[EvalItem] = []
    for name, part, spec in zip(names, parts, spec_list, strict=True):
        explicit = "name" in parse_spec(spec)[2]
        items.extend(part.items if explicit else (_prefixed(i, name) for i in part.items))
    ids = Counter(i.id for i in items)
    dup = [k for k, n in ids.items() if n > 1]
    if dup:
        raise ConfigError(f"item ids repeat across SPECs (e.g. {dup[0]!r}); give each SPEC a distinct name=")
    return Dataset(specs=spec_list, items=items, problems=[p for d in parts for p in d.problems],
                   ignored=[p for d in parts for p in d.ignored], kinds=[k for d in parts for k in d.kinds])


# ---------------------------------------------------------------------------------------- folder
def load_folder(root: Path) -> Dataset:
    """``root/real/**`` and ``root/fake/**`` (see the module docstring)."""
    root = Path(root)
    real_dir, fake_dir = _find_child(root, REAL_DIRS), _find_child(root, FAKE_DIRS)
    if real_dir is None and fake_dir is None:
        raise ConfigError(f"{root}: no real/ or fake/ subfolder")
    items: list[EvalItem] = []
    ignored: list[Problem] = []
    for p in sorted(root.iterdir()):
        if p not in (real_dir, fake_dir):
            ignored.append(Problem(str(p), "outside real/ and fake/", str(root)))
    for label, base in ((0, real_dir), (1, fake_dir)):
        if base is not None:
            _walk(base, root, label, items, ignored)
    return Dataset(specs=[str(root)], items=items, ignored=ignored, kinds=["folder"])


def _walk(base: Path, root: Path, label: int, items: list[EvalItem], ignored: list[Problem]) -> None:
    for p in sorted(base.rglob("*")):
        if p.is_dir():
            continue
        rel = p.relative_to(base)
        if any(part.startswith(".") for part in rel.parts):
            ignored.append(Problem(str(p), "hidden file", str(root)))
            continue
        kind = kind_of_suffix(p)
        if kind is None:
            ignored.append(Problem(str(p), f"not a media file suffix ({p.suffix or 'none'})", str(root)))
            continue
        sub = rel.parent.as_posix() if rel.parent != Path(".") else ""
        first = rel.parts[0] if len(rel.parts) > 1 else ""
        item_id = p.relative_to(root).as_posix()
        items.append(EvalItem(id=item_id, path=p, label=label, group=item_id,
                              family=first if label == 1 else "", source=first, kind=kind,
                              meta={"subdir": sub} if sub else {}))


def load_files(root: Path, label: int) -> Dataset:
    """Every media file under ``root``, all labelled ``label``."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder")
    items: list[EvalItem] = []
    ignored: list[Problem] = []
    _walk(root, root, label, items, ignored)
    if not items:
        raise ConfigError(f"{root}: no media files")
    return Dataset(specs=[str(root)], items=items, ignored=ignored, kinds=["files"])


# ---------------------------------------------------------------------------------------- manifest
_MANIFEST_FIELDS = ("path", "label", "group", "family", "split", "source")


def _manifest_rows(path: Path) -> Iterable[tuple[int, dict[str, Any] | None, str]]:
    """Yield ``(line number, row or None, error)``."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield n, None, f"invalid JSON: {exc.msg}"
                    continue
                if not isinstance(row, dict):
                    yield n, None, "a JSONL line must be an object"
                    continue
                yield n, {str(k).strip().lower(): v for k, v in row.items()}, ""
        return
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        fields = [h.strip().lower() for h in reader.fieldnames or []]
        if "path" not in fields or "label" not in fields:
            raise ConfigError(f"{path}: a manifest needs the columns path and label; found {fields}")
        for row in reader:
            clean = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
            if None in row:
                yield reader.line_num, None, "more fields than the header"
                continue
            yield reader.line_num, clean, ""


def load_manifest(path: Path) -> Dataset:
    """A CSV or JSONL manifest (``path,label[,group,family,split,source]``)."""
    path = Path(path)
    base = path.parent
    items: list[EvalItem] = []
    problems: list[Problem] = []
    try:
        rows = list(_manifest_rows(path))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read manifest {path}: {exc}") from exc
    for n, row, err in rows:
        where = f"{path.name} line {n}"
        if row is None:
            problems.append(Problem("", err, where))
            continue
        raw_path = str(row.get("path") or "").strip()
        if not raw_path:
            problems.append(Problem("", "no path", where))
            continue
        p = Path(raw_path).expanduser()
        p = p if p.is_absolute() else base / p
        try:
            label = parse_label(row.get("label", ""))
        except ConfigError as exc:
            problems.append(Problem(str(p), str(exc), where))
            continue
        if not p.is_file():
            problems.append(Problem(str(p), "file not found", where))
            continue
        item_id = raw_path
        meta = {k: str(v) for k, v in row.items() if k not in _MANIFEST_FIELDS and v not in (None, "")}
        group = str(row.get("group") or "").strip() or item_id
        items.append(EvalItem(id=item_id, path=p, label=label, group=group,
                              family=str(row.get("family") or "").strip(), split=str(row.get("split") or "").strip(),
                              source=str(row.get("source") or "").strip(), kind=kind_of_suffix(p), meta=meta))
    ids = Counter(i.id for i in items)
    dup = [k for k, c in ids.items() if c > 1]
    if dup:
        raise ConfigError(f"{path}: the path {dup[0]!r} is listed more than once")
    return Dataset(specs=[str(path)], items=items, problems=problems, kinds=["manifest"])


# ---------------------------------------------------------------------------------------- ASVspoof
_ASV_SPLITS = {"trn": "train", "train": "train", "dev": "dev", "eval": "eval"}
_ASV_PROTO = re.compile(r"ASVspoof2019\.LA\.cm\.(train|dev|eval)\.(trn|trl)\.txt$", re.IGNORECASE)


def _asv_split(protocol: Path) -> str:
    m = _ASV_PROTO.search(protocol.name)
    if m:
        return m.group(1).lower()
    for word in ("train", "dev", "eval"):
        if word in protocol.name.lower():
            return word
    return ""


def _asv_audio_dir(protocol: Path, split: str, audio_dir: Path | None) -> Path:
    if audio_dir is not None:
        if not audio_dir.is_dir():
            raise ConfigError(f"audio folder {audio_dir} does not exist")
        return audio_dir
    candidates = []
    if split:
        la = protocol.parent.parent
        candidates += [la / f"ASVspoof2019_LA_{split}" / "flac", la / f"ASVspoof2019_LA_{split}"]
    candidates.append(protocol.parent / "flac")
    for c in candidates:
        if c.is_dir():
            return c
    raise ConfigError(f"cannot find the flac folder of {protocol} (looked in {', '.join(map(str, candidates))}); "
                      f"pass it as ?audio=DIR")


def load_asvspoof2019(path: Path, audio_dir: Path | None = None,
                      splits: tuple[str, ...] = ("dev", "eval")) -> Dataset:
    """An ASVspoof 2019 LA CM protocol (or the LA root: the protocols of ``splits``).

    Protocol lines: ``SPEAKER FILE_ID - SYSTEM_ID KEY`` (KEY ``bonafide`` / ``spoof``; SYSTEM_ID
    ``-`` for bona fide, ``A01``..``A19`` for spoofs). Audio: ``<audio>/<FILE_ID>.flac``.
    """
    path = Path(path)
    if path.is_dir():
        proto_dir = path / "ASVspoof2019_LA_cm_protocols"
        protocols = []
        for split in splits:
            if split not in ("train", "dev", "eval"):
                raise ConfigError(f"unknown ASVspoof split {split!r} (train, dev, eval)")
            tag = "trn" if split == "train" else "trl"
            p = proto_dir / f"ASVspoof2019.LA.cm.{split}.{tag}.txt"
            if not p.is_file():
                raise ConfigError(f"{p} not found")
            protocols.append(p)
        if audio_dir is not None and len(protocols) > 1:
            raise ConfigError("audio= applies to a single protocol file; give the protocol file as the SPEC")
    else:
        protocols = [path]
    items: list[EvalItem] = []
    problems: list[Problem] = []
    for proto in protocols:
        split = _asv_split(proto)
        audio = _asv_audio_dir(proto, split, audio_dir)
        try:
            lines = proto.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {proto}: {exc}") from exc
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{proto.name} line {n}"
            parts = line.split()
            keys = [i for i, w in enumerate(parts) if w in ("bonafide", "spoof")]
            if len(parts) < 5 or not keys or keys[-1] < 2:
                problems.append(Problem("", f"not a protocol line: {line.strip()[:80]!r}", where))
                continue
            k = keys[-1]
            speaker, file_id, system = parts[0], parts[1], parts[k - 1]
            label = 0 if parts[k] == "bonafide" else 1
            p = audio / f"{file_id}.flac"
            if not p.is_file():
                problems.append(Problem(str(p), "file not found", where))
                continue
            items.append(EvalItem(id=file_id, path=p, label=label, group=file_id,
                                  family=system if label == 1 and system != "-" else "", split=split,
                                  source="ASVspoof2019-LA", kind="audio", meta={"speaker": speaker}))
    return Dataset(specs=[str(path)], items=items, problems=problems, kinds=["asvspoof2019"])


# ---------------------------------------------------------------------------------------- In-the-Wild
def load_in_the_wild(path: Path, audio_dir: Path | None = None) -> Dataset:
    """In-the-Wild (Müller et al., Interspeech 2022): ``meta.csv`` with ``file,speaker,label``."""
    path = Path(path)
    meta = path / "meta.csv" if path.is_dir() else path
    audio = audio_dir or meta.parent
    items: list[EvalItem] = []
    problems: list[Problem] = []
    try:
        with open(meta, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            fields = [h.strip().lower() for h in reader.fieldnames or []]
            if "file" not in fields or "label" not in fields:
                raise ConfigError(f"{meta}: In-the-Wild meta.csv needs file,speaker,label; found {fields}")
            for row in reader:
                r = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
                where = f"{meta.name} line {reader.line_num}"
                try:
                    label = parse_label(r.get("label", ""))
                except ConfigError as exc:
                    problems.append(Problem(r.get("file", ""), str(exc), where))
                    continue
                p = audio / r.get("file", "")
                if not r.get("file") or not p.is_file():
                    problems.append(Problem(str(p), "file not found", where))
                    continue
                items.append(EvalItem(id=r["file"], path=p, label=label, group=r["file"], source="in-the-wild",
                                      kind=kind_of_suffix(p) or "audio",
                                      meta={"speaker": r["speaker"]} if r.get("speaker") else {}))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read {meta}: {exc}") from exc
    return Dataset(specs=[str(path)], items=items, problems=problems, kinds=["itw"])


# ---------------------------------------------------------------------------------------- FF++
def _ffpp_splits(splits_dir: Path | None) -> dict[str, str]:
    """Video stem -> split, from the official ``{train,val,test}.json`` (lists of id pairs)."""
    out: dict[str, str] = {}
    if splits_dir is None or not splits_dir.is_dir():
        return out
    for split in ("train", "val", "test"):
        p = splits_dir / f"{split}.json"
        if not p.is_file():
            continue
        try:
            pairs = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read FaceForensics++ split file {p}: {exc}") from exc
        for pair in pairs:
            a, b = (str(x) for x in pair)
            for stem in (a, b, f"{a}_{b}", f"{b}_{a}"):
                out[stem] = split
    return out


def load_ffpp(root: Path, compression: str = "c23", methods: tuple[str, ...] | None = None,
              splits_dir: Path | None = None) -> Dataset:
    """FaceForensics++ (Rössler et al., ICCV 2019) folder layout; one item per video."""
    root = Path(root)
    split_of = _ffpp_splits(splits_dir or root / "splits")
    items: list[EvalItem] = []
    ignored: list[Problem] = []
    found_any = False
    sets: list[tuple[int, str, Path]] = []
    orig = root / "original_sequences"
    if orig.is_dir():
        sets += [(0, p.name, p) for p in sorted(orig.iterdir()) if p.is_dir()]
    manip = root / "manipulated_sequences"
    if manip.is_dir():
        sets += [(1, p.name, p) for p in sorted(manip.iterdir()) if p.is_dir()
                 and (methods is None or p.name in methods)]
    if methods is not None:
        missing = set(methods) - {name for label, name, _ in sets if label == 1}
        if missing:
            raise ConfigError(f"{root}: no manipulation method(s) {sorted(missing)}")
    for label, name, folder in sets:
        vids = folder / compression / "videos"
        if not vids.is_dir():
            have = sorted(p.name for p in folder.iterdir() if p.is_dir())
            ignored.append(Problem(str(folder), f"no {compression}/videos (has: {', '.join(have) or 'nothing'})",
                                   str(root)))
            continue
        found_any = True
        for p in sorted(vids.iterdir()):
            if p.is_dir() or p.name.startswith("."):
                continue
            if kind_of_suffix(p) != "video":
                ignored.append(Problem(str(p), f"not a video file suffix ({p.suffix or 'none'})", str(root)))
                continue
            seq = "original" if label == 0 else "manipulated"
            item_id = f"{seq}/{name}/{p.stem}"
            items.append(EvalItem(id=item_id, path=p, label=label, group=item_id,
                                  family=name if label == 1 else "", split=split_of.get(p.stem, ""),
                                  source=name, kind="video", meta={"compression": compression}))
    if not found_any:
        raise ConfigError(f"{root}: no FaceForensics++ videos at compression {compression!r}")
    return Dataset(specs=[str(root)], items=items, ignored=ignored, kinds=["ffpp"])


# ---------------------------------------------------------------------------------------- Celeb-DF
def load_celebdf(path: Path) -> Dataset:
    """Celeb-DF v2 (Li et al., CVPR 2020) ``List_of_testing_videos.txt``: ``1 PATH`` is a real
    video, ``0 PATH`` a synthesized one (the official list's convention)."""
    path = Path(path)
    lst = path / "List_of_testing_videos.txt" if path.is_dir() else path
    root = lst.parent
    items: list[EvalItem] = []
    problems: list[Problem] = []
    try:
        lines = lst.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {lst}: {exc}") from exc
    seen: set[str] = set()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{lst.name} line {n}"
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            problems.append(Problem("", f"not a test-list line: {line.strip()[:80]!r}", where))
            continue
        rel = parts[1].strip()
        if rel in seen:
            problems.append(Problem(rel, "listed more than once", where))
            continue
        seen.add(rel)
        label = 0 if parts[0] == "1" else 1
        p = root / rel
        if not p.is_file():
            problems.append(Problem(str(p), "file not found", where))
            continue
        source = Path(rel).parts[0] if len(Path(rel).parts) > 1 else ""
        item_id = Path(rel).with_suffix("").as_posix()
        items.append(EvalItem(id=item_id, path=p, label=label, group=item_id,
                              family=source if label == 1 else "", split="test", source=source, kind="video"))
    return Dataset(specs=[str(path)], items=items, problems=problems, kinds=["celebdf"])
